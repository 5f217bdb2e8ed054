// The write-ahead log: segment files of checksummed records (see wal-record.ts), appended with
// group commit and recovered on open (see docs/storage.md for the format and recovery rules).
//
// Contract:
// - append() / installSnapshot() / recordSnapshot() return promises that resolve only after an
//   fdatasync covering their records has completed. Calls made while an fsync runs are gathered
//   into ONE following write + fsync (group commit). Records reach the disk in call order.
// - Suffix replacement is implicit: an entry whose index is at or below the last index replaces
//   every stored entry from that index on. There is no separate truncation record.
// - A failed write or fsync fails every pending and later call ('wal-failed'): after a failed
//   fsync the kernel may have dropped the dirty pages, so retrying could lose acknowledged data.
//   The process must restart; recovery truncates whatever half-written tail is left.
// - Segment k+1 is created only after segment k is fsynced, and starts with the hard state and
//   snapshot marker in effect at that point, so deleting a prefix of segments loses nothing.
import { join } from 'node:path';
import { assert } from '../raft/assert.js';
import type { Entry, HardState, LogIndex, SnapshotMeta } from '../raft/types.js';
import { index as toIndex } from '../raft/types.js';
import { SEGMENT_SIZE_MAX_BYTES } from './constants.js';
import { StorageError, WalCorruptionError } from './errors.js';
import type { StorageFileHandle, StorageFs } from './fs.js';
import { mkdirDurable, unlinkDurable } from './fs-durable.js';
import { nodeFs } from './node-fs.js';
import type { BootState } from './wal-log.js';
import { LogReplay, LogTip } from './wal-log.js';
import type { WalRecord } from './wal-record.js';
import { decodeRecordAt, encodeRecord, RECORD_HEADER_BYTES } from './wal-record.js';

export interface WalOptions {
  /** Called with the duration of every fdatasync, in seconds (the fsync latency histogram). */
  readonly onFsync?: (seconds: number) => void;
  /** Called for every recovery note (a truncated torn tail); the same notes are returned by openWal. */
  readonly onNote?: (note: string) => void;
  /** Defaults to SEGMENT_SIZE_MAX_BYTES; tests lower it to exercise rollover. */
  readonly segmentSizeMaxBytes?: number;
  /** The file system; defaults to the process's (NodeFs). */
  readonly fs?: StorageFs;
}

export interface SegmentInfo {
  /** Position in the sequence of segments; consecutive, starting anywhere after compaction. */
  readonly seq: number;
  /** Last index + 1 when the segment was created. Invariant: its live entries all lie below the next segment's firstIndex. */
  readonly firstIndex: LogIndex;
  readonly path: string;
  /** Bytes known to be on disk (after the last fsync). */
  readonly durableBytes: number;
}

export interface WalOpenResult {
  readonly wal: Wal;
  readonly boot: BootState;
  /** What recovery repaired, in words, for the log. */
  readonly notes: readonly string[];
}

const SEGMENT_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.seg$/;

export function segmentFileName(seq: number, firstIndex: number): string {
  return `${seq.toString(16).padStart(16, '0')}-${firstIndex.toString(16).padStart(16, '0')}.seg`;
}

/** Opens (creating if needed) the WAL in `dir`, recovering its contents. */
export async function openWal(dir: string, options: WalOptions = {}): Promise<WalOpenResult> {
  const fs = options.fs ?? nodeFs;
  await mkdirDurable(fs, dir);
  const notes: string[] = [];
  const note = (text: string): void => {
    notes.push(text);
    options.onNote?.(text);
  };
  const segments = await listSegments(fs, dir);
  const replay = new LogReplay();
  for (const [k, segment] of segments.entries()) {
    const size = await replaySegment(fs, segment.path, replay, k === segments.length - 1, note);
    segments[k] = { ...segment, durableBytes: size };
  }
  const boot = replay.finish();
  if (typeof boot === 'string') throw new StorageError('wal-inconsistent', `WAL in ${dir} is inconsistent: ${boot}. Restore the data directory from a backup, or remove it and re-add the node.`);
  const wal = new Wal(fs, dir, segments, LogTip.fromBoot(boot), options);
  await wal.openTail();
  return { wal, boot, notes };
}

