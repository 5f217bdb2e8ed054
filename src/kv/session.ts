// Results of applied commands and the per-client sessions that make retries exactly-once.
import { assert, assertNever } from '../raft/assert.js';
import type { LogIndex } from '../raft/types.js';
import type { ByteReader, ByteWriter } from './bytes.js';
import { CLIENT_ID_SIZE_MAX_BYTES, CLIENT_SESSIONS_MAX, VALUE_SIZE_MAX_BYTES } from './limits.js';

export interface KvValue {
  readonly value: Uint8Array;
  /** The index of the entry that last modified the key (etcd's mod_revision). */
  readonly revision: LogIndex;
}

/** The outcome of applying one entry. Identical on every replica for the same entries. */
export type ApplyResult =
  | { readonly kind: 'put'; readonly revision: LogIndex }
  | { readonly kind: 'delete'; readonly deleted: boolean }
  | { readonly kind: 'cas'; readonly ok: true; readonly revision: LogIndex }
  /**
   * `currentRevision`: the revision of what the key held instead of the expected value (undefined:
   * absent). Not the value itself: a session keeps its result for retries, and a value of up to
   * VALUE_SIZE_MAX_BYTES per client would make the session table unbounded in bytes.
   */
  | { readonly kind: 'cas'; readonly ok: false; readonly currentRevision: LogIndex | undefined }
  /**
   * The entry did nothing. `malformed-command`: its bytes are not a command (a bug in the proposer:
   * every replica rejects it alike instead of crashing). `request-superseded`: the client already
   * has a newer request applied, so this older one is refused rather than applied out of order.
   */
  | { readonly kind: 'rejected'; readonly code: 'malformed-command' | 'request-superseded'; readonly message: string };

/** A result worth remembering for a retry. */
export type StoredResult = Exclude<ApplyResult, { kind: 'rejected' }>;

export interface Session {
  /** The client's latest applied request. */
  readonly seq: number;
  /** The index of the entry that applied it. Orders sessions for eviction. */
  readonly index: LogIndex;
  readonly result: StoredResult;
}

const RESULT_PUT = 1;
const RESULT_DELETE = 2;
const RESULT_CAS_OK = 3;
/** A failed cas with the current value (flag, revision, length, bytes): written by snapshot format 2 and older only. */
const RESULT_CAS_FAILED_WITH_VALUE = 4;
/** A failed cas: the current revision, 0 when the key was absent. */
const RESULT_CAS_FAILED = 5;

/** The largest encoded StoredResult: a tag and a u64. */
export const STORED_RESULT_SIZE_MAX_BYTES = 1 + 8;
/** The most one session takes in a snapshot: client id (u16 length + bytes), seq, index, result (u32 length + bytes). */
export const SESSION_SIZE_MAX_BYTES = 2 + CLIENT_ID_SIZE_MAX_BYTES + 8 + 8 + 4 + STORED_RESULT_SIZE_MAX_BYTES;
/** The most the whole session table takes: bounded in bytes, not only in count. */
export const SESSIONS_SIZE_MAX_BYTES = CLIENT_SESSIONS_MAX * SESSION_SIZE_MAX_BYTES;
assert(SESSIONS_SIZE_MAX_BYTES <= 4 * 1024 * 1024, 'the session table stays within a few MiB');

export function encodeStoredResult(w: ByteWriter, result: StoredResult): void {
  switch (result.kind) {
    case 'put':
      w.u8(RESULT_PUT).u64(result.revision);
      return;
    case 'delete':
      w.u8(RESULT_DELETE).u8(result.deleted ? 1 : 0);
      return;
    case 'cas':
      if (result.ok) w.u8(RESULT_CAS_OK).u64(result.revision);
      else w.u8(RESULT_CAS_FAILED).u64(result.currentRevision ?? 0);
      return;
    default:
      assertNever(result, 'stored result');
  }
}

/**
 * Decodes what encodeStoredResult wrote; the reader's `fail` throws on anything else. `legacy`: the
 * result comes from snapshot format 2 or older, whose failed cas kept the current value (dropped
 * here: only its revision is kept, as this version stores it).
 */
export function decodeStoredResult(r: ByteReader, fail: (reason: string) => never, legacy = false): StoredResult {
  const tag = r.u8('result tag');
  const bool = (what: string): boolean => {
    const b = r.u8(what);
    if (b > 1) fail(`${what} is ${b}, not 0 or 1`);
    return b === 1;
  };
  switch (tag) {
    case RESULT_PUT:
      return { kind: 'put', revision: r.u64('put revision') as LogIndex };
    case RESULT_DELETE:
      return { kind: 'delete', deleted: bool('deleted flag') };
    case RESULT_CAS_OK:
      return { kind: 'cas', ok: true, revision: r.u64('cas revision') as LogIndex };
    case RESULT_CAS_FAILED: {
      if (legacy) return fail(`result tag ${tag} is not used by this snapshot format`);
      const revision = r.u64('cas current revision');
      return { kind: 'cas', ok: false, currentRevision: revision === 0 ? undefined : (revision as LogIndex) };
    }
    case RESULT_CAS_FAILED_WITH_VALUE: {
      if (!legacy) return fail(`result tag ${tag} belongs to snapshot format 2 and older`);
      if (!bool('cas current flag')) return { kind: 'cas', ok: false, currentRevision: undefined };
      const revision = r.u64('cas current revision') as LogIndex;
      const length = r.u32('cas current length');
      if (length > VALUE_SIZE_MAX_BYTES) fail(`cas current value length ${length} exceeds ${VALUE_SIZE_MAX_BYTES}`);
      r.bytes(length, 'cas current value');
      return { kind: 'cas', ok: false, currentRevision: revision };
    }
    default:
      return fail(`unknown result tag ${tag}`);
  }
}
