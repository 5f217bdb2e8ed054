// The replica digest: a SHA-256 over a canonical form of the state at the applied index.
//
// Maintained incrementally: every key and every client session contributes the SHA-256 of its
// canonical encoding, and the contributions are XORed into an accumulator (XOR is order-free, and
// XORing a contribution again removes it). A change costs hashing the old and the new record
// (O(value size)); `digest()` then costs one hash over a fixed-size summary. XOR of hashes is fine
// for comparing honest replicas (each element is distinct, as it includes its key); it is not a
// defence against someone crafting collisions.
import { createHash } from 'node:crypto';
import type { LogIndex } from '../raft/types.js';
import { ByteWriter, utf8 } from './bytes.js';
import { encodeStoredResult } from './session.js';
import type { Session } from './session.js';

export const DIGEST_SIZE_BYTES = 32;
const DOMAIN_KEY = 1;
const DOMAIN_SESSION = 2;
const DIGEST_LABEL = utf8('kuberaft-kv-digest-v1');
/** Bytes of keyContributionHeader besides the key. */
const KEY_CONTRIBUTION_FIXED_BYTES = 1 + 2 + 8 + 4;

export class XorAccumulator {
  // Invariant: the XOR of the contributions of the current elements.
  readonly bytes = new Uint8Array(DIGEST_SIZE_BYTES);

  toggle(hash: Uint8Array): void {
    for (let i = 0; i < DIGEST_SIZE_BYTES; i++) this.bytes[i] = (this.bytes[i] as number) ^ (hash[i] as number);
  }
}

export function keyContribution(key: string, value: Uint8Array, revision: LogIndex): Uint8Array {
  return keyBytesContribution(utf8(key), value, revision);
}

/** keyContribution for a key already encoded as UTF-8 (a snapshot being read holds those bytes). */
export function keyBytesContribution(keyBytes: Uint8Array, value: Uint8Array, revision: LogIndex): Uint8Array {
  return createHash('sha256').update(keyContributionHeader(keyBytes, revision, value.length)).update(value).digest();
}

/** What a key's contribution hashes before its value: domain, key, revision and value length. */
function keyContributionHeader(keyBytes: Uint8Array, revision: LogIndex, valueLength: number): Uint8Array {
  return new ByteWriter(KEY_CONTRIBUTION_FIXED_BYTES + keyBytes.length).u8(DOMAIN_KEY).u16(keyBytes.length).bytes(keyBytes).u64(revision).u32(valueLength).finish();
}

export function sessionContribution(clientId: string, session: Session): Uint8Array {
  const result = new ByteWriter(16);
  encodeStoredResult(result, session.result);
  return sessionRecordContribution(clientId, session.seq, session.index, result.finish());
}

/** sessionContribution of a session whose result is already encoded (as a snapshot holds it). */
export function sessionRecordContribution(clientId: string, seq: number, index: LogIndex, resultBytes: Uint8Array): Uint8Array {
  const id = utf8(clientId);
  const w = new ByteWriter(32 + id.length).u8(DOMAIN_SESSION).u16(id.length).bytes(id).u64(seq).u64(index);
  return createHash('sha256').update(w.finish()).update(resultBytes).digest();
}

/** The digest of a whole state, as lowercase hex. */
export function stateDigest(appliedIndex: LogIndex, keyCount: number, sessionCount: number, keys: XorAccumulator, sessions: XorAccumulator): string {
  return Buffer.from(stateDigestBytes(appliedIndex, keyCount, sessionCount, keys, sessions)).toString('hex');
}

/** stateDigest as its DIGEST_SIZE_BYTES raw bytes (what a snapshot carries). */
export function stateDigestBytes(appliedIndex: LogIndex, keyCount: number, sessionCount: number, keys: XorAccumulator, sessions: XorAccumulator): Uint8Array {
  const summary = new ByteWriter(128).bytes(DIGEST_LABEL).u64(appliedIndex).u64(keyCount).u64(sessionCount).bytes(keys.bytes).bytes(sessions.bytes).finish();
  return new Uint8Array(createHash('sha256').update(summary).digest());
}
