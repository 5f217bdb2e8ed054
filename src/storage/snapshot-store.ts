// Snapshot files: the state machine's bytes at a log index, written so that a crash never leaves
// a file that looks complete but is not. Contract:
// - A committed snapshot file exists under its final name only after its bytes and header were
//   fsynced (temp name → fsync → rename → fsync directory). Anything else on disk is a leftover:
//   `*.tmp` files from an interrupted create() are deleted on open; a `*.part` file holds a
//   received snapshot in progress and is kept so its transfer can resume.
// - Snapshots are streamed in and out in chunks: nothing here needs a whole snapshot in memory.
// - Reading verifies the header checksum at once and the body checksum once per reader: open and
//   openLatest read the body through by default, otherwise chunks() checks it at the end of a read
//   from offset 0. A file this store committed itself (its checksum computed as its bytes were
//   written, then fsynced) counts as verified while its identity (inode, size, mtime) is unchanged:
//   re-reading a gigabyte just received would only re-check the page cache. A mismatch is a
//   SnapshotCorruptionError naming the file, never a silent fallback to an older snapshot.
// - Data is flushed in the background while a file is written (SNAPSHOT_SYNC_INTERVAL_BYTES), so
//   the fsync that commits it overlaps the transfer instead of following it.
//
// File layout (little-endian):
//   offset 0   8 bytes  magic "KRSNAPv1"
//   offset 8   u32      CRC-32C of bytes [12, 32 + metaLength)
//   offset 12  u32      metaLength: bytes of the metadata JSON
//   offset 16  u32      CRC-32C of the body
//   offset 20  u64      body size in bytes
//   offset 28  u16      format version (SNAPSHOT_FORMAT_VERSION)
//   offset 30  u16      reserved, 0
//   offset 32  metadata JSON {index, term, membership}, then the body
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { assert } from '../raft/assert.js';
import type { SnapshotMeta } from '../raft/types.js';
import { index as toIndex, term as toTerm } from '../raft/types.js';
import { SNAPSHOT_CHUNK_BYTES, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_HEADER_MAX_BYTES, SNAPSHOT_SYNC_INTERVAL_BYTES, SNAPSHOTS_RETAINED_COUNT } from './constants.js';
import { crc32c } from './crc32c.js';
import { SnapshotCorruptionError, StorageError } from './errors.js';
import type { StorageFileHandle, StorageFs } from './fs.js';
import { isErrnoCode } from './fs.js';
import { mkdirDurable, unlinkDurable } from './fs-durable.js';
import { nodeFs } from './node-fs.js';
import { parseMembership } from './wal-record.js';

const MAGIC = Buffer.from('KRSNAPv1', 'latin1');
const FIXED_HEADER_BYTES = 32;
const U32 = 0x1_0000_0000;
const SNAPSHOT_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
const PART_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})-([0-9a-f]{16})-([0-9a-f]{8})\.part$/;

/** A committed snapshot file as described by its header. */
export interface SnapshotInfo {
  readonly meta: SnapshotMeta;
  readonly sizeBytes: number;
  readonly bodyCrc32c: number;
  readonly file: string;
}

/** What a sender announces before a snapshot's bytes: enough to resume and to verify the transfer. */
export interface SnapshotAnnouncement {
  readonly meta: SnapshotMeta;
  readonly sizeBytes: number;
  readonly bodyCrc32c: number;
}

export interface SnapshotWriter {
  /** Appends body bytes. Await each call: that is the backpressure. */
  write(chunk: Uint8Array): Promise<void>;
  /** Makes the snapshot durable under its final name. */
  commit(): Promise<SnapshotInfo>;
  /** Deletes the temp file. */
  abort(): Promise<void>;
}

export interface IncomingSnapshot {
  /** Body bytes already received (from an earlier, interrupted transfer of the same snapshot): resume here. */
  readonly offsetBytes: number;
  /** Appends `chunk` at body offset `offset`, which must equal offsetBytes ('snapshot-offset-mismatch'). */
  write(offset: number, chunk: Uint8Array): Promise<void>;
  /** Verifies size and checksum, then makes the snapshot durable under its final name. */
  commit(): Promise<SnapshotInfo>;
  /** Deletes the partial file: the next transfer starts from zero. */
  abort(): Promise<void>;
}

