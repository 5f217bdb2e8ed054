import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c } from './crc32c.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Bit-at-a-time reference, straight from the definition, to check the sliced tables against. */
function crc32cBitwise(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

test('published CRC-32C check values', () => {
  assert.equal(crc32c(text('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  // RFC 3720 (iSCSI) appendix B.4 test vectors.
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
});

test('agrees with the bitwise definition for every length around the 8-byte slicing', () => {
  const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 0xff);
  for (let n = 0; n <= data.length; n++) {
    assert.equal(crc32c(data.subarray(0, n)), crc32cBitwise(data.subarray(0, n)), `length ${n}`);
  }
});

test('continues over concatenated input', () => {
  const data = text('the quick brown fox jumps over the lazy dog, twice over');
  for (const cut of [0, 1, 7, 8, 9, 30, data.length]) {
    assert.equal(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut))), crc32c(data), `cut at ${cut}`);
  }
});

test('detects a single flipped bit', () => {
  const data = text('123456789');
  const before = crc32c(data);
  data[4] = (data[4] as number) ^ 0x10;
  assert.notEqual(crc32c(data), before);
});

test('agrees with the bitwise definition at every alignment of the word loop', () => {
  const backing = Uint8Array.from({ length: 400 }, (_, i) => (i * 197 + 11) & 0xff);
  for (let offset = 0; offset < 8; offset++) {
    for (const n of [63, 64, 65, 79, 80, 81, 95, 96, 97, 200, 391]) {
      const view = backing.subarray(offset, offset + n);
      assert.equal(crc32c(view), crc32cBitwise(view), `offset ${offset}, length ${n}`);
      assert.equal(crc32c(view.subarray(17), crc32c(view.subarray(0, 17))), crc32cBitwise(view), `offset ${offset}, length ${n}, split`);
    }
  }
});
