// Reading one WAL segment, and the recovery rule at its end: a torn write is told from damage by
// the zeros of the preallocated space (see docs/storage.md, "Recovery").
//
// A segment is preallocated as zeros and fsynced before its first record is written, so every byte
// the log never wrote reads as zero. After a crash, a write that had not been fsynced has reached the
// disk as a prefix of its sectors (WAL_SECTOR_BYTES), the last possibly torn: new bytes, then the
// zeros that were there. Such a record has zeros from some byte inside it to the end of the file —
// in particular its last byte, the end mark, is zero. A record that was completely written has its
// end mark (never zero, and no single flipped bit makes it zero), so whatever damage it suffered
// later it is never taken for a torn write.
//
// The scan is one pass: records are read only where the previous one ends (never searched for), the
// zeros after them are checked a sector at a time from the end of the file. Linear in the file size.
import { WAL_SECTOR_BYTES } from './constants.js';
import type { WalRecord } from './wal-record.js';
import { decodeRecordAt, RECORD_MIN_BYTES, startsWithFormat1Record } from './wal-record.js';

export interface ScannedRecord {
  readonly record: WalRecord;
  readonly offsetBytes: number;
  readonly recordSeq: number;
}

export type SegmentEnd =
  /** The records end at validBytes, and every byte after them is zero: nothing else was ever written. */
  | { readonly kind: 'clean' }
  /**
   * The record at offsetBytes was never completely written (a crash during its write): its bytes
   * from writtenEndBytes on, and every byte after to the end of the file, are zero. Only the last
   * segment may end so; the record was never acknowledged, since no fsync covering it completed.
   */
  | { readonly kind: 'torn'; readonly offsetBytes: number; readonly writtenEndBytes: number; readonly reason: string }
  /** Damage no crash leaves (a record with its end mark that fails a check, bytes after the last record, ...). */
  | { readonly kind: 'damaged'; readonly offsetBytes: number; readonly reason: string }
  /** The segment was written by WAL format 1 (data directory format 1). */
  | { readonly kind: 'format-1' };

export interface SegmentScan {
  /** The valid records, in order. */
  readonly records: readonly ScannedRecord[];
  /** Where the valid records end: the offset of the next record. */
  readonly validBytes: number;
  /** The sequence number of the last valid record; undefined when there is none. */
  readonly lastRecordSeq: number | undefined;
  readonly end: SegmentEnd;
}

const ZERO_SECTOR = Buffer.alloc(WAL_SECTOR_BYTES);

/**
 * Reads the records of segment `segmentSeq` from its bytes. `expectedRecordSeq` is the sequence
 * number its first record must carry (the previous segment's last + 1), undefined for the first
 * segment replayed (compaction may have deleted its predecessors).
 */
export function scanSegment(buf: Buffer, segmentSeq: number, expectedRecordSeq: number | undefined): SegmentScan {
  const records: ScannedRecord[] = [];
  let offset = 0;
  let expected = expectedRecordSeq;
  const done = (end: SegmentEnd): SegmentScan => ({ records, validBytes: offset, lastRecordSeq: records.at(-1)?.recordSeq, end });
  for (;;) {
    const result = decodeRecordAt(buf, offset);
    if (result.kind === 'record') {
      const { at } = result;
      if (at.segmentSeq !== segmentSeq) {
        return done({ kind: 'damaged', offsetBytes: offset, reason: `a valid record of segment ${at.segmentSeq} (sequence number ${at.recordSeq}) in segment ${segmentSeq}` });
      }
      if (expected !== undefined && at.recordSeq !== expected) {
        return done({ kind: 'damaged', offsetBytes: offset, reason: `a valid record with sequence number ${at.recordSeq} where ${expected} belongs: it is not the record written here` });
      }
      records.push({ record: result.record, offsetBytes: offset, recordSeq: at.recordSeq });
      expected = at.recordSeq + 1;
      offset += result.sizeBytes;
      continue;
    }
    const writtenEnd = writtenEndBytes(buf, offset);
    if (result.kind === 'zeros') {
      if (writtenEnd === offset) return done({ kind: 'clean' });
      const at = firstNonZeroByte(buf, offset);
      return done({ kind: 'damaged', offsetBytes: at, reason: `non-zero bytes after the last record, which ends at byte offset ${offset}: not the zeros a torn write leaves` });
    }
    if (offset === 0 && startsWithFormat1Record(buf)) return done({ kind: 'format-1' });
    // A record whose header verified announces its size; a damaged header could belong to a record
    // of any size, but even the smallest complete one ends RECORD_MIN_BYTES after its start.
    const sizeBytes = result.sizeBytes ?? RECORD_MIN_BYTES;
    if (writtenEnd < offset + sizeBytes) return done({ kind: 'torn', offsetBytes: offset, writtenEndBytes: writtenEnd, reason: result.reason });
    return done({ kind: 'damaged', offsetBytes: offset, reason: result.reason });
  }
}

/** The end of the last non-zero byte at or after `from` (`from` when there is none), found a sector at a time from the end. */
export function writtenEndBytes(buf: Buffer, from: number): number {
  let end = buf.length;
  while (end > from) {
    const start = Math.max(from, (Math.ceil(end / WAL_SECTOR_BYTES) - 1) * WAL_SECTOR_BYTES);
    if (!isZero(buf, start, end)) {
      let k = end;
      while (buf[k - 1] === 0) k--;
      return k;
    }
    end = start;
  }
  return from;
}

/** The offset of the first non-zero byte at or after `from` (buf.length when there is none). */
function firstNonZeroByte(buf: Buffer, from: number): number {
  for (let start = from; start < buf.length; ) {
    const end = Math.min(buf.length, (Math.floor(start / WAL_SECTOR_BYTES) + 1) * WAL_SECTOR_BYTES);
    if (!isZero(buf, start, end)) {
      let k = start;
      while (buf[k] === 0) k++;
      return k;
    }
    start = end;
  }
  return buf.length;
}

/** Whether bytes [start, end) of `buf` are zero; at most one sector. */
function isZero(buf: Buffer, start: number, end: number): boolean {
  return buf.subarray(start, end).equals(ZERO_SECTOR.subarray(0, end - start));
}
