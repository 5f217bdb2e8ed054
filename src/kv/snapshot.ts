// The streamed snapshot format of the KV state machine.
//
// Layout (little-endian), version 3:
//   "KVSN" | u8 version | u64 appliedIndex | u64 keyCount | u64 sessionCount
//   keyCount × (u16 keyLength | key (UTF-8) | u64 revision | u32 valueLength | value)   keys strictly ascending
//   sessionCount × (u16 clientIdLength | clientId | u64 seq | u64 index | u32 resultLength | result)
//                                                                     index strictly ascending
//   32-byte state digest (digest.ts) of the contents at appliedIndex
// Version 3 changed one session result: a failed cas keeps the current revision, no longer the current
// value (session.ts). Versions 1 and 2 are still read: such a result's value is dropped on restore, so
// the restored machine equals one that applied the same entries with this version; the trailer is
// checked against the sessions as written. Rule: any change to what this format holds bumps the
// version, and a reader keeps reading the versions a node may still have on disk.
// Version 1 (still read) ends instead with the SHA-256 of every preceding byte. Version 2 trades
// that hash for the digest because a reader must hash every key and value for the digest anyway:
// checking the recomputed digest against the writer's covers every field that restore keeps
// (anything else it reads is checked by parsing), with one hashing pass instead of two.
//
// Written in chunks of exactly SNAPSHOT_CHUNK_SIZE_BYTES (the last one shorter) through one reused
// buffer; read back as a stream of chunks of any size. Neither side ever holds the snapshot in one
// buffer, and a value is copied once on each side.
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { assert } from '../raft/assert.js';
import type { LogIndex } from '../raft/types.js';
import { ByteReader, ByteWriter, bytesEqual, utf8 } from './bytes.js';
import { DIGEST_SIZE_BYTES, keyBytesContribution, sessionContribution, sessionRecordContribution, stateDigestBytes, XorAccumulator } from './digest.js';
import { KvError } from './errors.js';
import { CLIENT_ID_SIZE_MAX_BYTES, CLIENT_SESSIONS_MAX, KEY_SIZE_MAX_BYTES, SNAPSHOT_CHUNK_SIZE_BYTES, VALUE_SIZE_MAX_BYTES } from './limits.js';
import { STORED_RESULT_SIZE_MAX_BYTES, decodeStoredResult, encodeStoredResult } from './session.js';
import type { KvValue, Session } from './session.js';
import { compareKeys } from './sorted-keys.js';

export const SNAPSHOT_FORMAT_VERSION = 3;
/** The first version, whose trailer is a SHA-256 of the stream; read, no longer written. */
const SNAPSHOT_FORMAT_VERSION_STREAM_HASH = 1;
/** The last version whose failed cas results hold the current value; read, no longer written. */
const SNAPSHOT_FORMAT_VERSION_CAS_VALUE = 2;
const MAGIC = utf8('KVSN');
const HEADER_SIZE_BYTES = MAGIC.length + 1 + 8 + 8 + 8;
const CHECKSUM_SIZE_BYTES = 32;
/** An encoded session result of version 2 and older: a tag, a flag, a revision, a length and at most one value. */
const SESSION_RESULT_LEGACY_SIZE_MAX_BYTES = 1 + 1 + 8 + 4 + VALUE_SIZE_MAX_BYTES;
/** The writer gives the event loop a turn after encoding for this long, in ms... */
const SNAPSHOT_WRITE_SLICE_MS = 4;
/** ...checking the clock every this many keys. */
const SNAPSHOT_YIELD_CHECK_KEYS = 256;
/** u16 key length + u64 revision + u32 value length around a key. */
const KEY_RECORD_FIXED_BYTES = 2 + 8 + 4;

/** Received bytes a SnapshotPrefetch holds before its parser takes them. */
const SNAPSHOT_PREFETCH_QUEUE_MAX_BYTES = 8 * 1024 * 1024;

assert(CHECKSUM_SIZE_BYTES === DIGEST_SIZE_BYTES, 'the version 2 trailer is a state digest');

/**
 * Receives a snapshot's chunks in order. A chunk is the sink's only until the promise it returns
 * settles (or until it returns, if it returns nothing): the writer then reuses its memory, so a
 * sink that keeps chunks must copy them.
 */
