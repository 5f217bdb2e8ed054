// The write-ahead log: preallocated segment files (wal-prealloc.ts) of checksummed, numbered
// records (wal-record.ts), written with group commit and recovered on open by the rules of
// wal-segment.ts (see docs/storage.md for the format and recovery rules).
//
// Contract:
// - append() / installSnapshot() / recordSnapshot() return promises that resolve only after an
//   fdatasync covering their records has completed. Calls made while an fsync runs are gathered
//   into ONE following write + fsync (group commit). Records reach the disk in call order.
// - Suffix replacement is implicit: an entry whose index is at or below the last index replaces
//   every stored entry from that index on. There is no separate truncation record.
// - A failed write or fsync fails every pending and later call ('wal-failed'): after a failed
//   fsync the kernel may have dropped the dirty pages, so retrying could lose acknowledged data.
//   The process must restart; recovery zeroes whatever half-written record is left.
// - Segment k+1 gets its name only after segment k is fsynced (so only the last segment can end in
//   a torn write), and starts with the hard state and snapshot marker in effect at that point, so
//   deleting a prefix of segments loses nothing.
import { join } from 'node:path';
import { assert } from '../raft/assert.js';
import type { Entry, HardState, LogIndex, SnapshotMeta } from '../raft/types.js';
import { index as toIndex } from '../raft/types.js';
import { SEGMENT_PREPARE_AHEAD_RATIO, SEGMENT_SIZE_MAX_BYTES, WAL_SEGMENT_SEQ_MAX } from './constants.js';
import { StorageError } from './errors.js';
import type { StorageFileHandle, StorageFs } from './fs.js';
import { mkdirDurable, unlinkDurable } from './fs-durable.js';
import { nodeFs } from './node-fs.js';
import type { BootState } from './wal-log.js';
import { LogTip } from './wal-log.js';
import { SegmentPreparer } from './wal-prealloc.js';
import type { EncodedPayload, WalRecord } from './wal-record.js';
import { encodePayload, frameRecord, RECORD_END_BYTES, RECORD_HEADER_BYTES, RECORD_MIN_BYTES } from './wal-record.js';
import type { MutableSegment } from './wal-recovery.js';
import { recoverWal, segmentFileName } from './wal-recovery.js';

export interface WalOptions {
  /** Called with the duration of every fdatasync, in seconds (the fsync latency histogram). */
  readonly onFsync?: (seconds: number) => void;
  /** Called for every recovery note (a truncated torn tail); the same notes are returned by openWal. */
  readonly onNote?: (note: string) => void;
  /** The size segments are preallocated to and rolled over at. Defaults to SEGMENT_SIZE_MAX_BYTES; tests lower it to exercise rollover. */
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
  /** Bytes of records known to be on disk (after the last fsync); the file is longer, preallocated with zeros. */
  readonly durableBytes: number;
}

export interface WalOpenResult {
  readonly wal: Wal;
  readonly boot: BootState;
  /** What recovery repaired, in words, for the log. */
  readonly notes: readonly string[];
}

export { segmentFileName };

/** Opens (creating if needed) the WAL in `dir`, recovering its contents. */
export async function openWal(dir: string, options: WalOptions = {}): Promise<WalOpenResult> {
  const fs = options.fs ?? nodeFs;
  await mkdirDurable(fs, dir);
  const notes: string[] = [];
  const note = (text: string): void => {
    notes.push(text);
    options.onNote?.(text);
  };
  const { segments, boot, nextRecordSeq } = await recoverWal(fs, dir, note);
  const segmentSizeBytes = options.segmentSizeMaxBytes ?? SEGMENT_SIZE_MAX_BYTES;
  const preparer = new SegmentPreparer(fs, dir, segmentSizeBytes);
  await preparer.removeLeftover();
  const wal = new Wal(fs, dir, segments, LogTip.fromBoot(boot), nextRecordSeq, preparer, options);
  await wal.openTail();
  return { wal, boot, notes };
}

interface OpenSegment {
  readonly info: MutableSegment;
  /** Open for positional writes: records go at info.durableBytes, over the preallocated zeros. */
  readonly fh: StorageFileHandle;
  /** Bytes of records framed for it (durable or not). */
  sizeBytes: number;
  /** Whether its header records (hard state, snapshot marker) are framed; a segment left empty by a crash has none yet. */
  headerWritten: boolean;
  /** Records written after the segment header; rollover waits for at least one so that huge records cannot loop. */
  bodyRecords: number;
}

interface Pending {
  readonly records: readonly WalRecord[];
  /** records, encoded when the call was made: a record too large fails its caller, not the whole batch. */
  readonly encoded: readonly EncodedPayload[];
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
  /** The sequence number of the next record framed. Invariant: one more than the last record's, in the last segment or the one before. */
  private nextRecordSeq: number;

