import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Prng } from './prng.js';

const draws = (p: Prng, n: number): number[] => Array.from({ length: n }, () => p.nextU32());

test('the same seed gives the same stream; different seeds differ', () => {
  assert.deepEqual(draws(new Prng(42), 100), draws(new Prng(42), 100));
  assert.notDeepEqual(draws(new Prng(42), 100), draws(new Prng(43), 100));
  assert.notDeepEqual(draws(new Prng(0), 10), Array(10).fill(0));
});

test('nextInt stays in range and covers it about evenly', () => {
  const p = new Prng(7);
  const counts = new Array<number>(6).fill(0);
  const n = 60_000;
  for (let i = 0; i < n; i++) {
    const x = p.nextInt(6);
    assert.ok(Number.isInteger(x) && x >= 0 && x < 6);
    counts[x] = (counts[x] ?? 0) + 1;
  }
  for (const c of counts) assert.ok(Math.abs(c - n / 6) < n / 60, `bucket count ${c} is far from ${n / 6}`);
});

test('between is inclusive at both ends; chance honours 0 and 1', () => {
  const p = new Prng(9);
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) seen.add(p.between(3, 5));
  assert.deepEqual([...seen].sort(), [3, 4, 5]);
  for (let i = 0; i < 100; i++) {
    assert.equal(p.chance(0), false);
    assert.equal(p.chance(1), true);
  }
});

test('a fork is deterministic and independent of the parent stream', () => {
  const a = new Prng(5);
  const b = new Prng(5);
  assert.deepEqual(draws(a.fork(), 20), draws(b.fork(), 20));
  assert.deepEqual(draws(a, 20), draws(b, 20));
  const c = new Prng(5);
  assert.notDeepEqual(draws(c.fork(), 20), draws(new Prng(5), 20));
});

test('bad arguments are programmer errors', () => {
  assert.throws(() => new Prng(-1), /seed must be a uint32/);
  assert.throws(() => new Prng(1.5), /seed must be a uint32/);
  assert.throws(() => new Prng(1).nextInt(0), /nextInt\(0\)/);
  assert.throws(() => new Prng(1).pick([]), /empty list/);
});
