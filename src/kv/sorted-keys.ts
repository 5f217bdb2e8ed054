// The keys of the store in sorted order, for `list` by prefix and for canonical snapshots.
//
// Order: JavaScript string comparison (UTF-16 code units). Any fixed order serves, since all
// replicas run the same code; in this one every key with a given prefix forms one contiguous run.
// Cost: lookup O(log n); inserting or removing a key moves O(n) references (a memmove: about a
// millisecond per million keys), paid only when a key is created or deleted, not on overwrite.
import { assert } from '../raft/assert.js';

export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class SortedKeys {
  // Invariant: strictly ascending by compareKeys.
  private keys: string[] = [];

  get size(): number {
    return this.keys.length;
  }

  /** The position of the first key >= `key`. */
  lowerBound(key: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.keys[mid] as string) < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  insert(key: string): void {
    const at = this.lowerBound(key);
    assert(this.keys[at] !== key, () => `key ${JSON.stringify(key)} is already indexed`);
    this.keys.splice(at, 0, key);
  }

  remove(key: string): void {
    const at = this.lowerBound(key);
    assert(this.keys[at] === key, () => `key ${JSON.stringify(key)} is not indexed`);
    this.keys.splice(at, 1);
  }

  /**
   * Up to `limit` keys starting with `prefix` and greater than `after` (if given), in order, and
   * whether more such keys follow.
   */
  range(prefix: string, limit: number, after?: string): { keys: string[]; more: boolean } {
    let at = this.lowerBound(after !== undefined && after > prefix ? after : prefix);
    if (after !== undefined && this.keys[at] === after) at += 1;
    const keys: string[] = [];
    for (; at < this.keys.length; at++) {
      const key = this.keys[at] as string;
      if (!key.startsWith(prefix)) break;
      if (keys.length === limit) return { keys, more: true };
      keys.push(key);
    }
    return { keys, more: false };
  }

  /** A point-in-time copy of all keys, in order. */
  snapshot(): string[] {
    return this.keys.slice();
  }

  /** Replaces the contents with `keys`. Invariant: `keys` is strictly ascending (asserted). */
  static fromSorted(keys: string[]): SortedKeys {
    for (let i = 1; i < keys.length; i++) {
      assert(compareKeys(keys[i - 1] as string, keys[i] as string) < 0, 'keys are strictly ascending');
    }
    const index = new SortedKeys();
    index.keys = keys;
    return index;
  }
}
