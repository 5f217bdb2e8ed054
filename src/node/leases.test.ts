// The leader's lease timers on a simulated clock, over a real state machine: expiry is proposed when a
// deadline passes and not before; keepalives push deadlines back; a new leader gives every lease its
// full TTL plus the extension.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeCommand } from '../kv/command.js';
import type { Command, LeaseId } from '../kv/command.js';
import { KvStateMachine } from '../kv/state-machine.js';
import { createLogger } from '../log/logger.js';
import { index } from '../raft/types.js';
import { NodeError } from './errors.js';
import { LEASE_EXPIRY_PROPOSALS_MAX, LEASE_EXPIRY_RETRY_MS, LeaseKeeper } from './leases.js';
import type { LeaseClock } from './leases.js';

const EXTENSION_MS = 2_000;

/** A clock whose time moves only when the test says; timers fire in deadline order. */
class FakeClock implements LeaseClock {
  time = 1_000;
  private timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, delayMs: number): { cancel(): void } {
    const t = { at: this.time + delayMs, fn, cancelled: false };
    this.timers.push(t);
    return { cancel: () => (t.cancelled = true) };
  }
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      const due = this.timers.filter((t) => !t.cancelled && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.time = Math.max(this.time, due.at);
      due.cancelled = true;
      due.fn();
      // Let proposals settle.
      for (let i = 0; i < 5; i++) await Promise.resolve();
    }
    this.time = end;
  }
}

class World {
  readonly sm = new KvStateMachine();
  readonly clock = new FakeClock();
  readonly proposed: LeaseId[] = [];
  /** When set, proposals fail with it (leadership moving, overload). */
  failProposals: Error | undefined;
  /** When set, proposals never settle. */
  hangProposals = false;
  readonly keeper: LeaseKeeper;
  constructor() {
    this.keeper = new LeaseKeeper({
      clock: this.clock,
      leases: () => this.sm.leaseList(),
      ttlOf: (id) => this.sm.lease(id)?.ttlMs,
      proposeExpire: (id) => {
        this.proposed.push(id);
        if (this.hangProposals) return new Promise(() => undefined);
        if (this.failProposals !== undefined) return Promise.reject(this.failProposals);
        this.apply({ kind: 'lease-expire', lease: id });
        return Promise.resolve();
      },
      promotionExtensionMs: EXTENSION_MS,
      log: createLogger({ level: 'error', fields: { node: 'test' } }),
    });
    this.sm.observe(this.keeper);
  }
  apply(c: Command): void {
    this.sm.apply(index(this.sm.appliedIndex + 1), encodeCommand(c));
  }
  grant(ttlMs: number): LeaseId {
    const r = this.sm.apply(index(this.sm.appliedIndex + 1), encodeCommand({ kind: 'lease-grant', ttlMs }));
    assert.ok(r.kind === 'lease-grant');
    return r.id;
  }
}

describe('lease keeper', () => {
  it('expires a lease when its TTL passes without keepalive, not a moment before', async () => {
    const w = new World();
    w.keeper.leadershipChanged(true, 1);
    const id = w.grant(5_000);
    w.apply({ kind: 'put', key: 'k', value: new Uint8Array(1), lease: id });
    await w.clock.advance(4_999);
    assert.deepEqual(w.proposed, []);
    assert.equal(w.keeper.remainingMs(id), 1);
    await w.clock.advance(1);
    assert.deepEqual(w.proposed, [id]);
    assert.equal(w.sm.lease(id), undefined);
    assert.equal(w.sm.get('k'), undefined);
    assert.throws(() => w.keeper.keepAlive(id), (e: unknown) => e instanceof NodeError && e.code === 'lease-not-found');
  });

  it('a keepalive gives the lease its whole TTL again', async () => {
    const w = new World();
    w.keeper.leadershipChanged(true, 1);
    const id = w.grant(3_000);
    for (let i = 0; i < 5; i++) {
      await w.clock.advance(2_000);
      assert.equal(w.keeper.keepAlive(id), 3_000);
    }
    await w.clock.advance(2_999);
    assert.deepEqual(w.proposed, []);
    await w.clock.advance(1);
    assert.deepEqual(w.proposed, [id]);
  });

  it('a new leader gives every lease its full TTL plus the extension; followers keep no timers', async () => {
    const w = new World();
    const a = w.grant(5_000);
    const b = w.grant(60_000);
    assert.throws(() => w.keeper.keepAlive(a), (e: unknown) => e instanceof NodeError && e.code === 'not-leader');
    await w.clock.advance(100_000);
    assert.deepEqual(w.proposed, [], 'a follower expires nothing');
    w.keeper.leadershipChanged(true, 2);
    assert.equal(w.keeper.remainingMs(a), 5_000 + EXTENSION_MS);
    assert.equal(w.keeper.remainingMs(b), 60_000 + EXTENSION_MS);
    await w.clock.advance(4_000);
    // Leadership lost, then won again in a later term: the deadlines start over.
    w.keeper.leadershipChanged(false, 3);
    await w.clock.advance(10_000);
    assert.deepEqual(w.proposed, []);
    w.keeper.leadershipChanged(true, 4);
    await w.clock.advance(5_000 + EXTENSION_MS - 1);
    assert.deepEqual(w.proposed, []);
    await w.clock.advance(1);
    assert.deepEqual(w.proposed, [a]);
  });

  it('a failed expiry proposal is tried again while this node leads', async () => {
    const w = new World();
    w.keeper.leadershipChanged(true, 1);
    const id = w.grant(1_000);
    w.failProposals = new NodeError('proposal-dropped', 'dropped');
    await w.clock.advance(1_000);
    assert.deepEqual(w.proposed, [id]);
    w.failProposals = undefined;
    await w.clock.advance(LEASE_EXPIRY_RETRY_MS);
    assert.deepEqual(w.proposed, [id, id]);
    assert.equal(w.sm.lease(id), undefined);
  });

  it('at most LEASE_EXPIRY_PROPOSALS_MAX expiries are in flight; the rest wait for a slot', async () => {
    const w = new World();
    w.keeper.leadershipChanged(true, 1);
    for (let i = 0; i < LEASE_EXPIRY_PROPOSALS_MAX + 10; i++) w.grant(1_000);
    w.hangProposals = true;
    await w.clock.advance(1_000);
    assert.equal(w.proposed.length, LEASE_EXPIRY_PROPOSALS_MAX);
    await w.clock.advance(10_000);
    assert.equal(w.proposed.length, LEASE_EXPIRY_PROPOSALS_MAX);
    // A lease whose expiry is in flight is gone for keepalives already.
    assert.throws(() => w.keeper.keepAlive(w.proposed[0] as LeaseId), (e: unknown) => e instanceof NodeError && e.code === 'lease-not-found');
  });

  it('revoked leases drop their timers', async () => {
    const w = new World();
    w.keeper.leadershipChanged(true, 1);
    const id = w.grant(1_000);
    w.apply({ kind: 'lease-revoke', lease: id });
    await w.clock.advance(5_000);
    assert.deepEqual(w.proposed, []);
  });
});
