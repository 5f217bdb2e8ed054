// Bounds-checked binary reading and writing. The writer asserts (our own data must be valid);
// the reader throws FrameError only (its input comes from the network).
import { assert } from '../raft/assert.js';
import { FrameError } from './errors.js';

const TWO_POW_32 = 2 ** 32;
// A u64 whose high word is below 2^21 is at most 2^53 - 1 = Number.MAX_SAFE_INTEGER.
const SAFE_HIGH_WORD_LIMIT = 2 ** 21;
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function isSafeUint(v: number): boolean {
  return Number.isSafeInteger(v) && v >= 0;
}

export class ByteWriter {
  private buffer: Buffer;
  private length = 0;

  constructor(initialSizeBytes = 256) {
    this.buffer = Buffer.allocUnsafe(initialSizeBytes);
  }

  get size(): number {
    return this.length;
  }

  private reserve(n: number): number {
    const at = this.length;
    if (at + n > this.buffer.length) {
      let next = this.buffer.length * 2;
      while (next < at + n) next *= 2;
      const grown = Buffer.allocUnsafe(next);
      this.buffer.copy(grown, 0, 0, at);
      this.buffer = grown;
    }
    this.length = at + n;
    return at;
  }

  u8(v: number): this {
    assert(Number.isInteger(v) && v >= 0 && v <= 0xff, () => `u8 out of range: ${v}`);
    // reserve() may replace the buffer: take the offset first, then index the current buffer.
    const at = this.reserve(1);
    this.buffer[at] = v;
    return this;
  }

  u16(v: number): this {
    assert(Number.isInteger(v) && v >= 0 && v <= 0xffff, () => `u16 out of range: ${v}`);
    const at = this.reserve(2);
    this.buffer.writeUInt16BE(v, at);
    return this;
  }

  u32(v: number): this {
    assert(Number.isInteger(v) && v >= 0 && v < TWO_POW_32, () => `u32 out of range: ${v}`);
    const at = this.reserve(4);
    this.buffer.writeUInt32BE(v, at);
    return this;
  }

  /** A safe non-negative integer as a big-endian u64. */
  u64(v: number): this {
    assert(isSafeUint(v), () => `u64 field must be a safe non-negative integer: ${v}`);
    const at = this.reserve(8);
    this.buffer.writeUInt32BE(Math.floor(v / TWO_POW_32), at);
    this.buffer.writeUInt32BE(v % TWO_POW_32, at + 4);
    return this;
  }

  bool(v: boolean): this {
    return this.u8(v ? 1 : 0);
  }

  /** Bytes with a u32 length prefix. */
  bytes(b: Uint8Array): this {
    this.u32(b.length);
    return this.raw(b);
  }

  raw(b: Uint8Array): this {
    const at = this.reserve(b.length);
    this.buffer.set(b, at);
    return this;
  }

  /** UTF-8 with a u16 length prefix. */
  str(s: string, maxBytes: number): this {
    const b = Buffer.from(s, 'utf8');
    assert(b.length <= maxBytes, () => `string of ${b.length} bytes exceeds its limit of ${maxBytes}`);
    this.u16(b.length);
    return this.raw(b);
  }

  patchU32(at: number, v: number): void {
    assert(at + 4 <= this.length && Number.isInteger(v) && v >= 0 && v < TWO_POW_32, 'patchU32 out of range');
    this.buffer.writeUInt32BE(v, at);
  }

  /** The written bytes (a view of the internal buffer; the writer must not be used afterwards). */
  finish(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

export class ByteReader {
  private readonly view: DataView;
  private offset = 0;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  fail(what: string): never {
    throw new FrameError('malformed-frame', `${what} (at byte ${this.offset} of ${this.bytes.length})`);
  }

  private need(n: number, what: string): number {
    if (n > this.remaining) this.fail(`truncated ${what}: needs ${n} bytes, ${this.remaining} left`);
    const at = this.offset;
    this.offset += n;
    return at;
  }

  u8(what: string): number {
    return this.view.getUint8(this.need(1, what));
  }

  u16(what: string): number {
    return this.view.getUint16(this.need(2, what));
  }

  u32(what: string): number {
    return this.view.getUint32(this.need(4, what));
  }

  u64(what: string): number {
    const at = this.need(8, what);
    const high = this.view.getUint32(at);
    const low = this.view.getUint32(at + 4);
    if (high >= SAFE_HIGH_WORD_LIMIT) this.fail(`${what} exceeds the largest safe integer`);
    return high * TWO_POW_32 + low;
  }

  bool(what: string): boolean {
    const v = this.u8(what);
    if (v > 1) this.fail(`${what} must be 0 or 1, got ${v}`);
    return v === 1;
  }

  /** Bytes with a u32 length prefix, as a plain Uint8Array view into the input. */
  bytesField(what: string, maxBytes: number): Uint8Array {
    const n = this.u32(`${what} length`);
    if (n > maxBytes) this.fail(`${what} of ${n} bytes exceeds its limit of ${maxBytes}`);
    return this.raw(n, what);
  }

  raw(n: number, what: string): Uint8Array {
    const at = this.need(n, what);
    return new Uint8Array(this.bytes.buffer, this.bytes.byteOffset + at, n);
  }

  str(what: string, maxBytes: number): string {
    const n = this.u16(`${what} length`);
    if (n > maxBytes) this.fail(`${what} of ${n} bytes exceeds its limit of ${maxBytes}`);
    const raw = this.raw(n, what);
    try {
      return utf8Decoder.decode(raw);
    } catch {
      return this.fail(`${what} is not valid UTF-8`);
    }
  }

  /** Every byte must be consumed: trailing garbage means the peer and we disagree on the format. */
  end(what: string): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} unexpected trailing bytes after ${what}`);
  }
}
