// Unit tests of the core through a tiny synchronous driver. The simulator (test/sim) is the main
// evidence; these pin the Ready contract and the basic flows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Raft, bootstrapState, emptyBootState } from './raft.js';
import { RaftError } from './errors.js';
import { AssertionError } from './assert.js';
import { decodeMembership, voters } from './membership.js';
import { Cluster, data, id, lcg, members, text, threeNodes } from './test-support.js';
import type { Entry, LogIndex } from './types.js';

test('a three-node cluster elects one leader and commits a proposal on every node', () => {
  const c = threeNodes();
  c.get('a').raft.campaign();
  c.stabilize();
  const l = c.leader();
  assert.equal(l?.raft.id, 'a');
  assert.equal(l?.raft.status().term, 2);
  const t = l.raft.propose(data('x=1'));
  c.stabilize();
  c.tickAll(1); // the heartbeat announces the commit to followers
  for (const n of c.nodes.values()) {
    const e = n.applied.find((x) => x.index === t.index);
    assert.ok(e, `${n.raft.id} applied the proposal`);
    assert.equal(e.term, t.term);
    assert.equal(text(e), 'x=1');
  }
});

test('pre-vote: a node that cannot win does not raise its term', () => {
  const c = threeNodes();
  c.get('a').raft.campaign();
  c.stabilize();
  c.cut.add(id('c'));
  c.tickAll(50);
  assert.equal(c.get('c').raft.status().term, 2, 'the isolated node stayed in term 2');
  c.cut.clear();
  c.tickAll(5);
  assert.equal(c.leader()?.raft.id, 'a', 'the leader was not disrupted');
  assert.equal(c.get('a').raft.status().term, 2);
});

test('pre-vote: of two followers whose timers fire together, one steps back, so the vote is not split', () => {
  const c = threeNodes();
  c.get('a').raft.campaign();
  c.stabilize();
  c.cut.add(id('a'));
  // Past the leader's lease on both followers, short of their randomized timeouts ([10, 20) ticks).
  for (let i = 0; i < 10; i++) {
    for (const n of ['b', 'c']) c.get(n).raft.tick();
    c.stabilize();
  }
  assert.equal(c.get('b').raft.status().role, 'follower', 'b has not campaigned on its own yet');
  assert.equal(c.get('c').raft.status().role, 'follower', 'c has not campaigned on its own yet');
  // Both start a pre-vote before either hears from the other.
  c.get('b').raft.campaign();
  c.get('c').raft.campaign();
  c.stabilize();
  assert.equal(c.leader()?.raft.id, 'b', 'the lower id won at the first attempt');
  assert.equal(c.get('b').raft.status().term, 3, 'one election round');
  assert.equal(c.get('c').raft.status().leader, 'b');
});

test('check-quorum: a leader cut off from its followers steps down', () => {
  const c = threeNodes();
  c.get('a').raft.campaign();
  c.stabilize();
  c.cut.add(id('a'));
  c.tickAll(25);
  assert.notEqual(c.get('a').raft.status().role, 'leader');
  const l = c.leader();
  assert.ok(l && l.raft.id !== 'a', 'the majority elected a new leader');
});

test('a proposal to a follower is refused with the leader named', () => {
  const c = threeNodes();
  c.get('a').raft.campaign();
  c.stabilize();
  assert.throws(
    () => c.get('b').raft.propose(data('x')),
    (e: unknown) => e instanceof RaftError && e.code === 'not-leader' && e.leader === 'a',
  );
});

test('ready() twice without advance() is an assertion failure', () => {
  const c = threeNodes();
  const r = c.get('a').raft;
  r.campaign();
  r.ready();
  assert.throws(() => r.ready(), AssertionError);
});

