// The change history: the recent revisions that changed keys, with their events, for watches to resume
// from. A revision is the index of the log entry that made the change; one entry may change several keys
// (a lease's end deletes all of its keys), so a record holds every event of one revision.
//
// Bounded by WATCH_HISTORY_REVISIONS_MAX records and WATCH_HISTORY_BYTES_MAX bytes (keys, values and
// HISTORY_EVENT_OVERHEAD_BYTES per event); the oldest records go first, but the newest is always kept.
// What is kept depends only on the applied entries, so every replica at the same applied index holds the
// same history, and snapshots carry it (snapshot.ts): a replica restored from a snapshot continues with
// the history its writer had.
import { assert } from '../raft/assert.js';
import type { LogIndex } from '../raft/types.js';
import type { LeaseId } from './command.js';
import { HISTORY_EVENT_OVERHEAD_BYTES, WATCH_HISTORY_BYTES_MAX, WATCH_HISTORY_REVISIONS_MAX } from './limits.js';

export type ChangeEvent =
  | { readonly type: 'put'; readonly key: string; readonly value: Uint8Array; readonly lease: LeaseId | undefined }
  | { readonly type: 'delete'; readonly key: string };

/** Every change of one revision, in the order they were made. Shared, never mutated. */
export interface ChangeRecord {
  readonly revision: LogIndex;
  /** Invariant: non-empty. */
  readonly events: readonly ChangeEvent[];
  /** What the history's byte bound counts for this record. */
  readonly sizeBytes: number;
}

export function changeRecord(revision: LogIndex, events: readonly ChangeEvent[]): ChangeRecord {
  assert(events.length > 0, 'a change record holds at least one event');
  let sizeBytes = 0;
  for (const e of events) sizeBytes += HISTORY_EVENT_OVERHEAD_BYTES + Buffer.byteLength(e.key) + (e.type === 'put' ? e.value.length : 0);
  return { revision, events, sizeBytes };
}

/** A watch asked for a revision the history no longer holds. */
export class CompactedError extends Error {
  override readonly name = 'CompactedError';
  readonly code = 'compacted';
  constructor(
    readonly revision: number,
    /** The oldest revision a watch may start from. */
    readonly oldestRevision: number,
  ) {
    super(`revision ${revision} is compacted: the change history starts at revision ${oldestRevision}; list the keys again and watch from the revision the list was read at`);
  }
}

/** A position in the stream of every record a history was given (see ChangeHistory.cursor). */
export interface HistoryCursor {
  readonly records: number;
  readonly bytes: number;
}

/** Records below this many dead slots at the front are not worth moving. */
const COMPACT_SLOTS_MIN = 1024;

export class ChangeHistory {
  // Invariant: records[head..] ascend strictly by revision, all > compacted; `ends[i]` is the byte count
  // of every record appended up to and including records[i]; `bytes` is the sum of live sizeBytes.
  private records: ChangeRecord[] = [];
  private ends: number[] = [];
  /** The byte count through the record before records[0]. */
  private endsBase = 0;
  private head = 0;
  private bytes = 0;
  private appendedBytes = 0;
  /** Records appended to / trimmed from this history since it was created (stream coordinates). */
  private appendedRecords = 0;
  private trimmedRecords = 0;
  private compacted: LogIndex;

  /** Limits are parameters only so that tests can make trimming frequent. */
  constructor(
    compactedThrough: LogIndex,
    private readonly revisionsMax = WATCH_HISTORY_REVISIONS_MAX,
    private readonly bytesMax = WATCH_HISTORY_BYTES_MAX,
  ) {
    this.compacted = compactedThrough;
  }

  /**
   * A history holding `records` (oldest first), as a snapshot carried it. (A snapshot written by a build
   * with larger bounds is trimmed to this build's.)
   */
  static restored(compactedThrough: LogIndex, records: readonly ChangeRecord[]): ChangeHistory {
    const h = new ChangeHistory(compactedThrough);
    for (const r of records) h.append(r);
    return h;
  }

  /** Every record with a revision at or below this is gone (or never was here). */
  get compactedThrough(): LogIndex {
    return this.compacted;
  }

  /** The oldest revision a watch may start from. */
  get oldestRevision(): number {
    return this.compacted + 1;
  }

  get revisionCount(): number {
    return this.records.length - this.head;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  /** The newest record's revision, or the compaction point when empty. */
  get lastRevision(): number {
    return this.records.length > this.head ? (this.records[this.records.length - 1] as ChangeRecord).revision : this.compacted;
  }

  append(record: ChangeRecord): void {
    assert(record.revision > this.lastRevision, () => `history revisions ascend: ${record.revision} after ${this.lastRevision}`);
    this.records.push(record);
    this.appendedRecords++;
    this.appendedBytes += record.sizeBytes;
    this.ends.push(this.appendedBytes);
    this.bytes += record.sizeBytes;
    while (this.revisionCount > 1 && (this.revisionCount > this.revisionsMax || this.bytes > this.bytesMax)) {
      const oldest = this.records[this.head] as ChangeRecord;
      this.bytes -= oldest.sizeBytes;
      this.compacted = oldest.revision;
      this.head++;
      this.trimmedRecords++;
    }
    if (this.head >= COMPACT_SLOTS_MIN && this.head * 2 >= this.records.length) {
      this.records = this.records.slice(this.head);
      this.endsBase = this.ends[this.head - 1] as number;
      this.ends = this.ends.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * The position of the first record at or after `revision`, for at(). Throws CompactedError when
   * records the caller needs may be gone (revision <= compactedThrough).
   */
  seek(revision: number): number {
    if (revision <= this.compacted) throw new CompactedError(revision, this.oldestRevision);
    let lo = this.head;
    let hi = this.records.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.records[mid] as ChangeRecord).revision < revision) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The record at a position seek() returned (or a later one), or undefined past the newest. */
  at(position: number): ChangeRecord | undefined {
    assert(position >= this.head, 'a position is read before the records it points at are trimmed');
    return this.records[position];
  }

  /**
   * Bytes of the records from `revision` to the newest: how far behind a reader at `revision` is.
   * Throws CompactedError like seek().
   */
  bytesFrom(revision: number): number {
    const p = this.seek(revision);
    if (p >= this.records.length) return 0;
    return this.appendedBytes - (p === 0 ? this.endsBase : (this.ends[p - 1] as number));
  }

  /**
   * Where the first record at or after `revision` sits in the stream of every record this history was
   * ever given: how many records and bytes were appended before it. A reader's lag is totals() minus
   * its cursor; it stays valid as records are appended and trimmed. Throws CompactedError like seek().
   */
  cursor(revision: number): HistoryCursor {
    const p = this.seek(revision);
    return { records: this.trimmedRecords + (p - this.head), bytes: p === 0 ? this.endsBase : (this.ends[p - 1] as number) };
  }

  /** The cursor past the newest record. */
  totals(): HistoryCursor {
    return { records: this.appendedRecords, bytes: this.appendedBytes };
  }

  /** Whether a cursor's record was trimmed. */
  trimmedPast(cursor: HistoryCursor): boolean {
    return cursor.records < this.trimmedRecords;
  }

  /** The live records, oldest first (references: records are never mutated). */
  snapshot(): ChangeRecord[] {
    return this.records.slice(this.head);
  }
}
