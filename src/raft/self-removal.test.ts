// A leader that removes itself hands over before it steps down (§3.10, §4.2.2): it announces the
// commit of its removal and tells the most up-to-date remaining voter to campaign at once, so the
// cluster does not wait out an election timeout without a leader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { voters } from './membership.js';
import { data, id, threeNodes } from './test-support.js';

test('a leader that removes itself hands leadership to the most up-to-date voter before it steps down', () => {
  const c = threeNodes();
  const a = c.get('a').raft;
  a.campaign();
  c.stabilize();
  // The removal reaches b and c; b's answers are held back so that it does not commit yet (the
  // remaining voters are b and c: both must hold it).
  c.hold = (m) => m.type === 'append-response' && m.from === 'b';
  const removal = a.proposeMembership({ kind: 'remove', id: id('a') });
  c.stabilize();
  // A write after it reaches c only: c becomes the most up-to-date voter.
  c.drop = (m) => m.type === 'append' && m.to === 'b';
  const x = a.propose(data('x'));
  c.stabilize();
  c.hold = () => false;
  c.drop = () => false;
  const before = c.sent.length;
  c.releaseHeld(); // no tick: whatever happens next happens without any timeout
  const handOff = c.sent.slice(before).filter((m) => m.from === 'a');
  assert.ok(handOff.some((m) => m.type === 'timeout-now' && m.to === 'c'), 'a told c to campaign');
  assert.ok(!handOff.some((m) => m.type === 'timeout-now' && m.to === 'b'), 'and only c');
  assert.ok(handOff.some((m) => m.type === 'heartbeat' && m.to === 'b' && m.commit >= removal.index), 'a announced the commit of its removal to b');
  assert.notEqual(a.status().role, 'leader');
  const l = c.leader();
  assert.equal(l?.raft.id, 'c', 'c leads without waiting for an election timeout');
  assert.equal(l.raft.status().term, 3, 'in the next term: one election');
  assert.deepEqual(voters(l.raft.status().membership), ['b', 'c']);
  assert.equal(c.get('b').raft.status().leader, 'c');
  c.tickAll(1);
  assert.ok(c.get('b').applied.some((e) => e.index === x.index && e.term === x.term), 'the write a accepted last is committed by c');
  // The removed node never campaigns again.
  const later = c.sent.length;
  c.tickAll(50);
  assert.ok(!c.sent.slice(later).some((m) => m.from === 'a' && (m.type === 'pre-vote' || m.type === 'vote')));
  assert.equal(c.leader()?.raft.id, 'c');
});

test('a leader that removes itself from a two-voter cluster hands over to the last voter', () => {
  const c = threeNodes();
  const a = c.get('a').raft;
  a.campaign();
  c.stabilize();
  a.proposeMembership({ kind: 'remove', id: id('c') });
  c.tickAll(2);
  assert.deepEqual(voters(a.status().membership), ['a', 'b']);
  a.proposeMembership({ kind: 'remove', id: id('a') });
  c.stabilize();
  assert.equal(c.leader()?.raft.id, 'b');
  assert.deepEqual(voters(c.get('b').raft.status().membership), ['b']);
  const t = c.get('b').raft.propose(data('alone'));
  c.stabilize();
  assert.ok(c.get('b').applied.some((e) => e.index === t.index), 'the last voter commits alone');
});