test('membership: a learner joins, is promoted, a voter is removed; one change at a time', () => {
  const c = new Cluster();
  c.add('a', bootstrapState(members('a')));
  c.get('a').raft.campaign();
  c.stabilize();
  const a = c.get('a').raft;
  assert.equal(a.status().role, 'leader');
  c.add('b', emptyBootState());
  a.proposeMembership({ kind: 'add-learner', id: id('b'), address: 'b:1' });
  assert.throws(
    () => a.proposeMembership({ kind: 'promote', id: id('b') }),
    (e: unknown) => e instanceof RaftError && e.code === 'learner-not-caught-up',
    'a learner that has not answered yet cannot be promoted',
  );
  c.stabilize();
  c.tickAll(3);
  const b = c.get('b').raft;
  assert.equal(b.status().membership.members.find((m) => m.id === 'b')?.role, 'learner');
  assert.equal(b.status().commit, a.status().commit, 'the learner caught up');
  a.proposeMembership({ kind: 'promote', id: id('b') });
  c.stabilize();
  c.tickAll(2);
  assert.deepEqual(voters(a.status().membership), ['a', 'b']);
  assert.deepEqual(voters(b.status().membership), ['a', 'b']);
  // The leader removes itself: it keeps leading until the removal commits, then steps down.
  a.proposeMembership({ kind: 'remove', id: id('a') });
  c.stabilize();
  c.tickAll(2);
  assert.notEqual(a.status().role, 'leader');
  c.tickAll(40);
  assert.equal(b.status().role, 'leader', 'the remaining voter took over');
  assert.deepEqual(voters(b.status().membership), ['b']);
});

test('a second membership change is refused while the first is uncommitted', () => {
  const c = threeNodes();
  c.get('a').raft.campaign();
  c.stabilize();
  const a = c.get('a').raft;
  a.proposeMembership({ kind: 'add-learner', id: id('d'), address: 'd:1' });
  assert.ok(a.status().membership.members.some((m) => m.id === 'd'), 'in effect once appended');
  assert.throws(
    () => a.proposeMembership({ kind: 'add-learner', id: id('e'), address: 'e:1' }),
    (e: unknown) => e instanceof RaftError && e.code === 'membership-change-pending',
  );
  c.stabilize();
  assert.equal(a.status().pendingMembershipIndex, 0);
  a.proposeMembership({ kind: 'add-learner', id: id('e'), address: 'e:1' });
});

test('removing a voter is refused when the remaining live voters could not commit', () => {
  const c = threeNodes();
  c.get('a').raft.campaign();
  c.stabilize();
  c.tickAll(2);
  c.cut.add(id('c'));
  c.tickAll(12);
  const a = c.get('a').raft;
  assert.equal(a.status().role, 'leader');
  assert.throws(
    () => a.proposeMembership({ kind: 'remove', id: id('b') }),
    (e: unknown) => e instanceof RaftError && e.code === 'quorum-would-be-lost',
  );
  // Removing the dead one is fine.
  a.proposeMembership({ kind: 'remove', id: id('c') });
});

test('leadership transfer hands over to the target', () => {
  const c = threeNodes();
  c.get('a').raft.campaign();
  c.stabilize();
  c.get('a').raft.transferLeadership(id('c'));
  c.stabilize();
  assert.equal(c.leader()?.raft.id, 'c');
  assert.equal(c.get('c').raft.status().term, 3);
});

test('ReadIndex: a read is released only after a heartbeat round confirms leadership', () => {
  const c = threeNodes();
  c.get('a').raft.campaign();
  c.stabilize();
  const a = c.get('a');
  a.raft.readIndex('r1');
  a.raft.readIndex('r2');
  const before = c.sent.length;
  c.stabilize();
  assert.deepEqual(a.reads.map((r) => r.context), ['r1', 'r2']);
  const heartbeats = c.sent.slice(before).filter((m) => m.type === 'heartbeat').length;
  assert.equal(heartbeats, 2, 'one heartbeat round for both reads');
});

test('bootstrap writes a committed configuration entry at index 1', () => {
  const b = bootstrapState(members('x', 'y'));
  assert.equal(b.entries.length, 1);
  const e = b.entries[0] as Entry;
  assert.equal(e.kind, 'config');
  assert.deepEqual(voters(decodeMembership(e.data)), ['x', 'y']);
  assert.equal(b.hardState.commit, 1 as LogIndex);
});