export type SnapshotSink = (chunk: Uint8Array) => Promise<void> | void;

/** A point-in-time view of the state. Invariant: `keys` strictly ascending, `values[i]` belongs to `keys[i]`. */
export interface SnapshotContents {
  readonly appliedIndex: LogIndex;
  readonly keys: readonly string[];
  readonly values: readonly KvValue[];
  /** In eviction order (ascending `index`). */
  readonly sessions: readonly (readonly [string, Session])[];
  /**
   * The state digest of exactly these contents (stateDigestBytes), when the caller maintains it
   * as the state machine does; computed here (one hash of every value) when absent.
   */
  readonly digest?: Uint8Array;
}

/**
 * Fills a chunk buffer and hands each full one to the sink. The buffer is reused once the sink's
 * promise settles: a snapshot of a gigabyte then costs one megabyte of memory, not a gigabyte of
 * fresh allocations for the garbage collector.
 */
class ChunkWriter {
  private readonly chunk: Buffer = Buffer.allocUnsafe(SNAPSHOT_CHUNK_SIZE_BYTES);
  private used = 0;
  constructor(private readonly sink: SnapshotSink) {}

  /**
   * Appends a copy of `b`, emitting every chunk it fills. Returns a promise only when a chunk went to
   * the sink: most records fit in the current chunk, and an await per record would cost a promise and
   * a microtask for each of millions of keys.
   */
  bytes(b: Uint8Array): Promise<void> | undefined {
    if (this.used + b.length < this.chunk.length) {
      this.chunk.set(b, this.used);
      this.used += b.length;
      return undefined;
    }
    return this.spill(b);
  }

  private async spill(b: Uint8Array): Promise<void> {
    for (let at = 0; at < b.length; ) {
      const n = Math.min(b.length - at, this.chunk.length - this.used);
      this.chunk.set(b.subarray(at, at + n), this.used);
      this.used += n;
      at += n;
      if (this.used === this.chunk.length) await this.emit();
    }
  }

  async finish(): Promise<void> {
    if (this.used > 0) await this.emit();
  }

  private async emit(): Promise<void> {
    const full = this.chunk.subarray(0, this.used);
    await this.sink(full);
    this.used = 0;
  }
}

