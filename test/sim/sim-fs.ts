// A simulated disk for the deterministic simulator: StorageFs (src/storage/fs.ts) in memory, every
// decision drawn from a seeded Prng, no timers and no I/O, so that a seed replays a run exactly.
//
// The model (what a crash keeps):
// - Every file has its current bytes (what reads see: the page cache) and its durable bytes (what
//   the platter holds). A write changes the current bytes and marks the sectors it touches
//   (SIM_SECTOR_BYTES each) unsynced. datasync()/sync() copy the unsynced sectors and the size to
//   the durable bytes.
// - Every directory has its current entries and its durable entries. Creating, renaming and
//   removing an entry changes the current entries and queues the change; fsyncDir() makes all of
//   that directory's entries durable (and only that directory's: fsync of wal/ does not make wal/
//   itself durable in its parent).
// - crash() (power loss) keeps the durable state plus, with `unsynced: 'seeded'` (the default), a
//   seeded part of the rest:
//   - directory changes: a prefix, in the order they were made, of the changes not yet fsynced;
//   - file data: per file, a prefix of its unsynced sectors in file offset order (what a streaming
//     write reaches the disk as). The last sector of that prefix may be TORN: its first
//     1..SIM_SECTOR_BYTES-1 bytes are new, the rest is what the sector held before, or zeros past
//     the old end of the file. The file is as long as the durable size or the end of the last
//     sector kept, whichever is larger; only when every sector is kept whole is it the current size.
//   With `unsynced: 'lost'` nothing unsynced survives. Files no longer reachable through durable
//   entries are gone. Every open handle becomes invalid, every lock is released, and operations
//   in flight never complete: the process that issued them is gone, and the simulator must not
//   run its code again.
// - restartProcess() (kill -9 without power loss) keeps the current state: only handles, locks and
//   operations in flight are lost.
// - flipBitInDurableData() models a latent sector error: one bit of already-synced data changes.
//
// Every operation takes effect when it completes, after a latency drawn from the Prng and waited
// through the injected scheduler (a microtask when there is none), so concurrent operations may
// complete in any order, as on a real disk. readdir() lists entries in a seeded order.
// Renames are within one directory (the storage never renames across directories).
import { posix } from 'node:path';
import { assert, AssertionError } from '../../src/raft/assert.js';
import { DataDirLockedError } from '../../src/storage/errors.js';
import type { FileStat, OpenFlags, StorageFileHandle, StorageFs } from '../../src/storage/fs.js';
import type { Prng } from './prng.js';

/** The unit a crash keeps or loses unsynced file data in, and the unit a torn write tears. */
export const SIM_SECTOR_BYTES = 512;
/** Default latency of an operation that does not sync, in simulated milliseconds. */
export const SIM_FS_OP_LATENCY_MS_MIN = 0;
export const SIM_FS_OP_LATENCY_MS_MAX = 1;
/** Default latency of datasync/sync/fsyncDir, in simulated milliseconds. */
export const SIM_FS_SYNC_LATENCY_MS_MIN = 1;
export const SIM_FS_SYNC_LATENCY_MS_MAX = 8;
/** How often a crash that keeps some unsynced sectors of a file tears the last one it keeps. */
export const SIM_TORN_SECTOR_PROBABILITY = 0.5;
/** The pid a locked data directory reports (there is one process per simulated machine). */
export const SIM_PROCESS_ID = 1;

/** Runs `run` after `delayMs` simulated milliseconds. */
export type SimScheduler = (delayMs: number, run: () => void) => void;

export interface LatencyRangeMs {
  readonly min: number;
  readonly max: number;
}

export interface SimFsOptions {
  /** Every decision (latencies, crash outcomes, bit flips, listing order) comes from here. */
  readonly prng: Prng;
  /** Completes operations; without one, each completes on a microtask (latencies are still drawn). */
  readonly schedule?: SimScheduler;
  readonly opLatencyMs?: LatencyRangeMs;
  readonly syncLatencyMs?: LatencyRangeMs;
}

export interface SimCrashOptions {
  /** 'seeded' (default): a seeded part of the unsynced state survives, as described above. 'lost': none does. */
  readonly unsynced?: 'seeded' | 'lost';
}

