// Each invariant must fire on the history it forbids: a checker that cannot fail proves nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Entry, HardState } from '../../src/raft/types.js';
import { index, nodeId, term } from '../../src/raft/types.js';
import { Disk } from './disk.js';
import { Invariants, InvariantViolation } from './invariants.js';

const [n1, n2] = [nodeId('n1'), nodeId('n2')];
const enc = new TextEncoder();
const e = (i: number, t: number, data = `x${i}`, kind: Entry['kind'] = 'normal'): Entry => ({ index: index(i), term: term(t), kind, data: enc.encode(data) });
const hs = (t: number, commit: number): HardState => ({ term: term(t), vote: undefined, commit: index(commit) });

function persist(inv: Invariants, id: typeof n1, d: Disk, entries: Entry[]): void {
  d.append(entries);
  inv.onEntriesPersisted(id, d, entries);
}

function commit(inv: Invariants, id: typeof n1, d: Disk, next: HardState): void {
  inv.onHardStatePersisted(id, d.hardState, next, d);
  d.hardState = next;
}

function violates(name: string, fn: () => void): void {
  assert.throws(fn, (err: unknown) => err instanceof InvariantViolation && err.invariant === name && err.message.startsWith(`invariant=${name} step=`));
}

test('a consistent history passes every check', () => {
  const inv = new Invariants();
  const [d1, d2] = [new Disk(), new Disk()];
  persist(inv, n1, d1, [e(1, 1), e(2, 1)]);
  persist(inv, n2, d2, [e(1, 1), e(2, 1)]);
  commit(inv, n1, d1, hs(1, 2));
  inv.onApply(n1, e(1, 1));
  inv.onApply(n2, e(1, 1));
  inv.onRole(n1, 'leader', term(2), d1);
  inv.onRole(n1, 'leader', term(2), d1);
  inv.onRole(n2, 'leader', term(3), d2);
  assert.equal(inv.maxCommit, 2);
  assert.equal(inv.appliedTerm(1), 1);
});

test('election safety: two leaders in one term', () => {
  const inv = new Invariants();
  inv.onRole(n1, 'leader', term(3), new Disk());
  violates('election-safety', () => inv.onRole(n2, 'leader', term(3), new Disk()));
});

test('log matching: same index and term, different content or prefix', () => {
  const inv = new Invariants();
  persist(inv, n1, new Disk(), [e(1, 1), e(2, 2, 'a')]);
  violates('log-matching', () => persist(inv, n2, new Disk(), [e(1, 1), e(2, 2, 'b')]));
  const inv2 = new Invariants();
  persist(inv2, n1, new Disk(), [e(1, 1), e(2, 2)]);
  violates('log-matching', () => persist(inv2, n2, new Disk(), [e(1, 2), e(2, 2)]));
});

test('leader completeness and durability of commits', () => {
  const inv = new Invariants();
  const d1 = new Disk();
  persist(inv, n1, d1, [e(1, 1), e(2, 1), e(3, 1)]);
  commit(inv, n1, d1, hs(1, 3));
  const stale = new Disk();
  stale.append([e(1, 1), e(2, 1)]);
  violates('committed-never-lost', () => inv.onRole(n2, 'leader', term(2), stale));
  const diverged = new Disk();
  diverged.append([e(1, 1), e(2, 2), e(3, 2)]);
  violates('leader-completeness', () => inv.onRole(n2, 'leader', term(3), diverged));
});

test('state machine safety: two different entries applied at one index', () => {
  const inv = new Invariants();
  inv.onApply(n1, e(1, 1, 'a'));
  violates('state-machine-safety', () => inv.onApply(n2, e(1, 2, 'b')));
  const inv2 = new Invariants();
  const d = new Disk();
  persist(inv2, n1, d, [e(1, 1)]);
  commit(inv2, n1, d, hs(1, 1));
  violates('state-machine-safety', () => inv2.onApply(n2, e(1, 2)));
});

test('hard state: term and commit never go back, commit never beyond the durable log', () => {
  const inv = new Invariants();
  const d = new Disk();
  persist(inv, n1, d, [e(1, 1), e(2, 1)]);
  commit(inv, n1, d, hs(3, 2));
  violates('term-monotonic', () => inv.onHardStatePersisted(n1, d.hardState, hs(2, 2), d));
  violates('commit-monotonic', () => inv.onHardStatePersisted(n1, d.hardState, hs(3, 1), d));
  violates('committed-never-lost', () => inv.onHardStatePersisted(n1, d.hardState, hs(3, 5), d));
});

test('one membership change at a time: two uncommitted config entries in one log', () => {
  const inv = new Invariants();
  const d = new Disk();
  persist(inv, n1, d, [e(1, 1, 'c1', 'config'), e(2, 1)]);
  commit(inv, n1, d, hs(1, 1));
  persist(inv, n1, d, [e(3, 1, 'c2', 'config')]);
  violates('one-membership-change', () => persist(inv, n1, d, [e(4, 1, 'c3', 'config')]));
});

test('replicas at one index hold byte-identical snapshots', () => {
  const inv = new Invariants();
  inv.onSnapshotBytes(n1, index(5), enc.encode('{"a":1}'));
  inv.onSnapshotBytes(n2, index(5), enc.encode('{"a":1}'));
  violates('snapshot-agreement', () => inv.onSnapshotBytes(n2, index(5), enc.encode('{"a":2}')));
});
