import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ForwardDecodeError, decodeWire, encodeWire, validateRequest, type NodeRequest } from './requests.js';

const bytes = (s: string) => new TextEncoder().encode(s);

test('every request kind survives the forwarding encoding unchanged', () => {
  const requests: NodeRequest[] = [
    { kind: 'put', key: 'a/b', value: bytes('v\u0000\u00ff'), requestId: { client: 'c1', seq: 7 } },
    { kind: 'put', key: 'k', value: new Uint8Array(0) },
    { kind: 'delete', key: 'k' },
    { kind: 'cas', key: 'k', expected: null, value: bytes('x') },
    { kind: 'cas', key: 'k', expected: bytes('old'), value: bytes('new'), requestId: { client: 'c', seq: 1 } },
    { kind: 'get', key: 'k', consistency: 'linearizable' },
    { kind: 'list', prefix: 'p/', limit: 10, consistency: 'serializable' },
    { kind: 'add-learner', id: 'n4', address: 'h:1' },
    { kind: 'promote', id: 'n4' },
    { kind: 'remove', id: 'n4' },
    { kind: 'transfer', to: 'n2' },
    { kind: 'join', id: 'n5', address: 'h:2' },
    { kind: 'leave', id: 'n5' },
  ];
  for (const r of requests) assert.deepEqual(validateRequest(decodeWire(encodeWire(r))), r);
});

test('malformed forwarded payloads are refused with ForwardDecodeError, never anything else', () => {
  const bad = [
    'not json',
    '[]',
    'null',
    '{"kind":"drop-table"}',
    '{"kind":"put","key":1,"value":{"$b":""}}',
    '{"kind":"put","key":"k","value":"not-bytes"}',
    '{"kind":"get","key":"k","consistency":"eventual"}',
    '{"kind":"list","prefix":"","limit":0,"consistency":"linearizable"}',
    '{"kind":"put","key":"k","value":{"$b":""},"requestId":{"client":3}}',
    '{"kind":"transfer"}',
  ];
  for (const text of bad) {
    assert.throws(() => validateRequest(decodeWire(bytes(text))), ForwardDecodeError, text);
  }
  const invalidUtf8 = new Uint8Array([0x7b, 0xff, 0x7d]);
  assert.throws(() => decodeWire(invalidUtf8), ForwardDecodeError);
});