export interface SnapshotReader extends SnapshotInfo {
  /**
   * The body from `fromOffset` in chunks of at most `chunkBytes`, each a buffer of its own. Unless
   * the body was checked already (see the file's contract), a read from 0 verifies the checksum at the end.
   */
  chunks(fromOffset?: number, chunkBytes?: number): AsyncGenerator<Uint8Array>;
  /** The body as a stream (same checks as chunks()). */
  stream(fromOffset?: number): Readable;
}

export interface SnapshotFile {
  readonly index: number;
  readonly term: number;
  readonly file: string;
}

/** What identifies one version of a file: a rewrite or a truncation changes it. */
type FileIdentity = string;

/**
 * Flushes a file being written every SNAPSHOT_SYNC_INTERVAL_BYTES, one fdatasync at a time, in
 * the background. A failed flush is reported by the next write or by finish().
 */
class SyncBehind {
  private unsynced = 0;
  private inFlight: Promise<void> | undefined;
  private failure: unknown;
  constructor(private readonly fh: StorageFileHandle) {}

  wrote(bytes: number): void {
    if (this.failure !== undefined) throw this.failure;
    this.unsynced += bytes;
    if (this.unsynced < SNAPSHOT_SYNC_INTERVAL_BYTES || this.inFlight !== undefined) return;
    this.unsynced = 0;
    this.inFlight = this.fh.datasync().then(
      () => {
        this.inFlight = undefined;
      },
      (e: unknown) => {
        this.inFlight = undefined;
        this.failure = e;
      },
    );
  }

  /** Waits for the flush in progress; throws if one failed. */
  async settle(): Promise<void> {
    await this.inFlight;
    if (this.failure !== undefined) throw this.failure;
  }
}

export class SnapshotStore {
  // Files committed here, with the identity they had then: their bodies need no re-check.
  private readonly verified = new Map<string, FileIdentity>();

  private constructor(
    private readonly fs: StorageFs,
    readonly dir: string,
  ) {}

  /** Opens the store in `dir`, deleting temp files a crash left behind; returns what it cleaned. */
  static async open(dir: string, fs: StorageFs = nodeFs): Promise<{ store: SnapshotStore; notes: string[] }> {
    await mkdirDurable(fs, dir);
    const notes: string[] = [];
    for (const name of await fs.readdir(dir)) {
      if (!name.endsWith('.tmp')) continue;
      await unlinkDurable(fs, join(dir, name));
      notes.push(`deleted ${join(dir, name)}, a snapshot whose write a crash interrupted`);
    }
    return { store: new SnapshotStore(fs, dir), notes };
  }

  /** Starts writing a snapshot of this node's state machine at `meta`. */
  async create(meta: SnapshotMeta): Promise<SnapshotWriter> {
    const final = join(this.dir, snapshotFileName(meta));
    const temp = `${final}.tmp`;
    const fh = await this.fs.open(temp, 'w');
    const metaBytes = encodeMeta(meta);
    await fh.write(encodeHeader(metaBytes, 0, 0), 0);
    let sizeBytes = 0;
    let crc = 0;
    let done = false;
    const headerBytes = FIXED_HEADER_BYTES + metaBytes.length;
    const flusher = new SyncBehind(fh);
    return {
      write: async (chunk) => {
        assert(!done, 'write after commit or abort');
        await fh.write(chunk, headerBytes + sizeBytes);
        crc = crc32c(chunk, crc);
        sizeBytes += chunk.length;
        flusher.wrote(chunk.length);
      },
      commit: async () => {
        assert(!done, 'commit after commit or abort');
        done = true;
        // The header is rewritten with the body's size and checksum before the fsync that precedes the rename.
        await fh.write(encodeHeader(metaBytes, sizeBytes, crc), 0);
        await flusher.settle();
        await fh.sync();
        await fh.close();
        await this.fs.rename(temp, final);
        await this.fs.fsyncDir(this.dir);
        this.verified.set(final, (await this.fs.stat(final)).identity);
        return { meta, sizeBytes, bodyCrc32c: crc, file: final };
      },
      abort: async () => {
        if (done) return;
        done = true;
        await flusher.settle().catch(() => undefined);
        await fh.close();
        await unlinkDurable(this.fs, temp);
      },
    };
  }

