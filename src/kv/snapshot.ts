// The streamed snapshot format of the KV state machine.
//
// Layout (little-endian), version 4:
//   "KVSN" | u8 version | u64 appliedIndex | u64 keyCount | u64 sessionCount | u64 leaseCount
//          | u64 historyCompactedThrough | u64 historyRecordCount
//   keyCount × (u16 keyLength | key (UTF-8) | u64 revision | u64 lease (0: none) | u32 valueLength | value)
//                                                                     keys strictly ascending
//   sessionCount × (u16 clientIdLength | clientId | u64 seq | u64 index | u32 resultLength | result)
//                                                                     index strictly ascending
//   leaseCount × (u64 id | u64 ttlMs)                                 ids strictly ascending
//   historyRecordCount × (u64 revision | u32 eventCount | eventCount × event)   revisions strictly ascending
//     event: u8 type (1 put, 2 delete) | u16 keyLength | key | put only: u64 lease | u32 valueLength | value
//   32-byte state digest (digest.ts) of the contents at appliedIndex
//   32-byte SHA-256 of the history section (the digest covers the state, not the history)
// Rule: any change to what this format holds bumps the version, and a reader keeps reading the versions
// a node may still have on disk. Still read:
// - Version 3 has neither leases nor history (its header ends after the session count, its key records
//   have no lease field, its trailer is the digest alone); it restores with an empty history that starts
//   after its applied index, so a watch from before it is told `compacted`.
// - Versions 1 and 2 are version 3 whose failed cas results kept the current value, not only its
//   revision (session.ts): the value is dropped on restore, so the restored machine equals one that
//   applied the same entries with this version; the trailer is checked against the sessions as written.
//   Version 1 ends with the SHA-256 of every preceding byte instead of the digest. Version 2 traded that
//   hash for the digest because a reader must hash every key and value for the digest anyway: checking
//   the recomputed digest against the writer's covers every field of the state, with one hashing pass.
//
// Written in chunks of exactly SNAPSHOT_CHUNK_SIZE_BYTES (the last one shorter) through one reused
// buffer; read back as a stream of chunks of any size. Neither side ever holds the snapshot in one
// buffer, and a value is copied once on each side.
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { assert } from '../raft/assert.js';
import type { LogIndex } from '../raft/types.js';
import { ByteReader, ByteWriter, bytesEqual, utf8 } from './bytes.js';
import { leaseId } from './command.js';
import type { LeaseId } from './command.js';
import { DIGEST_SIZE_BYTES, keyBytesContribution, leaseContribution, sessionContribution, sessionRecordContribution, stateDigestBytes, XorAccumulator } from './digest.js';
import { KvError } from './errors.js';
import { changeRecord } from './history.js';
import type { ChangeEvent, ChangeRecord } from './history.js';
import {
  CLIENT_ID_SIZE_MAX_BYTES,
  CLIENT_SESSIONS_MAX,
  KEY_SIZE_MAX_BYTES,
  LEASE_TTL_MAX_MS,
  LEASE_TTL_MIN_MS,
  LEASES_MAX,
  SNAPSHOT_CHUNK_SIZE_BYTES,
  VALUE_SIZE_MAX_BYTES,
} from './limits.js';
import { STORED_RESULT_SIZE_MAX_BYTES, decodeStoredResult, encodeStoredResult } from './session.js';
import type { KvValue, Session } from './session.js';
import { compareKeys } from './sorted-keys.js';

