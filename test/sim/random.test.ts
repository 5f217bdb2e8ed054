// A fixed batch of random worlds: faults, churn and snapshots drawn from each seed, invariants
// checked after every step, convergence after repair, and each client history checked for
// linearizability. `npm run sim -- --replay <seed> --trace` replays any failure.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkOperations, kvModel } from '../lincheck/index.js';
import { failureLine } from './cli.js';
import type { KvOperation } from './clients.js';
import { runRandomWorld } from './run.js';

const SEEDS_FROM = 1;
const SEEDS_COUNT = 300;
/** Longer than the command's default: the batch is the evidence `npm test` gives. */
const CHAOS_MS = 5000;

test(`${SEEDS_COUNT} random worlds keep every invariant and stay linearizable`, () => {
  const failures: string[] = [];
  let operations = 0;
  let unknown = 0;
  let reads = 0;
  let sample: KvOperation[] = [];
  for (let seed = SEEDS_FROM; seed < SEEDS_FROM + SEEDS_COUNT; seed++) {
    const r = runRandomWorld({ seed, chaosMs: CHAOS_MS });
    if (r.violation !== undefined) failures.push(failureLine(r));
    operations += r.history.length;
    unknown += r.history.filter((op) => op.return === Infinity).length;
    reads += r.history.filter((op) => op.input.op === 'get').length;
    if (r.history.length > sample.length) sample = [...r.history];
  }
  assert.deepEqual(failures, []);
  // The batch must have exercised something: many completed operations, reads, and writes whose
  // fate the clients never learned.
  assert.ok(operations > SEEDS_COUNT * 50, `only ${operations} operations in ${SEEDS_COUNT} worlds`);
  assert.ok(reads > operations / 5, `only ${reads} reads`);
  assert.ok(unknown > 0, 'no write ever ended with an unknown outcome');

  // The histories are strong enough to catch a wrong answer: change one read's result to a value
  // nobody wrote and the checker must reject the history.
  assert.equal(checkOperations(kvModel, sample).kind, 'ok');
  const i = sample.findIndex((op) => op.input.op === 'get' && op.return !== Infinity);
  assert.ok(i >= 0);
  const forged = sample.map((op, j) => (j === i ? { ...op, output: { value: 'never-written' } } : op));
  assert.equal(checkOperations(kvModel, forged).kind, 'illegal');
});
