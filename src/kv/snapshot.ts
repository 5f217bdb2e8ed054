// The streamed snapshot format of the KV state machine.
//
// Layout (little-endian), version 1:
//   "KVSN" | u8 version | u64 appliedIndex | u64 keyCount | u64 sessionCount
//   keyCount × (u16 keyLength | key (UTF-8) | u64 revision | u32 valueLength | value)   keys strictly ascending
//   sessionCount × (u16 clientIdLength | clientId | u64 seq | u64 index | u32 resultLength | result)
//                                                                     index strictly ascending
//   32-byte SHA-256 of every preceding byte
// Written in chunks of about SNAPSHOT_CHUNK_SIZE_BYTES (a large value in chunks of its own), and
// read back as a stream, so neither side ever holds the snapshot in one buffer.
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { assert } from '../raft/assert.js';
import type { LogIndex } from '../raft/types.js';
import { ByteReader, ByteWriter, bytesEqual, copyBytes, utf8 } from './bytes.js';
import { KvError } from './errors.js';
import { CLIENT_ID_SIZE_MAX_BYTES, CLIENT_SESSIONS_MAX, KEY_SIZE_MAX_BYTES, SNAPSHOT_CHUNK_SIZE_BYTES, VALUE_SIZE_MAX_BYTES } from './limits.js';
import { decodeStoredResult, encodeStoredResult } from './session.js';
import type { KvValue, Session } from './session.js';
import { compareKeys } from './sorted-keys.js';

export const SNAPSHOT_FORMAT_VERSION = 1;
const MAGIC = utf8('KVSN');
const HEADER_SIZE_BYTES = MAGIC.length + 1 + 8 + 8 + 8;
const CHECKSUM_SIZE_BYTES = 32;
/** An encoded session result: a tag, a flag, a revision, a length and at most one value. */
const SESSION_RESULT_SIZE_MAX_BYTES = 1 + 1 + 8 + 4 + VALUE_SIZE_MAX_BYTES;

export type SnapshotSink = (chunk: Uint8Array) => Promise<void> | void;

/** A point-in-time view of the state. Invariant: `keys` strictly ascending, `values[i]` belongs to `keys[i]`. */
export interface SnapshotContents {
  readonly appliedIndex: LogIndex;
  readonly keys: readonly string[];
  readonly values: readonly KvValue[];
  /** In eviction order (ascending `index`). */
  readonly sessions: readonly (readonly [string, Session])[];
}

/** Collects bytes into chunks, hashing everything it emits. */
class ChunkWriter {
  private readonly w = new ByteWriter(SNAPSHOT_CHUNK_SIZE_BYTES + 1024);
  private readonly hash = createHash('sha256');
  constructor(private readonly sink: SnapshotSink) {}

  get buffer(): ByteWriter {
    return this.w;
  }

  async maybeFlush(): Promise<void> {
    if (this.w.size >= SNAPSHOT_CHUNK_SIZE_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.w.size === 0) return;
    const chunk = this.w.finish();
    this.w.reset();
    this.hash.update(chunk);
    await this.sink(chunk);
  }

  /** Appends bytes: small ones to the current chunk, large ones as chunks of their own. */
  async bytes(b: Uint8Array): Promise<void> {
    if (b.length < SNAPSHOT_CHUNK_SIZE_BYTES) {
      this.w.bytes(b);
      await this.maybeFlush();
      return;
    }
    await this.flush();
    for (let at = 0; at < b.length; at += SNAPSHOT_CHUNK_SIZE_BYTES) {
      // A copy: the sink owns what it receives, and the state's own bytes stay private.
      const chunk = copyBytes(b.subarray(at, at + SNAPSHOT_CHUNK_SIZE_BYTES));
      this.hash.update(chunk);
      await this.sink(chunk);
    }
  }

  async finish(): Promise<void> {
    await this.flush();
    await this.sink(new Uint8Array(this.hash.digest()));
  }
}

