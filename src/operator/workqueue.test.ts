import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkQueue } from './workqueue.js';

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a key runs once at a time; adds while it runs make exactly one more run', async () => {
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  let release: () => void = () => {};
  const q = new WorkQueue(async () => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    runs++;
    if (runs === 1) await new Promise<void>((r) => (release = r));
    running--;
    return undefined;
  });
  q.add('ns/a');
  await tick(5);
  q.add('ns/a');
  q.add('ns/a');
  q.add('ns/a');
  release();
  await tick(20);
  assert.equal(runs, 2);
  assert.equal(maxRunning, 1);
  await q.stop();
});

test('different keys run concurrently; queued duplicates collapse', async () => {
  const seen: string[] = [];
  const q = new WorkQueue(async (k) => {
    seen.push(k);
    await tick(10);
    return undefined;
  });
  for (const k of ['a', 'b', 'a', 'c', 'b']) q.add(k);
  await tick(5);
  assert.deepEqual([...seen].sort(), ['a', 'b', 'c']);
  await q.stop();
});

test('requeue-after and error backoff bring a key back; stop cancels pending timers', async () => {
  let runs = 0;
  const errors: string[] = [];
  const q = new WorkQueue(
    async () => {
      runs++;
      if (runs === 1) throw new Error('boom');
      return runs < 3 ? 20 : undefined;
    },
    { onError: (k, e) => errors.push(`${k}:${(e as Error).message}`) },
  );
  q.add('k');
  await tick(700); // first retry after the 500 ms backoff, then a 20 ms requeue
  assert.equal(runs, 3);
  assert.deepEqual(errors, ['k:boom']);
  q.add('k', 60_000);
  await q.stop(); // must not keep the process alive for a minute
  assert.equal(q.size, 0);
});