export interface SimFsCounters {
  /** Completed datasync()/sync() calls. */
  readonly fileSyncs: number;
  /** Completed fsyncDir() calls. */
  readonly dirSyncs: number;
  /** Bytes written by write()/append(). */
  readonly bytesWritten: number;
  readonly crashes: number;
  readonly processRestarts: number;
  readonly bitFlips: number;
}

export interface SimFileInfo {
  readonly path: string;
  /** Current size (what reads see). */
  readonly sizeBytes: number;
  /** Size on the platter after the last sync. */
  readonly durableSizeBytes: number;
  /** Sectors written since the last sync. */
  readonly unsyncedSectors: number;
  /** Whether the file is reachable under this path through durable directory entries alone. */
  readonly entryDurable: boolean;
}

export interface BitFlip {
  readonly path: string;
  readonly offsetBytes: number;
  /** 0 (least significant) .. 7. */
  readonly bit: number;
}

/** A growable byte array; bytes past `size` are always zero, so growing reads as zeros. */
class Bytes {
  private buf: Buffer;
  size = 0;

  constructor(from?: Uint8Array) {
    this.buf = Buffer.alloc(Math.max(from?.length ?? 0, 64));
    if (from !== undefined) {
      this.buf.set(from, 0);
      this.size = from.length;
    }
  }

  view(start = 0, end = this.size): Buffer {
    return this.buf.subarray(start, Math.min(end, this.size));
  }

  copy(): Bytes {
    return new Bytes(this.view());
  }

  write(at: number, data: Uint8Array): void {
    this.resize(Math.max(this.size, at + data.length));
    this.buf.set(data, at);
  }

  resize(sizeBytes: number): void {
    if (sizeBytes < this.size) this.buf.fill(0, sizeBytes, this.size);
    if (sizeBytes > this.buf.length) {
      const grown = Buffer.alloc(Math.max(sizeBytes, this.buf.length * 2));
      this.buf.copy(grown, 0, 0, this.size);
      this.buf = grown;
    }
    this.size = sizeBytes;
  }

  flipBit(offset: number, bit: number): void {
    assert(offset < this.size, 'flip a bit inside the file');
    this.buf[offset] = (this.buf[offset] as number) ^ (1 << bit);
  }
}

class FileNode {
  readonly kind = 'file';
  current = new Bytes();
  durable = new Bytes();
  /** Invariant: every sector outside this set holds the same bytes, and lies within both sizes or beyond both. */
  unsynced = new Set<number>();
  /** Bumped by every change: part of the stat identity. */
  version = 0;

  constructor(readonly inode: number) {}

  markUnsynced(fromByte: number, toByteExclusive: number): void {
    for (let s = Math.floor(fromByte / SIM_SECTOR_BYTES); s * SIM_SECTOR_BYTES < toByteExclusive; s++) this.unsynced.add(s);
    this.version++;
  }

  sync(): void {
    for (const s of this.unsynced) {
      const start = s * SIM_SECTOR_BYTES;
      if (start < this.current.size) this.durable.write(start, this.current.view(start, start + SIM_SECTOR_BYTES));
    }
    this.durable.resize(this.current.size);
    this.unsynced.clear();
  }
}

class DirNode {
  readonly kind = 'dir';
  constructor(readonly inode: number) {}
  entries = new Map<string, Node>();
  durable = new Map<string, Node>();
}

type Node = FileNode | DirNode;

/** A directory change not yet fsynced, in the order made. */
interface DirChange {
  readonly dir: DirNode;
  readonly name: string;
  readonly target: Node | undefined;
}

function fsError(code: string, syscall: string, path: string): Error {
  const text: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EEXIST: 'file already exists',
    ENOTDIR: 'not a directory',
    EISDIR: 'illegal operation on a directory',
    EBADF: 'bad file descriptor',
    ENOTEMPTY: 'directory not empty',
  };
  return Object.assign(new Error(`${code}: ${text[code] ?? 'error'}, ${syscall} '${path}'`), { code, syscall, path });
}

export class SimFs implements StorageFs {
  private readonly prng: Prng;
  private readonly schedule: SimScheduler;
  private readonly opLatencyMs: LatencyRangeMs;
  private readonly syncLatencyMs: LatencyRangeMs;
  /** Inode numbers are per machine, so that stat identities replay with the seed. */
  private nextInode = 1;
  private readonly root = new DirNode(this.nextInode++);
  private pendingDirChanges: DirChange[] = [];
  private readonly locks = new Set<string>();
  /** Bumped by crash() and restartProcess(): operations and handles of an older epoch are dead. */
  private epoch = 0;
  private readonly count = { fileSyncs: 0, dirSyncs: 0, bytesWritten: 0, crashes: 0, processRestarts: 0, bitFlips: 0 };

