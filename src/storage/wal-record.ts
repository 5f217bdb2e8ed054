// The WAL record codec (format 2). A record is a 32-byte header, its payload and a 4-byte end mark:
//
//   offset 0   4 bytes  magic "KRW2"
//   offset 4   u32 LE   header checksum: CRC-32C of header bytes [8, 32)
//   offset 8   u32 LE   payload length in bytes
//   offset 12  u32 LE   payload checksum: CRC-32C of the payload
//   offset 16  u64 LE   record sequence number: +1 per record, across segments, never reused
//   offset 24  u32 LE   segment sequence number: the segment the record was written into
//   offset 28  u8       record type (1 entry, 2 hard state, 3 snapshot marker)
//   offset 29  3 bytes  zero
//   offset 32  payload
//   then       4 bytes  end mark "KEND"
//
// Why each part (recovery rules: wal-segment.ts, docs/storage.md):
// - The header checksum lets the length be trusted before the payload is read: a flipped bit in a
//   length can never make a complete record look cut short.
// - The end mark is never zero, and no single flipped bit makes it zero: a record whose last byte
//   reads as zero was not completely written, one whose last byte is there was.
// - The sequence numbers pin a record to one place in the log: bytes of an older incarnation of a
//   file, or a record copied from another segment, do not pass for the record expected there.
// - The payload is only ever read at the offset its header announces; recovery never searches for
//   records, so bytes inside a value that look like a record are never taken for one.
//
// Payloads (integers little-endian; u64 fields hold safe integers only):
//   entry       term u64 | index u64 | kind u8 (1 normal, 2 noop, 3 config) | data (rest)
//   hard state  term u64 | commit u64 | vote length u16 | vote UTF-8 (length 0: no vote)
//   snapshot    index u64 | term u64 | flags u8 (bit 0: the log after index is retained) | membership JSON (rest)
import { assert, assertNever } from '../raft/assert.js';
import type { Entry, EntryKind, HardState, Member, Membership, SnapshotMeta } from '../raft/types.js';
import { index as toIndex, nodeId as toNodeId, term as toTerm } from '../raft/types.js';
import { WAL_RECORD_PAYLOAD_MAX_BYTES, WAL_SEGMENT_SEQ_MAX } from './constants.js';
import { crc32c } from './crc32c.js';

export const RECORD_HEADER_BYTES = 32;
export const RECORD_END_BYTES = 4;
/** The smallest record: a header, an empty payload and the end mark. */
export const RECORD_MIN_BYTES = RECORD_HEADER_BYTES + RECORD_END_BYTES;
/** Where the payload length sits in the header (for tools that walk a segment). */
export const RECORD_LENGTH_OFFSET = 8;
const RECORD_MAGIC = Buffer.from('KRW2', 'latin1');
const RECORD_END = Buffer.from('KEND', 'latin1');
const HEADER_CHECKED_FROM = 8;

export type WalRecord =
  /** A log entry. An entry whose index is at or below the log's last index replaces the suffix from there. */
  | { readonly type: 'entry'; readonly entry: Entry }
  /** The latest hard state; each one supersedes the previous. */
  | { readonly type: 'hard-state'; readonly hardState: HardState }
  /**
   * A snapshot at `snapshot.index` is durable in the snapshot store: entries at or before it are
   * obsolete. With `retainsLog` the entries after it stay (a local snapshot of this very log);
   * without, every entry is discarded (a received snapshot replaced the log).
   */
  | { readonly type: 'snapshot'; readonly snapshot: SnapshotMeta; readonly retainsLog: boolean };

export type WalRecordType = WalRecord['type'];

/** Where a record sits in the log: both numbers are part of what its checksums protect. */
export interface RecordPosition {
  readonly segmentSeq: number;
  readonly recordSeq: number;
}

const TYPE_CODES: Readonly<Record<WalRecordType, number>> = { entry: 1, 'hard-state': 2, snapshot: 3 };
const KIND_CODES: Readonly<Record<EntryKind, number>> = { normal: 1, noop: 2, config: 3 };
const ENTRY_FIXED_BYTES = 17;
const HARD_STATE_FIXED_BYTES = 18;
const SNAPSHOT_FIXED_BYTES = 17;
const U32 = 0x1_0000_0000;