export async function writeSnapshotStream(contents: SnapshotContents, sink: SnapshotSink): Promise<void> {
  assert(contents.keys.length === contents.values.length, 'one value per key');
  const out = new ChunkWriter(sink);
  out.buffer.bytes(MAGIC).u8(SNAPSHOT_FORMAT_VERSION).u64(contents.appliedIndex).u64(contents.keys.length).u64(contents.sessions.length);
  for (let i = 0; i < contents.keys.length; i++) {
    const key = utf8(contents.keys[i] as string);
    const entry = contents.values[i] as KvValue;
    assert(entry.revision <= contents.appliedIndex, 'a revision never exceeds the applied index');
    out.buffer.u16(key.length).bytes(key).u64(entry.revision).u32(entry.value.length);
    await out.bytes(entry.value);
  }
  let previousIndex = 0;
  for (const [clientId, session] of contents.sessions) {
    assert(session.index > previousIndex && session.index <= contents.appliedIndex, 'sessions are in ascending index order');
    previousIndex = session.index;
    const id = utf8(clientId);
    const result = new ByteWriter(16);
    encodeStoredResult(result, session.result);
    const resultBytes = result.finish();
    out.buffer.u16(id.length).bytes(id).u64(session.seq).u64(session.index).u32(resultBytes.length);
    await out.bytes(resultBytes);
  }
  await out.finish();
}

function corrupt(reason: string): never {
  throw new KvError('corrupt-snapshot', `corrupt KV snapshot: ${reason}; fetch a fresh snapshot from the leader`);
}

/** Pulls exact byte counts from a stream of chunks, hashing what it hands out. */
class ChunkReader {
  private buf: Uint8Array = new Uint8Array(0);
  private offset = 0;
  private consumed = 0;
  private readonly iterator: AsyncIterator<Uint8Array>;
  readonly hash: Hash = createHash('sha256');

  constructor(chunks: AsyncIterable<Uint8Array>) {
    this.iterator = chunks[Symbol.asyncIterator]();
  }

  get buffered(): number {
    return this.buf.length - this.offset;
  }

  /** Makes at least `n` bytes available, or fails as truncated. */
  async fill(n: number, what: string): Promise<void> {
    const parts: Uint8Array[] = [this.buf.subarray(this.offset)];
    let have = this.buffered;
    while (have < n) {
      const next = await this.iterator.next();
      if (next.done === true) corrupt(`truncated ${what} at offset ${this.consumed + have}`);
      parts.push(next.value);
      have += next.value.length;
    }
    this.buf = parts.length === 1 ? this.buf : Buffer.concat(parts);
    this.offset = parts.length === 1 ? this.offset : 0;
  }

  /** `n` bytes, which must be buffered. Not hashed when `hashed` is false (the checksum itself). */
  take(n: number, hashed = true): Uint8Array {
    assert(this.buffered >= n, 'take() only what fill() made available');
    const b = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    this.consumed += n;
    if (hashed) this.hash.update(b);
    return b;
  }

  /** True when the stream has no more bytes (empty chunks are skipped). */
  async atEnd(): Promise<boolean> {
    if (this.buffered > 0) return false;
    for (;;) {
      const next = await this.iterator.next();
      if (next.done === true) return true;
      if (next.value.length > 0) {
        this.buf = next.value;
        this.offset = 0;
        return false;
      }
    }
  }

  get position(): number {
    return this.consumed;
  }
}

export interface RestoredContents {
  readonly appliedIndex: LogIndex;
  readonly keys: string[];
  readonly values: KvValue[];
  readonly sessions: [string, Session][];
}

/**
 * Reads and fully verifies a snapshot stream. Throws KvError 'corrupt-snapshot' for any format,
 * limit, order or checksum violation; errors of the stream itself propagate unchanged.
 */