  constructor(options: SimFsOptions) {
    this.prng = options.prng;
    this.schedule = options.schedule ?? ((_delayMs, run) => queueMicrotask(run));
    this.opLatencyMs = options.opLatencyMs ?? { min: SIM_FS_OP_LATENCY_MS_MIN, max: SIM_FS_OP_LATENCY_MS_MAX };
    this.syncLatencyMs = options.syncLatencyMs ?? { min: SIM_FS_SYNC_LATENCY_MS_MIN, max: SIM_FS_SYNC_LATENCY_MS_MAX };
    for (const r of [this.opLatencyMs, this.syncLatencyMs]) assert(r.min >= 0 && r.max >= r.min, () => `latency range [${r.min}, ${r.max}] ms`);
  }

  // ---- StorageFs ----

  open(path: string, flags: OpenFlags): Promise<StorageFileHandle> {
    return this.run('io', () => {
      const { dir, name, full } = this.parentOf(path, 'open');
      let node = dir.entries.get(name);
      if (node?.kind === 'dir') throw fsError('EISDIR', 'open', full);
      if (node !== undefined && flags === 'ax') throw fsError('EEXIST', 'open', full);
      if (node === undefined) {
        if (flags === 'r' || flags === 'r+') throw fsError('ENOENT', 'open', full);
        node = new FileNode(this.nextInode++);
        this.changeEntry(dir, name, node);
      } else if (flags === 'w' && node.current.size > 0) {
        node.markUnsynced(0, Math.max(node.current.size, node.durable.size));
        node.current.resize(0);
      }
      return new SimFileHandle(this, node, full, flags, this.epoch);
    });
  }

  readFile(path: string): Promise<Buffer> {
    return this.run('io', () => Buffer.from(this.file(path, 'open').current.view()));
  }

  readdir(dir: string): Promise<string[]> {
    return this.run('io', () => {
      const names = [...this.dir(dir, 'scandir').entries.keys()].sort();
      // A seeded order: code that depends on listing order fails here, as it may on a real disk.
      for (let k = names.length - 1; k > 0; k--) {
        const j = this.prng.nextInt(k + 1);
        [names[k], names[j]] = [names[j] as string, names[k] as string];
      }
      return names;
    });
  }

  mkdirp(dir: string): Promise<string | undefined> {
    return this.run('io', () => {
      const full = resolve(dir);
      let node: DirNode = this.root;
      let first: string | undefined;
      let at = '';
      for (const part of components(full)) {
        at = `${at}/${part}`;
        const next = node.entries.get(part);
        if (next?.kind === 'file') throw fsError('ENOTDIR', 'mkdir', full);
        if (next !== undefined) {
          node = next;
          continue;
        }
        const created = new DirNode(this.nextInode++);
        this.changeEntry(node, part, created);
        first ??= at;
        node = created;
      }
      return first;
    });
  }

  rename(from: string, to: string): Promise<void> {
    return this.run('io', () => {
      const source = this.parentOf(from, 'rename');
      const target = this.parentOf(to, 'rename');
      assert(source.dir === target.dir, () => `SimFs renames within one directory only: ${from} → ${to}`);
      const node = source.dir.entries.get(source.name);
      if (node === undefined) throw fsError('ENOENT', 'rename', source.full);
      const replaced = target.dir.entries.get(target.name);
      if (replaced?.kind === 'dir') throw fsError(replaced.entries.size > 0 ? 'ENOTEMPTY' : 'EISDIR', 'rename', target.full);
      if (source.name === target.name) return;
      this.changeEntry(source.dir, source.name, undefined);
      this.changeEntry(target.dir, target.name, node);
    });
  }

  unlink(path: string): Promise<void> {
    return this.run('io', () => {
      const { dir, name, full } = this.parentOf(path, 'unlink');
      const node = dir.entries.get(name);
      if (node === undefined) throw fsError('ENOENT', 'unlink', full);
      if (node.kind === 'dir') throw fsError('EISDIR', 'unlink', full);
      this.changeEntry(dir, name, undefined);
    });
  }