assert(RECORD_END.every((b) => bitCount(b) >= 2), 'no single flipped bit may turn a byte of the end mark into zero');

/** A record's payload, encoded and checksummed once, when the caller hands it over; framed when written. */
export interface EncodedPayload {
  readonly type: WalRecordType;
  readonly payload: Buffer;
  readonly payloadCrc: number;
}

export function encodePayload(record: WalRecord): EncodedPayload {
  const payload = payloadOf(record);
  assert(
    payload.length <= WAL_RECORD_PAYLOAD_MAX_BYTES,
    () => `WAL record payload of ${payload.length} bytes exceeds WAL_RECORD_PAYLOAD_MAX_BYTES; entry sizes must be bounded before they reach storage`,
  );
  return { type: record.type, payload, payloadCrc: crc32c(payload) };
}

/** The bytes of a record at `at`, as [header, payload, end mark] (written back to back). */
export function frameRecord(encoded: EncodedPayload, at: RecordPosition): Buffer[] {
  assert(Number.isSafeInteger(at.recordSeq) && at.recordSeq >= 1, () => `record sequence number ${at.recordSeq}`);
  assert(Number.isInteger(at.segmentSeq) && at.segmentSeq >= 1 && at.segmentSeq <= WAL_SEGMENT_SEQ_MAX, () => `segment sequence number ${at.segmentSeq}`);
  const header = Buffer.alloc(RECORD_HEADER_BYTES);
  RECORD_MAGIC.copy(header, 0);
  header.writeUInt32LE(encoded.payload.length, 8);
  header.writeUInt32LE(encoded.payloadCrc, 12);
  writeU64(header, 16, at.recordSeq);
  header.writeUInt32LE(at.segmentSeq, 24);
  header.writeUInt8(TYPE_CODES[encoded.type], 28);
  header.writeUInt32LE(crc32c(header.subarray(HEADER_CHECKED_FROM)), 4);
  return [header, encoded.payload, RECORD_END];
}

/** One record as one buffer (tests and tools; the writer uses frameRecord). */
export function encodeRecord(record: WalRecord, at: RecordPosition): Buffer {
  return Buffer.concat(frameRecord(encodePayload(record), at));
}

export type DecodeResult =
  | { readonly kind: 'record'; readonly record: WalRecord; readonly at: RecordPosition; readonly sizeBytes: number }
  /** The header's bytes are all zero, or the buffer ends here: no record was ever written at this offset. */
  | { readonly kind: 'zeros' }
  /**
   * Not a valid record. `sizeBytes` is the size its verified header announces (the record may run
   * past the end of the buffer); undefined when the header itself is damaged or cut short.
   */
  | { readonly kind: 'invalid'; readonly reason: string; readonly sizeBytes: number | undefined };

