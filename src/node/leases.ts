// The leader's lease timers. The state machine knows which leases exist and their TTL, not time; the
// leader keeps a deadline per lease, pushes it back on each keepalive, and proposes `lease-expire` when
// one passes, so a lease ends at the same log index on every replica.
//
// Keepalives are not replicated. Instead, as etcd does, a node that becomes leader gives every lease a
// full TTL plus `promotionExtensionMs` from that moment: a failover only ever extends leases. The
// extension covers the deposed leader, which may have acknowledged keepalives until it noticed its loss
// of leadership; the node also confirms its leadership (ReadIndex) before it acknowledges a keepalive
// (service.ts), so an acknowledged keepalive happened while this node led.
//
// Time comes from a LeaseClock (the part of a node clock port these timers use), so that a simulated
// clock can drive them.
import { performance } from 'node:perf_hooks';
import type { LeaseId } from '../kv/command.js';
import type { KvObserver } from '../kv/state-machine.js';
import type { Logger } from '../log/logger.js';
import { assert } from '../raft/assert.js';
import { NodeError } from './errors.js';

/** Expiry proposals in flight at once; more due leases wait (a burst of expiries must not flood the log). */
export const LEASE_EXPIRY_PROPOSALS_MAX = 256;
/** After a failed expiry proposal (leadership moving, overload), the lease is tried again this much later. */
export const LEASE_EXPIRY_RETRY_MS = 200;
/** The heap of deadlines is rebuilt when its stale entries (pushed-back deadlines) exceed this many. */
const HEAP_STALE_ENTRIES_MAX = 4096;

/** Monotonic time and one-shot timers (the shape of a node clock port's `now` and `setTimeout`). */
export interface LeaseClock {
  /** Monotonic time in milliseconds from an arbitrary origin. */
  now(): number;
  /** Runs `fn` once, `delayMs` from now. */
  setTimeout(fn: () => void, delayMs: number): { cancel(): void };
}

export const systemLeaseClock: LeaseClock = {
  now: () => performance.now(),
  setTimeout: (fn, delayMs) => {
    const t = setTimeout(fn, delayMs);
    return { cancel: () => clearTimeout(t) };
  },
};

export interface LeaseKeeperDeps {
  readonly clock: LeaseClock;
  /** The leases the state machine holds now, with their TTL. */
  readonly leases: () => Iterable<{ readonly id: LeaseId; readonly ttlMs: number }>;
  readonly ttlOf: (id: LeaseId) => number | undefined;
  /** Proposes `lease-expire`; resolves once applied here, rejects if it was not (or its outcome is unknown). */
  readonly proposeExpire: (id: LeaseId) => Promise<void>;
  /** Added to every lease's TTL when this node becomes leader (at least the longest election timeout). */
  readonly promotionExtensionMs: number;
  readonly log: Logger;
}

interface HeapEntry {
  readonly deadline: number;
  readonly id: LeaseId;
}

/** A binary min-heap by deadline. Entries whose deadline was pushed back stay until popped (lazy deletion). */
class DeadlineHeap {
  private items: HeapEntry[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): HeapEntry | undefined {
    return this.items[0];
  }

  push(e: HeapEntry): void {
    const a = this.items;
    a.push(e);
    for (let i = a.length - 1; i > 0; ) {
      const parent = (i - 1) >>> 1;
      if ((a[parent] as HeapEntry).deadline <= e.deadline) break;
      a[i] = a[parent] as HeapEntry;
      a[parent] = e;
      i = parent;
    }
  }

  pop(): HeapEntry | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    a[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && (a[l] as HeapEntry).deadline < (a[m] as HeapEntry).deadline) m = l;
      if (r < a.length && (a[r] as HeapEntry).deadline < (a[m] as HeapEntry).deadline) m = r;
      if (m === i) break;
      const t = a[i] as HeapEntry;
      a[i] = a[m] as HeapEntry;
      a[m] = t;
      i = m;
    }
    return top;
  }

  clear(): void {
    this.items = [];
  }
}

export class LeaseKeeper implements KvObserver {
  private leading = false;
  private term = -1;
  // Invariant: while leading, every lease of the state machine that is not in `expiring` has a
  // deadline here, and the heap holds an entry with that deadline.
  private readonly deadlines = new Map<LeaseId, number>();
  private readonly heap = new DeadlineHeap();
  /** Leases whose expiry is proposed and not yet applied. */
  private readonly expiring = new Set<LeaseId>();
  private inFlight = 0;
  private timer: { cancel(): void } | undefined;
  private timerAt = Infinity;
  private stopped = false;

  constructor(private readonly deps: LeaseKeeperDeps) {}

  /** Call after every Ready with the node's role and term. */
  leadershipChanged(isLeader: boolean, term: number): void {
    if (isLeader && (!this.leading || term !== this.term)) this.promote(term);
    else if (!isLeader && this.leading) this.demote();
  }

