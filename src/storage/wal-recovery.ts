// Recovery of the WAL on open: list the segments, replay their records in order, repair a torn
// tail of the last segment, refuse everything else (the rules: wal-segment.ts, docs/storage.md).
import { join } from 'node:path';
import { assert, assertNever } from '../raft/assert.js';
import type { LogIndex } from '../raft/types.js';
import { index as toIndex } from '../raft/types.js';
import { WAL_RECORD_PAYLOAD_MAX_BYTES } from './constants.js';
import { StorageError, WalCorruptionError } from './errors.js';
import type { StorageFs } from './fs.js';
import type { BootState } from './wal-log.js';
import { LogReplay } from './wal-log.js';
import { writeZeros } from './wal-prealloc.js';
import { RECORD_HEADER_BYTES, RECORD_MIN_BYTES } from './wal-record.js';
import { scanSegment } from './wal-segment.js';

const SEGMENT_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.seg$/;

export function segmentFileName(seq: number, firstIndex: number): string {
  return `${seq.toString(16).padStart(16, '0')}-${firstIndex.toString(16).padStart(16, '0')}.seg`;
}

/** A segment as the WAL tracks it: SegmentInfo, with the valid length updated as records become durable. */
export interface MutableSegment {
  seq: number;
  firstIndex: LogIndex;
  path: string;
  durableBytes: number;
}

export interface RecoveredWal {
  /** Oldest first, each with its valid length as durableBytes. */
  readonly segments: MutableSegment[];
  readonly boot: BootState;
  /** The sequence number the next record written gets. */
  readonly nextRecordSeq: number;
}

/** Recovers the WAL in `dir`; `note` receives one sentence per repair. */
export async function recoverWal(fs: StorageFs, dir: string, note: (text: string) => void): Promise<RecoveredWal> {
  const segments = await listSegments(fs, dir);
  const replay = new LogReplay();
  let nextRecordSeq: number | undefined;
  for (const [k, segment] of segments.entries()) {
    const recovered = await replaySegment(fs, segment, nextRecordSeq, replay, k === segments.length - 1, note);
    segment.durableBytes = recovered.validBytes;
    nextRecordSeq = recovered.nextRecordSeq;
  }
  const boot = replay.finish();
  if (typeof boot === 'string') throw new StorageError('wal-inconsistent', `WAL in ${dir} is inconsistent: ${boot}. ${RECOVERY_POINTER}`);
  return { segments, boot, nextRecordSeq: nextRecordSeq ?? 1 };
}

const RECOVERY_POINTER = 'The node will not start on it; see "Recovering from a damaged WAL" in docs/operations.md.';

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
      throw new StorageError('wal-inconsistent', `WAL in ${dir} is missing segments between ${prev.path} and ${cur.path}. ${RECOVERY_POINTER}`);
    }
  }
  return segments;
}

/**
 * Replays one segment. The last segment may end in a torn write, which is zeroed (and noted); any
 * other damage stops recovery. Returns the segment's valid length and the next record's number.
 */
async function replaySegment(
  fs: StorageFs,
  segment: MutableSegment,
  expectedRecordSeq: number | undefined,
  replay: LogReplay,
  isLast: boolean,
  note: (text: string) => void,
): Promise<{ validBytes: number; nextRecordSeq: number | undefined }> {
  const { path } = segment;
  const scan = scanSegment(await fs.readFile(path), segment.seq, expectedRecordSeq);
  for (const { record, offsetBytes } of scan.records) {
    const problem = replay.apply(record);
    if (problem !== undefined) throw new StorageError('wal-inconsistent', `WAL segment ${path} at byte offset ${offsetBytes}: ${problem}. ${RECOVERY_POINTER}`);
  }
  const nextRecordSeq = scan.lastRecordSeq === undefined ? expectedRecordSeq : scan.lastRecordSeq + 1;
  const { end } = scan;
  switch (end.kind) {
    case 'clean':
      break;
    case 'format-1':
      throw new StorageError(
        'data-dir-unsupported',
        `WAL segment ${path} was written in WAL format 1 (kuberaft data format 1), which this kuberaft does not read. ` +
          'See "Upgrading from data format 1" in docs/operations.md.',
      );
    case 'damaged':
      throw new WalCorruptionError(path, end.offsetBytes, end.reason);
    case 'torn':
      if (!isLast) {
        throw new WalCorruptionError(path, end.offsetBytes, `${end.reason}; the record looks unfinished, but a later segment exists, so it had been fsynced`);
      }
      await zeroTornRecord(fs, path, end.offsetBytes, end.writtenEndBytes);
      note(
        `truncated the torn tail of WAL segment ${path} at byte offset ${end.offsetBytes}: zeroed ${end.writtenEndBytes - end.offsetBytes} bytes ` +
          `of a record whose write never completed (${end.reason}); nothing was written after it`,
      );
      break;
    default:
      assertNever(end, 'segment end');
  }
  return { validBytes: scan.validBytes, nextRecordSeq };
}

/**
 * Zeroes the written part [offset, writtenEnd) of a torn record, so that the log's next write
 * lands on zeros. The body goes first and the header last, each made durable, so that a crash
 * during the repair leaves a record that still reads as torn (or as no record at all).
 */
async function zeroTornRecord(fs: StorageFs, path: string, offset: number, writtenEnd: number): Promise<void> {
  assert(writtenEnd > offset && writtenEnd < offset + RECORD_MIN_BYTES + WAL_RECORD_PAYLOAD_MAX_BYTES, () => `a torn record at ${offset} written up to ${writtenEnd}`);
  const bodyFrom = offset + RECORD_HEADER_BYTES;
  const fh = await fs.open(path, 'r+');
  try {
    if (writtenEnd > bodyFrom) {
      await writeZeros(fh, bodyFrom, writtenEnd);
      await fh.datasync();
    }
    await writeZeros(fh, offset, Math.min(writtenEnd, bodyFrom));
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

