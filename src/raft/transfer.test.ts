// Leadership transfer (§3.10) when it does not go to plan: the transfer is abandoned after an
// election timeout, and its TimeoutNow arrives late.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftError } from './errors.js';
import { data, id, threeNodes } from './test-support.js';
import type { Cluster } from './test-support.js';

/** a leads term 2 and starts a transfer to c, whose TimeoutNow is held back; the transfer is abandoned. */
function abandonedTransfer(): Cluster {
  const c = threeNodes();
  const a = c.get('a').raft;
  a.campaign();
  c.stabilize();
  c.hold = (m) => m.type === 'timeout-now' && m.to === 'c';
  a.transferLeadership(id('c'));
  c.stabilize();
  assert.equal(c.held.length, 1, 'c was up to date: the TimeoutNow went out at once');
  assert.throws(() => a.propose(data('during')), (e: unknown) => e instanceof RaftError && e.code === 'transfer-in-progress' && e.leader === 'c');
  c.tickAll(10);
  assert.equal(a.status().transferee, undefined, 'abandoned after an election timeout');
  assert.equal(a.status().role, 'leader');
  return c;
}

test('a TimeoutNow that arrives after its transfer was abandoned and a newer term began is ignored', () => {
  const c = abandonedTransfer();
  const a = c.get('a').raft;
  const t = a.propose(data('after'));
  c.stabilize();
  assert.ok(a.status().commit >= t.index, 'proposals are accepted and committed again');
  a.transferLeadership(id('b'));
  c.stabilize();
  assert.equal(c.leader()?.raft.id, 'b');
  assert.equal(c.get('b').raft.status().term, 3);
  const before = c.sent.length;
  c.releaseHeld();
  const cs = c.get('c').raft.status();
  assert.equal(cs.role, 'follower');
  assert.equal(cs.term, 3, 'the stale TimeoutNow of term 2 started no election');
  assert.equal(cs.leader, 'b');
  assert.ok(!c.sent.slice(before).some((m) => m.from === 'c' && m.type === 'vote'));
  c.tickAll(5);
  assert.equal(c.leader()?.raft.id, 'b');
});

test('a late TimeoutNow in the same term cannot make a lagging target leader or lose a write', () => {
  const c = abandonedTransfer();
  const a = c.get('a').raft;
  // A write the target never receives, committed by a and b.
  c.drop = (m) => m.to === 'c' && m.type === 'append';
  const t = a.propose(data('missed-by-c'));
  c.stabilize();
  assert.ok(a.status().commit >= t.index);
  c.drop = () => false;
  const before = c.sent.length;
  c.releaseHeld();
  assert.ok(c.sent.slice(before).some((m) => m.from === 'c' && m.type === 'vote' && m.transfer && m.term === 3), 'c campaigned at once');
  // c campaigned in term 3 (the TimeoutNow skips the lease) and lost: its log lacks the write.
  assert.notEqual(c.get('c').raft.status().role, 'leader');
  c.tickAll(40);
  const l = c.leader();
  assert.ok(l !== undefined && l.raft.id !== 'c', `leader ${l?.raft.id}`);
  for (const n of ['a', 'b', 'c']) assert.ok(c.get(n).applied.some((e) => e.index === t.index && e.term === t.term), `${n} applied the write`);
});