async function listSegments(fs: StorageFs, dir: string): Promise<MutableSegment[]> {
  const segments: MutableSegment[] = [];
  for (const name of await fs.readdir(dir)) {
    const m = SEGMENT_NAME.exec(name);
    if (m === null) continue;
    segments.push({ seq: parseInt(m[1] as string, 16), firstIndex: toIndex(parseInt(m[2] as string, 16)), path: join(dir, name), durableBytes: 0 });
  }
  segments.sort((a, b) => a.seq - b.seq);
  for (let k = 1; k < segments.length; k++) {
    const prev = segments[k - 1] as MutableSegment;
    const cur = segments[k] as MutableSegment;
    if (cur.seq !== prev.seq + 1) {
      throw new StorageError(
        'wal-inconsistent',
        `WAL in ${dir} is missing segments between ${prev.path} and ${cur.path}. Restore the data directory from a backup, or remove it and re-add the node.`,
      );
    }
  }
  return segments;
}

/** Replays one segment; returns its valid length. Repairs a torn tail of the last segment, refuses any other damage. */
async function replaySegment(fs: StorageFs, path: string, replay: LogReplay, isLast: boolean, note: (text: string) => void): Promise<number> {
  const buf = await fs.readFile(path);
  let offset = 0;
  while (offset < buf.length) {
    const result = decodeRecordAt(buf, offset);
    if (result.kind === 'record') {
      const problem = replay.apply(result.record);
      if (problem !== undefined) {
        throw new StorageError('wal-inconsistent', `WAL segment ${path} at byte offset ${offset}: ${problem}. Restore the data directory from a backup, or remove it and re-add the node.`);
      }
      offset += result.sizeBytes;
      continue;
    }
    if (!isLast || validRecordAfter(buf, offset + 1)) throw new WalCorruptionError(path, offset, result.reason);
    const fh = await fs.open(path, 'r+');
    try {
      await fh.truncate(offset);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    note(`truncated the torn tail of WAL segment ${path} at byte offset ${offset}: dropped ${buf.length - offset} bytes (${result.reason})`);
    return offset;
  }
  return offset;
}

/** Whether any valid record starts at or after `from`: if so, damage before it is not a torn tail. */
function validRecordAfter(buf: Buffer, from: number): boolean {
  for (let p = from; p + RECORD_HEADER_BYTES <= buf.length; p++) {
    if (decodeRecordAt(buf, p).kind === 'record') return true;
  }
  return false;
}

interface MutableSegment {
  seq: number;
  firstIndex: LogIndex;
  path: string;
  durableBytes: number;
}

interface OpenSegment {
  readonly info: MutableSegment;
  readonly fh: StorageFileHandle;
  /** Bytes written (durable or not). */
  sizeBytes: number;
  /** Records written after the segment header; rollover waits for at least one so that huge records cannot loop. */
  bodyRecords: number;
}

interface Pending {
  readonly records: readonly WalRecord[];
  /** records, encoded when the call was made: a record too large fails its caller, not the whole batch. */
  readonly encoded: readonly Buffer[];
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

export class Wal {
  private readonly segmentSizeMaxBytes: number;
  private current: OpenSegment | undefined;
  /** Calls accepted but not yet written; they go together into the next write + fsync. */
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private failure: Error | undefined;
  private closed = false;
  /** The log after every accepted call: checks callers. */
  private readonly accepted: LogTip;
  /** The log after every record written so far: names segments and writes their headers. */
  private readonly written: LogTip;
  private durableSnapshotIndex: number;

  /** Use openWal(). */
  constructor(
    private readonly fs: StorageFs,
    private readonly dir: string,
    private readonly segmentList: MutableSegment[],
    tip: LogTip,
    private readonly options: WalOptions,
  ) {
    this.segmentSizeMaxBytes = options.segmentSizeMaxBytes ?? SEGMENT_SIZE_MAX_BYTES;
    assert(this.segmentSizeMaxBytes > RECORD_HEADER_BYTES, 'segment size must hold at least one record header');
    this.accepted = tip;
    this.written = Object.assign(new LogTip(), tip);
    this.durableSnapshotIndex = tip.snapshot?.index ?? 0;
  }

  /** @internal Opens the last segment for appending, or creates the first one. */
  async openTail(): Promise<void> {
    const last = this.segmentList.at(-1);
    if (last === undefined) {
      this.current = await this.createSegment(1, toIndex(this.written.lastIndex + 1));
      return;
    }
    // The segment's entry may be volatile still: its creator may have died between creating it
    // and fsyncing the directory. Appends acknowledged from now on must not depend on that.
    await this.fs.fsyncDir(this.dir);
    const fh = await this.fs.open(last.path, 'a');
    // Count the existing body as records: a reopened segment may roll over at once.
    this.current = { info: last, fh, sizeBytes: last.durableBytes, bodyRecords: last.durableBytes > 0 ? 1 : 0 };
  }

  /**
   * Appends entries (an entry at index i replaces stored entries from i on) and then the hard
   * state, durably. Resolves once an fsync covers them.
   */
  append(entries: readonly Entry[], hardState?: HardState): Promise<void> {
    const records: WalRecord[] = entries.map((entry) => ({ type: 'entry', entry }));
    if (hardState !== undefined) records.push({ type: 'hard-state', hardState });
    return this.submit(records);
  }

  /**
   * Records that a snapshot at `meta` is durable in the snapshot store. `retainsLog: false` for a
   * received snapshot (the log is replaced: entries that follow start at meta.index + 1);
   * `retainsLog: true` for a snapshot of this node's own log (entries after meta.index stay).
   */
  recordSnapshot(meta: SnapshotMeta, retainsLog: boolean): Promise<void> {
    return this.submit([{ type: 'snapshot', snapshot: meta, retainsLog }]);
  }

  /**
   * Deletes the oldest segments whose live entries all lie at or below `index`. Requires a durable
   * snapshot marker at or beyond `index`. Returns the paths deleted.
   */
  async compact(index: LogIndex): Promise<string[]> {
    this.checkUsable();
    assert(index <= this.durableSnapshotIndex, () => `compaction to ${index} needs a durable snapshot marker there (have ${this.durableSnapshotIndex})`);
    const deleted: string[] = [];
    // Invariant: only a prefix is ever deleted, oldest first, each removal durable before the next,
    // so a crash leaves a suffix of segments (a gap in the middle would resurrect replaced entries).
    while (this.segmentList.length >= 2) {
      const oldest = this.segmentList[0] as MutableSegment;
      const next = this.segmentList[1] as MutableSegment;
      if (next.firstIndex - 1 > index) break;
      assert(this.current?.info !== oldest, 'the open segment is never deleted');
      await unlinkDurable(this.fs, oldest.path);
      this.segmentList.shift();
      deleted.push(oldest.path);
    }
    return deleted;
  }

  /** The segments, oldest first. */
  segments(): readonly SegmentInfo[] {
    return this.segmentList.map((s) => ({ ...s }));
  }

  /** The index of the last accepted entry (or of the snapshot, when no entry follows it). */
  get lastIndex(): LogIndex {
    return this.accepted.lastIndex;
  }

  /** Waits for pending writes, then closes the open segment. Later calls fail with 'storage-closed'. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing;
    await this.current?.fh.close();
    this.current = undefined;
  }

  private checkUsable(): void {
    if (this.closed) throw new StorageError('storage-closed', `WAL in ${this.dir} is closed; open the storage again.`);
    if (this.failure !== undefined) {
      throw new StorageError('wal-failed', `an earlier write to the WAL in ${this.dir} failed (${this.failure.message}); restart the node so that recovery repairs the log.`, { cause: this.failure });
    }
  }

  private submit(records: readonly WalRecord[]): Promise<void> {
    try {
      this.checkUsable();
    } catch (e) {
      return Promise.reject(e as Error);
    }
    const encoded = records.map(encodeRecord);
    for (const r of records) this.accepted.apply(r); // assertion errors: the caller broke Raft's rules
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ records, encoded, resolve, reject });
      // Start on a microtask so that calls made in the same turn share the first fsync too.
      this.flushing ??= Promise.resolve().then(() => this.flushLoop());
    });
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0 && this.failure === undefined) {
        const batch = this.queue;
        this.queue = [];
        try {
          await this.writeBatch(batch.flatMap((p) => p.records), batch.flatMap((p) => p.encoded));
        } catch (e) {
          this.failure = e instanceof Error ? e : new Error(String(e));
          const error = new StorageError('wal-failed', `writing the WAL in ${this.dir} failed (${this.failure.message}); restart the node so that recovery repairs the log.`, { cause: e });
          for (const p of [...batch, ...this.queue]) p.reject(error);
          this.queue = [];
          return;
        }
        for (const p of batch) p.resolve();
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /** Writes records to the open segment, rolling over at the size limit, and fsyncs. */
  private async writeBatch(records: readonly WalRecord[], encodedRecords: readonly Buffer[]): Promise<void> {
    let segment = this.current;
    assert(segment !== undefined, 'the WAL has an open segment while not closed');
    assert(records.length === encodedRecords.length, 'every record is encoded once');
    let buffers: Buffer[] = [];
    for (const [k, record] of records.entries()) {
      const encoded = encodedRecords[k] as Buffer;
      if (segment.bodyRecords > 0 && segment.sizeBytes + encoded.length > this.segmentSizeMaxBytes) {
        await this.writeAndSync(segment, buffers);
        buffers = [];
        await segment.fh.close();
        segment = await this.createSegment(segment.info.seq + 1, toIndex(this.written.lastIndex + 1));
        this.current = segment;
        for (const header of this.written.headerRecords()) {
          const h = encodeRecord(header);
          buffers.push(h);
          segment.sizeBytes += h.length;
        }
      }
      buffers.push(encoded);
      segment.sizeBytes += encoded.length;
      segment.bodyRecords++;
      this.written.apply(record);
    }
    await this.writeAndSync(segment, buffers);
    this.durableSnapshotIndex = this.written.snapshot?.index ?? 0;
  }

  private async writeAndSync(segment: OpenSegment, buffers: readonly Buffer[]): Promise<void> {
    if (buffers.length > 0) {
      await segment.fh.append(buffers.length === 1 ? (buffers[0] as Buffer) : Buffer.concat(buffers));
    }
    const started = process.hrtime.bigint();
    await segment.fh.datasync();
    this.options.onFsync?.(Number(process.hrtime.bigint() - started) / 1e9);
    segment.info.durableBytes = segment.sizeBytes;
  }

  /** Creates an empty segment and makes its directory entry durable before anything is written to it. */
  private async createSegment(seq: number, firstIndex: LogIndex): Promise<OpenSegment> {
    const info: MutableSegment = { seq, firstIndex, path: join(this.dir, segmentFileName(seq, firstIndex)), durableBytes: 0 };
    const fh = await this.fs.open(info.path, 'ax');
    try {
      await this.fs.fsyncDir(this.dir);
    } catch (e) {
      await fh.close();
      throw e;
    }
    this.segmentList.push(info);
    return { info, fh, sizeBytes: 0, bodyRecords: 0 };
  }
}
