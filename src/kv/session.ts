// Results of applied commands and the per-client sessions that make retries exactly-once.
import { assertNever } from '../raft/assert.js';
import type { LogIndex } from '../raft/types.js';
import { copyBytes } from './bytes.js';
import type { ByteReader, ByteWriter } from './bytes.js';
import { VALUE_SIZE_MAX_BYTES } from './limits.js';

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
  /** `current`: what the key held instead of the expected value (undefined: absent). */
  | { readonly kind: 'cas'; readonly ok: false; readonly current: KvValue | undefined }
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
const RESULT_CAS_FAILED = 4;

export function encodeStoredResult(w: ByteWriter, result: StoredResult): void {
  switch (result.kind) {
    case 'put':
      w.u8(RESULT_PUT).u64(result.revision);
      return;
    case 'delete':
      w.u8(RESULT_DELETE).u8(result.deleted ? 1 : 0);
      return;
    case 'cas':
      if (result.ok) {
        w.u8(RESULT_CAS_OK).u64(result.revision);
      } else if (result.current === undefined) {
        w.u8(RESULT_CAS_FAILED).u8(0);
      } else {
        w.u8(RESULT_CAS_FAILED).u8(1).u64(result.current.revision).u32(result.current.value.length).bytes(result.current.value);
      }
      return;
    default:
      assertNever(result, 'stored result');
  }
}

/** Decodes what encodeStoredResult wrote; the reader's `fail` throws on anything else. */
export function decodeStoredResult(r: ByteReader, fail: (reason: string) => never): StoredResult {
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
      if (!bool('cas current flag')) return { kind: 'cas', ok: false, current: undefined };
      const revision = r.u64('cas current revision') as LogIndex;
      const length = r.u32('cas current length');
      if (length > VALUE_SIZE_MAX_BYTES) fail(`cas current value length ${length} exceeds ${VALUE_SIZE_MAX_BYTES}`);
      return { kind: 'cas', ok: false, current: { value: copyBytes(r.bytes(length, 'cas current value')), revision } };
    }
    default:
      return fail(`unknown result tag ${tag}`);
  }
}