  fsyncDir(dir: string): Promise<void> {
    return this.run('sync', () => {
      const node = this.dir(dir, 'fsync');
      node.durable = new Map(node.entries);
      this.pendingDirChanges = this.pendingDirChanges.filter((c) => c.dir !== node);
      this.count.dirSyncs++;
    });
  }

  stat(path: string): Promise<FileStat> {
    return this.run('io', () => statOf(this.file(path, 'stat')));
  }

  realpath(path: string): Promise<string> {
    return this.run('io', () => {
      const full = resolve(path);
      this.lookup(full, 'realpath');
      return full;
    });
  }

  acquireDirLock(dir: string): Promise<string[]> {
    return this.run('io', () => {
      const full = resolve(dir);
      this.dir(full, 'open');
      if (this.locks.has(full)) throw new DataDirLockedError(full, SIM_PROCESS_ID);
      this.locks.add(full);
      return [];
    });
  }

  releaseDirLock(dir: string): Promise<void> {
    return this.run('io', () => {
      this.locks.delete(resolve(dir));
    });
  }

  // ---- Faults ----

  /** Power loss: see the model at the top of this file. */
  crash(options: SimCrashOptions = {}): void {
    const seeded = (options.unsynced ?? 'seeded') === 'seeded';
    const kept = seeded ? this.prng.between(0, this.pendingDirChanges.length) : 0;
    for (const c of this.pendingDirChanges.slice(0, kept)) {
      if (c.target === undefined) c.dir.durable.delete(c.name);
      else c.dir.durable.set(c.name, c.target);
    }
    this.pendingDirChanges = [];
    // Rebuild the tree from durable entries; each reachable file keeps its durable bytes plus what the crash let through.
    const visit = (dir: DirNode): void => {
      dir.entries = new Map(dir.durable);
      for (const [, node] of [...dir.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        if (node.kind === 'dir') visit(node);
        else this.crashFile(node, seeded);
      }
    };
    visit(this.root);
    this.count.crashes++;
    this.endProcess();
  }

  /** The process dies, the machine does not: handles, locks and operations in flight are lost, written data is not. */
  restartProcess(): void {
    this.count.processRestarts++;
    this.endProcess();
  }

  /**
   * A latent sector error: flips one seeded bit of already-synced data (in a sector with no unsynced
   * writes) of file `path` (or a seeded file), within [rangeBytes[0], rangeBytes[1]) when given.
   * Reads see it at once. Returns where.
   */
  flipBitInDurableData(options: { path?: string; rangeBytes?: readonly [number, number] } = {}): BitFlip {
    const files = options.path === undefined ? this.walk().filter(({ node }) => node.kind === 'file') : [{ path: resolve(options.path), node: this.file(options.path, 'open') }];
    const [from, to] = options.rangeBytes ?? [0, Number.MAX_SAFE_INTEGER];
    const spans: { path: string; node: FileNode; start: number; end: number }[] = [];
    for (const { path, node } of files) {
      if (node.kind !== 'file') continue;
      const end = Math.min(node.durable.size, node.current.size, to);
      for (let s = Math.floor(from / SIM_SECTOR_BYTES); s * SIM_SECTOR_BYTES < end; s++) {
        if (node.unsynced.has(s)) continue;
        const start = Math.max(s * SIM_SECTOR_BYTES, from);
        const stop = Math.min((s + 1) * SIM_SECTOR_BYTES, end);
        if (start < stop) spans.push({ path, node, start, end: stop });
      }
    }
    const total = spans.reduce((sum, s) => sum + s.end - s.start, 0);
    assert(total > 0, () => `no synced data to flip a bit in${options.path === undefined ? '' : ` of ${options.path}`} in [${from}, ${to})`);
    let pick = this.prng.nextInt(total);
    for (const span of spans) {
      const length = span.end - span.start;
      if (pick >= length) {
        pick -= length;
        continue;
      }
      const offsetBytes = span.start + pick;
      const bit = this.prng.nextInt(8);
      span.node.durable.flipBit(offsetBytes, bit);
      span.node.current.flipBit(offsetBytes, bit);
      span.node.version++;
      this.count.bitFlips++;
      return { path: span.path, offsetBytes, bit };
    }
    throw new AssertionError('a picked byte lies in a span');
  }

  // ---- Observation (synchronous, for assertions) ----

  get counters(): SimFsCounters {
    return { ...this.count };
  }

  /** Every file reachable now, sorted by path. */
  listFiles(): SimFileInfo[] {
    const durablePaths = new Map<string, Node>();
    const walkDurable = (dir: DirNode, prefix: string): void => {
      for (const [name, node] of dir.durable) {
        durablePaths.set(`${prefix}/${name}`, node);
        if (node.kind === 'dir') walkDurable(node, `${prefix}/${name}`);
      }
    };
    walkDurable(this.root, '');
    const out: SimFileInfo[] = [];
    for (const { path, node } of this.walk()) {
      if (node.kind !== 'file') continue;
      out.push({
        path,
        sizeBytes: node.current.size,
        durableSizeBytes: node.durable.size,
        unsyncedSectors: node.unsynced.size,
        entryDurable: durablePaths.get(path) === node,
      });
    }
    return out;
  }

  /** The current bytes of a file (a copy), or undefined when there is none at `path`. */
  fileBytes(path: string): Buffer | undefined {
    const node = this.maybeLookup(resolve(path));
    return node?.kind === 'file' ? Buffer.from(node.current.view()) : undefined;
  }

  // ---- Internals ----

  /** @internal Runs `body` as one operation: it takes effect when it completes, unless the process died first. */
  run<T>(kind: 'io' | 'sync', body: () => T, epoch = this.epoch): Promise<T> {
    const range = kind === 'sync' ? this.syncLatencyMs : this.opLatencyMs;
    const delayMs = this.prng.between(range.min, range.max);
    return new Promise<T>((resolvePromise, reject) => {
      this.schedule(delayMs, () => {
        if (epoch !== this.epoch) return; // issued by a process that is gone: never completes
        try {
          resolvePromise(body());
        } catch (e) {
          reject(e as Error);
        }
      });
    });
  }

  /** @internal */
  isCurrent(epoch: number): boolean {
    return epoch === this.epoch;
  }

  /** @internal */
  countSync(): void {
    this.count.fileSyncs++;
  }

  /** @internal */
  countWrite(bytes: number): void {
    this.count.bytesWritten += bytes;
  }

  private endProcess(): void {
    this.epoch++;
    this.locks.clear();
  }

  private crashFile(node: FileNode, seeded: boolean): void {
    const sectors = [...node.unsynced].sort((a, b) => a - b);
    const result = node.durable.copy();
    const kept = seeded ? this.prng.between(0, sectors.length) : 0;
    const torn = kept > 0 && this.prng.chance(SIM_TORN_SECTOR_PROBABILITY);
    let keptEnd = 0;
    for (const [k, s] of sectors.slice(0, kept).entries()) {
      const start = s * SIM_SECTOR_BYTES;
      const end = Math.min(start + SIM_SECTOR_BYTES, node.current.size);
      if (start >= end) continue; // a sector cut off by a truncation: nothing new to keep
      const newBytes = torn && k === kept - 1 ? this.prng.between(1, SIM_SECTOR_BYTES - 1) : SIM_SECTOR_BYTES;
      result.write(start, node.current.view(start, start + newBytes));
      keptEnd = end;
    }
    result.resize(kept === sectors.length && !torn ? node.current.size : Math.max(node.durable.size, keptEnd));
    node.current = result;
    node.durable = result.copy();
    node.unsynced.clear();
    node.version++;
  }

  private changeEntry(dir: DirNode, name: string, target: Node | undefined): void {
    if (target === undefined) dir.entries.delete(name);
    else dir.entries.set(name, target);
    this.pendingDirChanges.push({ dir, name, target });
  }

  private walk(): { path: string; node: Node }[] {
    const out: { path: string; node: Node }[] = [];
    const visit = (dir: DirNode, prefix: string): void => {
      for (const name of [...dir.entries.keys()].sort()) {
        const node = dir.entries.get(name) as Node;
        out.push({ path: `${prefix}/${name}`, node });
        if (node.kind === 'dir') visit(node, `${prefix}/${name}`);
      }
    };
    visit(this.root, '');
    return out;
  }

  private maybeLookup(full: string): Node | undefined {
    let node: Node = this.root;
    for (const part of components(full)) {
      if (node.kind !== 'dir') return undefined;
      const next: Node | undefined = node.entries.get(part);
      if (next === undefined) return undefined;
      node = next;
    }
    return node;
  }

  private lookup(path: string, syscall: string): Node {
    const full = resolve(path);
    const node = this.maybeLookup(full);
    if (node === undefined) throw fsError('ENOENT', syscall, full);
    return node;
  }

  private file(path: string, syscall: string): FileNode {
    const node = this.lookup(path, syscall);
    if (node.kind === 'dir') throw fsError('EISDIR', syscall, resolve(path));
    return node;
  }

  private dir(path: string, syscall: string): DirNode {
    const node = this.lookup(path, syscall);
    if (node.kind !== 'dir') throw fsError('ENOTDIR', syscall, resolve(path));
    return node;
  }

  private parentOf(path: string, syscall: string): { dir: DirNode; name: string; full: string } {
    const full = resolve(path);
    assert(full !== '/', 'the root has no parent');
    const parent = this.maybeLookup(posix.dirname(full));
    if (parent === undefined) throw fsError('ENOENT', syscall, full);
    if (parent.kind !== 'dir') throw fsError('ENOTDIR', syscall, full);
    return { dir: parent, name: posix.basename(full), full };
  }
}

class SimFileHandle implements StorageFileHandle {
  private closed = false;

