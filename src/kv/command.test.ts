import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { COMMAND_FORMAT_VERSION, decodeCommand, encodeCommand } from './command.js';
import { leaseId } from './command.js';
import type { Command } from './command.js';
import { KvError } from './errors.js';
import { CLIENT_ID_SIZE_MAX_BYTES, KEY_SIZE_MAX_BYTES, LEASE_TTL_MAX_MS, LEASE_TTL_MIN_MS, VALUE_SIZE_MAX_BYTES } from './limits.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

function isKvError(code: string): (e: unknown) => boolean {
  return (e) => e instanceof KvError && e.code === code;
}

const samples: Command[] = [
  { kind: 'put', key: 'a', value: bytes('1') },
  { kind: 'put', key: 'ключ/🔑', value: new Uint8Array(0), requestId: { clientId: 'client-1', seq: 0 } },
  { kind: 'put', key: '\uFEFFbom', value: new Uint8Array([0, 255, 7]) },
  { kind: 'put', key: 'k'.repeat(KEY_SIZE_MAX_BYTES), value: new Uint8Array(VALUE_SIZE_MAX_BYTES).fill(9) },
  { kind: 'delete', key: 'a' },
  { kind: 'delete', key: 'a', requestId: { clientId: 'c'.repeat(CLIENT_ID_SIZE_MAX_BYTES), seq: Number.MAX_SAFE_INTEGER } },
  { kind: 'cas', key: 'a', expected: undefined, value: bytes('x') },
  { kind: 'cas', key: 'a', expected: new Uint8Array(0), value: bytes('x'), requestId: { clientId: 'z', seq: 42 } },
  { kind: 'cas', key: 'a', expected: bytes('old'), value: bytes('new') },
  { kind: 'put', key: 'leased', value: bytes('v'), lease: leaseId(7) },
  { kind: 'put', key: 'leased', value: bytes('v'), lease: leaseId(Number.MAX_SAFE_INTEGER), requestId: { clientId: 'c', seq: 3 } },
  { kind: 'cas', key: 'lock', expected: undefined, value: bytes('me'), lease: leaseId(12), requestId: { clientId: 'c', seq: 4 } },
  { kind: 'lease-grant', ttlMs: LEASE_TTL_MIN_MS },
  { kind: 'lease-grant', ttlMs: LEASE_TTL_MAX_MS },
  { kind: 'lease-revoke', lease: leaseId(1) },
  { kind: 'lease-expire', lease: leaseId(99) },
];

