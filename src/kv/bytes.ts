// Bounds-checked little-endian encoding helpers shared by the command and snapshot formats.
import { assert } from '../raft/assert.js';

const utf8Encoder = new TextEncoder();
// fatal: malformed UTF-8 is an error, never silently replaced; ignoreBOM: a leading U+FEFF is part of a key.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Appends fields to a growing buffer. */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private length = 0;

  constructor(initialCapacityBytes = 256) {
    this.buf = new Uint8Array(initialCapacityBytes);
    this.view = new DataView(this.buf.buffer);
  }

  get size(): number {
    return this.length;
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let capacity = this.buf.length * 2;
    while (capacity < this.length + n) capacity *= 2;
    const next = new Uint8Array(capacity);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): this {
    assert(Number.isInteger(v) && v >= 0 && v <= 0xff, () => `u8 out of range: ${v}`);
    this.reserve(1);
    this.view.setUint8(this.length, v);
    this.length += 1;
    return this;
  }

  u16(v: number): this {
    assert(Number.isInteger(v) && v >= 0 && v <= 0xffff, () => `u16 out of range: ${v}`);
    this.reserve(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
    return this;
  }

  u32(v: number): this {
    assert(Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff, () => `u32 out of range: ${v}`);
    this.reserve(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
    return this;
  }

  /** A non-negative safe integer as u64. */
  u64(v: number): this {
    assert(Number.isSafeInteger(v) && v >= 0, () => `u64 out of safe range: ${v}`);
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }

  /** A copy of the bytes written so far. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }

  /** The bytes written so far, not copied: valid only until the next write or reset. */
  bytesView(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  reset(): void {
    this.length = 0;
  }
}

/**
 * Reads fields from untrusted bytes. Every read is bounds-checked; a failure calls `fail`, which
 * must throw the caller's typed error (so decoding never throws anything else).
 */
export class ByteReader {
  private offset = 0;
  private readonly view: DataView;

  constructor(
    private readonly data: Uint8Array,
    private readonly fail: (reason: string) => never,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  get remaining(): number {
    return this.data.length - this.offset;
  }

  private need(n: number, what: string): void {
    if (this.remaining < n) this.fail(`truncated ${what}: needs ${n} bytes at offset ${this.offset}, ${this.remaining} left`);
  }

  u8(what: string): number {
    this.need(1, what);
    const v = this.view.getUint8(this.offset);
    this.offset += 1;
    return v;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }

  u64(what: string): number {
    this.need(8, what);
    const v = this.view.getBigUint64(this.offset, true);
    this.offset += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} exceeds the largest safe integer`);
    return Number(v);
  }

  /** A view into the input (not a copy). */
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const b = this.data.subarray(this.offset, this.offset + n);
    this.offset += n;
    return b;
  }

  utf8(n: number, what: string): string {
    const b = this.bytes(n, what);
    try {
      return utf8Decoder.decode(b);
    } catch {
      return this.fail(`${what} is not valid UTF-8`);
    }
  }

  end(what: string): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} unexpected trailing bytes after ${what}`);
  }
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/**
 * A plain Uint8Array copy with its own memory. (`Buffer#slice` returns a view, so `.slice()` is
 * not a copy for input that may be a Buffer, such as entries read from disk.)
 */
export function copyBytes(b: Uint8Array): Uint8Array {
  const copy = new Uint8Array(b.length);
  copy.set(b);
  return copy;
}
