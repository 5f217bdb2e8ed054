// ReadIndex (§6.4) where the leader is its own quorum, and reads lost with leadership.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapState } from './raft.js';
import { RaftError } from './errors.js';
import { Cluster, data, members } from './test-support.js';

test('a single voter answers a read at once, at its commit index, without a heartbeat round', () => {
  const c = new Cluster();
  const a = c.add('a', bootstrapState(members('a')));
  a.raft.campaign();
  c.stabilize();
  const t = a.raft.propose(data('x'));
  c.stabilize();
  a.raft.readIndex('r1');
  const rd = a.raft.ready();
  assert.deepEqual(rd.readStates, [{ context: 'r1', index: t.index }]);
  assert.ok(!rd.messages.some((m) => m.type === 'heartbeat'));
  a.raft.advance(rd);
});

test('a follower refuses a read and names the leader', () => {
  const c = new Cluster();
  for (const n of ['a', 'b', 'c']) c.add(n, bootstrapState(members('a', 'b', 'c')));
  c.get('a').raft.campaign();
  c.stabilize();
  assert.throws(() => c.get('b').raft.readIndex('r'), (e: unknown) => e instanceof RaftError && e.code === 'not-leader' && e.leader === 'a');
});
