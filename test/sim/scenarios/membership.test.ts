// Membership changes, one at a time: grow, shrink, remove the leader, learners that never vote.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RaftError } from '../../../src/raft/errors.js';
import { nodeId } from '../../../src/raft/types.js';
import { ELECTION_TIMEOUT_TICKS, TICK_MS } from '../world.js';
import { addVoter, appliedCount, change, one, putCommand, voterIds, waitLeader, world } from './harness.js';

const ELECTION_TIMEOUT_MS = ELECTION_TIMEOUT_TICKS * TICK_MS;

test('grow 1→5 one at a time under message loss and follower crashes', () => {
  const w = world(1, { seed: 4, network: { dropRate: 0.05, duplicateRate: 0.05, delayMinMs: 1, delayMaxMs: 20 } });
  one(w, 'solo', 1);
  for (let k = 2; k <= 5; k++) {
    addVoter(w, nodeId(`n${k}`));
    assert.equal(voterIds(w).length, k);
    one(w, `with-${k}`, k);
    // A follower crashes and comes back between two changes.
    const leader = waitLeader(w);
    const f = w.running().find((n) => n.id !== leader.id);
    if (f !== undefined && k >= 3) {
      w.crash(f.id);
      one(w, `without-${f.id}`, k - 1);
      w.restart(f.id);
    }
  }
  assert.deepEqual(voterIds(w), ['n1', 'n2', 'n3', 'n4', 'n5']);
  const i = one(w, 'all', 5);
  assert.equal(appliedCount(w, i), 5);
});

test('shrink 5→1: remove followers one at a time; the last voter commits alone', () => {
  const w = world(5);
  one(w, 'five', 5);
  for (let k = 5; k > 1; k--) {
    const leader = waitLeader(w);
    const victim = voterIds(w).find((id) => id !== leader.id);
    assert.ok(victim !== undefined);
    change(w, { kind: 'remove', id: nodeId(victim) });
    w.stop(victim);
    assert.equal(voterIds(w).length, k - 1);
    one(w, `with-${k - 1}`, k - 1);
  }
  const last = waitLeader(w);
  assert.deepEqual(voterIds(w), [last.id]);
  one(w, 'alone', 1);
});

test('remove the leader: it steps down once the removal commits and the rest elect a new one', () => {
  const w = world(3);
  const leader = waitLeader(w);
  one(w, 'before', 3);
  change(w, { kind: 'remove', id: leader.id });
  w.runFor(ELECTION_TIMEOUT_MS);
  assert.notEqual(leader.role, 'leader', 'the removed leader stepped down');
  w.stop(leader.id);
  const next = waitLeader(w);
  assert.notEqual(next.id, leader.id);
  assert.deepEqual(voterIds(w).sort(), w.running().map((n) => n.id).sort());
  one(w, 'after', 2);
});

test('a removal that would leave no live quorum is refused with a reason', () => {
  const w = world(3);
  const leader = waitLeader(w);
  const [a, b] = w.running().filter((n) => n.id !== leader.id);
  assert.ok(a !== undefined && b !== undefined);
  w.crash(a.id);
  w.runFor(3 * ELECTION_TIMEOUT_MS);
  const r = w.withCore(leader.id, 'remove', (raft) => raft.proposeMembership({ kind: 'remove', id: b.id }));
  assert.ok(r instanceof RaftError && r.code === 'quorum-would-be-lost', `got ${String(r)}`);
});

test('a learner never votes, never campaigns and does not count for quorum', () => {
  const roles: string[] = [];
  let learnerGrants = 0;
  const w = world(3, {
    trace: (l) => {
      if (l.includes(' role n4 ')) roles.push(l);
      if (/ deliver n4->\S+ (pre-)?vote-response .* grant/.test(l)) learnerGrants++;
    },
  });
  waitLeader(w);
  w.create(nodeId('n4'));
  change(w, { kind: 'add-learner', id: nodeId('n4'), address: 'n4.sim:7000' });
  const i = one(w, 'with-learner', 4);
  assert.ok(w.node('n4').sm.applied >= i, 'the learner replicates');
  // Two voters gone: the remaining voter and the learner are two of four nodes but one of three voters.
  const leader = waitLeader(w);
  const others = w.running().filter((n) => n.id !== leader.id && n.id !== 'n4');
  for (const n of others) w.crash(n.id);
  const t = w.propose(leader.id, putCommand('k', 'no-quorum'));
  w.runFor(10 * ELECTION_TIMEOUT_MS);
  assert.equal(w.invariants.appliedTerm(t.index), undefined, 'committed with a learner counted in the quorum');
  for (const n of w.running()) assert.notEqual(n.role, 'leader');
  // Voters come back; whatever elections happen, the learner takes no part.
  for (const n of others) w.restart(n.id);
  w.network.isolate(waitLeader(w).id);
  w.runFor(10 * ELECTION_TIMEOUT_MS);
  w.network.heal();
  one(w, 'after', 4);
  assert.ok(roles.every((l) => l.includes(' follower ')), `learner roles: ${roles.join(' | ')}`);
  assert.equal(learnerGrants, 0, 'the learner granted a vote');
  assert.ok(w.invariants.termsWithLeader >= 2);
});
