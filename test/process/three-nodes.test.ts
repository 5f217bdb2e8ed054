// A 3-node cluster of real processes under faults: writes through any node, the leader killed with
// SIGKILL under load, SIGSTOP/SIGCONT of the leader and of a follower, every node killed and
// restarted. After each: every acknowledged write reads back, digests are equal, the history is
// linearizable.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProcessCluster, destroyAll } from './harness.js';
import { LOAD_PHASE_MS, Workload, assertClusterSound } from './workload.js';

/** How long a process stays SIGSTOPped: several election timeouts. */
const STOPPED_MS = 2_000;

let cluster: ProcessCluster;
const work = new Workload(() => cluster);
const history = work.history;

before(async () => {
  cluster = await ProcessCluster.start({ nodes: 3 });
});
after(destroyAll);

describe('three nodes', () => {
  it('accepts writes through every node; followers forward and the leader serves', async () => {
    const leader = await cluster.waitForLeader();
    for (const node of cluster.nodes.values()) {
      const client = work.client(node);
      for (let i = 0; i < 5; i += 1) assert.equal(await client.put(`via-${node.id}-${i}`, `${node.id}.${i}`), 'ok');
      assert.equal(await client.get(`via-${node.id}-0`), `${node.id}.0`);
      assert.deepEqual(new Set(client.servedBy), new Set([leader.id]), `requests sent to ${node.id} were served by ${client.servedBy.join(',')}`);
    }
    // A serializable read is served by the node asked, from its own state.
    const follower = [...cluster.nodes.values()].find((n) => n.id !== leader.id);
    assert.ok(follower !== undefined);
    await cluster.waitConverged();
    const local = await fetch(`${follower.url}/v1/kv/via-${leader.id}-1?consistency=serializable`, { headers: cluster.headers('read') });
    assert.equal(local.status, 200);
    assert.equal(local.headers.get('x-kuberaft-served-by'), follower.id);
    assert.equal(await local.text(), `${leader.id}.1`);
    await assertClusterSound(cluster, history);
  });

  it('survives SIGKILL of the leader during a concurrent write load', async () => {
    const old = await cluster.waitForLeader();
    await work.underLoad('kill', async () => {
      await old.kill();
      const next = await cluster.waitForLeader();
      assert.notEqual(next.id, old.id);
      await sleep(LOAD_PHASE_MS);
      await old.start();
    });
    await assertClusterSound(cluster, history);
  });

  it('survives SIGSTOP/SIGCONT of the leader, then of a follower', async () => {
    const leader = await cluster.waitForLeader();
    await work.underLoad('stop-leader', async () => {
      leader.signal('SIGSTOP');
      await sleep(STOPPED_MS);
      // The other two elected a leader meanwhile.
      const next = await cluster.findLeader();
      leader.signal('SIGCONT');
      assert.ok(next !== undefined && next.id !== leader.id, 'no new leader while the old one was stopped');
    });
    await assertClusterSound(cluster, history);

    const current = await cluster.waitForLeader();
    const follower = [...cluster.nodes.values()].find((n) => n.id !== current.id);
    assert.ok(follower !== undefined);
    await work.underLoad('stop-follower', async () => {
      follower.signal('SIGSTOP');
      await sleep(STOPPED_MS);
      follower.signal('SIGCONT');
    });
    // A stopped follower costs no election.
    assert.equal((await cluster.waitForLeader()).id, current.id);
    await assertClusterSound(cluster, history);
  });

  it('restarts every node after all were killed, with every acknowledged write intact', async () => {
    const before = await cluster.waitConverged();
    const pids = [...cluster.nodes.values()].map((n) => n.pid);
    for (const n of cluster.nodes.values()) await n.kill();
    for (const n of cluster.nodes.values()) await n.start();
    assert.ok([...cluster.nodes.values()].every((n, i) => n.pid !== pids[i]));
    await cluster.waitForLeader();
    const afterRestart = await assertClusterSound(cluster, history);
    // The new leader's no-op entry moves the index on; the data is the same.
    assert.ok(afterRestart.index > before.index);
    const client = work.client();
    assert.equal(await client.put('after-restart', 'yes'), 'ok');
    await assertClusterSound(cluster, history);
  });
});
