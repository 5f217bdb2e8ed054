// The leader's API refuses what it cannot do, with a code the caller can act on, and changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Raft, bootstrapState } from './raft.js';
import { RaftError } from './errors.js';
import { Cluster, data, id, lcg, members } from './test-support.js';

test('a new cluster needs a voter', () => {
  assert.throws(() => bootstrapState([]), (e: unknown) => e instanceof RaftError && e.code === 'invalid-argument' && /at least one voter/.test(e.message));
  assert.throws(() => bootstrapState([{ id: id('l'), address: 'l:1', role: 'learner' }]), (e: unknown) => e instanceof RaftError && e.code === 'invalid-argument');
});

test('leadership transfer: to itself is a no-op, to a learner or a stranger is refused', () => {
  const c = new Cluster();
  c.add('a', bootstrapState([...members('a', 'b'), { id: id('l'), address: 'l:1', role: 'learner' }]));
  c.add('b', bootstrapState([...members('a', 'b'), { id: id('l'), address: 'l:1', role: 'learner' }]));
  const a = c.get('a').raft;
  a.campaign();
  c.stabilize();
  a.transferLeadership(id('a'));
  assert.equal(a.status().transferee, undefined);
  assert.throws(() => a.transferLeadership(id('l')), (e: unknown) => e instanceof RaftError && e.code === 'wrong-role');
  assert.throws(() => a.transferLeadership(id('x')), (e: unknown) => e instanceof RaftError && e.code === 'unknown-member');
  assert.equal(a.status().transferee, undefined, 'a refused transfer leaves no transfer behind');
  a.propose(data('still-leading'));
  assert.throws(() => c.get('b').raft.transferLeadership(id('a')), (e: unknown) => e instanceof RaftError && e.code === 'not-leader' && e.leader === 'a');
});

test('a leader holding too many uncommitted bytes refuses proposals until replication catches up', () => {
  const c = new Cluster();
  for (const n of ['a', 'b']) {
    const boot = bootstrapState(members('a', 'b'));
    c.nodes.set(id(n), {
      raft: new Raft({ id: id(n), electionTimeoutTicks: 10, heartbeatIntervalTicks: 1, random: lcg(n.charCodeAt(0)), uncommittedBytesMax: 10 }, boot),
      hard: boot.hardState,
      log: [...boot.entries],
      applied: [],
      reads: [],
      droppedReads: [],
    });
  }
  const a = c.get('a').raft;
  a.campaign();
  c.stabilize();
  c.cut.add(id('b'));
  a.propose(data('123456'));
  assert.throws(() => a.propose(data('789012')), (e: unknown) => e instanceof RaftError && e.code === 'too-many-uncommitted');
  // One entry larger than the limit still goes when nothing is uncommitted: the limit cannot wedge it.
  c.cut.clear();
  c.tickAll(2);
  a.propose(data('x'.repeat(50)));
});
