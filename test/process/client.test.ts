// The client library against real node processes under leader SIGKILLs: retried writes stay exactly-once,
// and the lock recipe (CAS + lease + watch) keeps one holder at a time. Plus the published entry point.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, KuberaftError } from '../../src/client/index.js';
import { ProcessCluster, destroyAll } from './harness.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const INCREMENTERS = 4;
const CONTENDERS = 3;
const LOCK_TTL_MS = 3_000;

let cluster: ProcessCluster;
const clients: Client[] = [];

function newClient(): Client {
  const c = new Client({ endpoints: [...cluster.nodes.values()].map((n) => n.url), timeoutMs: 30_000, token: cluster.tokens.write, retry: { initialDelayMs: 20, maxDelayMs: 200 } });
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

/** Kills the leader `times` times under whatever runs, restarting it after a while each time. */
async function killLeaders(times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    await sleep(1_500);
    const leader = await cluster.waitForLeader();
    await leader.kill();
    await cluster.waitForLeader(cluster.live());
    await sleep(1_000);
    await leader.start();
  }
  await sleep(1_000);
}

describe('client', { timeout: 600_000 }, () => {
  it('retried writes stay exactly-once: a compare-and-swap counter under leader kills counts each increment once', async () => {
    const counterKey = 'exactly-once/counter';
    const setup = newClient();
    await setup.put(counterKey, '0');
    let acknowledged = 0;
    let unknown = 0;
    let stop = false;
    const incrementers = Array.from({ length: INCREMENTERS }, async () => {
      const client = newClient();
      while (!stop) {
        try {
          const current = Number((await client.get(counterKey))?.value.toString());
          // Applied once and answered "ok" even when the answer to the first attempt was lost: a
          // retry with the same request id gets the stored result, not "the value changed".
          const r = await client.cas(counterKey, String(current), String(current + 1));
          if (r.ok) acknowledged++;
        } catch (e) {
          assert.ok(e instanceof KuberaftError && e.code === 'timeout', String(e));
          unknown++;
        }
      }
    });
    await killLeaders(2);
    stop = true;
    await Promise.all(incrementers);
    await cluster.waitConverged();
    const final = Number((await setup.get(counterKey))?.value.toString());
    assert.ok(acknowledged > 20, `only ${acknowledged} increments`);
    assert.ok(final >= acknowledged && final <= acknowledged + unknown, `counter ${final}, acknowledged increments ${acknowledged}, unknown outcomes ${unknown}`);
    // The history holds each value once: no increment was applied twice.
    const values: string[] = [];
    for await (const e of setup.watch(counterKey, { fromRevision: 1 })) {
      if (e.type === 'put') values.push(e.value.toString());
      if (values.at(-1) === String(final)) break;
    }
    assert.deepEqual(values, Array.from({ length: final + 1 }, (_, i) => String(i)));
  });

  it('the lock keeps one holder at a time through leader kills, loses no lock, and fences every acquisition', async () => {
    const lockKey = 'locks/chaos';
    const counterKey = 'locks/counter';
    await newClient().put(counterKey, '0');
    const intervals: { start: number; end: number; revision: number; who: number }[] = [];
    let holder: number | undefined;
    let stop = false;
    const contenders = Array.from({ length: CONTENDERS }, async (_, who) => {
      const client = newClient();
      while (!stop) {
        const lock = await client.lock(lockKey, { ttlMs: LOCK_TTL_MS });
        const start = performance.now();
        assert.equal(holder, undefined, `contender ${who} got the lock while ${String(holder)} held it`);
        holder = who;
        const current = Number((await client.get(counterKey))?.value.toString());
        await sleep(20);
        // Only the holder writes the counter, so the swap never finds another value.
        const swapped = await client.cas(counterKey, String(current), String(current + 1));
        assert.ok(swapped.ok, `contender ${who}: the counter changed under the lock`);
        assert.equal(lock.lost.aborted, false, `contender ${who} lost the lock: ${lock.lease.lostReason?.message ?? ''}`);
        holder = undefined;
        intervals.push({ start, end: performance.now(), revision: lock.revision, who });
        await lock.release();
      }
    });
    await killLeaders(2);
    stop = true;
    await Promise.all(contenders);
    assert.ok(intervals.length >= 10, `only ${intervals.length} acquisitions`);
    assert.ok(new Set(intervals.map((i) => i.who)).size === CONTENDERS, 'every contender got the lock');
    intervals.sort((a, b) => a.start - b.start);
    for (let i = 1; i < intervals.length; i++) {
      const [a, b] = [intervals[i - 1], intervals[i]];
      assert.ok(a !== undefined && b !== undefined && b.start >= a.end, 'two holders at once');
      assert.ok(b.revision > a.revision, 'fencing tokens increase with every acquisition');
    }
    assert.equal(Number((await newClient().get(counterKey))?.value.toString()), intervals.length);
    assert.equal(await newClient().get(lockKey), undefined, 'released');
  });

  it('is published as `import { Client } from "kuberaft"`, with type declarations', async () => {
    const pkg = JSON.parse(readFileSync(`${REPO_ROOT}/package.json`, 'utf8')) as { exports: { '.': { types: string; default: string } } };
    assert.ok(existsSync(`${REPO_ROOT}/${pkg.exports['.'].types}`), 'the declarations are built');
    const script =
      "import { Client } from 'kuberaft'; const c = new Client({ endpoints: process.argv.slice(1), token: process.env.TOKEN }); const r = await c.put('published/k', 'v'); process.stdout.write(JSON.stringify(r)); c.close();";
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, ...[...cluster.nodes.values()].map((n) => n.url)], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...process.env, TOKEN: cluster.tokens.write },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.ok((JSON.parse(r.stdout) as { revision: number }).revision > 0);
  });
});