  constructor(
    private readonly fs: SimFs,
    private readonly node: FileNode,
    private readonly path: string,
    private readonly flags: OpenFlags,
    private readonly epoch: number,
  ) {}

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.op('io', 'read', () => {
      const bytes = this.node.current.view(position, position + length);
      buffer.set(bytes, offset);
      return bytes.length;
    });
  }

  write(data: Uint8Array, position: number): Promise<void> {
    assert(this.flags !== 'a' && this.flags !== 'ax', 'positional writes on an append-only handle are ignored by the OS; use append()');
    assert(this.flags !== 'r', 'write on a read-only handle');
    const copy = Uint8Array.from(data); // the caller may reuse its buffer before the write completes
    return this.op('io', 'write', () => this.writeAt(position, copy));
  }

  append(data: Uint8Array): Promise<void> {
    assert(this.flags !== 'r', 'append on a read-only handle');
    const copy = Uint8Array.from(data);
    return this.op('io', 'write', () => this.writeAt(this.node.current.size, copy));
  }

  datasync(): Promise<void> {
    return this.op('sync', 'fdatasync', () => {
      this.node.sync();
      this.fs.countSync();
    });
  }

  sync(): Promise<void> {
    return this.op('sync', 'fsync', () => {
      this.node.sync();
      this.fs.countSync();
    });
  }