/** Decodes the record starting at `offset`. Never throws on bad input; never looks past the announced record. */
export function decodeRecordAt(buf: Buffer, offset: number): DecodeResult {
  const available = Math.max(0, buf.length - offset);
  const head = buf.subarray(offset, offset + Math.min(available, RECORD_HEADER_BYTES));
  if (isAllZero(head)) return { kind: 'zeros' };
  const invalid = (reason: string, sizeBytes?: number): DecodeResult => ({ kind: 'invalid', reason, sizeBytes });
  if (head.length < RECORD_HEADER_BYTES) return invalid(`the segment ends ${head.length} bytes into a record header`);
  if (!head.subarray(0, 4).equals(RECORD_MAGIC)) return invalid(`no record magic (found 0x${head.toString('hex', 0, 4)})`);
  const storedHeaderCrc = head.readUInt32LE(4);
  const headerCrc = crc32c(head.subarray(HEADER_CHECKED_FROM));
  if (storedHeaderCrc !== headerCrc) return invalid(`header checksum mismatch (stored ${hex(storedHeaderCrc)}, computed ${hex(headerCrc)})`);
  const length = head.readUInt32LE(8);
  if (length > WAL_RECORD_PAYLOAD_MAX_BYTES) return invalid(`payload length ${length} exceeds WAL_RECORD_PAYLOAD_MAX_BYTES`);
  const sizeBytes = RECORD_HEADER_BYTES + length + RECORD_END_BYTES;
  const recordSeq = readU64(head, 16);
  const typeCode = head.readUInt8(28);
  if (recordSeq === undefined || recordSeq < 1) return invalid('record sequence number out of range', sizeBytes);
  if (head.readUIntLE(29, 3) !== 0) return invalid('reserved header bytes are not zero (written by a newer format?)', sizeBytes);
  if (available < sizeBytes) return invalid(`the segment ends ${available} bytes into a record of ${sizeBytes}`, sizeBytes);
  const payload = buf.subarray(offset + RECORD_HEADER_BYTES, offset + RECORD_HEADER_BYTES + length);
  const storedPayloadCrc = head.readUInt32LE(12);
  const payloadCrc = crc32c(payload);
  if (storedPayloadCrc !== payloadCrc) return invalid(`payload checksum mismatch (stored ${hex(storedPayloadCrc)}, computed ${hex(payloadCrc)})`, sizeBytes);
  const end = buf.subarray(offset + sizeBytes - RECORD_END_BYTES, offset + sizeBytes);
  if (!end.equals(RECORD_END)) return invalid(`no end mark (found 0x${end.toString('hex')})`, sizeBytes);
  const decoded = decodePayload(typeCode, payload);
  if (typeof decoded === 'string') return invalid(decoded, sizeBytes);
  return { kind: 'record', record: decoded, at: { segmentSeq: head.readUInt32LE(24), recordSeq }, sizeBytes };
}

/**
 * Whether `buf` starts with a record of WAL format 1 (data directory format 1: length u32 | CRC-32C
 * u32 | type u8 | payload, no magic). Lets recovery tell an old segment from a damaged one.
 */
export function startsWithFormat1Record(buf: Buffer): boolean {
  const FORMAT1_HEADER_BYTES = 9;
  if (buf.length < FORMAT1_HEADER_BYTES) return false;
  const length = buf.readUInt32LE(0);
  const type = buf.readUInt8(8);
  if (length > WAL_RECORD_PAYLOAD_MAX_BYTES || type < 1 || type > 3 || buf.length < FORMAT1_HEADER_BYTES + length) return false;
  const crc = crc32c(buf.subarray(8, FORMAT1_HEADER_BYTES + length), crc32c(buf.subarray(0, 4)));
  return crc === buf.readUInt32LE(4);
}

function isAllZero(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}

function bitCount(byte: number): number {
  let n = 0;
  for (let b = byte; b !== 0; b &= b - 1) n++;
  return n;
}

function payloadOf(record: WalRecord): Buffer {
  switch (record.type) {
    case 'entry': {
      const { entry } = record;
      const out = Buffer.allocUnsafe(ENTRY_FIXED_BYTES + entry.data.length);
      writeU64(out, 0, entry.term);
      writeU64(out, 8, entry.index);
      out.writeUInt8(KIND_CODES[entry.kind], 16);
      out.set(entry.data, ENTRY_FIXED_BYTES);
      return out;
    }
    case 'hard-state': {
      const { hardState } = record;
      const vote = Buffer.from(hardState.vote ?? '', 'utf8');
      assert(vote.length <= 0xffff, 'a node id longer than 65535 bytes cannot be a vote');
      const out = Buffer.allocUnsafe(HARD_STATE_FIXED_BYTES + vote.length);
      writeU64(out, 0, hardState.term);
      writeU64(out, 8, hardState.commit);
      out.writeUInt16LE(vote.length, 16);
      vote.copy(out, HARD_STATE_FIXED_BYTES);
      return out;
    }
    case 'snapshot': {
      const { snapshot } = record;
      const membership = Buffer.from(JSON.stringify(snapshot.membership), 'utf8');
      const out = Buffer.allocUnsafe(SNAPSHOT_FIXED_BYTES + membership.length);
      writeU64(out, 0, snapshot.index);
      writeU64(out, 8, snapshot.term);
      out.writeUInt8(record.retainsLog ? 1 : 0, 16);
      membership.copy(out, SNAPSHOT_FIXED_BYTES);
      return out;
    }
    default:
      return assertNever(record, 'WAL record');
  }
}

