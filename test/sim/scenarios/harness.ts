// Helpers that make scenario tests read like the classic Raft lab cases: wait for a leader, commit
// one command on a number of nodes, change the membership and wait until it is applied.
import assert from 'node:assert/strict';
import { RaftError } from '../../../src/raft/errors.js';
import type { MembershipChange, NodeId } from '../../../src/raft/types.js';
import { encodeCommand } from '../kv.js';
import type { SimNode, WorldConfig } from '../world.js';
import { ELECTION_TIMEOUT_TICKS, TICK_MS, World } from '../world.js';

/** Long enough for several elections: the labs' "a leader within 5 s" in simulated time. */
export const ELECTION_WAIT_MS = 2 * ELECTION_TIMEOUT_TICKS * TICK_MS * 5;
export const AGREEMENT_WAIT_MS = 5000;

export function world(nodes: number, extra: Partial<WorldConfig> = {}): World {
  return new World({ seed: 1, nodes, ...extra });
}

/** Waits for a single leader of the newest term among running nodes not in `exclude`; returns it. */
export function waitLeader(w: World, exclude: readonly string[] = [], ms = ELECTION_WAIT_MS): SimNode {
  let found: SimNode | undefined;
  const ok = w.runUntil(() => {
    const leaders = w.leaders().filter((l) => !exclude.includes(l.id));
    found = leaders[0];
    return found !== undefined && leaders.filter((l) => l.term === found?.term).length === 1;
  }, ms);
  assert.ok(ok && found !== undefined, `no leader within ${ms}ms`);
  return found;
}

/** Asserts that no running node leads (e.g. in a minority). */
export function assertNoLeader(w: World, among: readonly string[]): void {
  for (const id of among) assert.notEqual(w.node(id).role, 'leader', `${id} leads, but it has no quorum`);
}

export function putCommand(key: string, value: string): Uint8Array {
  return encodeCommand({ clientId: 0, input: { op: 'put', key, value } });
}

/** How many running nodes applied index i. */
export function appliedCount(w: World, i: number): number {
  return w.running().filter((n) => n.sm.applied >= i).length;
}

/**
 * The labs' `one()`: proposes `value` on whoever leads (retrying through elections) until the
 * entry commits and at least `expected` running nodes applied it. Returns its index.
 */
export function one(w: World, value: string, expected: number, ms = AGREEMENT_WAIT_MS): number {
  const deadline = w.now + ms;
  while (w.now < deadline) {
    const leader = w.leader();
    if (leader === undefined) {
      w.runFor(TICK_MS);
      continue;
    }
    let ticket: { index: number; term: number };
    try {
      ticket = w.propose(leader.id, putCommand('k', value));
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      w.runFor(TICK_MS);
      continue;
    }
    const done = () => w.invariants.appliedTerm(ticket.index) !== undefined && appliedCount(w, ticket.index) >= expected;
    if (w.runUntil(done, Math.min(2000, deadline - w.now)) && w.invariants.appliedTerm(ticket.index) === ticket.term) return ticket.index;
  }
  assert.fail(`one(${value}) did not reach ${expected} nodes within ${ms}ms`);
}

/** Proposes a membership change on the leader until it is applied somewhere. */
export function change(w: World, c: MembershipChange, ms = AGREEMENT_WAIT_MS): void {
  const deadline = w.now + ms;
  let last = '';
  while (w.now < deadline) {
    const leader = w.leader();
    if (leader !== undefined) {
      const r = w.withCore(leader.id, `membership ${c.kind} ${c.id}`, (raft) => raft.proposeMembership(c));
      if (!(r instanceof RaftError)) {
        const ticket = r;
        if (w.runUntil(() => w.invariants.appliedTerm(ticket.index) !== undefined, Math.min(2000, deadline - w.now)) && w.invariants.appliedTerm(ticket.index) === ticket.term) return;
      } else last = r.code;
    }
    w.runFor(5 * TICK_MS);
  }
  assert.fail(`membership change ${c.kind} ${c.id} not applied within ${ms}ms (last refusal: ${last || 'none'})`);
}

/** Adds a fresh node as a learner, waits until it caught up, promotes it. */
export function addVoter(w: World, id: NodeId): void {
  w.create(id);
  change(w, { kind: 'add-learner', id, address: `${id}.sim:7000` });
  change(w, { kind: 'promote', id });
}

export function voterIds(w: World): string[] {
  return w.committedMembership.membership.members.filter((m) => m.role === 'voter').map((m) => m.id);
}

const dec = new TextDecoder();

/** The values of the writes node `id` holds in its durable log (after its snapshot), in order. */
export function logValues(w: World, id: string): string[] {
  return w
    .node(id)
    .disk.entries.filter((e) => e.kind === 'normal')
    .map((e) => {
      const input = (JSON.parse(dec.decode(e.data)) as { input: { value?: string } }).input;
      return input.value ?? '';
    });
}

/** Restarts every crashed node and heals the network. */
export function repair(w: World): void {
  w.network.heal();
  for (const n of w.nodes.values()) if (n.state === 'crashed') w.restart(n.id);
}