export const SNAPSHOT_FORMAT_VERSION = 4;
/** Without leases and history; read, and written only for tests of that reader. */
export const SNAPSHOT_FORMAT_VERSION_NO_HISTORY = 3;
/** The first version, whose trailer is a SHA-256 of the stream; read, no longer written. */
const SNAPSHOT_FORMAT_VERSION_STREAM_HASH = 1;
/** The last version whose failed cas results hold the current value; read, no longer written. */
const SNAPSHOT_FORMAT_VERSION_CAS_VALUE = 2;
const MAGIC = utf8('KVSN');
/** Magic, version, applied index, key and session counts: versions 1 to 3. */
const HEADER_V3_SIZE_BYTES = MAGIC.length + 1 + 8 + 8 + 8;
/** Version 4 adds the lease count, the history's compaction point and record count. */
const HEADER_V4_EXTRA_BYTES = 8 + 8 + 8;
const CHECKSUM_SIZE_BYTES = 32;
const EVENT_PUT = 1;
const EVENT_DELETE = 2;
/** An encoded session result of version 2 and older: a tag, a flag, a revision, a length and at most one value. */
const SESSION_RESULT_LEGACY_SIZE_MAX_BYTES = 1 + 1 + 8 + 4 + VALUE_SIZE_MAX_BYTES;
/** The writer gives the event loop a turn after encoding for this long, in ms... */
const SNAPSHOT_WRITE_SLICE_MS = 4;
/** ...checking the clock every this many keys. */
const SNAPSHOT_YIELD_CHECK_KEYS = 256;
/** u16 key length + u64 revision + u64 lease + u32 value length around a key. */
const KEY_RECORD_FIXED_BYTES = 2 + 8 + 8 + 4;

/** Received bytes a SnapshotPrefetch holds before its parser takes them. */
const SNAPSHOT_PREFETCH_QUEUE_MAX_BYTES = 8 * 1024 * 1024;

assert(CHECKSUM_SIZE_BYTES === DIGEST_SIZE_BYTES, 'the version 2 trailer is a state digest');

/**
 * Receives a snapshot's chunks in order. A chunk is the sink's only until the promise it returns
 * settles (or until it returns, if it returns nothing): the writer then reuses its memory, so a
 * sink that keeps chunks must copy them.
 */
export type SnapshotSink = (chunk: Uint8Array) => Promise<void> | void;

/**
 * A point-in-time view of the state. Invariant: `keys` strictly ascending, `values[i]` and `keyLeases[i]`
 * belong to `keys[i]`.
 */