/** Returns the record, or a string saying why the payload does not decode. */
function decodePayload(typeCode: number, p: Buffer): WalRecord | string {
  switch (typeCode) {
    case TYPE_CODES.entry: {
      if (p.length < ENTRY_FIXED_BYTES) return `entry payload of ${p.length} bytes is too short`;
      const t = readU64(p, 0);
      const i = readU64(p, 8);
      const kind = entryKind(p.readUInt8(16));
      if (t === undefined || i === undefined || kind === undefined) return 'entry fields out of range';
      // Copy: the record must not pin the whole segment buffer it was read from.
      const data = new Uint8Array(p.subarray(ENTRY_FIXED_BYTES));
      return { type: 'entry', entry: { term: toTerm(t), index: toIndex(i), kind, data } };
    }
    case TYPE_CODES['hard-state']: {
      if (p.length < HARD_STATE_FIXED_BYTES) return `hard state payload of ${p.length} bytes is too short`;
      const t = readU64(p, 0);
      const commit = readU64(p, 8);
      const voteLength = p.readUInt16LE(16);
      if (t === undefined || commit === undefined) return 'hard state fields out of range';
      if (p.length !== HARD_STATE_FIXED_BYTES + voteLength) return 'hard state vote length does not match the payload';
      const vote = voteLength === 0 ? undefined : toNodeId(p.toString('utf8', HARD_STATE_FIXED_BYTES));
      return { type: 'hard-state', hardState: { term: toTerm(t), vote, commit: toIndex(commit) } };
    }
    case TYPE_CODES.snapshot: {
      if (p.length < SNAPSHOT_FIXED_BYTES) return `snapshot payload of ${p.length} bytes is too short`;
      const i = readU64(p, 0);
      const t = readU64(p, 8);
      const flags = p.readUInt8(16);
      if (i === undefined || t === undefined || flags > 1) return 'snapshot fields out of range';
      const membership = parseMembership(p.toString('utf8', SNAPSHOT_FIXED_BYTES));
      if (membership === undefined) return 'snapshot membership does not parse';
      return {
        type: 'snapshot',
        snapshot: { index: toIndex(i), term: toTerm(t), membership },
        retainsLog: flags === 1,
      };
    }
    default:
      return `unknown record type ${typeCode}`;
  }
}

function entryKind(code: number): EntryKind | undefined {
  for (const [kind, c] of Object.entries(KIND_CODES) as [EntryKind, number][]) if (c === code) return kind;
  return undefined;
}

/** Parses and checks a membership written by JSON.stringify; undefined when malformed. */
export function parseMembership(text: string): Membership | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || !Array.isArray((value as { members?: unknown }).members)) return undefined;
  const members: Member[] = [];
  for (const m of (value as { members: unknown[] }).members) {
    if (typeof m !== 'object' || m === null) return undefined;
    const { id, address, role } = m as Record<string, unknown>;
    if (typeof id !== 'string' || typeof address !== 'string' || (role !== 'voter' && role !== 'learner')) return undefined;
    members.push({ id: toNodeId(id), address, role });
  }
  return { members };
}

function writeU64(buf: Buffer, offset: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, () => `u64 field must be a non-negative safe integer, got ${value}`);
  buf.writeUInt32LE(value % U32, offset);
  buf.writeUInt32LE(Math.floor(value / U32), offset + 4);
}

function readU64(buf: Buffer, offset: number): number | undefined {
  const value = buf.readUInt32LE(offset + 4) * U32 + buf.readUInt32LE(offset);
  return Number.isSafeInteger(value) ? value : undefined;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