describe('command encoding', () => {
  test('every command round-trips', () => {
    for (const command of samples) {
      const encoded = encodeCommand(command);
      assert.equal(encoded[0], COMMAND_FORMAT_VERSION);
      assert.deepEqual(decodeCommand(encoded), command);
    }
  });

  test('a cas expecting an empty value differs from one expecting absence', () => {
    const absent = decodeCommand(encodeCommand({ kind: 'cas', key: 'a', expected: undefined, value: bytes('x') }));
    const empty = decodeCommand(encodeCommand({ kind: 'cas', key: 'a', expected: new Uint8Array(0), value: bytes('x') }));
    assert.ok(absent.kind === 'cas' && empty.kind === 'cas');
    assert.equal(absent.expected, undefined);
    assert.deepEqual(empty.expected, new Uint8Array(0));
  });

  test('input outside the limits is refused with a typed error', () => {
    assert.throws(() => encodeCommand({ kind: 'delete', key: '' }), isKvError('invalid-key'));
    assert.throws(() => encodeCommand({ kind: 'delete', key: 'a\uD800b' }), isKvError('invalid-key'));
    assert.throws(() => encodeCommand({ kind: 'delete', key: 'é'.repeat(KEY_SIZE_MAX_BYTES / 2 + 1) }), isKvError('key-too-large'));
    assert.throws(() => encodeCommand({ kind: 'put', key: 'a', value: new Uint8Array(VALUE_SIZE_MAX_BYTES + 1) }), isKvError('value-too-large'));
    assert.throws(
      () => encodeCommand({ kind: 'cas', key: 'a', expected: new Uint8Array(VALUE_SIZE_MAX_BYTES + 1), value: bytes('x') }),
      isKvError('value-too-large'),
    );
    assert.throws(() => encodeCommand({ kind: 'delete', key: 'a', requestId: { clientId: '', seq: 1 } }), isKvError('invalid-request-id'));
    assert.throws(
      () => encodeCommand({ kind: 'delete', key: 'a', requestId: { clientId: 'c'.repeat(CLIENT_ID_SIZE_MAX_BYTES + 1), seq: 1 } }),
      isKvError('invalid-request-id'),
    );
    assert.throws(() => encodeCommand({ kind: 'delete', key: 'a', requestId: { clientId: 'c', seq: -1 } }), isKvError('invalid-request-id'));
    assert.throws(() => encodeCommand({ kind: 'delete', key: 'a', requestId: { clientId: 'c', seq: 1.5 } }), isKvError('invalid-request-id'));
    assert.throws(() => encodeCommand({ kind: 'lease-grant', ttlMs: LEASE_TTL_MIN_MS - 1 }), isKvError('invalid-lease'));
    assert.throws(() => encodeCommand({ kind: 'lease-grant', ttlMs: LEASE_TTL_MAX_MS + 1 }), isKvError('invalid-lease'));
    assert.throws(() => encodeCommand({ kind: 'lease-grant', ttlMs: 1500.5 }), isKvError('invalid-lease'));
    assert.throws(() => encodeCommand({ kind: 'lease-revoke', lease: leaseId(0) }), isKvError('invalid-lease'));
    assert.throws(() => encodeCommand({ kind: 'put', key: 'a', value: bytes('v'), lease: leaseId(-3) }), isKvError('invalid-lease'));
  });

  test('malformed bytes are rejected with a typed error naming the problem', () => {
    const put = encodeCommand({ kind: 'put', key: 'key', value: bytes('value'), requestId: { clientId: 'c', seq: 1 } });
    const malformed = (data: Uint8Array, reason: RegExp): void => {
      assert.throws(() => decodeCommand(data), (e: unknown) => isKvError('malformed-command')(e) && reason.test((e as Error).message));
    };
    malformed(new Uint8Array(0), /truncated version/);
    malformed(Uint8Array.of(2, 1, 0), /unknown format version 2/);
    malformed(Uint8Array.of(1, 9, 0, 1, 0, 97), /unknown op 9/);
    malformed(Uint8Array.of(1, 2, 8, 1, 0, 97), /unknown flags/);
    malformed(Uint8Array.of(1, 2, 4, 1, 0, 97), /only put and cas carry a lease/);
    malformed(Uint8Array.of(1, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 97, 0, 0, 0, 0), /lease id 0/);
    malformed(Uint8Array.of(1, 4, 1, 0xe8, 3, 0, 0, 0, 0, 0, 0), /lease commands have no flags/);
    malformed(Uint8Array.of(1, 4, 0, 0xe7, 3, 0, 0, 0, 0, 0, 0), /lease ttl 999 outside/);
    malformed(Uint8Array.of(1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0), /lease id 0/);
    malformed(Uint8Array.of(1, 6, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0), /trailing bytes/);
    malformed(Uint8Array.of(1, 2, 2, 1, 0, 97), /only cas/);
    malformed(Uint8Array.of(1, 2, 0, 0, 0), /key length 0/);
    malformed(Uint8Array.of(1, 2, 0, 2, 0, 0xc3, 0x28), /not valid UTF-8/);
    malformed(Uint8Array.of(1, 2, 0, 0xff, 0xff), /key length 65535/);
    malformed(Uint8Array.of(1, 1, 0, 1, 0, 97, 0xff, 0xff, 0xff, 0xff), /value length 4294967295 exceeds/);
    malformed(Uint8Array.of(1, 2, 1, 0, 0), /client id length 0/);
    malformed(Uint8Array.of(1, 2, 1, 1, 0, 99, ...new Array<number>(8).fill(0xff), 1, 0, 97), /exceeds the largest safe integer/);
    malformed(Uint8Array.of(...put, 0), /trailing bytes/);
    for (let cut = 0; cut < put.length; cut++) malformed(put.subarray(0, cut), /truncated/);
  });

  test('random bytes never throw anything but the typed error', () => {
    let seed = 7;
    const next = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed >>> 16;
    };
    const put = encodeCommand({ kind: 'cas', key: 'key', expected: bytes('e'), value: bytes('value'), requestId: { clientId: 'c', seq: 1 } });
    for (let i = 0; i < 5000; i++) {
      // Half pure noise, half a valid command with a few bytes flipped.
      const data = i % 2 === 0 ? Uint8Array.from({ length: next() % 40 }, () => next() & 0xff) : put.slice();
      if (i % 2 === 1) for (let f = 0; f < 3; f++) data[next() % data.length] = next() & 0xff;
      try {
        const command = decodeCommand(data);
        // Whatever decodes must encode back to the same bytes: the format has one encoding per command.
        assert.deepEqual(encodeCommand(command), data);
      } catch (e) {
        assert.ok(isKvError('malformed-command')(e), `unexpected error ${String(e)}`);
      }
    }
  });
});
