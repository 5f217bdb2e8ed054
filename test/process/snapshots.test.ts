// Snapshots with real processes: a small threshold compacts the log; a new member receives the
// snapshot over the peer transport; a restarted node recovers from its snapshot plus the WAL tail.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ProcessCluster, destroyAll } from './harness.js';
import { History, KvClient, assertClusterSound } from './workload.js';
import { SNAPSHOT_PEER_ANSWERED_WITHIN_MS } from '../../src/node/driver.js';
import { INFLIGHT_APPENDS_MAX } from '../../src/raft/config.js';

/** Small, so a few hundred writes make several snapshots. */
const SNAPSHOT_THRESHOLD_ENTRIES = 50;
/**
 * The leader must have compacted past a stopped follower within this long: it keeps the log for a
 * follower that answered within SNAPSHOT_PEER_ANSWERED_WITHIN_MS, then compacts at the next snapshot.
 */
const COMPACTION_WAIT_MS = SNAPSHOT_PEER_ANSWERED_WITHIN_MS + 15_000;
/** Entries a leader may have sent a follower beyond what it acknowledged (see the test). */
const SENT_AHEAD_MARGIN_ENTRIES = 4 * INFLIGHT_APPENDS_MAX;
const WRITES = 300;
/** Values large enough that the snapshot is more than one transport chunk would be for tiny data. */
const VALUE_BYTES = 512;

let cluster: ProcessCluster;
const history = new History();

before(async () => {
  cluster = await ProcessCluster.start({ nodes: 3, snapshotThresholdEntries: SNAPSHOT_THRESHOLD_ENTRIES });
});
after(destroyAll);

function snapFiles(dataDir: string): string[] {
  return readdirSync(join(dataDir, 'snap')).filter((f) => f.endsWith('.snap'));
}

describe('snapshots', () => {
  it('compacts the log once the threshold is passed, on every member', async () => {
    const clients = [1, 2, 3].map((id) => new KvClient(id, cluster, history));
    await Promise.all(
      clients.map(async (c, k) => {
        for (let i = k; i < WRITES; i += clients.length) assert.equal(await c.put(`key-${i}`, `${i}:${'x'.repeat(VALUE_BYTES)}`), 'ok');
      }),
    );
    await assertClusterSound(cluster, history);
    for (const n of cluster.nodes.values()) {
      const s = await n.status();
      // Snapshots come further apart as the state grows: at most 1.5 × the threshold, or 0.75 × the
      // newest snapshot's size in log, after the previous one. A snapshot holds the state and the change
      // history, which here holds every write again (one write per key): about twice the state, so by
      // WRITES distinct keys the last snapshot is at least a third of the way.
      assert.ok(s.snapshotIndex >= WRITES / 3, `${n.id} snapshot index ${s.snapshotIndex}`);
      assert.ok(s.snapshotSizeBytes > (WRITES / 2) * VALUE_BYTES, `${n.id} snapshot size ${s.snapshotSizeBytes}`);
      assert.ok(snapFiles(n.dataDir).length >= 1);
    }
  });

  it('sends a snapshot to a new member over the transport', async () => {
    const leader = await cluster.waitForLeader();
    const leaderStatus = await leader.status();
    assert.ok(leaderStatus.snapshotIndex > 0);
    const fresh = await cluster.addSlot('node-4');
    await fresh.start();
    await cluster.join('node-4');
    const installed = fresh.logLines().find((l) => l.msg === 'installed snapshot from leader');
    assert.ok(installed !== undefined, `node-4 did not log a snapshot install:\n${fresh.logTail()}`);
    assert.ok(Number(installed.index) >= leaderStatus.snapshotIndex);
    assert.ok(snapFiles(fresh.dataDir).length >= 1);
    await assertClusterSound(cluster, history);
  });

  it('sends a snapshot to a follower that fell behind a compaction while stopped', async () => {
    const leader = await cluster.waitForLeader();
    const follower = [...cluster.nodes.values()].find((n) => n.id !== leader.id);
    assert.ok(follower !== undefined);
    const before = await follower.status();
    follower.signal('SIGSTOP');
    try {
      const client = new KvClient(8, cluster, history, leader);
      // Snapshots come further apart as the state grows (the log since the last one must reach half
      // the state's size), so write values as large as the state's, in rounds, until the leader has
      // compacted past the follower.
      // The leader pipelines up to INFLIGHT_APPENDS_MAX appends (one entry each, for one sequential
      // client) to the stopped follower, which it reads when it resumes: compact past those too.
      const reached = before.lastIndex + SENT_AHEAD_MARGIN_ENTRIES;
      const deadline = Date.now() + COMPACTION_WAIT_MS;
      for (let round = 0; (await leader.status()).snapshotIndex <= reached; round += 1) {
        assert.ok(Date.now() < deadline, 'the leader compacted past the stopped follower');
        for (let i = 0; i < SNAPSHOT_THRESHOLD_ENTRIES; i += 1) assert.equal(await client.put(`behind-${round}-${i}`, `${i}:${'x'.repeat(VALUE_BYTES)}`), 'ok');
      }
    } finally {
      follower.signal('SIGCONT');
    }
    await assertClusterSound(cluster, history);
    const installs = follower.logLines().filter((l) => l.msg === 'installed snapshot from leader');
    assert.ok(installs.some((l) => Number(l.index) > before.lastIndex), `${follower.id} caught up without a snapshot:\n${follower.logTail()}`);
  });

  it('recovers a restarted node from its snapshot and the WAL tail', async () => {
    const leader = await cluster.waitForLeader();
    const node = [...cluster.nodes.values()].find((n) => n.id !== leader.id);
    assert.ok(node !== undefined);
    // A few writes past the last snapshot, so the WAL tail holds entries the snapshot does not.
    const client = new KvClient(9, cluster, history);
    for (let i = 0; i < 10; i += 1) assert.equal(await client.put(`tail-${i}`, String(i)), 'ok');
    await cluster.waitConverged();
    const beforeKill = await node.status();
    assert.ok(beforeKill.appliedIndex > beforeKill.snapshotIndex, 'the WAL tail must hold entries after the snapshot');
    await node.kill();
    await node.start();
    // Right after start, before any contact with the leader: the state is the snapshot plus the tail.
    const restarted = await node.status();
    assert.equal(restarted.snapshotIndex, beforeKill.snapshotIndex);
    assert.ok(restarted.lastIndex >= beforeKill.appliedIndex);
    await assertClusterSound(cluster, history);
    const local = await fetch(`${node.url}/v1/kv/tail-9?consistency=serializable`, { headers: cluster.headers('read') });
    assert.equal(await local.text(), '9');
  });
});