  get isLeading(): boolean {
    return this.leading;
  }

  private promote(term: number): void {
    this.reset();
    this.leading = true;
    this.term = term;
    const now = this.deps.clock.now();
    let n = 0;
    for (const { id, ttlMs } of this.deps.leases()) {
      this.setDeadline(id, now + ttlMs + this.deps.promotionExtensionMs);
      n++;
    }
    if (n > 0) this.deps.log.info('leading: every lease gets its full TTL again', { leases: n, extensionMs: this.deps.promotionExtensionMs });
  }

  private demote(): void {
    this.reset();
  }

  private reset(): void {
    this.leading = false;
    this.deadlines.clear();
    this.heap.clear();
    this.expiring.clear();
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  stop(): void {
    this.stopped = true;
    this.reset();
  }

  // ---- the state machine's news (KvObserver)

  leaseGranted(id: LeaseId, ttlMs: number): void {
    if (this.leading) this.setDeadline(id, this.deps.clock.now() + ttlMs);
  }

  leaseEnded(id: LeaseId): void {
    this.deadlines.delete(id);
    this.expiring.delete(id);
  }

  restored(): void {
    // A leader never installs a snapshot; if it did, its view of the leases would be rebuilt.
    if (this.leading) this.promote(this.term);
  }

  // ---- requests (on the leader, after a ReadIndex round)

  /** Pushes the lease's deadline to now + TTL; returns the TTL. Throws NodeError. */
  keepAlive(id: LeaseId): number {
    const ttlMs = this.checkLive(id);
    this.setDeadline(id, this.deps.clock.now() + ttlMs);
    return ttlMs;
  }

  /** The time left before this leader expires the lease, in ms. Throws NodeError. */
  remainingMs(id: LeaseId): number {
    this.checkLive(id);
    const deadline = this.deadlines.get(id);
    assert(deadline !== undefined, 'a live lease has a deadline on the leader');
    return Math.max(0, Math.round(deadline - this.deps.clock.now()));
  }

  private checkLive(id: LeaseId): number {
    if (!this.leading) throw new NodeError('not-leader', 'leadership moved; retry');
    const ttlMs = this.deps.ttlOf(id);
    if (ttlMs === undefined || this.expiring.has(id)) throw new NodeError('lease-not-found', `lease ${id} does not exist (it expired or was revoked): grant a new lease`);
    return ttlMs;
  }

  // ---- timers

  private setDeadline(id: LeaseId, deadline: number): void {
    this.deadlines.set(id, deadline);
    this.heap.push({ deadline, id });
    if (this.heap.size > 2 * this.deadlines.size + HEAP_STALE_ENTRIES_MAX) this.rebuildHeap();
    this.schedule();
  }

  private rebuildHeap(): void {
    this.heap.clear();
    for (const [id, deadline] of this.deadlines) this.heap.push({ deadline, id });
  }

  private schedule(): void {
    if (this.stopped || !this.leading) return;
    const next = this.heap.peek();
    if (next === undefined || next.deadline >= this.timerAt) return;
    this.timer?.cancel();
    this.timerAt = next.deadline;
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.expireDue();
    }, Math.max(0, next.deadline - this.deps.clock.now()));
  }

  private expireDue(): void {
    if (!this.leading) return;
    const now = this.deps.clock.now();
    for (;;) {
      // With every slot taken, the next settled proposal calls this again.
      if (this.inFlight >= LEASE_EXPIRY_PROPOSALS_MAX) return;
      const top = this.heap.peek();
      if (top === undefined || top.deadline > now) break;
      this.heap.pop();
      // A stale entry: the deadline was pushed back, or the lease ended.
      if (this.deadlines.get(top.id) !== top.deadline) continue;
      this.deadlines.delete(top.id);
      this.expire(top.id);
    }
    this.schedule();
  }

  private expire(id: LeaseId): void {
    const term = this.term;
    this.expiring.add(id);
    this.inFlight++;
    this.deps.log.info('lease expired: proposing its end', { lease: id });
    this.deps
      .proposeExpire(id)
      .catch((e: unknown) => {
        // Not applied (or not known to be): if this node still leads the same term and the lease still
        // lives, try again a little later. A new leader starts from its own full deadlines.
        if (!this.leading || this.term !== term || !this.expiring.delete(id) || this.deps.ttlOf(id) === undefined) return;
        this.deps.log.warn('proposing a lease expiry failed; retrying', { lease: id, err: e });
        this.setDeadline(id, this.deps.clock.now() + LEASE_EXPIRY_RETRY_MS);
      })
      .finally(() => {
        this.inFlight--;
        // Due leases may be waiting for a free slot.
        if (this.leading && !this.stopped) this.expireDue();
      });
  }
}
