// Snapshots: local compaction, InstallSnapshot to a follower left behind the leader's log start,
// over a lossy network, across crashes, and a restart of the whole cluster from snapshots.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { World } from '../world.js';
import { appliedCount, one, waitLeader, world } from './harness.js';

const SNAPSHOT_EVERY_ENTRIES = 10;

/** Every running node applied `i` and holds the same state, byte for byte. */
function assertSameState(w: World, i: number): void {
  const nodes = w.running();
  assert.ok(w.runUntil(() => appliedCount(w, i) === nodes.length, 3000), `not every node applied ${i}`);
  const at = Math.min(...nodes.map((n) => n.sm.applied));
  assert.ok(w.runUntil(() => nodes.every((n) => n.sm.applied === at || n.sm.applied >= i), 1000));
  const states = new Set(nodes.map((n) => new TextDecoder().decode(n.sm.snapshot()).replace(/"applied":\d+/, '')));
  assert.equal(states.size, 1, 'replicas differ');
}

function commitMany(w: World, n: number, prefix: string): number {
  let last = 0;
  for (let i = 0; i < n; i++) last = one(w, `${prefix}${i}`, 1);
  return last;
}

test('snapshot basic: every node compacts its log and keeps applying', () => {
  const w = world(3, { snapshotEveryEntries: SNAPSHOT_EVERY_ENTRIES });
  const last = commitMany(w, 50, 'v');
  assertSameState(w, last);
  for (const n of w.running()) {
    assert.ok(n.disk.snapshotIndex >= last - 2 * SNAPSHOT_EVERY_ENTRIES, `${n.id} snapshot at ${n.disk.snapshotIndex}`);
    assert.ok(n.disk.entries.length <= 2 * SNAPSHOT_EVERY_ENTRIES, `${n.id} keeps ${n.disk.entries.length} entries`);
    assert.equal(n.sm.get('k'), 'v49');
  }
  assert.equal(w.snapshotsInstalled, 0, 'nobody fell behind, so nobody needed a snapshot');
});

function leftBehind(w: World, away: (id: string) => void, back: (id: string) => void): void {
  const leader = waitLeader(w);
  one(w, 'first', 3);
  const f = w.running().find((n) => n.id !== leader.id);
  assert.ok(f !== undefined);
  away(f.id);
  const last = commitMany(w, 50, 'v');
  const leaderNode = w.node(leader.id);
  assert.ok(leaderNode.disk.snapshotIndex > f.disk.lastIndex + 1, 'the leader compacted past the follower’s log');
  const installed = w.snapshotsInstalled;
  back(f.id);
  const end = one(w, 'end', 3, 10_000);
  assert.ok(w.snapshotsInstalled > installed, 'the follower caught up through InstallSnapshot');
  assert.ok(f.disk.snapshotIndex >= last - 2 * SNAPSHOT_EVERY_ENTRIES);
  assertSameState(w, end);
  assert.equal(f.sm.get('k'), 'end');
}

test('snapshot install: a follower behind the leader’s log start gets a snapshot', () => {
  const w = world(3, { snapshotEveryEntries: SNAPSHOT_EVERY_ENTRIES });
  leftBehind(
    w,
    (id) => w.network.isolate(id),
    () => w.network.heal(),
  );
});

test('snapshot install (unreliable): the same over a lossy, duplicating, reordering network', () => {
  const w = world(3, { seed: 3, snapshotEveryEntries: SNAPSHOT_EVERY_ENTRIES, network: { dropRate: 0.15, duplicateRate: 0.1, delayMinMs: 1, delayMaxMs: 40 } });
  leftBehind(
    w,
    (id) => w.network.isolate(id),
    () => w.network.heal(),
  );
});

test('snapshot install-crash: a crashed follower restarts behind the log start and installs a snapshot', () => {
  const w = world(3, { snapshotEveryEntries: SNAPSHOT_EVERY_ENTRIES });
  leftBehind(
    w,
    (id) => w.crash(id),
    (id) => w.restart(id),
  );
});

test('snapshot install-crash: crashes in the middle of installing (before persist, before send, before advance)', () => {
  const w = world(3, { seed: 5, snapshotEveryEntries: SNAPSHOT_EVERY_ENTRIES });
  const leader = waitLeader(w);
  const f = w.running().find((n) => n.id !== leader.id);
  assert.ok(f !== undefined);
  for (const point of ['before-persist', 'before-send', 'before-advance'] as const) {
    w.crash(f.id);
    commitMany(w, 30, point);
    w.restart(f.id);
    w.armCrash(f.id, point);
    w.runFor(200);
    assert.equal(f.state, 'crashed', `${f.id} crashed ${point}`);
    w.restart(f.id);
  }
  const end = one(w, 'end', 3, 10_000);
  assert.ok(w.snapshotsInstalled >= 1);
  assertSameState(w, end);
});

test('snapshot all-crash: every node restarts from its snapshot and the cluster carries on', () => {
  const w = world(5, { snapshotEveryEntries: SNAPSHOT_EVERY_ENTRIES });
  for (let round = 0; round < 5; round++) {
    const last = commitMany(w, 15, `r${round}-`);
    assertSameState(w, last);
    for (const id of [...w.nodes.keys()]) w.crash(id);
    for (const id of [...w.nodes.keys()]) {
      w.restart(id);
      const n = w.node(id);
      assert.ok(n.disk.snapshotIndex > 0);
      assert.equal(n.sm.applied, n.disk.snapshotIndex, 'the state machine restarts from the snapshot');
    }
  }
  const end = one(w, 'end', 5);
  assertSameState(w, end);
  for (const n of w.running()) assert.equal(n.sm.get('k'), 'end');
  assert.ok(w.snapshotsTaken >= 5 * 5);
});
