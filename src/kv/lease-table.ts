// The replicated part of leases: which leases exist, their TTL, and which keys each one holds. Time is
// not here: the leader alone keeps deadlines (src/node/leases.ts) and proposes `lease-expire` when one
// passes, so that a lease ends at the same log index on every replica.
import { assert } from '../raft/assert.js';
import type { LeaseId } from './command.js';
import { leaseContribution, XorAccumulator } from './digest.js';

export interface LeaseInfo {
  readonly id: LeaseId;
  readonly ttlMs: number;
  /** How many keys the lease holds. */
  readonly keyCount: number;
}

interface Lease {
  readonly ttlMs: number;
  /** Invariant: exactly the keys whose attachment (LeaseTable.keyLease) is this lease. */
  readonly keys: Set<string>;
}

export class LeaseTable {
  private readonly leases = new Map<LeaseId, Lease>();
  /** key → its lease, for attached keys only. */
  private readonly keyLease = new Map<string, LeaseId>();
  /** XOR of leaseContribution over the leases (the keys' attachments are in their own contributions). */
  readonly digest = new XorAccumulator();
  private lastGranted = 0;

  get size(): number {
    return this.leases.size;
  }

  has(id: LeaseId): boolean {
    return this.leases.has(id);
  }

  info(id: LeaseId): LeaseInfo | undefined {
    const l = this.leases.get(id);
    return l === undefined ? undefined : { id, ttlMs: l.ttlMs, keyCount: l.keys.size };
  }

  /** Every lease in ascending id order (the order they were granted in). */
  list(): LeaseInfo[] {
    return [...this.leases].map(([id, l]) => ({ id, ttlMs: l.ttlMs, keyCount: l.keys.size }));
  }

  leaseOf(key: string): LeaseId | undefined {
    return this.keyLease.get(key);
  }

  grant(id: LeaseId, ttlMs: number): void {
    // Ids are entry indexes, so they ascend; Map order (insertion) is then id order, which list() relies on.
    assert(id > this.lastGranted, () => `lease ids ascend: ${id} after ${this.lastGranted}`);
    this.lastGranted = id;
    this.leases.set(id, { ttlMs, keys: new Set() });
    this.digest.toggle(leaseContribution(id, ttlMs));
  }

  /** Attaches `key` to `id` (or detaches it, for undefined), leaving any previous lease. */
  attach(key: string, id: LeaseId | undefined): void {
    const previous = this.keyLease.get(key);
    if (previous === id) return;
    if (previous !== undefined) {
      const removed = this.leases.get(previous)?.keys.delete(key);
      assert(removed === true, 'an attached key is in its lease');
      this.keyLease.delete(key);
    }
    if (id !== undefined) {
      const lease = this.leases.get(id);
      assert(lease !== undefined, () => `key attaches to an existing lease (${id})`);
      lease.keys.add(key);
      this.keyLease.set(key, id);
    }
  }

  /** Removes the lease; returns its keys in key order (for the caller to delete, in that order). */
  revoke(id: LeaseId): string[] | undefined {
    const lease = this.leases.get(id);
    if (lease === undefined) return undefined;
    const keys = [...lease.keys].sort();
    for (const key of keys) this.keyLease.delete(key);
    this.leases.delete(id);
    this.digest.toggle(leaseContribution(id, lease.ttlMs));
    return keys;
  }

  /** A table with these leases and attachments (a snapshot being restored); ids ascending. */
  static restored(leases: readonly (readonly [LeaseId, number])[], attachments: Iterable<readonly [string, LeaseId]>): LeaseTable {
    const t = new LeaseTable();
    for (const [id, ttlMs] of leases) t.grant(id, ttlMs);
    for (const [key, id] of attachments) t.attach(key, id);
    return t;
  }
}
