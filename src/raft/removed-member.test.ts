// A voter removed while it is cut off never receives the configuration that removed it: the leader
// forgets it once the removal commits. It must not disrupt the cluster, and once it can reach the
// others it must learn that it was removed (so that its node reports "removed" and stops campaigning).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { voters } from './membership.js';
import { id, threeNodes } from './test-support.js';

test('a voter removed while partitioned does not disrupt the cluster and learns its removal once reachable', () => {
  const c = threeNodes();
  const a = c.get('a').raft;
  a.campaign();
  c.stabilize();
  c.cut.add(id('c'));
  a.proposeMembership({ kind: 'remove', id: id('c') });
  c.tickAll(2);
  assert.deepEqual(voters(a.status().membership), ['a', 'b']);
  assert.equal(a.status().pendingMembershipIndex, 0, 'the removal committed without c');
  assert.equal(a.status().progress.has(id('c')), false);
  // Cut off, c keeps campaigning in its own configuration, which still names it.
  c.tickAll(60);
  const cut = c.get('c').raft.status();
  assert.deepEqual(voters(cut.membership), ['a', 'b', 'c'], 'c has not heard of its removal yet');
  assert.equal(cut.term, 2, 'pre-vote kept c from raising its term');
  c.cut.clear();
  c.tickAll(60);
  assert.equal(c.leader()?.raft.id, 'a', 'the leader was not disrupted');
  assert.equal(a.status().term, 2);
  const after = c.get('c').raft.status();
  assert.ok(!after.membership.members.some((m) => m.id === 'c'), `c reports itself removed (its configuration: ${after.membership.members.map((m) => m.id).join(', ')})`);
  assert.equal(after.leader, 'a');
  // It no longer campaigns, and the leader stopped sending to it.
  const before = c.sent.length;
  c.tickAll(60);
  const late = c.sent.slice(before);
  assert.ok(!late.some((m) => m.from === 'c' && (m.type === 'pre-vote' || m.type === 'vote')), 'c stopped campaigning');
  assert.ok(!late.some((m) => m.to === 'c'), 'the leader no longer sends to c');
  assert.equal(a.status().progress.has(id('c')), false);
});

test('a removed node that asks for votes and then goes away again is forgotten', () => {
  const c = threeNodes();
  const a = c.get('a').raft;
  a.campaign();
  c.stabilize();
  c.cut.add(id('c'));
  a.proposeMembership({ kind: 'remove', id: id('c') });
  c.tickAll(2);
  // c's requests reach the others, but nothing reaches c.
  c.cut.clear();
  c.drop = (m) => m.to === 'c';
  for (let i = 0; i < 40 && !a.status().progress.has(id('c')); i++) c.tickAll(1);
  assert.ok(a.status().progress.has(id('c')), 'the leader tries to bring c up to date');
  c.cut.add(id('c'));
  c.tickAll(25);
  assert.equal(a.status().progress.has(id('c')), false, 'and forgets it once it stopped answering');
  assert.equal(a.status().role, 'leader');
  assert.deepEqual(voters(a.status().membership), ['a', 'b']);
});