  truncate(lengthBytes: number): Promise<void> {
    assert(this.flags !== 'r', 'truncate on a read-only handle');
    return this.op('io', 'ftruncate', () => {
      const node = this.node;
      const from = Math.min(lengthBytes, node.current.size);
      node.markUnsynced(from, Math.max(lengthBytes, node.current.size, node.durable.size));
      node.current.resize(lengthBytes);
    });
  }

  stat(): Promise<FileStat> {
    return this.op('io', 'fstat', () => statOf(this.node));
  }

  close(): Promise<void> {
    return this.op('io', 'close', () => {
      this.closed = true;
    });
  }

  private writeAt(position: number, data: Uint8Array): void {
    const node = this.node;
    if (data.length === 0) return;
    // A write past the end leaves a hole of zeros: those sectors change too.
    node.markUnsynced(Math.min(position, node.current.size), position + data.length);
    node.current.write(position, data);
    this.fs.countWrite(data.length);
  }

  private op<T>(kind: 'io' | 'sync', syscall: string, body: () => T): Promise<T> {
    if (this.closed || !this.fs.isCurrent(this.epoch)) return Promise.reject(fsError('EBADF', syscall, this.path));
    return this.fs.run(
      kind,
      () => {
        if (this.closed) throw fsError('EBADF', syscall, this.path);
        return body();
      },
      this.epoch,
    );
  }
}

function statOf(node: FileNode): FileStat {
  return { sizeBytes: node.current.size, identity: `sim:${node.inode}:${node.version}:${node.current.size}` };
}

function resolve(path: string): string {
  return posix.resolve('/', path);
}

function components(full: string): string[] {
  return full.split('/').filter((p) => p.length > 0);
}
