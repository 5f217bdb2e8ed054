import { test } from 'node:test';
import assert from 'node:assert/strict';
import { index, nodeId, term } from '../raft/types.js';
import type { Entry } from '../raft/types.js';
import { WAL_RECORD_PAYLOAD_MAX_BYTES } from './constants.js';
import { crc32c } from './crc32c.js';
import { decodeRecordAt, encodeRecord, RECORD_END_BYTES, RECORD_HEADER_BYTES, startsWithFormat1Record } from './wal-record.js';
import type { RecordPosition, WalRecord } from './wal-record.js';

const entry = (i: number, t: number, data: string, kind: Entry['kind'] = 'normal'): WalRecord => ({
  type: 'entry',
  entry: { index: index(i), term: term(t), kind, data: new TextEncoder().encode(data) },
});
const at = (recordSeq: number, segmentSeq = 1): RecordPosition => ({ segmentSeq, recordSeq });

const samples: WalRecord[] = [
  entry(1, 1, ''),
  entry(2 ** 40 + 3, 2 ** 33 + 1, 'x'.repeat(1000)),
  entry(7, 3, '', 'noop'),
  entry(8, 3, '{"members":[]}', 'config'),
  { type: 'hard-state', hardState: { term: term(5), vote: nodeId('node-ü'), commit: index(4) } },
  { type: 'hard-state', hardState: { term: term(0), vote: undefined, commit: index(0) } },
  {
    type: 'snapshot',
    snapshot: {
      index: index(100),
      term: term(4),
      membership: { members: [{ id: nodeId('a'), address: '127.0.0.1:7001', role: 'voter' }, { id: nodeId('b'), address: 'b:1', role: 'learner' }] },
    },
    retainsLog: true,
  },
  { type: 'snapshot', snapshot: { index: index(9), term: term(2), membership: { members: [] } }, retainsLog: false },
];

test('every record type round-trips with its position, alone and back to back', () => {
  for (const [k, r] of samples.entries()) {
    const bytes = encodeRecord(r, at(k + 1, 7));
    assert.deepEqual(decodeRecordAt(bytes, 0), { kind: 'record', record: r, at: at(k + 1, 7), sizeBytes: bytes.length });
  }
  const all = Buffer.concat(samples.map((r, k) => encodeRecord(r, at(2 ** 40 + k, 2 ** 32 - 1))));
  let offset = 0;
  for (const [k, r] of samples.entries()) {
    const result = decodeRecordAt(all, offset);
    assert.equal(result.kind, 'record');
    assert.deepEqual(result.kind === 'record' && [result.record, result.at], [r, at(2 ** 40 + k, 2 ** 32 - 1)]);
    offset += result.kind === 'record' ? result.sizeBytes : 0;
  }
  assert.equal(offset, all.length);
});

test('every single flipped bit is detected, and none makes the record look like zeros or lose its end mark', () => {
  const bytes = encodeRecord(entry(3, 2, 'hello'), at(9));
  for (let i = 0; i < bytes.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const copy = Buffer.from(bytes);
      copy[i] = (copy[i] as number) ^ (1 << bit);
      const result = decodeRecordAt(copy, 0);
      assert.equal(result.kind, 'invalid', `bit ${bit} of byte ${i}`);
      assert.notEqual(copy[copy.length - 1], 0, 'the last byte of a complete record is never zero');
    }
  }
});

test('a flipped bit in the header never lets a wrong length be trusted', () => {
  const bytes = encodeRecord(entry(3, 2, 'hello'), at(9));
  for (let i = 0; i < RECORD_HEADER_BYTES; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const copy = Buffer.from(bytes);
      copy[i] = (copy[i] as number) ^ (1 << bit);
      const result = decodeRecordAt(copy, 0);
      assert.ok(result.kind === 'invalid' && (result.sizeBytes === undefined || result.sizeBytes === bytes.length), `bit ${bit} of byte ${i}`);
    }
  }
});

test('a record cut short is invalid; its size is known once its header is complete', () => {
  const bytes = encodeRecord(entry(3, 2, 'hello world'), at(1));
  for (let n = 1; n < bytes.length; n++) {
    const result = decodeRecordAt(bytes.subarray(0, n), 0);
    assert.equal(result.kind, 'invalid', `cut at ${n}`);
    assert.equal(result.kind === 'invalid' && result.sizeBytes, n < RECORD_HEADER_BYTES ? undefined : bytes.length, `cut at ${n}`);
  }
});

test('zeros, and the end of the buffer, are no record; other garbage is invalid', () => {
  assert.deepEqual(decodeRecordAt(Buffer.alloc(64), 0), { kind: 'zeros' });
  assert.deepEqual(decodeRecordAt(Buffer.alloc(10), 0), { kind: 'zeros' });
  assert.deepEqual(decodeRecordAt(Buffer.alloc(0), 0), { kind: 'zeros' });
  assert.match(JSON.stringify(decodeRecordAt(Buffer.from('not a record at all, not at all'.repeat(2)), 0)), /no record magic/);
});

test('a record whose checksums are valid but whose payload is malformed is invalid', () => {
  // A hard state whose vote length disagrees with the payload, re-checksummed so only the payload check can catch it.
  const bytes = encodeRecord({ type: 'hard-state', hardState: { term: term(1), vote: nodeId('abc'), commit: index(0) } }, at(1));
  const payload = bytes.subarray(RECORD_HEADER_BYTES, bytes.length - RECORD_END_BYTES);
  payload.writeUInt16LE(2, 16);
  bytes.writeUInt32LE(crc32c(payload), 12);
  bytes.writeUInt32LE(crc32c(bytes.subarray(8, RECORD_HEADER_BYTES)), 4);
  assert.deepEqual(decodeRecordAt(bytes, 0), { kind: 'invalid', reason: 'hard state vote length does not match the payload', sizeBytes: bytes.length });
});

test('encoding refuses values the format cannot hold', () => {
  assert.throws(() => encodeRecord(entry(-1, 1, ''), at(1)), /non-negative safe integer/);
  assert.throws(() => encodeRecord(entry(1, 2 ** 53, ''), at(1)), /non-negative safe integer/);
  assert.throws(() => encodeRecord(entry(1, 1, ''), at(0)), /record sequence number/);
  assert.throws(() => encodeRecord(entry(1, 1, ''), at(1, 2 ** 32)), /segment sequence number/);
  const huge: WalRecord = { type: 'entry', entry: { index: index(1), term: term(1), kind: 'normal', data: new Uint8Array(WAL_RECORD_PAYLOAD_MAX_BYTES) } };
  assert.throws(() => encodeRecord(huge, at(1)), /exceeds WAL_RECORD_PAYLOAD_MAX_BYTES/);
});

test('a segment of WAL format 1 is recognised, and format 2 is not taken for it', () => {
  // Format 1: length u32 | CRC-32C over length, type and payload | type u8 | payload.
  const payload = Buffer.alloc(18);
  const v1 = Buffer.alloc(9 + payload.length);
  v1.writeUInt32LE(payload.length, 0);
  v1.writeUInt8(2, 8);
  payload.copy(v1, 9);
  v1.writeUInt32LE(crc32c(v1.subarray(8), crc32c(v1.subarray(0, 4))), 4);
  assert.equal(startsWithFormat1Record(v1), true);
  v1[12] = (v1[12] as number) ^ 1;
  assert.equal(startsWithFormat1Record(v1), false);
  for (const r of samples) assert.equal(startsWithFormat1Record(encodeRecord(r, at(1))), false);
});
