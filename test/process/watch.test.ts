// Watches against real node processes: a watcher that resumes by itself through leader SIGKILLs and
// restarts sees exactly the committed sequence; a thousand watchers on one node stay within a memory
// bound; a slow watcher is closed with a revision it can resume from; a start older than the history
// is refused with the oldest revision it holds.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WatchMessage } from '../../src/api/types.js';
import { Client, CompactedError } from '../../src/client/index.js';
import type { Watch, WatchEvent } from '../../src/client/index.js';
import { ProcessCluster, destroyAll, waitUntil } from './harness.js';
import type { NodeProcess } from './harness.js';

/** Snapshots every few hundred entries, so that restarts and lagging followers go through snapshots (which carry the history). */
const SNAPSHOT_THRESHOLD_ENTRIES = 300;
const WRITERS = 4;
/** Keys the writers share, so the history has overwrites and deletes. */
const KEYS = 20;
const WATCHERS = 1_000;
/**
 * The stated bound (docs/api.md): a thousand open watchers, each having received every change, grow a
 * node's resident memory by at most this much — 96 KiB a watcher for its socket, HTTP state and cursor
 * (a watcher holds no queue). Measured: 45-60 MiB.
 */
const WATCHERS_RSS_GROWTH_MAX_BYTES = 96 * 1024 * 1024;
/** ...and its JavaScript heap (garbage not yet collected included) by at most this much. Measured: 20-46 MiB. */
const WATCHERS_HEAP_GROWTH_MAX_BYTES = 64 * 1024 * 1024;

let cluster: ProcessCluster;
const clients: Client[] = [];

function clientOf(nodes: readonly NodeProcess[], timeoutMs = 20_000): Client {
  const c = new Client({ endpoints: nodes.map((n) => n.url), timeoutMs, token: cluster.tokens.write, retry: { initialDelayMs: 20, maxDelayMs: 200 } });
  clients.push(c);
  return c;
}

before(async () => {
  cluster = await ProcessCluster.start({ nodes: 3, snapshotThresholdEntries: SNAPSHOT_THRESHOLD_ENTRIES });
});
after(async () => {
  for (const c of clients) c.close();
  await destroyAll();
});

interface Write {
  readonly type: 'put' | 'delete';
  readonly key: string;
  /** A put's value: unique to this write. */
  readonly value?: string;
  /** The revision the node answered with; undefined when the write failed (its outcome unknown). */
  revision?: number;
  /** A delete that found the key. */
  deleted?: boolean;
}

/** Collects a watch's events until it is closed. */
function collect(watch: Watch): { events: WatchEvent[]; done: Promise<void> } {
  const events: WatchEvent[] = [];
  const done = (async () => {
    for await (const e of watch) events.push(e);
  })();
  return { events, done };
}

function describeEvents(events: readonly WatchEvent[]): string[] {
  return events.map((e) => `${e.revision} ${e.type} ${e.key}${e.type === 'put' ? `=${e.value.toString()}` : ''}`);
}

async function metric(node: NodeProcess, name: string): Promise<number> {
  const res = await fetch(`${node.url}/metrics`);
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(await res.text());
  assert.ok(m?.[1] !== undefined, `${node.id} has no metric ${name}`);
  return Number(m[1]);
}