export async function writeSnapshotStream(contents: SnapshotContents, sink: SnapshotSink): Promise<void> {
  assert(contents.keys.length === contents.values.length, 'one value per key');
  const digest = contents.digest ?? digestOf(contents);
  assert(digest.length === DIGEST_SIZE_BYTES, 'a state digest has DIGEST_SIZE_BYTES bytes');
  const out = new ChunkWriter(sink);
  const record = new ByteWriter(KEY_SIZE_MAX_BYTES + KEY_RECORD_FIXED_BYTES);
  record.bytes(MAGIC).u8(SNAPSHOT_FORMAT_VERSION).u64(contents.appliedIndex).u64(contents.keys.length).u64(contents.sessions.length);
  await out.bytes(record.finish());
  record.reset();
  let sliceStart = performance.now();
  for (let i = 0; i < contents.keys.length; i++) {
    // Encoding runs on the node's only thread: a large state of small keys would hold it for a whole
    // chunk's worth of records (~0.1 s on a busy machine), so requests get a turn between slices.
    if (i % SNAPSHOT_YIELD_CHECK_KEYS === 0 && performance.now() - sliceStart > SNAPSHOT_WRITE_SLICE_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
    const key = utf8(contents.keys[i] as string);
    const entry = contents.values[i] as KvValue;
    assert(entry.revision <= contents.appliedIndex, 'a revision never exceeds the applied index');
    record.u16(key.length).bytes(key).u64(entry.revision).u32(entry.value.length);
    const header = out.bytes(record.bytesView());
    if (header !== undefined) await header;
    record.reset();
    const value = out.bytes(entry.value);
    if (value !== undefined) await value;
  }
  let previousIndex = 0;
  for (const [clientId, session] of contents.sessions) {
    assert(session.index > previousIndex && session.index <= contents.appliedIndex, 'sessions are in ascending index order');
    previousIndex = session.index;
    const id = utf8(clientId);
    const result = new ByteWriter(16);
    encodeStoredResult(result, session.result);
    const resultBytes = result.finish();
    record.u16(id.length).bytes(id).u64(session.seq).u64(session.index).u32(resultBytes.length);
    await out.bytes(record.finish());
    record.reset();
    await out.bytes(resultBytes);
  }
  await out.bytes(digest);
  await out.finish();
}

function digestOf(contents: SnapshotContents): Uint8Array {
  const keys = new XorAccumulator();
  for (let i = 0; i < contents.keys.length; i++) {
    const entry = contents.values[i] as KvValue;
    keys.toggle(keyBytesContribution(utf8(contents.keys[i] as string), entry.value, entry.revision));
  }
  const sessions = new XorAccumulator();
  for (const [clientId, session] of contents.sessions) sessions.toggle(sessionContribution(clientId, session));
  return stateDigestBytes(contents.appliedIndex, contents.keys.length, contents.sessions.length, keys, sessions);
}

function corrupt(reason: string): never {
  throw new KvError('corrupt-snapshot', `corrupt KV snapshot: ${reason}; fetch a fresh snapshot from the leader`);
}

/**
 * Pulls exact byte counts from a stream of chunks of any size. Small fields come back as views
 * when they lie in one chunk; values are copied once, straight into buffers of their own, so
 * kept values never pin stream chunks in memory.
 */
class ChunkReader {
  private chunk: Uint8Array = new Uint8Array(0);
  private offset = 0;
  private consumed = 0;
  private readonly iterator: AsyncIterator<Uint8Array>;
  /** Set for a version 1 stream: everything handed out (but its trailer) is hashed. */
  hash: Hash | undefined;

  constructor(chunks: AsyncIterable<Uint8Array>) {
    this.iterator = chunks[Symbol.asyncIterator]();
  }

  get position(): number {
    return this.consumed;
  }

  /** `n` bytes: a view into the stream's chunk, or a copy when they span chunks. */
  async take(n: number, what: string, hashed = true): Promise<Uint8Array> {
    if (this.chunk.length - this.offset >= n) {
      const b = this.chunk.subarray(this.offset, this.offset + n);
      this.advance(b, hashed);
      return b;
    }
    const out = new Uint8Array(n);
    await this.copyInto(out, what, hashed);
    return out;
  }

  /** Fills `out` with the next out.length bytes of the stream. */
  async copyInto(out: Uint8Array, what: string, hashed = true): Promise<void> {
    for (let at = 0; at < out.length; ) {
      if (this.offset === this.chunk.length && !(await this.nextChunk())) corrupt(`truncated ${what} at offset ${this.consumed}`);
      const part = this.chunk.subarray(this.offset, this.offset + out.length - at);
      out.set(part, at);
      this.advance(part, hashed);
      at += part.length;
    }
  }

  /** True when the stream has no more bytes (empty chunks are skipped). */
  async atEnd(): Promise<boolean> {
    return this.offset === this.chunk.length && !(await this.nextChunk());
  }

  private advance(b: Uint8Array, hashed: boolean): void {
    this.offset += b.length;
    this.consumed += b.length;
    if (hashed) this.hash?.update(b);
  }

  private async nextChunk(): Promise<boolean> {
    for (;;) {
      const next = await this.iterator.next();
      if (next.done === true) return false;
      if (next.value.length > 0) {
        this.chunk = next.value;
        this.offset = 0;
        return true;
      }
    }
  }
}

export interface RestoredContents {
  readonly appliedIndex: LogIndex;
  readonly keys: string[];
  readonly values: KvValue[];
  readonly sessions: [string, Session][];
  /** The digest contributions of `keys` and of `sessions`, as the state machine keeps them. */
  readonly keysDigest: XorAccumulator;
  readonly sessionsDigest: XorAccumulator;
}

/**
 * Reads and fully verifies a snapshot stream. Throws KvError 'corrupt-snapshot' for any format,
 * limit, order, checksum or digest violation; errors of the stream itself propagate unchanged.
 */
export async function readSnapshotStream(chunks: AsyncIterable<Uint8Array>): Promise<RestoredContents> {
  const r = new ChunkReader(chunks);
  // One field group from the stream with a bounded, checked reader.
  const read = async (n: number, what: string): Promise<ByteReader> => {
    const at = r.position;
    return new ByteReader(await r.take(n, what), (reason) => corrupt(`${reason} (${what} near offset ${at})`));
  };

  const headerBytes = await r.take(HEADER_SIZE_BYTES, 'header');
  const header = new ByteReader(headerBytes, (reason) => corrupt(`${reason} (header)`));
  if (!bytesEqual(header.bytes(MAGIC.length, 'magic'), MAGIC)) corrupt('not a KV snapshot (bad magic)');
  const version = header.u8('version');
  if (version === SNAPSHOT_FORMAT_VERSION_STREAM_HASH) r.hash = createHash('sha256').update(headerBytes);
  else if (version !== SNAPSHOT_FORMAT_VERSION && version !== SNAPSHOT_FORMAT_VERSION_CAS_VALUE) {
    corrupt(`unsupported format version ${version} (this build reads ${SNAPSHOT_FORMAT_VERSION_STREAM_HASH} to ${SNAPSHOT_FORMAT_VERSION})`);
  }
  const legacyResults = version <= SNAPSHOT_FORMAT_VERSION_CAS_VALUE;
  const resultSizeMaxBytes = legacyResults ? SESSION_RESULT_LEGACY_SIZE_MAX_BYTES : STORED_RESULT_SIZE_MAX_BYTES;
  const appliedIndex = header.u64('applied index') as LogIndex;
  const keyCount = header.u64('key count');
  const sessionCount = header.u64('session count');
  if (sessionCount > CLIENT_SESSIONS_MAX) corrupt(`${sessionCount} sessions exceed CLIENT_SESSIONS_MAX (${CLIENT_SESSIONS_MAX})`);

  const keys: string[] = [];
  const values: KvValue[] = [];
  const keysDigest = new XorAccumulator();
  for (let i = 0; i < keyCount; i++) {
    const keyLength = (await read(2, 'key length')).u16('key length');
    if (keyLength === 0 || keyLength > KEY_SIZE_MAX_BYTES) corrupt(`key length ${keyLength} outside 1..${KEY_SIZE_MAX_BYTES}`);
    const rec = await read(keyLength + 8 + 4, 'key record');
    const keyBytes = rec.bytes(keyLength, 'key');
    const key = new ByteReader(keyBytes, (reason) => corrupt(reason)).utf8(keyLength, `key near offset ${r.position}`);
    const revision = rec.u64('revision') as LogIndex;
    const valueLength = rec.u32('value length');
    const previous = keys[keys.length - 1];
    if (previous !== undefined && compareKeys(previous, key) >= 0) corrupt(`keys out of order at ${JSON.stringify(key)}`);
    if (revision < 1 || revision > appliedIndex) corrupt(`revision ${revision} of ${JSON.stringify(key)} outside 1..${appliedIndex}`);
    if (valueLength > VALUE_SIZE_MAX_BYTES) corrupt(`value length ${valueLength} exceeds ${VALUE_SIZE_MAX_BYTES}`);
    // Not zero-filled: copyInto overwrites every byte (or the restore fails and drops it).
    const value = Buffer.allocUnsafeSlow(valueLength);
    await r.copyInto(value, 'value');
    keysDigest.toggle(keyBytesContribution(keyBytes, value, revision));
    keys.push(key);
    values.push({ value, revision });
  }

  const sessions: [string, Session][] = [];
  const sessionsDigest = new XorAccumulator();
  // What the writer's digest covered: the sessions as written (they differ from sessionsDigest only
  // for an older format's failed cas results, whose values restore drops).
  const writtenSessionsDigest = legacyResults ? new XorAccumulator() : sessionsDigest;
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
    if (resultLength > resultSizeMaxBytes) corrupt(`session result length ${resultLength} exceeds ${resultSizeMaxBytes}`);
    const resultAt = r.position;
    const resultBytes = await r.take(resultLength, 'session result');
    const result = new ByteReader(resultBytes, (reason) => corrupt(`${reason} (session result near offset ${resultAt})`));
    const session: Session = { seq, index, result: decodeStoredResult(result, corrupt, legacyResults) };
    result.end('session result');
    sessionsDigest.toggle(sessionContribution(clientId, session));
    if (legacyResults) writtenSessionsDigest.toggle(sessionRecordContribution(clientId, seq, index, resultBytes));
    sessions.push([clientId, session]);
  }

  const expected = r.hash?.digest() ?? stateDigestBytes(appliedIndex, keys.length, sessions.length, keysDigest, writtenSessionsDigest);
  const trailer = await r.take(CHECKSUM_SIZE_BYTES, 'checksum', false);
  if (!bytesEqual(trailer, expected)) corrupt(r.hash === undefined ? 'checksum mismatch (the state digest differs from the writer\'s)' : 'checksum mismatch');
  if (!(await r.atEnd())) corrupt('unexpected bytes after the checksum');
  return { appliedIndex, keys, values, sessions, keysDigest, sessionsDigest };
}