export interface SnapshotContents {
  readonly appliedIndex: LogIndex;
  readonly keys: readonly string[];
  readonly values: readonly KvValue[];
  /** Each key's lease; absent: no key has one. */
  readonly keyLeases?: readonly (LeaseId | undefined)[];
  /** In eviction order (ascending `index`). */
  readonly sessions: readonly (readonly [string, Session])[];
  /** [id, ttlMs], ascending id; absent: none. */
  readonly leases?: readonly (readonly [LeaseId, number])[];
  /** The change history; absent: empty, starting after appliedIndex. */
  readonly history?: { readonly compactedThrough: LogIndex; readonly records: readonly ChangeRecord[] };
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

/**
 * Writes `contents` in the current format (or in version 3, which has no leases nor history: for tests
 * of that reader only).
 */
export async function writeSnapshotStream(contents: SnapshotContents, sink: SnapshotSink, formatVersion = SNAPSHOT_FORMAT_VERSION): Promise<void> {
  assert(contents.keys.length === contents.values.length, 'one value per key');
  assert(contents.keyLeases === undefined || contents.keyLeases.length === contents.keys.length, 'one lease slot per key');
  const v4 = formatVersion === SNAPSHOT_FORMAT_VERSION;
  assert(v4 || (formatVersion === SNAPSHOT_FORMAT_VERSION_NO_HISTORY && (contents.leases ?? []).length === 0), 'version 3 is written only without leases');
  const leases = contents.leases ?? [];
  const history = contents.history ?? { compactedThrough: contents.appliedIndex, records: [] };
  const digest = contents.digest ?? digestOf(contents);
  assert(digest.length === DIGEST_SIZE_BYTES, 'a state digest has DIGEST_SIZE_BYTES bytes');
  const out = new ChunkWriter(sink);
  const record = new ByteWriter(KEY_SIZE_MAX_BYTES + KEY_RECORD_FIXED_BYTES);
  record.bytes(MAGIC).u8(formatVersion).u64(contents.appliedIndex).u64(contents.keys.length).u64(contents.sessions.length);
  if (v4) record.u64(leases.length).u64(history.compactedThrough).u64(history.records.length);
  await out.bytes(record.finish());
  record.reset();
  let sliceStart = performance.now();
  // Encoding runs on the node's only thread: a large state of small keys would hold it for a whole
  // chunk's worth of records (~0.1 s on a busy machine), so requests get a turn between slices.
  const maybeYield = async (i: number): Promise<void> => {
    if (i % SNAPSHOT_YIELD_CHECK_KEYS === 0 && performance.now() - sliceStart > SNAPSHOT_WRITE_SLICE_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  };
  for (let i = 0; i < contents.keys.length; i++) {
    if (i % SNAPSHOT_YIELD_CHECK_KEYS === 0) await maybeYield(i);
    const key = utf8(contents.keys[i] as string);
    const entry = contents.values[i] as KvValue;
    assert(entry.revision <= contents.appliedIndex, 'a revision never exceeds the applied index');
    record.u16(key.length).bytes(key).u64(entry.revision);
    if (v4) record.u64(contents.keyLeases?.[i] ?? 0);
    record.u32(entry.value.length);
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
  if (v4) {
    let previousLease = 0;
    for (const [id, ttlMs] of leases) {
      assert(id > previousLease && id <= contents.appliedIndex, 'leases are in ascending id order');
      previousLease = id;
      record.u64(id).u64(ttlMs);
      await out.bytes(record.finish());
      record.reset();
    }
    const historyHash = createHash('sha256');
    // Hashed as written: the reader checks the history against this, the state against the digest.
    const emit = async (b: Uint8Array): Promise<void> => {
      historyHash.update(b);
      const p = out.bytes(b);
      if (p !== undefined) await p;
    };
    let previousRevision: number = history.compactedThrough;
    for (let i = 0; i < history.records.length; i++) {
      await maybeYield(i);
      const r = history.records[i] as ChangeRecord;
      assert(r.revision > previousRevision && r.revision <= contents.appliedIndex, 'history revisions ascend within the applied index');
      previousRevision = r.revision;
      record.u64(r.revision).u32(r.events.length);
      await emit(record.finish());
      record.reset();
      for (const e of r.events) {
        const key = utf8(e.key);
        record.u8(e.type === 'put' ? EVENT_PUT : EVENT_DELETE).u16(key.length).bytes(key);
        if (e.type === 'put') record.u64(e.lease ?? 0).u32(e.value.length);
        await emit(record.finish());
        record.reset();
        if (e.type === 'put') await emit(e.value);
      }
    }
    await out.bytes(digest);
    await out.bytes(historyHash.digest());
  } else {
    await out.bytes(digest);
  }
  await out.finish();
}

function digestOf(contents: SnapshotContents): Uint8Array {
  const keys = new XorAccumulator();
  for (let i = 0; i < contents.keys.length; i++) {
    const entry = contents.values[i] as KvValue;
    keys.toggle(keyBytesContribution(utf8(contents.keys[i] as string), entry.value, entry.revision, contents.keyLeases?.[i]));
  }
  const sessions = new XorAccumulator();
  for (const [clientId, session] of contents.sessions) sessions.toggle(sessionContribution(clientId, session));
  const leases = new XorAccumulator();
  for (const [id, ttlMs] of contents.leases ?? []) leases.toggle(leaseContribution(id, ttlMs));
  return stateDigestBytes({
    appliedIndex: contents.appliedIndex,
    keyCount: contents.keys.length,
    sessionCount: contents.sessions.length,
    leaseCount: contents.leases?.length ?? 0,
    keys,
    sessions,
    leases,
  });
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
  /** [key, lease] for the keys that have one. */
  readonly keyLeases: [string, LeaseId][];
  readonly sessions: [string, Session][];
  /** [id, ttlMs], ascending id. */
  readonly leases: [LeaseId, number][];
  readonly history: { readonly compactedThrough: LogIndex; readonly records: ChangeRecord[] };
  /** The digest contributions of `keys`, of `sessions` and of `leases`, as the state machine keeps them. */
  readonly keysDigest: XorAccumulator;
  readonly sessionsDigest: XorAccumulator;
  readonly leasesDigest: XorAccumulator;
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
  const readKey = async (what: string): Promise<{ key: string; keyBytes: Uint8Array }> => {
    const keyLength = (await read(2, `${what} length`)).u16(`${what} length`);
    if (keyLength === 0 || keyLength > KEY_SIZE_MAX_BYTES) corrupt(`${what} length ${keyLength} outside 1..${KEY_SIZE_MAX_BYTES}`);
    const keyBytes = await r.take(keyLength, what);
    const key = new ByteReader(keyBytes, (reason) => corrupt(reason)).utf8(keyLength, `${what} near offset ${r.position}`);
    return { key, keyBytes };
  };
  const readValue = async (length: number): Promise<Uint8Array> => {
    if (length > VALUE_SIZE_MAX_BYTES) corrupt(`value length ${length} exceeds ${VALUE_SIZE_MAX_BYTES}`);
    // Not zero-filled: copyInto overwrites every byte (or the restore fails and drops it).
    const value = Buffer.allocUnsafeSlow(length);
    await r.copyInto(value, 'value');
    return value;
  };

  const headerBytes = await r.take(HEADER_V3_SIZE_BYTES, 'header');
  const header = new ByteReader(headerBytes, (reason) => corrupt(`${reason} (header)`));
  if (!bytesEqual(header.bytes(MAGIC.length, 'magic'), MAGIC)) corrupt('not a KV snapshot (bad magic)');
  const version = header.u8('version');
  if (version === SNAPSHOT_FORMAT_VERSION_STREAM_HASH) r.hash = createHash('sha256').update(headerBytes);
  else if (version !== SNAPSHOT_FORMAT_VERSION_CAS_VALUE && version !== SNAPSHOT_FORMAT_VERSION_NO_HISTORY && version !== SNAPSHOT_FORMAT_VERSION) {
    corrupt(`unsupported format version ${version} (this build reads ${SNAPSHOT_FORMAT_VERSION_STREAM_HASH} to ${SNAPSHOT_FORMAT_VERSION})`);
  }
  const v4 = version === SNAPSHOT_FORMAT_VERSION;
  const legacyResults = version <= SNAPSHOT_FORMAT_VERSION_CAS_VALUE;
  const resultSizeMaxBytes = legacyResults ? SESSION_RESULT_LEGACY_SIZE_MAX_BYTES : STORED_RESULT_SIZE_MAX_BYTES;
  const appliedIndex = header.u64('applied index') as LogIndex;
  const keyCount = header.u64('key count');
  const sessionCount = header.u64('session count');
  if (sessionCount > CLIENT_SESSIONS_MAX) corrupt(`${sessionCount} sessions exceed CLIENT_SESSIONS_MAX (${CLIENT_SESSIONS_MAX})`);
  let leaseCount = 0;
  let compactedThrough = appliedIndex;
  let recordCount = 0;
  if (v4) {
    const extra = await read(HEADER_V4_EXTRA_BYTES, 'header');
    leaseCount = extra.u64('lease count');
    compactedThrough = extra.u64('history compaction point') as LogIndex;
    recordCount = extra.u64('history record count');
    if (leaseCount > LEASES_MAX) corrupt(`${leaseCount} leases exceed LEASES_MAX (${LEASES_MAX})`);
    if (compactedThrough > appliedIndex) corrupt(`history compaction point ${compactedThrough} is beyond the applied index ${appliedIndex}`);
    if (recordCount > appliedIndex - compactedThrough) corrupt(`${recordCount} history records cannot fit between revisions ${compactedThrough} and ${appliedIndex}`);
  }

  const keys: string[] = [];
  const values: KvValue[] = [];
  const keyLeases: [string, LeaseId][] = [];
  const keysDigest = new XorAccumulator();
  for (let i = 0; i < keyCount; i++) {
    const { key, keyBytes } = await readKey('key');
    const rec = await read(8 + (v4 ? 8 : 0) + 4, 'key record');
    const revision = rec.u64('revision') as LogIndex;
    const lease = v4 ? rec.u64('lease') : 0;
    const valueLength = rec.u32('value length');
    const previous = keys[keys.length - 1];
    if (previous !== undefined && compareKeys(previous, key) >= 0) corrupt(`keys out of order at ${JSON.stringify(key)}`);
    if (revision < 1 || revision > appliedIndex) corrupt(`revision ${revision} of ${JSON.stringify(key)} outside 1..${appliedIndex}`);
    if (lease > appliedIndex) corrupt(`lease ${lease} of ${JSON.stringify(key)} beyond the applied index ${appliedIndex}`);
    const value = await readValue(valueLength);
    keysDigest.toggle(keyBytesContribution(keyBytes, value, revision, lease === 0 ? undefined : leaseId(lease)));
    keys.push(key);
    values.push({ value, revision });
    if (lease !== 0) keyLeases.push([key, leaseId(lease)]);
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

  const leases: [LeaseId, number][] = [];
  const leasesDigest = new XorAccumulator();
  for (let i = 0; i < leaseCount; i++) {
    const rec = await read(16, 'lease record');
    const id = leaseId(rec.u64('lease id'));
    const ttlMs = rec.u64('lease ttl');
    const previous = leases[leases.length - 1]?.[0] ?? 0;
    if (id <= previous || id > appliedIndex) corrupt(`lease id ${id} not in ascending order within 1..${appliedIndex}`);
    if (ttlMs < LEASE_TTL_MIN_MS || ttlMs > LEASE_TTL_MAX_MS) corrupt(`lease ${id} has ttl ${ttlMs} outside ${LEASE_TTL_MIN_MS}..${LEASE_TTL_MAX_MS}`);
    leasesDigest.toggle(leaseContribution(id, ttlMs));
    leases.push([id, ttlMs]);
  }
  const leaseIds = new Set(leases.map(([id]) => id));
  for (const [key, lease] of keyLeases) if (!leaseIds.has(lease)) corrupt(`key ${JSON.stringify(key)} is attached to lease ${lease}, which does not exist`);

  const expected =
    r.hash?.digest() ??
    stateDigestBytes({ appliedIndex, keyCount: keys.length, sessionCount: sessions.length, leaseCount: leases.length, keys: keysDigest, sessions: writtenSessionsDigest, leases: leasesDigest });
  // The history section is checked by its own hash (version 4), which covers exactly its bytes.
  let historyHash: Hash | undefined;
  const records: ChangeRecord[] = [];
  if (v4) {
    r.hash = historyHash = createHash('sha256');
    let previousRevision: number = compactedThrough;
    for (let i = 0; i < recordCount; i++) {
      const rec = await read(12, 'history record');
      const revision = rec.u64('history revision') as LogIndex;
      const eventCount = rec.u32('event count');
      if (revision <= previousRevision || revision > appliedIndex) corrupt(`history revision ${revision} not in ascending order within ${compactedThrough + 1}..${appliedIndex}`);
      previousRevision = revision;
      if (eventCount === 0) corrupt(`history revision ${revision} has no events`);
      const events: ChangeEvent[] = [];
      for (let e = 0; e < eventCount; e++) {
        const type = (await read(1, 'event type')).u8('event type');
        if (type !== EVENT_PUT && type !== EVENT_DELETE) corrupt(`unknown history event type ${type}`);
        const { key } = await readKey('event key');
        if (type === EVENT_DELETE) {
          events.push({ type: 'delete', key });
          continue;
        }
        const put = await read(12, 'put event');
        const lease = put.u64('event lease');
        if (lease > revision) corrupt(`event lease ${lease} is beyond its revision ${revision}`);
        const value = await readValue(put.u32('event value length'));
        events.push({ type: 'put', key, value, lease: lease === 0 ? undefined : leaseId(lease) });
      }
      records.push(changeRecord(revision, events));
    }
    r.hash = undefined;
  }

  const trailer = await r.take(CHECKSUM_SIZE_BYTES, 'checksum', false);
  if (!bytesEqual(trailer, expected)) corrupt(version === SNAPSHOT_FORMAT_VERSION_STREAM_HASH ? 'checksum mismatch' : "checksum mismatch (the state digest differs from the writer's)");
  if (historyHash !== undefined) {
    const historyTrailer = await r.take(CHECKSUM_SIZE_BYTES, 'history checksum', false);
    if (!bytesEqual(historyTrailer, historyHash.digest())) corrupt('history checksum mismatch');
  }
  if (!(await r.atEnd())) corrupt('unexpected bytes after the checksum');
  return { appliedIndex, keys, values, keyLeases, sessions, leases, history: { compactedThrough, records }, keysDigest, sessionsDigest, leasesDigest };
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