describe('watch', { timeout: 600_000 }, () => {
  it('a watcher that resumes by itself sees exactly the committed sequence through leader SIGKILLs and restarts', async () => {
    const nodes = [...cluster.nodes.values()];
    const writer = clientOf(nodes);
    const watcher = clientOf(nodes);
    const watch = watcher.watch('w/', { fromRevision: 1 });
    const seen = collect(watch);

    const writes: Write[] = [];
    let stop = false;
    const load = Promise.all(
      Array.from({ length: WRITERS }, async (_, c) => {
        for (let i = 0; !stop; i++) {
          const key = `w/k${(c * 7 + i) % KEYS}`;
          const w: Write = i % 5 === 4 ? { type: 'delete', key } : { type: 'put', key, value: `c${c}-${i}` };
          writes.push(w);
          try {
            if (w.type === 'put') w.revision = (await writer.put(key, w.value ?? '')).revision;
            else {
              const r = await writer.delete(key);
              w.revision = r.revision;
              w.deleted = r.deleted;
            }
          } catch {
            // Unknown outcome (the call's time ran out): it may or may not appear in the history.
          }
        }
      }),
    );

    for (let round = 0; round < 3; round++) {
      await sleep(1_500);
      // Rounds 0 and 2 kill the leader; round 1 the node serving the watch (maybe the leader too).
      const leader = await cluster.waitForLeader();
      const victim = round === 1 ? (nodes.find((n) => n.id === watch.node) ?? leader) : leader;
      await victim.kill();
      await cluster.waitForLeader(nodes.filter((n) => n !== victim));
      await sleep(1_000);
      await victim.start();
    }
    await sleep(1_000);
    stop = true;
    await load;
    const { index } = await cluster.waitConverged();
    await waitUntil('the watcher to have seen everything committed', () => watch.revision >= index, 30_000);
    watch.close();
    await seen.done;
    const events = seen.events;
    assert.ok(watch.connections >= 2, `the watch resumed (${watch.connections} connections)`);
    assert.ok(writes.filter((w) => w.revision !== undefined).length > 100, 'the writers made progress');

    // One change per revision (each write is one key), in strictly ascending order: no duplicate.
    for (let i = 1; i < events.length; i++) assert.ok((events[i] as WatchEvent).revision > (events[i - 1] as WatchEvent).revision, `revision order at ${i}: ${describeEvents(events.slice(i - 1, i + 1)).join(' | ')}`);
    // No gap: every acknowledged change is there, at its revision.
    const byRevision = new Map(events.map((e) => [e.revision, e]));
    for (const w of writes) {
      if (w.revision === undefined || (w.type === 'delete' && w.deleted !== true)) continue;
      const e = byRevision.get(w.revision);
      assert.ok(e !== undefined, `the acknowledged ${w.type} of ${w.key} at revision ${w.revision} is missing from the watch`);
      assert.equal(e.type, w.type);
      assert.equal(e.key, w.key);
      if (w.type === 'put' && e.type === 'put') assert.equal(e.value.toString(), w.value);
    }
    // Nothing else: every put seen is a write that was made, once (retries stayed exactly-once).
    const attempted = new Set(writes.filter((w) => w.type === 'put').map((w) => w.value));
    const values = events.filter((e) => e.type === 'put').map((e) => (e.type === 'put' ? e.value.toString() : ''));
    for (const v of values) assert.ok(attempted.has(v), `a put of ${v} that no writer made`);
    assert.equal(new Set(values).size, values.length, 'a write appears twice in the history');
    // Replaying the changes gives the final state.
    const replayed = new Map<string, string>();
    for (const e of events) {
      if (e.type === 'put') replayed.set(e.key, e.value.toString());
      else replayed.delete(e.key);
    }
    const final = await writer.list('w/', { limit: 1000 });
    assert.deepEqual(new Map(final.items.map((i) => [i.key, i.value.toString()])), replayed);
    // And every node, restarted or not, holds the same history: a fresh watch from revision 1 on each
    // gives exactly the sequence the resumed watcher saw.
    for (const n of nodes) {
      const fresh = clientOf([n]).watch('w/', { fromRevision: 1 });
      const got: WatchEvent[] = [];
      for await (const e of fresh) {
        got.push(e);
        if (e.revision >= (events.at(-1)?.revision ?? 0)) break;
      }
      assert.deepEqual(describeEvents(got), describeEvents(events), `${n.id}'s history`);
    }
  });

  it(`${WATCHERS} concurrent watchers on one node stay within the stated memory bound`, async () => {
    const leader = await cluster.waitForLeader();
    const node = [...cluster.nodes.values()].find((n) => n !== leader) as NodeProcess;
    const rssBefore = await metric(node, 'process_resident_memory_bytes');
    const heapBefore = await metric(node, 'nodejs_heap_size_used_bytes');
    const watcherClient = clientOf([node], 60_000);
    const counts = new Array<number>(WATCHERS).fill(0);
    const watches = Array.from({ length: WATCHERS }, () => watcherClient.watch('m/', {}));
    const running = watches.map(async (w, i) => {
      for await (const _ of w) counts[i] = (counts[i] ?? 0) + 1;
    });
    await waitUntil('every watcher to be open', () => watches.every((w) => w.node !== undefined), 60_000);
    const writer = clientOf([leader]);
    const puts = 200;
    for (let i = 0; i < puts; i++) await writer.put(`m/${i % 10}`, 'v'.repeat(256));
    await waitUntil(`every watcher to receive all ${puts} changes`, () => counts.every((n) => n === puts), 60_000);
    const rssGrowth = (await metric(node, 'process_resident_memory_bytes')) - rssBefore;
    const heapGrowth = (await metric(node, 'nodejs_heap_size_used_bytes')) - heapBefore;
    process.stdout.write(`# ${WATCHERS} watchers: node RSS +${(rssGrowth / 2 ** 20).toFixed(1)} MiB, heap +${(heapGrowth / 2 ** 20).toFixed(1)} MiB\n`);
    assert.ok(rssGrowth <= WATCHERS_RSS_GROWTH_MAX_BYTES, `RSS grew by ${rssGrowth} bytes, more than ${WATCHERS_RSS_GROWTH_MAX_BYTES}`);
    assert.ok(heapGrowth <= WATCHERS_HEAP_GROWTH_MAX_BYTES, `heap grew by ${heapGrowth} bytes, more than ${WATCHERS_HEAP_GROWTH_MAX_BYTES}`);
    for (const w of watches) w.close();
    await Promise.all(running);
  });

  it('a watcher that stops reading is closed with a revision it can resume from, missing nothing', async () => {
    const leader = await cluster.waitForLeader();
    const node = [...cluster.nodes.values()].find((n) => n !== leader) as NodeProcess;
    const writer = clientOf([leader]);
    const start = (await writer.put('slow/start', 'x')).revision;
    // A raw stream that is not read: the kernel's buffers fill, then the node's view of the watcher lags.
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(`${node.url}/v1/watch?prefix=slow/&fromRevision=${start}`, { headers: cluster.headers('read') }, resolve);
      req.on('error', reject);
      req.end();
    });
    res.pause();
    const big = 'b'.repeat(64 * 1024);
    const written: number[] = [start];
    // Past the node's lag bound (8 MiB) plus what the sockets buffer, within the history (32 MiB).
    for (let i = 0; i < 400; i++) written.push((await writer.put(`slow/${i % 50}`, big)).revision);
    // Now read what the node sent: changes, then `closed` with where to resume.
    const lines: WatchMessage[] = [];
    let pending = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      pending += chunk;
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const p of parts) if (p !== '') lines.push(JSON.parse(p) as WatchMessage);
    });
    res.resume();
    await new Promise<void>((resolve) => res.once('end', resolve));
    const closed = lines.at(-1);
    assert.ok(closed?.type === 'closed' && closed.code === 'slow-watcher', `the stream ended with ${JSON.stringify(closed)?.slice(0, 200)}`);
    const got = lines.flatMap((m) => (m.type === 'events' ? [m.revision] : []));
    assert.ok(got.length < written.length, 'the node closed the watcher before sending everything');
    assert.equal(closed.resumeRevision, (got.at(-1) ?? 0) + 1);
    // Resuming from there delivers the rest exactly.
    const resumed = clientOf([node]).watch('slow/', { fromRevision: closed.resumeRevision });
    for await (const e of resumed) {
      got.push(e.revision);
      if (e.revision >= (written.at(-1) ?? 0)) break;
    }
    assert.deepEqual(got, written);
  });

  it('a start older than the change history is refused with the oldest revision it holds', async () => {
    const writer = clientOf([...cluster.nodes.values()]);
    // More than the history's byte bound (32 MiB) of values.
    const value = Buffer.alloc(1024 * 1024, 0x61);
    for (let i = 0; i < 36; i++) await writer.put(`compact/${i % 4}`, value);
    const watch = clientOf([...cluster.nodes.values()]).watch('compact/', { fromRevision: 1 });
    await assert.rejects(
      (async () => {
        for await (const _ of watch) assert.fail('no change should be delivered from a compacted revision');
      })(),
      (e: unknown) => e instanceof CompactedError && e.oldestRevision > 1,
    );
    const raw = await fetch(`${cluster.node('node-1').url}/v1/watch?fromRevision=1`, { headers: cluster.headers('read') });
    assert.equal(raw.status, 410);
    const body = (await raw.json()) as { error: { code: string; oldestRevision: number; message: string } };
    assert.equal(body.error.code, 'compacted');
    assert.match(body.error.message, /list the keys again/);
    // From the oldest revision it names, the watch works.
    const ok = clientOf([cluster.node('node-1')]).watch('compact/', { fromRevision: body.error.oldestRevision });
    for await (const e of ok) {
      assert.ok(e.revision >= body.error.oldestRevision);
      break;
    }
  });
});
