import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Entry } from '../../src/raft/types.js';
import { index, term } from '../../src/raft/types.js';
import { Disk } from './disk.js';

const e = (i: number, t: number, kind: Entry['kind'] = 'normal'): Entry => ({ index: index(i), term: term(t), kind, data: new Uint8Array() });
const snap = (i: number, t: number) => ({ meta: { index: index(i), term: term(t), membership: { members: [] } }, bytes: new Uint8Array([i]) });

test('append replaces the suffix from the first new index and tracks config entries', () => {
  const d = new Disk();
  d.append([e(1, 1, 'config'), e(2, 1), e(3, 1, 'config')]);
  assert.deepEqual(d.configIndexes, [1, 3]);
  d.append([e(3, 2), e(4, 2)]);
  assert.equal(d.lastIndex, 4);
  assert.equal(d.termAt(3), 2);
  assert.deepEqual(d.configIndexes, [1]);
  assert.throws(() => d.append([e(6, 2)]), /gap/);
});

test('a snapshot that agrees with the log keeps the entries after it; one that does not discards the log', () => {
  const d = new Disk();
  d.append([e(1, 1), e(2, 1), e(3, 2), e(4, 2)]);
  d.installSnapshot(snap(2, 1));
  assert.equal(d.snapshotIndex, 2);
  assert.equal(d.lastIndex, 4);
  assert.equal(d.termAt(2), 1);
  assert.equal(d.termAt(1), undefined);
  d.installSnapshot(snap(3, 9));
  assert.equal(d.lastIndex, 3);
  assert.equal(d.entries.length, 0);
  assert.throws(() => d.append([e(3, 9)]), /inside the snapshot/);
});

test('local compaction must match the log', () => {
  const d = new Disk();
  d.append([e(1, 1), e(2, 1)]);
  assert.throws(() => d.compactTo(snap(2, 5)), /differs/);
  d.compactTo(snap(2, 1));
  assert.equal(d.snapshotIndex, 2);
  assert.equal(d.lastIndex, 2);
});
