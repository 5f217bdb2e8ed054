// A 5-node cluster of real processes: writes through any node, the leader killed under load, a member
// removed and re-added with a fresh data dir while clients write, and a node whose data dir was
// deleted replaced (removed, then added again empty). After each: every acknowledged write reads back,
// digests are equal on all members, the history is linearizable.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CONVERGE_WAIT_MS, ProcessCluster, destroyAll, waitUntil } from './harness.js';
import { LOAD_PHASE_MS, Workload, assertClusterSound } from './workload.js';

let cluster: ProcessCluster;
const work = new Workload(() => cluster);
const history = work.history;

before(async () => {
  cluster = await ProcessCluster.start({ nodes: 5 });
});
after(destroyAll);

async function voters(): Promise<string[]> {
  return (await cluster.members())
    .filter((m) => m.role === 'voter')
    .map((m) => m.id)
    .sort();
}

describe('five nodes', () => {
  it('has five voters and accepts writes through every node', async () => {
    assert.deepEqual(await voters(), ['node-1', 'node-2', 'node-3', 'node-4', 'node-5']);
    const leader = await cluster.waitForLeader();
    for (const node of cluster.nodes.values()) {
      const client = work.client(node);
      assert.equal(await client.put(`via-${node.id}`, node.id), 'ok');
      assert.deepEqual(client.servedBy, [leader.id]);
    }
    await assertClusterSound(cluster, history);
  });

  it('survives SIGKILL of the leader during a concurrent write load', async () => {
    const old = await cluster.waitForLeader();
    await work.underLoad('kill', async () => {
      await old.kill();
      assert.notEqual((await cluster.waitForLeader()).id, old.id);
      await sleep(LOAD_PHASE_MS);
      await old.start();
    });
    await assertClusterSound(cluster, history);
  });

  it('removes a member under load, and re-adds it with a fresh data dir', async () => {
    const leader = await cluster.waitForLeader();
    const member = [...cluster.nodes.values()].find((n) => n.id !== leader.id);
    assert.ok(member !== undefined);
    await work.underLoad('remove', async () => {
      await cluster.remove(member.id);
      assert.ok(!(await cluster.members()).some((m) => m.id === member.id));
      // The removed node is not ready: it either saw its removal or lost its leader (the leader stops
      // replicating to it as soon as the removal is appended, so it may never see that entry).
      await waitUntil(`${member.id} to report not ready`, async () => (await fetch(`${member.url}/readyz`)).status === 503, CONVERGE_WAIT_MS);
      await member.kill();
      member.wipe();
      await member.start();
      assert.equal((await member.status()).state, 'joining');
      await cluster.join(member.id);
    });
    assert.equal((await voters()).length, 5);
    await assertClusterSound(cluster, history);
  });

  it('replaces a node whose data dir was deleted: remove it, then add it again empty', async () => {
    const leader = await cluster.waitForLeader();
    const lost = [...cluster.nodes.values()].filter((n) => n.id !== leader.id).at(-1);
    assert.ok(lost !== undefined);
    const client = work.client();
    await lost.kill();
    lost.wipe();
    // Four of five still commit.
    for (let i = 0; i < 10; i += 1) assert.equal(await client.put(`while-${lost.id}-lost-${i}`, String(i)), 'ok');
    // The documented procedure (docs/operations.md): remove the member first, so its empty log is
    // never taken for the log it acknowledged, then add it back as a new learner and promote it.
    await cluster.remove(lost.id);
    assert.ok(!(await voters()).includes(lost.id));
    await lost.start();
    const status = await lost.status();
    assert.equal(status.state, 'joining');
    assert.equal(status.clusterId, null);
    await cluster.join(lost.id);
    assert.equal((await voters()).length, 5);
    await assertClusterSound(cluster, history);
    // It learned the cluster id from the leader and recorded it.
    const ids = await Promise.all([...cluster.nodes.values()].map(async (n) => (await n.status()).clusterId));
    assert.equal(new Set(ids).size, 1);
    assert.ok(ids[0] !== null);
  });

  it('removes the leader itself: it steps down once the removal commits and the other four elect a leader', async () => {
    const old = await cluster.waitForLeader();
    const r = await cluster.admin('DELETE', `/v1/members/${old.id}`);
    assert.equal(r.status, 200, r.body.toString());
    await waitUntil(`${old.id} to step down`, async () => (await old.status()).role !== 'leader', CONVERGE_WAIT_MS);
    await old.kill();
    cluster.nodes.delete(old.id);
    const next = await cluster.waitForLeader();
    assert.notEqual(next.id, old.id);
    assert.equal((await voters()).length, 4);
    const client = work.client();
    for (let i = 0; i < 5; i += 1) assert.equal(await client.put(`after-leader-removed-${i}`, String(i)), 'ok');
    await assertClusterSound(cluster, history);
  });
});