  /**
   * Starts (or resumes) receiving the snapshot `announced`. A partial file of the same snapshot
   * is continued; partial files of any other snapshot are deleted (one transfer at a time).
   * Bytes received before a machine crash may not all have reached the disk: such damage shows as
   * a checksum mismatch at commit, which deletes the partial file so the transfer restarts.
   */
  async incoming(announced: SnapshotAnnouncement): Promise<IncomingSnapshot> {
    const { meta, sizeBytes, bodyCrc32c } = announced;
    assert(Number.isSafeInteger(sizeBytes) && sizeBytes >= 0, 'snapshot size must be a non-negative safe integer');
    const partName = `${hex16(meta.index)}-${hex16(meta.term)}-${hex16(sizeBytes)}-${(bodyCrc32c >>> 0).toString(16).padStart(8, '0')}.part`;
    for (const name of await this.fs.readdir(this.dir)) {
      if (PART_NAME.test(name) && name !== partName) await unlinkDurable(this.fs, join(this.dir, name));
    }
    const part = join(this.dir, partName);
    const final = join(this.dir, snapshotFileName(meta));
    const metaBytes = encodeMeta(meta);
    const headerBytes = FIXED_HEADER_BYTES + metaBytes.length;
    let offset = 0;
    let crc = 0;
    const existing = await this.fs.stat(part).catch((e: unknown) => (isErrnoCode(e, 'ENOENT') ? undefined : Promise.reject(e)));
    let fh: StorageFileHandle;
    if (existing !== undefined && existing.sizeBytes >= headerBytes && existing.sizeBytes - headerBytes <= sizeBytes) {
      fh = await this.fs.open(part, 'r+');
      offset = existing.sizeBytes - headerBytes;
      crc = await checksumRange(fh, headerBytes, offset);
    } else {
      fh = await this.fs.open(part, 'w');
      await fh.write(encodeHeader(metaBytes, sizeBytes, bodyCrc32c), 0);
    }
    let done = false;
    const flusher = new SyncBehind(fh);
    const discard = async (): Promise<void> => {
      done = true;
      await flusher.settle().catch(() => undefined);
      await fh.close();
      await unlinkDurable(this.fs, part);
    };
    return {
      get offsetBytes() {
        return offset;
      },
      write: async (at, chunk) => {
        assert(!done, 'write after commit or abort');
        if (at !== offset) {
          throw new StorageError('snapshot-offset-mismatch', `snapshot chunk for ${final} starts at byte ${at}, expected ${offset}; resend from ${offset}.`);
        }
        if (offset + chunk.length > sizeBytes) {
          throw new StorageError('snapshot-incomplete', `snapshot ${final} got more than the announced ${sizeBytes} bytes; the sender must restart the transfer.`);
        }
        await fh.write(chunk, headerBytes + offset);
        crc = crc32c(chunk, crc);
        offset += chunk.length;
        flusher.wrote(chunk.length);
      },
      commit: async () => {
        assert(!done, 'commit after commit or abort');
        if (offset !== sizeBytes) {
          throw new StorageError('snapshot-incomplete', `snapshot ${final} has ${offset} of ${sizeBytes} bytes; send the rest from byte ${offset} before committing.`);
        }
        if (crc !== bodyCrc32c >>> 0) {
          await discard();
          throw new StorageError(
            'snapshot-checksum-mismatch',
            `received snapshot ${final} has checksum ${hex8(crc)}, the sender announced ${hex8(bodyCrc32c)}; it was deleted, restart the transfer.`,
          );
        }
        done = true;
        await flusher.settle();
        await fh.sync();
        await fh.close();
        await this.fs.rename(part, final);
        await this.fs.fsyncDir(this.dir);
        this.verified.set(final, (await this.fs.stat(final)).identity);
        return { meta, sizeBytes, bodyCrc32c: crc, file: final };
      },
      abort: async () => {
        if (!done) await discard();
      },
    };
  }

  /** Committed snapshot files by name, newest (highest index, then term) first. Contents unchecked. */
  async list(): Promise<SnapshotFile[]> {
    const out: SnapshotFile[] = [];
    for (const name of await this.fs.readdir(this.dir)) {
      const m = SNAPSHOT_NAME.exec(name);
      if (m !== null) out.push({ index: parseInt(m[1] as string, 16), term: parseInt(m[2] as string, 16), file: join(this.dir, name) });
    }
    return out.sort((a, b) => b.index - a.index || b.term - a.term);
  }

  /** The newest committed snapshot, checked; undefined when there is none. */
  async openLatest(options: { verifyBody?: boolean } = {}): Promise<SnapshotReader | undefined> {
    const [newest] = await this.list();
    return newest === undefined ? undefined : openSnapshotFile(this.fs, newest.file, options.verifyBody ?? true, this.verified);
  }