/**
 * Parses a snapshot while its bytes arrive, so that installing it needs no second pass: a node
 * pushes each received chunk (in order, from the first byte) as its snapshot store writes it,
 * calls end() once the store committed the whole (checksummed, fsynced) file, and hands
 * restoreSource(...) to KvStateMachine.restore, which then only swaps the parsed state in.
 * At most SNAPSHOT_PREFETCH_QUEUE_MAX_BYTES wait to be parsed: push() waits beyond that, which
 * slows the transfer down to the parser's pace rather than buffering the snapshot in memory.
 */
export class SnapshotPrefetch {
  /** The parsed contents; rejects if the stream is corrupt or was abandoned. */
  readonly contents: Promise<RestoredContents>;
  private readonly queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private state: 'receiving' | 'ended' | 'abandoned' = 'receiving';
  private wakeParser: (() => void) | undefined;
  private wakePusher: (() => void) | undefined;

  constructor() {
    this.contents = readSnapshotStream(this.chunks());
    // Awaited by restore when used; a prefetch that is never used must not leave an unhandled rejection.
    this.contents.catch(() => undefined);
  }

  /** The next bytes of the stream. The chunk is kept (not copied) until parsed. */
  async push(chunk: Uint8Array): Promise<void> {
    if (this.state === 'abandoned') return;
    assert(this.state === 'receiving', 'push after end');
    this.queue.push(chunk);
    this.queuedBytes += chunk.length;
    this.wake();
    while (this.queuedBytes > SNAPSHOT_PREFETCH_QUEUE_MAX_BYTES && this.state === 'receiving') {
      await new Promise<void>((resolve) => (this.wakePusher = resolve));
    }
  }