  /** Use openWal(). */
  constructor(
    private readonly fs: StorageFs,
    private readonly dir: string,
    private readonly segmentList: MutableSegment[],
    tip: LogTip,
    nextRecordSeq: number,
    private readonly preparer: SegmentPreparer,
    private readonly options: WalOptions,
  ) {
    this.segmentSizeMaxBytes = options.segmentSizeMaxBytes ?? SEGMENT_SIZE_MAX_BYTES;
    assert(this.segmentSizeMaxBytes >= RECORD_MIN_BYTES, 'segment size must hold at least one record');
    this.nextRecordSeq = nextRecordSeq;
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
    // The segment's entry may be volatile still: its creator may have died between naming it
    // and fsyncing the directory. Appends acknowledged from now on must not depend on that.
    await this.fs.fsyncDir(this.dir);
    const fh = await this.fs.open(last.path, 'r+');
    // A segment with records has its header (written first, in the same fsync as its first body
    // records). Count the existing body as records: a reopened segment may roll over at once.
    const written = last.durableBytes > 0;
    this.current = { info: last, fh, sizeBytes: last.durableBytes, headerWritten: written, bodyRecords: written ? 1 : 0 };
    this.prepareAheadIfDue(this.current);
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
    await this.preparer.close();
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
    const encoded = records.map(encodePayload);
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
  private async writeBatch(records: readonly WalRecord[], encodedRecords: readonly EncodedPayload[]): Promise<void> {
    let segment = this.current;
    assert(segment !== undefined, 'the WAL has an open segment while not closed');
    assert(records.length === encodedRecords.length, 'every record is encoded once');
    let buffers: Buffer[] = [];
    const frame = (into: OpenSegment, encoded: EncodedPayload): void => {
      const parts = frameRecord(encoded, { segmentSeq: into.info.seq, recordSeq: this.nextRecordSeq++ });
      buffers.push(...parts);
      for (const part of parts) into.sizeBytes += part.length;
    };
    for (const [k, record] of records.entries()) {
      const encoded = encodedRecords[k] as EncodedPayload;
      const recordBytes = RECORD_HEADER_BYTES + encoded.payload.length + RECORD_END_BYTES;
      if (segment.bodyRecords > 0 && segment.sizeBytes + recordBytes > this.segmentSizeMaxBytes) {
        await this.writeAndSync(segment, buffers);
        buffers = [];
        await segment.fh.close();
        segment = await this.createSegment(segment.info.seq + 1, toIndex(this.written.lastIndex + 1));
        this.current = segment;
      }
      if (!segment.headerWritten) {
        for (const header of this.written.headerRecords()) frame(segment, encodePayload(header));
        segment.headerWritten = true;
      }
      frame(segment, encoded);
      segment.bodyRecords++;
      this.written.apply(record);
    }
    await this.writeAndSync(segment, buffers);
    this.durableSnapshotIndex = this.written.snapshot?.index ?? 0;
    this.prepareAheadIfDue(segment);
  }

  private async writeAndSync(segment: OpenSegment, buffers: readonly Buffer[]): Promise<void> {
    if (buffers.length > 0) {
      // One write over the preallocated zeros, where the last fsynced record ends.
      await segment.fh.write(buffers.length === 1 ? (buffers[0] as Buffer) : Buffer.concat(buffers), segment.info.durableBytes);
    }
    const started = process.hrtime.bigint();
    await segment.fh.datasync();
    this.options.onFsync?.(Number(process.hrtime.bigint() - started) / 1e9);
    segment.info.durableBytes = segment.sizeBytes;
  }

  /** Once the open segment is far enough along, the next one is preallocated in the background. */
  private prepareAheadIfDue(segment: OpenSegment): void {
    if (segment.sizeBytes >= this.segmentSizeMaxBytes * SEGMENT_PREPARE_AHEAD_RATIO) this.preparer.prepareAhead();
  }

  /** Names a preallocated file as segment `seq`, durably, before anything is written to it. */
  private async createSegment(seq: number, firstIndex: LogIndex): Promise<OpenSegment> {
    assert(seq <= WAL_SEGMENT_SEQ_MAX, () => `segment sequence number ${seq} exceeds WAL_SEGMENT_SEQ_MAX`);
    const info: MutableSegment = { seq, firstIndex, path: join(this.dir, segmentFileName(seq, firstIndex)), durableBytes: 0 };
    const fh = await this.preparer.take(info.path);
    this.segmentList.push(info);
    return { info, fh, sizeBytes: 0, headerWritten: false, bodyRecords: 0 };
  }
}
