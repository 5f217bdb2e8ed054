// The simulator must catch a real safety bug: a disk that loses acknowledged entries on a crash
// lets a new leader miss a committed entry, and the invariants must say so.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvariantViolation } from '../invariants.js';
import { one, waitLeader, world } from './harness.js';

test('a disk that loses acknowledged entries on crash is caught as a lost commit', () => {
  const w = world(3, { lyingDiskEntries: 5 });
  const leader = waitLeader(w);
  const [a, b] = w.running().filter((n) => n.id !== leader.id);
  assert.ok(a !== undefined && b !== undefined);
  w.network.isolate(b.id);
  one(w, 'committed-by-leader-and-a', 2);
  // The two copies of the committed entry: the leader's is cut off, a's vanishes in a crash.
  w.network.partition([[leader.id], [a.id, b.id]]);
  w.crash(a.id);
  w.restart(a.id);
  assert.throws(
    () => w.runFor(5000),
    (err: unknown) => err instanceof InvariantViolation && (err.invariant === 'committed-never-lost' || err.invariant === 'leader-completeness'),
  );
});

test('the same history on an honest disk keeps every invariant', () => {
  const w = world(3);
  const leader = waitLeader(w);
  const [a, b] = w.running().filter((n) => n.id !== leader.id);
  assert.ok(a !== undefined && b !== undefined);
  w.network.isolate(b.id);
  const i = one(w, 'committed-by-leader-and-a', 2);
  w.network.partition([[leader.id], [a.id, b.id]]);
  w.crash(a.id);
  w.restart(a.id);
  w.runFor(5000);
  const next = waitLeader(w, [leader.id]);
  assert.equal(next.id, a.id, 'only a holds the committed entry, so only a can win');
  assert.ok(next.disk.lastIndex >= i);
});
