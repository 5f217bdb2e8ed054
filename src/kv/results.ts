// The outcome of applying one entry: the key commands' results (session.ts, which also stores them for
// retries) plus those of lease commands and the refusals that leases add.
import type { LogIndex } from '../raft/types.js';
import type { LeaseId } from './command.js';
import type { ApplyResult as KeyApplyResult } from './session.js';

export type LeaseApplyResult =
  | { readonly kind: 'lease-grant'; readonly id: LeaseId; readonly ttlMs: number }
  /** For lease-revoke and lease-expire. `revoked`: the lease existed; its keys were deleted at `revision`. */
  | { readonly kind: 'lease-revoke'; readonly revoked: boolean; readonly keysDeleted: number; readonly revision: LogIndex };

/**
 * Identical on every replica for the same entries. A refusal here changed nothing, and is not stored for
 * retries (a retry is decided again): `lease-not-found`, a put or cas names a lease that does not exist
 * (it expired or was revoked); `too-many-leases`, a grant beyond LEASES_MAX.
 */
export type LeaseRefusal = { readonly kind: 'rejected'; readonly code: 'lease-not-found' | 'too-many-leases'; readonly message: string };

export type ApplyResult = KeyApplyResult | LeaseApplyResult | LeaseRefusal;
