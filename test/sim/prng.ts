// A small seeded PRNG (xoshiro128**, seeded through splitmix32) that drives every decision of a
// simulated world, so that a seed replays a run byte for byte. Not cryptographic.
import { assert } from '../../src/raft/assert.js';
import type { RandomSource } from '../../src/raft/types.js';

const UINT32_RANGE = 0x1_0000_0000;

function splitmix32(state: number): { value: number; state: number } {
  const next = (state + 0x9e3779b9) >>> 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return { value: (z ^ (z >>> 16)) >>> 0, state: next };
}

export class Prng implements RandomSource {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    assert(Number.isInteger(seed) && seed >= 0 && seed < UINT32_RANGE, `seed must be a uint32, got ${seed}`);
    let s = seed >>> 0;
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = splitmix32(s);
      s = r.state;
      words.push(r.value);
    }
    [this.a, this.b, this.c, this.d] = words as [number, number, number, number];
    // Invariant: xoshiro's state must not be all zero (splitmix32 never yields four zeros, but check).
    assert((this.a | this.b | this.c | this.d) !== 0, 'PRNG state is all zero');
  }

  /** The next uniformly distributed uint32. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.b << 9) >>> 0;
    this.c = (this.c ^ this.a) >>> 0;
    this.d = (this.d ^ this.b) >>> 0;
    this.b = (this.b ^ this.c) >>> 0;
    this.a = (this.a ^ this.d) >>> 0;
    this.c = (this.c ^ t) >>> 0;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** A uniformly distributed integer in [0, maxExclusive), without modulo bias. */
  nextInt(maxExclusive: number): number {
    assert(Number.isInteger(maxExclusive) && maxExclusive >= 1 && maxExclusive <= UINT32_RANGE, `nextInt(${maxExclusive})`);
    const limit = UINT32_RANGE - (UINT32_RANGE % maxExclusive);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % maxExclusive;
    }
  }

  /** An integer in [lo, hi], both inclusive. */
  between(lo: number, hi: number): number {
    assert(hi >= lo, `between(${lo}, ${hi})`);
    return lo + this.nextInt(hi - lo + 1);
  }

  /** A float in [0, 1). */
  float(): number {
    return this.nextU32() / UINT32_RANGE;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'pick from an empty list');
    return items[this.nextInt(items.length)] as T;
  }

  /** A fresh generator whose stream is independent of this one's later draws. */
  fork(): Prng {
    return new Prng(this.nextU32());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
