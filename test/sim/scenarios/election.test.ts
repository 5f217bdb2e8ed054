// Elections: the classic lab cases plus pre-vote, check-quorum and leadership transfer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ELECTION_TIMEOUT_TICKS, TICK_MS } from '../world.js';
import { assertNoLeader, one, waitLeader, world } from './harness.js';

const ELECTION_TIMEOUT_MS = ELECTION_TIMEOUT_TICKS * TICK_MS;

test('initial election: one leader, and the term stays put while nothing fails', () => {
  const w = world(3);
  const leader = waitLeader(w);
  const t = leader.term;
  assert.ok(t >= 2, 'the founders start in term 1 with no leader');
  w.runFor(10 * ELECTION_TIMEOUT_MS);
  assert.equal(waitLeader(w).id, leader.id);
  for (const n of w.running()) assert.equal(n.term, t, `${n.id} moved to another term without a failure`);
  assert.equal(w.invariants.termsWithLeader, 1);
});

test('re-election: a new leader when the leader is cut off; the old one rejoins as follower; no leader without quorum', () => {
  const w = world(3);
  const first = waitLeader(w);
  const firstTerm = first.term;
  w.network.isolate(first.id);
  const second = waitLeader(w, [first.id]);
  assert.notEqual(second.id, first.id);
  assert.ok(second.term > firstTerm);
  w.network.heal();
  w.runFor(3 * ELECTION_TIMEOUT_MS);
  assert.equal(first.role, 'follower');
  assert.equal(waitLeader(w).term, second.term, 'the rejoining old leader did not disturb the term');
  // Two of three gone: no quorum, no leader.
  const leader = waitLeader(w);
  const others = w.running().filter((n) => n.id !== leader.id).map((n) => n.id);
  w.network.partition([[leader.id], [others[0] ?? ''], [others[1] ?? '']]);
  w.runFor(5 * ELECTION_TIMEOUT_MS);
  assertNoLeader(w, w.running().map((n) => n.id));
  w.network.heal();
  waitLeader(w);
});

test('many elections: 7 nodes, three isolated at random ten times, always one leader per term', () => {
  const w = world(7, { seed: 7 });
  waitLeader(w);
  for (let round = 0; round < 10; round++) {
    const ids = w.running().map((n) => n.id);
    const out = new Set<string>();
    while (out.size < 3) out.add(w.rng.pick(ids));
    w.network.partition([ids.filter((id) => !out.has(id)), ...[...out].map((id) => [id])]);
    waitLeader(w, [...out]);
    w.runFor(3 * ELECTION_TIMEOUT_MS);
    for (const id of out) assert.notEqual(w.node(id).role, 'leader', `isolated ${id} still leads after check-quorum`);
    w.network.heal();
  }
  waitLeader(w);
  assert.ok(w.invariants.termsWithLeader >= 2);
});

test('pre-vote: a partitioned node that rejoins neither disrupts the leader nor bumps terms', () => {
  const w = world(3);
  const leader = waitLeader(w);
  const t = leader.term;
  const loner = w.running().find((n) => n.id !== leader.id);
  assert.ok(loner !== undefined);
  w.network.isolate(loner.id);
  w.runFor(20 * ELECTION_TIMEOUT_MS);
  assert.equal(loner.term, t, 'pre-vote keeps the isolated node from raising its term');
  w.network.heal();
  w.runFor(5 * ELECTION_TIMEOUT_MS);
  assert.equal(waitLeader(w).id, leader.id);
  for (const n of w.running()) assert.equal(n.term, t);

  // Without pre-vote the same isolation does inflate terms: the check above is not vacuous.
  const w2 = world(3, { raft: { preVote: false } });
  const l2 = waitLeader(w2);
  const t2 = l2.term;
  const lone2 = w2.running().find((n) => n.id !== l2.id);
  assert.ok(lone2 !== undefined);
  w2.network.isolate(lone2.id);
  w2.runFor(20 * ELECTION_TIMEOUT_MS);
  assert.ok(lone2.term > t2 + 5);
});

test('check-quorum: a leader cut off from its quorum steps down within two election timeouts', () => {
  const w = world(5);
  const leader = waitLeader(w);
  w.network.isolate(leader.id);
  w.runFor(2 * ELECTION_TIMEOUT_MS);
  assert.equal(leader.role, 'follower');
  // With check-quorum off, the isolated leader goes on believing it leads.
  const w2 = world(5, { raft: { checkQuorum: false } });
  const l2 = waitLeader(w2);
  w2.network.isolate(l2.id);
  w2.runFor(4 * ELECTION_TIMEOUT_MS);
  assert.equal(l2.role, 'leader');
});

test('leadership transfer: the target leads the next term and keeps the committed log', () => {
  const w = world(5);
  const leader = waitLeader(w);
  const i = one(w, 'before', 5);
  const termBefore = leader.term;
  const target = w.running().find((n) => n.id !== leader.id);
  assert.ok(target !== undefined);
  const r = w.withCore(leader.id, 'transfer', (raft) => raft.transferLeadership(target.id));
  assert.equal(r, undefined);
  w.runFor(ELECTION_TIMEOUT_MS);
  const next = waitLeader(w);
  assert.equal(next.id, target.id);
  assert.equal(next.term, termBefore + 1);
  assert.ok(one(w, 'after', 5) > i);
});
