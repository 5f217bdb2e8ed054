// Leases against real node processes: expiry is decided once, by the leader, and applied alike on every
// replica; a failover never ends a lease early; the client's keepalive helper keeps a lease through one.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, KuberaftError } from '../../src/client/index.js';
import type { WatchEvent } from '../../src/client/index.js';
import { ELECTION_TIMEOUT_MS, ProcessCluster, destroyAll, http, waitUntil } from './harness.js';
import type { NodeProcess } from './harness.js';

const TTL_MS = 3_000;
/**
 * A new leader gives each lease its TTL plus twice the election timeout (src/node/run.ts); allow that
 * and a loaded machine's scheduling before calling a lease overdue.
 */
const EXPIRY_SLACK_MS = 2 * ELECTION_TIMEOUT_MS + 3_000;

let cluster: ProcessCluster;
const clients: Client[] = [];

function clientOf(nodes: readonly NodeProcess[]): Client {
  const c = new Client({ endpoints: nodes.map((n) => n.url), timeoutMs: 20_000, token: cluster.tokens.write, retry: { initialDelayMs: 20, maxDelayMs: 200 } });
  clients.push(c);
  return c;
}

before(async () => {
  cluster = await ProcessCluster.start({ nodes: 3 });
});
after(async () => {
  for (const c of clients) c.close();
  await destroyAll();
});

/** The key as this node's own state has it (a serializable read: no forwarding). */
async function localValue(node: NodeProcess, key: string): Promise<string | undefined> {
  const r = await http(`${node.url}/v1/kv/${encodeURIComponent(key)}?consistency=serializable`, { headers: cluster.headers('read') });
  if (r.status === 404) return undefined;
  assert.equal(r.status, 200);
  return r.body.toString();
}

/** The node's history under `prefix` from revision 1 through `through` (a watch, stopped once it got there). */
async function historyOf(node: NodeProcess, prefix: string, through: number): Promise<string[]> {
  const out: string[] = [];
  const watch = clientOf([node]).watch(prefix, { fromRevision: 1 });
  const done = (async () => {
    for await (const e of watch) out.push(`${e.revision} ${e.type} ${e.key}`);
  })();
  await waitUntil(`${node.id}'s watch to reach revision ${through}`, () => watch.revision >= through, 20_000);
  watch.close();
  await done;
  return out;
}

describe('leases', { timeout: 300_000 }, () => {
  it('expire by a log entry, alike on every replica: same keys deleted at the same revision, equal digests', async () => {
    const nodes = [...cluster.nodes.values()];
    const client = clientOf(nodes);
    const expiring = await client.grantLease(1_000);
    const kept = (await client.grantLease(2_000)).keepAlive();
    const revoked = await client.grantLease(60_000);
    for (const k of ['b', 'a', 'c']) await client.put(`lease/exp/${k}`, k, { lease: expiring });
    await client.put('lease/kept', 'k', { lease: kept });
    await client.put('lease/rev', 'r', { lease: revoked });
    await client.put('lease/plain', 'p');
    // A key moved off its lease by a put without one stays.
    await client.put('lease/exp/moved', 'x', { lease: expiring });
    await client.put('lease/exp/moved', 'y');
    const r = await client.revokeLease(revoked.id);
    assert.equal(r.revoked, true);
    assert.equal(r.keysDeleted, 1);

    await waitUntil('the unkept lease to expire', async () => (await client.get('lease/exp/a')) === undefined, 10_000);
    await assert.rejects(client.keepAliveOnce(expiring.id), (e: unknown) => e instanceof KuberaftError && e.code === 'lease-not-found');
    await assert.rejects(client.put('lease/late', 'v', { lease: expiring }), (e: unknown) => e instanceof KuberaftError && e.code === 'lease-not-found' && e.status === 404);
    await sleep(2_500);
    assert.equal(kept.lost.aborted, false, 'the kept lease lives');
    const { index } = await cluster.waitConverged();
    for (const n of nodes) {
      assert.equal(await localValue(n, 'lease/exp/b'), undefined, n.id);
      assert.equal(await localValue(n, 'lease/rev'), undefined, n.id);
      assert.equal(await localValue(n, 'lease/kept'), 'k', n.id);
      assert.equal(await localValue(n, 'lease/exp/moved'), 'y', n.id);
      assert.equal(await localValue(n, 'lease/plain'), 'p', n.id);
    }
    // The expiry is one revision deleting the lease's keys in key order, the same on every node.
    const histories = await Promise.all(nodes.map((n) => historyOf(n, 'lease/', index)));
    for (const h of histories.slice(1)) assert.deepEqual(h, histories[0]);
    const deletes = (histories[0] ?? []).filter((l) => / delete lease\/exp\//.test(l));
    assert.equal(deletes.length, 3);
    assert.equal(new Set(deletes.map((l) => l.split(' ')[0])).size, 1, 'one revision');
    assert.deepEqual(
      deletes.map((l) => l.split(' ')[2]),
      ['lease/exp/a', 'lease/exp/b', 'lease/exp/c'],
    );
    await kept.revoke();
  });

  it('a failover never ends a lease early: the new leader gives it its full TTL again', async () => {
    const nodes = [...cluster.nodes.values()];
    for (let round = 0; round < 2; round++) {
      const client = clientOf(nodes);
      const lease = await client.grantLease(TTL_MS);
      const key = `failover/${round}`;
      await client.put(key, 'held', { lease });
      const leader = await cluster.waitForLeader();
      const sentAt = performance.now();
      await client.keepAliveOnce(lease.id);
      await leader.kill();
      const survivors = nodes.filter((n) => n !== leader);
      // Until the TTL counted from the keepalive has passed, the key exists on every survivor.
      while (performance.now() - sentAt < TTL_MS - 200) {
        for (const n of survivors) assert.equal(await localValue(n, key), 'held', `${key} on ${n.id} ${Math.round(performance.now() - sentAt)} ms after the keepalive`);
        await sleep(100);
      }
      const newLeader = await cluster.waitForLeader(survivors);
      const status = await clientOf([newLeader]).leaseStatus(lease.id);
      assert.equal(status.keys, 1);
      // ...and with no keepalive it does end, within its TTL and the new leader's extension.
      await waitUntil(`${key} to expire`, async () => (await localValue(newLeader, key)) === undefined, TTL_MS + EXPIRY_SLACK_MS);
      await leader.start();
      await cluster.waitConverged();
    }
  });

  it('the keepalive helper keeps a lease, and its key, through a leader kill', async () => {
    const nodes = [...cluster.nodes.values()];
    const client = clientOf(nodes);
    const lease = (await client.grantLease(TTL_MS)).keepAlive();
    await client.put('helper/key', 'v', { lease });
    const watch = client.watch('helper/', {});
    const events: WatchEvent[] = [];
    const watching = (async () => {
      for await (const e of watch) events.push(e);
    })();
    const leader = await cluster.waitForLeader();
    await leader.kill();
    await sleep(3 * TTL_MS);
    assert.equal(lease.lost.aborted, false, `the lease was lost: ${lease.lostReason?.message ?? ''}`);
    assert.equal((await client.get('helper/key'))?.value.toString(), 'v');
    assert.equal(events.length, 0, 'the key was never deleted');
    await leader.start();
    await lease.revoke();
    assert.equal(lease.lost.aborted, true);
    await waitUntil('the delete to be watched', () => events.length === 1, 10_000);
    assert.equal(events[0]?.type, 'delete');
    watch.close();
    await watching;
  });
});
