// A new leader may know of entries from earlier terms without knowing they are committed. Until it
// has committed an entry of its own term it refuses membership changes (the single-server change
// bug) and holds ReadIndex reads (§6.4, step 1): its commit index may still be behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftError } from './errors.js';
import { data, id, threeNodes } from './test-support.js';
import type { Cluster } from './test-support.js';

/** a leads term 2 and commits x; then b takes over in term 3, and b's appends are lost for now. */
function newLeaderWithoutOwnCommit(): Cluster {
  const c = threeNodes();
  c.get('a').raft.campaign();
  c.stabilize();
  c.get('a').raft.propose(data('x'));
  c.stabilize();
  c.drop = (m) => m.from === 'b' && m.type === 'append';
  c.get('a').raft.transferLeadership(id('b'));
  c.stabilize();
  const b = c.get('b').raft.status();
  assert.equal(b.role, 'leader');
  assert.equal(b.term, 3);
  assert.ok(b.commit < b.lastIndex, 'the no-op of term 3 is not committed');
  return c;
}

test('a membership change is refused until the new leader has committed an entry of its term', () => {
  const c = newLeaderWithoutOwnCommit();
  const b = c.get('b').raft;
  assert.equal(b.status().pendingMembershipIndex, 0, 'no configuration is pending');
  assert.throws(
    () => b.proposeMembership({ kind: 'add-learner', id: id('d'), address: 'd:1' }),
    (e: unknown) => e instanceof RaftError && e.code === 'membership-change-pending' && /not committed an entry in its term/.test(e.message),
  );
  c.drop = () => false;
  c.tickAll(1);
  assert.equal(b.status().commit, b.status().lastIndex, 'the no-op committed');
  b.proposeMembership({ kind: 'add-learner', id: id('d'), address: 'd:1' });
  assert.ok(b.status().membership.members.some((m) => m.id === 'd'));
});

test('a ReadIndex read waits until the new leader has committed an entry of its term', () => {
  const c = newLeaderWithoutOwnCommit();
  const b = c.get('b');
  const noop = b.raft.status().lastIndex;
  const before = c.sent.length;
  b.raft.readIndex('r1');
  c.tickAll(3);
  assert.equal(b.reads.length, 0, 'not released while the no-op is uncommitted, although heartbeats are answered');
  assert.ok(c.sent.slice(before).some((m) => m.type === 'heartbeat-response' && m.to === 'b'));
  c.drop = () => false;
  c.tickAll(2);
  assert.deepEqual(b.reads.map((r) => r.context), ['r1']);
  const read = b.reads[0];
  assert.ok(read !== undefined && read.index >= noop, `read at ${read?.index}, at or after the no-op at ${noop}`);
});

test('a held read is reported dropped when the leader loses leadership before committing', () => {
  const c = newLeaderWithoutOwnCommit();
  const b = c.get('b');
  b.raft.readIndex('r1');
  c.stabilize();
  // The others hear nothing from b: one of them takes over; b learns the newer term and steps down.
  c.tickAll(25, ['a', 'c']);
  c.tickAll(1);
  assert.notEqual(b.raft.status().role, 'leader');
  assert.deepEqual(b.droppedReads, ['r1']);
  assert.equal(b.reads.length, 0);
});
