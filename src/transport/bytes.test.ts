import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteReader, ByteWriter } from './bytes.js';

// The writer grows its buffer when a field does not fit. A field written exactly at the moment of
// growth must land in the grown buffer, not in the one it replaced.
describe('ByteWriter', () => {
  for (const [name, size, write, read] of [
    ['u8', 1, (w: ByteWriter, v: number) => w.u8(v & 0xff), (r: ByteReader) => r.u8('x')],
    ['u16', 2, (w: ByteWriter, v: number) => w.u16(v & 0xffff), (r: ByteReader) => r.u16('x')],
    ['u32', 4, (w: ByteWriter, v: number) => w.u32(v), (r: ByteReader) => r.u32('x')],
    ['u64', 8, (w: ByteWriter, v: number) => w.u64(v), (r: ByteReader) => r.u64('x')],
  ] as const) {
    it(`keeps a ${name} written when the buffer grows`, () => {
      const initial = 16;
      // Fill to every offset from which the next field crosses the end of the first buffer.
      for (let filled = initial - size + 1; filled <= initial; filled += 1) {
        const w = new ByteWriter(initial);
        w.raw(new Uint8Array(filled).fill(0xaa));
        const value = 0x01020304 + filled;
        write(w, value);
        const out = w.finish();
        assert.equal(out.length, filled + size);
        const r = new ByteReader(out);
        r.raw(filled, 'fill');
        const expected = name === 'u8' ? value & 0xff : name === 'u16' ? value & 0xffff : value;
        assert.equal(read(r), expected, `${name} after ${filled} bytes`);
      }
    });
  }

  it('round-trips a frame larger than many growth steps', () => {
    const w = new ByteWriter(4);
    for (let i = 0; i < 5000; i += 1) w.u8(i & 0xff).u16(i).u32(i * 7).u64(i * 1_000_003).bytes(new Uint8Array(i % 5).fill(i & 0xff));
    const r = new ByteReader(w.finish());
    for (let i = 0; i < 5000; i += 1) {
      assert.equal(r.u8('a'), i & 0xff);
      assert.equal(r.u16('b'), i);
      assert.equal(r.u32('c'), i * 7);
      assert.equal(r.u64('d'), i * 1_000_003);
      assert.deepEqual([...r.bytesField('e', 10)], new Array<number>(i % 5).fill(i & 0xff));
    }
    r.end('frame');
  });
});
