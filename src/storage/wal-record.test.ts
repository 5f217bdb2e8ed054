import { test } from 'node:test';
import assert from 'node:assert/strict';
import { index, nodeId, term } from '../raft/types.js';
import type { Entry } from '../raft/types.js';
import { WAL_RECORD_PAYLOAD_MAX_BYTES } from './constants.js';
import { crc32c } from './crc32c.js';
import { decodeRecordAt, encodeRecord, RECORD_HEADER_BYTES } from './wal-record.js';
import type { WalRecord } from './wal-record.js';

const entry = (i: number, t: number, data: string, kind: Entry['kind'] = 'normal'): WalRecord => ({
  type: 'entry',
  entry: { index: index(i), term: term(t), kind, data: new TextEncoder().encode(data) },
});

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

test('every record type round-trips, alone and back to back', () => {
  for (const r of samples) {
    const bytes = encodeRecord(r);
    assert.deepEqual(decodeRecordAt(bytes, 0), { kind: 'record', record: r, sizeBytes: bytes.length });
  }
  const all = Buffer.concat(samples.map(encodeRecord));
  let offset = 0;
  for (const r of samples) {
    const result = decodeRecordAt(all, offset);
    assert.equal(result.kind, 'record');
    assert.deepEqual(result.kind === 'record' && result.record, r);
    offset += result.kind === 'record' ? result.sizeBytes : 0;
  }
  assert.equal(offset, all.length);
});

test('every single flipped bit is detected', () => {
  const bytes = encodeRecord(entry(3, 2, 'hello'));
  for (let i = 0; i < bytes.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const copy = Buffer.from(bytes);
      copy[i] = (copy[i] as number) ^ (1 << bit);
      assert.notEqual(decodeRecordAt(copy, 0).kind, 'record', `bit ${bit} of byte ${i}`);
    }
  }
});

test('a record cut short is reported as truncated, not invalid', () => {
  const bytes = encodeRecord(entry(3, 2, 'hello world'));
  for (let n = 0; n < bytes.length; n++) {
    const result = decodeRecordAt(bytes.subarray(0, n), 0);
    assert.equal(result.kind, 'truncated', `cut at ${n}`);
  }
});

test('zeros, unknown types and absurd lengths are invalid', () => {
  assert.equal(decodeRecordAt(Buffer.alloc(64), 0).kind, 'invalid');
  const huge = Buffer.alloc(RECORD_HEADER_BYTES);
  huge.writeUInt32LE(WAL_RECORD_PAYLOAD_MAX_BYTES + 1, 0);
  huge.writeUInt8(1, 8);
  assert.match(JSON.stringify(decodeRecordAt(huge, 0)), /exceeds the maximum/);
});

test('a record whose checksum is valid but whose payload is malformed is invalid', () => {
  // A hard state whose vote length disagrees with the payload: re-checksummed so only the payload check can catch it.
  const bytes = encodeRecord({ type: 'hard-state', hardState: { term: term(1), vote: nodeId('abc'), commit: index(0) } });
  bytes.writeUInt16LE(2, RECORD_HEADER_BYTES + 16);
  bytes.writeUInt32LE(crc32c(bytes.subarray(8), crc32c(bytes.subarray(0, 4))), 4);
  assert.deepEqual(decodeRecordAt(bytes, 0), { kind: 'invalid', reason: 'hard state vote length does not match the payload' });
});

test('encoding refuses values the format cannot hold', () => {
  assert.throws(() => encodeRecord(entry(-1, 1, '')), /non-negative safe integer/);
  assert.throws(() => encodeRecord(entry(1, 2 ** 53, '')), /non-negative safe integer/);
});
