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
import type { LeaseId } from './command.js';
import { ByteWriter, utf8 } from './bytes.js';
import { encodeStoredResult } from './session.js';
import type { Session } from './session.js';

export const DIGEST_SIZE_BYTES = 32;
const DOMAIN_KEY = 1;
const DOMAIN_SESSION = 2;
/** A key attached to a lease: the key's record followed by the lease id. */
const DOMAIN_KEY_LEASED = 3;
const DOMAIN_LEASE = 4;
const DIGEST_LABEL = utf8('kuberaft-kv-digest-v1');
/** The summary once leases exist: it adds their count and accumulator. */
const DIGEST_LABEL_LEASES = utf8('kuberaft-kv-digest-v2');
/** Bytes of keyContributionHeader besides the key. */
const KEY_CONTRIBUTION_FIXED_BYTES = 1 + 2 + 8 + 4 + 8;

export class XorAccumulator {
  // Invariant: the XOR of the contributions of the current elements.
  readonly bytes = new Uint8Array(DIGEST_SIZE_BYTES);

  toggle(hash: Uint8Array): void {
    for (let i = 0; i < DIGEST_SIZE_BYTES; i++) this.bytes[i] = (this.bytes[i] as number) ^ (hash[i] as number);
  }
}

/** A key without a lease contributes exactly what it did before leases existed. */
export function keyContribution(key: string, value: Uint8Array, revision: LogIndex, lease: LeaseId | undefined): Uint8Array {
  return keyBytesContribution(utf8(key), value, revision, lease);
}

/** keyContribution for a key already encoded as UTF-8 (a snapshot being read holds those bytes). */
export function keyBytesContribution(keyBytes: Uint8Array, value: Uint8Array, revision: LogIndex, lease: LeaseId | undefined): Uint8Array {
  return createHash('sha256').update(keyContributionHeader(keyBytes, revision, value.length, lease)).update(value).digest();
}

/** What a key's contribution hashes before its value: domain, key, revision, value length and lease. */
function keyContributionHeader(keyBytes: Uint8Array, revision: LogIndex, valueLength: number, lease: LeaseId | undefined): Uint8Array {
  const w = new ByteWriter(KEY_CONTRIBUTION_FIXED_BYTES + keyBytes.length).u8(lease === undefined ? DOMAIN_KEY : DOMAIN_KEY_LEASED);
  w.u16(keyBytes.length).bytes(keyBytes).u64(revision).u32(valueLength);
  if (lease !== undefined) w.u64(lease);
  return w.finish();
}

export function leaseContribution(id: LeaseId, ttlMs: number): Uint8Array {
  return createHash('sha256').update(new ByteWriter(17).u8(DOMAIN_LEASE).u64(id).u64(ttlMs).finish()).digest();
}

/** The accumulators and counts a digest summarizes. */
export interface DigestParts {
  readonly appliedIndex: LogIndex;
  readonly keyCount: number;
  readonly sessionCount: number;
  readonly leaseCount: number;
  readonly keys: XorAccumulator;
  readonly sessions: XorAccumulator;
  readonly leases: XorAccumulator;
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
export function stateDigest(parts: DigestParts): string {
  return Buffer.from(stateDigestBytes(parts)).toString('hex');
}

/**
 * stateDigest as its DIGEST_SIZE_BYTES raw bytes (what a snapshot carries). The summary gains the lease
 * count and accumulator only once leases exist, so a state without leases keeps the digest that builds
 * before leases computed (and version 2 snapshots, which hold no leases, verify as they were written).
 */
export function stateDigestBytes(p: DigestParts): Uint8Array {
  const summary = new ByteWriter(192);
  if (p.leaseCount === 0) summary.bytes(DIGEST_LABEL).u64(p.appliedIndex).u64(p.keyCount).u64(p.sessionCount).bytes(p.keys.bytes).bytes(p.sessions.bytes);
  else summary.bytes(DIGEST_LABEL_LEASES).u64(p.appliedIndex).u64(p.keyCount).u64(p.sessionCount).u64(p.leaseCount).bytes(p.keys.bytes).bytes(p.sessions.bytes).bytes(p.leases.bytes);
  return new Uint8Array(createHash('sha256').update(summary.bytesView()).digest());
}