  /** Every byte was pushed (and the file holding them is committed). */
  end(): void {
    if (this.state === 'receiving') this.state = 'ended';
    this.wake();
  }

  /** The transfer failed or was superseded: drop what was parsed. */
  abandon(): void {
    this.state = 'abandoned';
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.wake();
  }

  /**
   * What to pass to KvStateMachine.restore: the parsed contents, with `file` (the committed
   * snapshot's bytes) as the source should the prefetch have failed.
   */
  restoreSource(file: AsyncIterable<Uint8Array>): PrefetchedSnapshot {
    return new PrefetchedSnapshot(this.contents, file);
  }

  private wake(): void {
    const parser = this.wakeParser;
    const pusher = this.wakePusher;
    this.wakeParser = undefined;
    this.wakePusher = undefined;
    parser?.();
    pusher?.();
  }

  private async *chunks(): AsyncGenerator<Uint8Array> {
    for (;;) {
      if (this.state === 'abandoned') throw new KvError('corrupt-snapshot', 'the snapshot transfer was abandoned before it completed');
      const next = this.queue.shift();
      if (next !== undefined) {
        this.queuedBytes -= next.length;
        if (this.queuedBytes <= SNAPSHOT_PREFETCH_QUEUE_MAX_BYTES) this.wake();
        yield next;
        continue;
      }
      if (this.state === 'ended') return;
      await new Promise<void>((resolve) => (this.wakeParser = resolve));
    }
  }
}

/**
 * A committed snapshot's bytes (iterating it reads `file`) that also carries their contents as
 * parsed while they arrived; KvStateMachine.restore uses those when they parsed cleanly.
 */
export class PrefetchedSnapshot implements AsyncIterable<Uint8Array> {
  constructor(
    readonly contents: Promise<RestoredContents>,
    private readonly file: AsyncIterable<Uint8Array>,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.file[Symbol.asyncIterator]();
  }
}
