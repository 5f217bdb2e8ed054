// The WAL record codec. A record is a 9-byte header followed by its payload:
//
//   offset 0  u32 LE  payload length in bytes
//   offset 4  u32 LE  CRC-32C over bytes [0, 4) and [8, 9 + length): length, type and payload
//   offset 8  u8      record type (1 entry, 2 hard state, 3 snapshot marker)
//   offset 9  payload
//
// The checksum covers the length field too, so a damaged length is caught instead of sending the
// reader off to a wrong boundary. Integers are little-endian; u64 fields hold safe integers only.
//
// Payloads:
//   entry       term u64 | index u64 | kind u8 (1 normal, 2 noop, 3 config) | data (rest)
//   hard state  term u64 | commit u64 | vote length u16 | vote UTF-8 (length 0: no vote)
//   snapshot    index u64 | term u64 | flags u8 (bit 0: the log after index is retained) | membership JSON (rest)
import { assert, assertNever } from '../raft/assert.js';
import type { Entry, EntryKind, HardState, Member, Membership, SnapshotMeta } from '../raft/types.js';
import { index as toIndex, nodeId as toNodeId, term as toTerm } from '../raft/types.js';
import { WAL_RECORD_PAYLOAD_MAX_BYTES } from './constants.js';
import { crc32c } from './crc32c.js';

export const RECORD_HEADER_BYTES = 9;

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

const TYPE_CODES: Readonly<Record<WalRecordType, number>> = { entry: 1, 'hard-state': 2, snapshot: 3 };
const KIND_CODES: Readonly<Record<EntryKind, number>> = { normal: 1, noop: 2, config: 3 };
const ENTRY_FIXED_BYTES = 17;
const HARD_STATE_FIXED_BYTES = 18;
const SNAPSHOT_FIXED_BYTES = 17;
const U32 = 0x1_0000_0000;

export function encodeRecord(record: WalRecord): Buffer {
  const payload = encodePayload(record);
  assert(
    payload.length <= WAL_RECORD_PAYLOAD_MAX_BYTES,
    () => `WAL record payload of ${payload.length} bytes exceeds WAL_RECORD_PAYLOAD_MAX_BYTES; entry sizes must be bounded before they reach storage`,
  );
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt8(TYPE_CODES[record.type], 8);
  payload.copy(out, RECORD_HEADER_BYTES);
  out.writeUInt32LE(recordChecksum(out, payload.length), 4);
  return out;
}

export type DecodeResult =
  | { readonly kind: 'record'; readonly record: WalRecord; readonly sizeBytes: number }
  /** The buffer ends inside the record: a torn write if this is the end of the last segment. */
  | { readonly kind: 'truncated'; readonly reason: string }
  /** The bytes at this offset are not a valid record. */
  | { readonly kind: 'invalid'; readonly reason: string };

/** Decodes the record starting at `offset`. Never throws on bad input. */
export function decodeRecordAt(buf: Buffer, offset: number): DecodeResult {
  const available = buf.length - offset;
  if (available < RECORD_HEADER_BYTES) return { kind: 'truncated', reason: `${available} of ${RECORD_HEADER_BYTES} header bytes` };
  const length = buf.readUInt32LE(offset);
  const typeCode = buf.readUInt8(offset + 8);
  if (length > WAL_RECORD_PAYLOAD_MAX_BYTES) return { kind: 'invalid', reason: `payload length ${length} exceeds the maximum` };
  if (!Object.values(TYPE_CODES).includes(typeCode)) return { kind: 'invalid', reason: `unknown record type ${typeCode}` };
  if (available < RECORD_HEADER_BYTES + length) {
    return { kind: 'truncated', reason: `${available - RECORD_HEADER_BYTES} of ${length} payload bytes` };
  }
  const record = buf.subarray(offset, offset + RECORD_HEADER_BYTES + length);
  const stored = record.readUInt32LE(4);
  const actual = recordChecksum(record, length);
  if (stored !== actual) return { kind: 'invalid', reason: `checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})` };
  const decoded = decodePayload(typeCode, record.subarray(RECORD_HEADER_BYTES));
  if (typeof decoded === 'string') return { kind: 'invalid', reason: decoded };
  return { kind: 'record', record: decoded, sizeBytes: record.length };
}

function recordChecksum(record: Buffer, payloadLength: number): number {
  const withLength = crc32c(record.subarray(0, 4));
  return crc32c(record.subarray(8, RECORD_HEADER_BYTES + payloadLength), withLength);
}

function encodePayload(record: WalRecord): Buffer {
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