  /** The committed snapshot at exactly (index, term), checked; undefined when there is none. */
  async open(index: number, term: number, options: { verifyBody?: boolean } = {}): Promise<SnapshotReader | undefined> {
    const found = (await this.list()).find((s) => s.index === index && s.term === term);
    return found === undefined ? undefined : openSnapshotFile(this.fs, found.file, options.verifyBody ?? true, this.verified);
  }

  /** Deletes one committed snapshot file, durably. */
  async remove(file: SnapshotFile): Promise<void> {
    this.verified.delete(file.file);
    await unlinkDurable(this.fs, file.file);
  }

  /**
   * Keeps the newest `retainedCount` snapshots, plus `keep` (the installed one) wherever it is;
   * deletes the other, older ones. Returns what it deleted.
   */
  async prune(keep?: { index: number; term: number }, retainedCount = SNAPSHOTS_RETAINED_COUNT): Promise<SnapshotFile[]> {
    const all = await this.list();
    const doomed = all.slice(retainedCount).filter((s) => !(keep !== undefined && s.index === keep.index && s.term === keep.term));
    for (const s of doomed) await this.remove(s);
    return doomed;
  }
}

export function snapshotFileName(meta: SnapshotMeta): string {
  return `${hex16(meta.index)}-${hex16(meta.term)}.snap`;
}

async function openSnapshotFile(fs: StorageFs, file: string, verifyBody: boolean, verified: Map<string, FileIdentity>): Promise<SnapshotReader> {
  const fh = await fs.open(file, 'r');
  let info: SnapshotInfo;
  let headerBytes: number;
  // Whether this reader's body is known to match its checksum; otherwise chunks() checks it.
  let bodyChecked = false;
  try {
    ({ info, headerBytes } = await readHeader(fh, file));
    const known = verified.get(file);
    if (known !== undefined && known !== (await fh.stat()).identity) verified.delete(file);
    bodyChecked = verified.has(file);
    if (verifyBody && !bodyChecked) {
      const actual = await checksumRange(fh, headerBytes, info.sizeBytes);
      if (actual !== info.bodyCrc32c) throw new SnapshotCorruptionError(file, `body checksum ${hex8(actual)}, header says ${hex8(info.bodyCrc32c)}`);
      bodyChecked = true;
    }
  } finally {
    await fh.close();
  }
  const chunks = async function* (fromOffset = 0, chunkBytes = SNAPSHOT_CHUNK_BYTES): AsyncGenerator<Uint8Array> {
    assert(fromOffset >= 0 && fromOffset <= info.sizeBytes, () => `offset ${fromOffset} outside the snapshot's ${info.sizeBytes} bytes`);
    assert(chunkBytes > 0, 'chunks must not be empty');
    const reader = await fs.open(file, 'r');
    const readExactly = async (at: number, length: number): Promise<Buffer> => {
      const buf = Buffer.allocUnsafe(length);
      for (let got = 0; got < length; ) {
        const bytesRead = await reader.read(buf, got, length - got, headerBytes + at + got);
        if (bytesRead === 0) throw new SnapshotCorruptionError(file, `file ends at body byte ${at + got} of ${info.sizeBytes}`);
        got += bytesRead;
      }
      return buf;
    };
    const readFrom = (at: number): Promise<Buffer> | undefined => {
      if (at >= info.sizeBytes) return undefined;
      const read = readExactly(at, Math.min(chunkBytes, info.sizeBytes - at));
      // Awaited below; this only keeps a read the consumer no longer wants from going unhandled.
      read.catch(() => undefined);
      return read;
    };
    // One chunk is read ahead, so the disk (or page cache) works while the consumer handles the last one.
    let next = readFrom(fromOffset);
    try {
      let crc = 0;
      for (let at = fromOffset; next !== undefined; ) {
        const chunk = await next;
        at += chunk.length;
        next = readFrom(at);
        if (!bodyChecked) crc = crc32c(chunk, crc);
        if (!bodyChecked && fromOffset === 0 && at === info.sizeBytes && crc !== info.bodyCrc32c) {
          throw new SnapshotCorruptionError(file, `body checksum ${hex8(crc)}, header says ${hex8(info.bodyCrc32c)}`);
        }
        yield chunk;
      }
    } finally {
      await next?.catch(() => undefined);
      await reader.close();
    }
  };
  return { ...info, chunks, stream: (fromOffset = 0) => Readable.from(chunks(fromOffset)) };
}