export async function readSnapshotStream(chunks: AsyncIterable<Uint8Array>): Promise<RestoredContents> {
  const r = new ChunkReader(chunks);
  // Reads one length-prefixed field group from the stream with a bounded, checked reader.
  const read = async (n: number, what: string): Promise<ByteReader> => {
    if (r.buffered < n) await r.fill(n, what);
    return new ByteReader(r.take(n), (reason) => corrupt(`${reason} (${what} near offset ${r.position})`));
  };

  const header = await read(HEADER_SIZE_BYTES, 'header');
  if (!bytesEqual(header.bytes(MAGIC.length, 'magic'), MAGIC)) corrupt('not a KV snapshot (bad magic)');
  const version = header.u8('version');
  if (version !== SNAPSHOT_FORMAT_VERSION) corrupt(`unsupported format version ${version} (this build reads ${SNAPSHOT_FORMAT_VERSION})`);
  const appliedIndex = header.u64('applied index') as LogIndex;
  const keyCount = header.u64('key count');
  const sessionCount = header.u64('session count');
  if (sessionCount > CLIENT_SESSIONS_MAX) corrupt(`${sessionCount} sessions exceed CLIENT_SESSIONS_MAX (${CLIENT_SESSIONS_MAX})`);

  const keys: string[] = [];
  const values: KvValue[] = [];
  for (let i = 0; i < keyCount; i++) {
    const keyLength = (await read(2, 'key length')).u16('key length');
    if (keyLength === 0 || keyLength > KEY_SIZE_MAX_BYTES) corrupt(`key length ${keyLength} outside 1..${KEY_SIZE_MAX_BYTES}`);
    const rec = await read(keyLength + 8 + 4, 'key record');
    const key = rec.utf8(keyLength, 'key');
    const revision = rec.u64('revision') as LogIndex;
    const valueLength = rec.u32('value length');
    const previous = keys[keys.length - 1];
    if (previous !== undefined && compareKeys(previous, key) >= 0) corrupt(`keys out of order at ${JSON.stringify(key)}`);
    if (revision < 1 || revision > appliedIndex) corrupt(`revision ${revision} of ${JSON.stringify(key)} outside 1..${appliedIndex}`);
    if (valueLength > VALUE_SIZE_MAX_BYTES) corrupt(`value length ${valueLength} exceeds ${VALUE_SIZE_MAX_BYTES}`);
    if (r.buffered < valueLength) await r.fill(valueLength, 'value');
    // A copy, so that kept values do not pin whole stream chunks in memory.
    const value = copyBytes(r.take(valueLength));
    keys.push(key);
    values.push({ value, revision });
  }

  const sessions: [string, Session][] = [];
  const seen = new Set<string>();
  let previousIndex = 0;
  for (let i = 0; i < sessionCount; i++) {
    const idLength = (await read(2, 'client id length')).u16('client id length');
    if (idLength === 0 || idLength > CLIENT_ID_SIZE_MAX_BYTES) corrupt(`client id length ${idLength} outside 1..${CLIENT_ID_SIZE_MAX_BYTES}`);
    const rec = await read(idLength + 8 + 8 + 4, 'session record');
    const clientId = rec.utf8(idLength, 'client id');
    const seq = rec.u64('sequence number');
    const index = rec.u64('session index') as LogIndex;
    const resultLength = rec.u32('result length');
    if (seen.has(clientId)) corrupt(`client ${JSON.stringify(clientId)} has two sessions`);
    seen.add(clientId);
    if (index <= previousIndex || index > appliedIndex) corrupt(`session index ${index} not in ascending order within 1..${appliedIndex}`);
    previousIndex = index;
    if (resultLength > SESSION_RESULT_SIZE_MAX_BYTES) corrupt(`session result length ${resultLength} exceeds ${SESSION_RESULT_SIZE_MAX_BYTES}`);
    const result = await read(resultLength, 'session result');
    sessions.push([clientId, { seq, index, result: decodeStoredResult(result, corrupt) }]);
    result.end('session result');
  }

  const expected = r.hash.digest();
  if (r.buffered < CHECKSUM_SIZE_BYTES) await r.fill(CHECKSUM_SIZE_BYTES, 'checksum');
  if (!bytesEqual(r.take(CHECKSUM_SIZE_BYTES, false), expected)) corrupt('checksum mismatch');
  if (!(await r.atEnd())) corrupt('unexpected bytes after the checksum');
  return { appliedIndex, keys, values, sessions };
}
