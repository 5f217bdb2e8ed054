// The keys of the store in sorted order, for `list` by prefix and for canonical snapshots.
//
// Order: JavaScript string comparison (UTF-16 code units). Any fixed order serves, since all
// replicas run the same code; in this one every key with a given prefix forms one contiguous run.
//
// Layout: a list of sorted chunks of at most CHUNK_KEYS_MAX keys each (a one-level B-tree). Lookup
// is two binary searches; creating or deleting a key moves at most CHUNK_KEYS_MAX references plus,
// when a chunk splits or empties, one entry per chunk. A flat sorted array would move O(n)
// references per new key, which at a million keys capped writes of new keys near 1000/s.
import { assert } from '../raft/assert.js';

/** Keys per chunk before it splits in two: small enough that a splice is cheap, large enough that chunks are few. */
export const CHUNK_KEYS_MAX = 1024;

export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The position of the first element >= key in a sorted array. */
function lowerBoundIn(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((keys[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class SortedKeys {
  // Invariant: every chunk is non-empty and strictly ascending, and each chunk's keys are all less
  // than the next chunk's; `lasts[i]` is the last key of `chunks[i]`; `count` is the total.
  private chunks: string[][] = [];
  private lasts: string[] = [];
  private count = 0;

  /** `chunkKeysMax` is a parameter only so that tests can make chunks split and empty often. */
  constructor(private readonly chunkKeysMax = CHUNK_KEYS_MAX) {
    assert(Number.isInteger(chunkKeysMax) && chunkKeysMax >= 2, 'chunks hold at least two keys');
  }

  get size(): number {
    return this.count;
  }

  /** The chunk that holds `key` or would receive it: the first whose last key is >= key (or the last chunk). */
  private chunkFor(key: string): number {
    const i = lowerBoundIn(this.lasts, key);
    return Math.min(i, this.chunks.length - 1);
  }

  insert(key: string): void {
    if (this.chunks.length === 0) {
      this.chunks.push([key]);
      this.lasts.push(key);
      this.count = 1;
      return;
    }
    const c = this.chunkFor(key);
    const chunk = this.chunks[c] as string[];
    const at = lowerBoundIn(chunk, key);
    assert(chunk[at] !== key, () => `key ${JSON.stringify(key)} is already indexed`);
    chunk.splice(at, 0, key);
    this.count++;
    if (at === chunk.length - 1) this.lasts[c] = key;
    if (chunk.length > this.chunkKeysMax) {
      const upper = chunk.splice(chunk.length >>> 1);
      this.chunks.splice(c + 1, 0, upper);
      this.lasts.splice(c, 1, chunk[chunk.length - 1] as string, upper[upper.length - 1] as string);
    }
  }

  remove(key: string): void {
    const c = this.chunks.length === 0 ? -1 : this.chunkFor(key);
    const chunk = this.chunks[c];
    const at = chunk === undefined ? -1 : lowerBoundIn(chunk, key);
    assert(chunk !== undefined && chunk[at] === key, () => `key ${JSON.stringify(key)} is not indexed`);
    chunk.splice(at, 1);
    this.count--;
    if (chunk.length === 0) {
      this.chunks.splice(c, 1);
      this.lasts.splice(c, 1);
    } else if (at === chunk.length) {
      this.lasts[c] = chunk[chunk.length - 1] as string;
    }
  }

  /**
   * Up to `limit` keys starting with `prefix` and greater than `after` (if given), in order, and
   * whether more such keys follow.
   */
  range(prefix: string, limit: number, after?: string): { keys: string[]; more: boolean } {
    const from = after !== undefined && after > prefix ? after : prefix;
    const keys: string[] = [];
    if (this.chunks.length === 0) return { keys, more: false };
    let c = this.chunkFor(from);
    let at = lowerBoundIn(this.chunks[c] as string[], from);
    for (; c < this.chunks.length; c++, at = 0) {
      const chunk = this.chunks[c] as string[];
      for (; at < chunk.length; at++) {
        const key = chunk[at] as string;
        if (key === after) continue;
        if (!key.startsWith(prefix)) return { keys, more: false };
        if (keys.length === limit) return { keys, more: true };
        keys.push(key);
      }
    }
    return { keys, more: false };
  }

  /** A point-in-time copy of all keys, in order. */
  snapshot(): string[] {
    return this.chunks.flat();
  }

  /** Replaces the contents with `keys`. Invariant: `keys` is strictly ascending (asserted). */
  static fromSorted(keys: string[], chunkKeysMax = CHUNK_KEYS_MAX): SortedKeys {
    for (let i = 1; i < keys.length; i++) {
      assert(compareKeys(keys[i - 1] as string, keys[i] as string) < 0, 'keys are strictly ascending');
    }
    const index = new SortedKeys(chunkKeysMax);
    const half = Math.max(1, chunkKeysMax >>> 1);
    for (let i = 0; i < keys.length; i += half) {
      const chunk = keys.slice(i, i + half);
      index.chunks.push(chunk);
      index.lasts.push(chunk[chunk.length - 1] as string);
    }
    index.count = keys.length;
    return index;
  }
}