async function readHeader(fh: StorageFileHandle, file: string): Promise<{ info: SnapshotInfo; headerBytes: number }> {
  const { sizeBytes: size } = await fh.stat();
  const fixed = Buffer.alloc(FIXED_HEADER_BYTES);
  const bytesRead = await fh.read(fixed, 0, FIXED_HEADER_BYTES, 0);
  if (bytesRead < FIXED_HEADER_BYTES || !fixed.subarray(0, 8).equals(MAGIC)) throw new SnapshotCorruptionError(file, 'not a snapshot file (bad magic or too short)');
  const metaLength = fixed.readUInt32LE(12);
  if (metaLength > SNAPSHOT_HEADER_MAX_BYTES || FIXED_HEADER_BYTES + metaLength > size) throw new SnapshotCorruptionError(file, `header length ${metaLength} is impossible`);
  const metaBytes = Buffer.alloc(metaLength);
  await fh.read(metaBytes, 0, metaLength, FIXED_HEADER_BYTES);
  const headerCrc = crc32c(metaBytes, crc32c(fixed.subarray(12)));
  if (headerCrc !== fixed.readUInt32LE(8)) throw new SnapshotCorruptionError(file, 'header checksum mismatch');
  const version = fixed.readUInt16LE(28);
  if (version !== SNAPSHOT_FORMAT_VERSION) throw new SnapshotCorruptionError(file, `unknown format version ${version}`);
  const sizeBytes = fixed.readUInt32LE(24) * U32 + fixed.readUInt32LE(20);
  const meta = decodeMeta(metaBytes);
  if (meta === undefined) throw new SnapshotCorruptionError(file, 'metadata does not parse');
  const headerBytes = FIXED_HEADER_BYTES + metaLength;
  if (size !== headerBytes + sizeBytes) throw new SnapshotCorruptionError(file, `file is ${size} bytes, header says ${headerBytes + sizeBytes}`);
  return { info: { meta, sizeBytes, bodyCrc32c: fixed.readUInt32LE(16), file }, headerBytes };
}

function encodeHeader(metaBytes: Buffer, sizeBytes: number, bodyCrc: number): Buffer {
  assert(metaBytes.length <= SNAPSHOT_HEADER_MAX_BYTES, 'snapshot metadata exceeds SNAPSHOT_HEADER_MAX_BYTES');
  const out = Buffer.alloc(FIXED_HEADER_BYTES + metaBytes.length);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(metaBytes.length, 12);
  out.writeUInt32LE(bodyCrc >>> 0, 16);
  out.writeUInt32LE(sizeBytes % U32, 20);
  out.writeUInt32LE(Math.floor(sizeBytes / U32), 24);
  out.writeUInt16LE(SNAPSHOT_FORMAT_VERSION, 28);
  metaBytes.copy(out, FIXED_HEADER_BYTES);
  out.writeUInt32LE(crc32c(out.subarray(12)), 8);
  return out;
}

function encodeMeta(meta: SnapshotMeta): Buffer {
  return Buffer.from(JSON.stringify({ index: meta.index, term: meta.term, membership: meta.membership }), 'utf8');
}

function decodeMeta(bytes: Buffer): SnapshotMeta | undefined {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { index, term, membership } = value as Record<string, unknown>;
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(term)) return undefined;
  const parsed = parseMembership(JSON.stringify(membership ?? null));
  return parsed === undefined ? undefined : { index: toIndex(index as number), term: toTerm(term as number), membership: parsed };
}

/** CRC-32C of `length` bytes from `position`, read in chunks. */
async function checksumRange(fh: StorageFileHandle, position: number, length: number): Promise<number> {
  const buf = Buffer.allocUnsafe(Math.min(SNAPSHOT_CHUNK_BYTES, Math.max(length, 1)));
  let crc = 0;
  for (let at = 0; at < length; ) {
    const bytesRead = await fh.read(buf, 0, Math.min(buf.length, length - at), position + at);
    if (bytesRead === 0) break;
    crc = crc32c(buf.subarray(0, bytesRead), crc);
    at += bytesRead;
  }
  return crc;
}

const hex16 = (n: number): string => n.toString(16).padStart(16, '0');
const hex8 = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
