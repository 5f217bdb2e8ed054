import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HISTOGRAM_PRECISION_RATIO, Histogram } from './histogram.js';

function near(actual: number, expected: number): void {
  assert.ok(Math.abs(actual - expected) <= expected * HISTOGRAM_PRECISION_RATIO * 1.01, `${actual} is not within ${HISTOGRAM_PRECISION_RATIO * 100}% of ${expected}`);
}

test('percentiles of 1..1000 ms are exact to the bucket precision', () => {
  const h = new Histogram();
  for (let ms = 1; ms <= 1000; ms++) h.recordMs(ms);
  near(h.percentileMs(50), 500);
  near(h.percentileMs(99), 990);
  assert.equal(h.percentileMs(100), 1000);
  near(h.meanMs(), 500.5);
  assert.equal(h.count, 1000);
});

test('a merged histogram equals one that saw every sample, also through its JSON form', () => {
  const a = new Histogram();
  const b = new Histogram();
  const all = new Histogram();
  for (let i = 0; i < 500; i++) {
    const ms = 0.05 + (i % 37) * 0.3;
    (i % 2 === 0 ? a : b).recordMs(ms);
    all.recordMs(ms);
  }
  const merged = Histogram.fromData(JSON.parse(JSON.stringify(a.toData())));
  merged.merge(b);
  for (const p of [1, 50, 90, 99, 100]) assert.equal(merged.percentileMs(p), all.percentileMs(p));
  assert.equal(merged.count, 500);
});

test('an empty histogram reports NaN rather than a made-up latency', () => {
  assert.ok(Number.isNaN(new Histogram().percentileMs(50)));
});