test('bootstrap() on an empty node gives the same state as bootstrapState()', () => {
  const c = new Cluster();
  const n = c.add('a', emptyBootState());
  n.raft.bootstrap(members('a'));
  assert.throws(() => n.raft.bootstrap(members('a')), (e: unknown) => e instanceof RaftError && e.code === 'invalid-argument');
  c.stabilize();
  assert.equal(n.hard.commit, 1);
  assert.equal(n.log.length, 1);
  n.raft.campaign();
  c.stabilize();
  assert.equal(n.raft.status().role, 'leader');
});

test('replication overtakes the fsync only in a term that is already durable', () => {
  const c = new Cluster();
  const a = c.add('a', bootstrapState(members('a')));
  a.raft.campaign();
  c.stabilize();
  c.add('b', emptyBootState());
  a.raft.proposeMembership({ kind: 'add-learner', id: id('b'), address: 'b:1' });
  c.stabilize();
  c.tickAll(2);
  // Steady state: the leader's appends to its learner may go out before its own fsync.
  a.raft.propose(data('x'));
  const steady = a.raft.ready();
  assert.ok(steady.messagesBeforePersist.some((m) => m.type === 'append' && m.to === 'b'));
  assert.ok(!steady.messages.some((m) => m.type === 'append'));
  a.raft.advance(steady);
  c.stabilize();
  // Restarted from its durable state, the single voter wins an election within one Ready: its new
  // term is not durable yet, so a crash could reuse it with other entries; its appends must wait.
  const restarted = new Raft(
    { id: id('a'), electionTimeoutTicks: 10, heartbeatIntervalTicks: 1, random: lcg(1) },
    { hardState: a.hard, snapshot: undefined, entries: a.log, applied: 0 as LogIndex },
  );
  restarted.campaign();
  assert.equal(restarted.status().role, 'leader');
  const rd = restarted.ready();
  assert.equal(rd.hardState?.term, a.hard.term + 1);
  assert.deepEqual(rd.messagesBeforePersist, []);
  assert.ok(rd.messages.some((m) => m.type === 'append' && m.to === 'b'));
});

test('a removed follower keeps receiving the log until its removal commits, so it knows it was removed', () => {
  const c = threeNodes();
  c.get('a').raft.campaign();
  c.stabilize();
  c.get('a').raft.proposeMembership({ kind: 'remove', id: id('c') });
  c.stabilize();
  c.tickAll(2);
  const cm = c.get('c').raft.status().membership;
  assert.deepEqual(voters(cm), ['a', 'b'], 'c holds the configuration that removed it');
  assert.equal(c.get('a').raft.status().progress.has(id('c')), false, 'the leader forgot c once the removal committed');
  c.tickAll(40);
  assert.equal(c.get('a').raft.status().term, 2, 'c does not disrupt the cluster');
});

test('a follower whose disk lost acknowledged entries is brought back instead of stalling', () => {
  const c = threeNodes();
  c.get('a').raft.campaign();
  c.stabilize();
  for (let i = 0; i < 5; i++) c.get('a').raft.propose(data(`v${i}`));
  c.stabilize();
  c.tickAll(2);
  const b = c.get('b');
  const lastIndex = b.raft.status().lastIndex;
  // b restarts from a disk that lost its last three entries (and kept a commit index beyond them).
  const kept = b.log.slice(0, lastIndex - 3);
  b.raft = new Raft(
    { id: id('b'), electionTimeoutTicks: 10, heartbeatIntervalTicks: 1, random: lcg(2) },
    { hardState: { ...b.hard, commit: Math.min(b.hard.commit, kept.length) as LogIndex }, snapshot: undefined, entries: kept, applied: 0 as LogIndex },
  );
  b.log = kept;
  c.get('a').raft.propose(data('after'));
  c.stabilize();
  c.tickAll(3);
  assert.equal(b.raft.status().lastIndex, c.get('a').raft.status().lastIndex, 'b has the whole log again');
  assert.equal(c.get('a').raft.status().progress.get(id('b'))?.match, c.get('a').raft.status().lastIndex);
});
