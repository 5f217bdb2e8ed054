import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AssertionError } from '../raft/assert.js';
import { SortedKeys } from './sorted-keys.js';

for (const chunkKeysMax of [2, 5, 1024]) {
test(`range agrees with filtering a sorted copy, for random keys, prefixes, limits and cursors (chunks of ${chunkKeysMax})`, () => {
  let seed = 17;
  const next = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const alphabet = ['a', 'b', '/', 'é', '🔑', '\uFFFD'];
  const word = (): string => Array.from({ length: 1 + next(4) }, () => alphabet[next(alphabet.length)]).join('');
  const index = chunkKeysMax === 5 ? SortedKeys.fromSorted(['a', 'aa', 'ab', 'b', 'ba', 'é'], 5) : new SortedKeys(chunkKeysMax);
  const reference = new Set<string>(index.snapshot());
  for (let step = 0; step < 3000; step++) {
    const key = word();
    if (reference.has(key)) {
      index.remove(key);
      reference.delete(key);
    } else {
      index.insert(key);
      reference.add(key);
    }
    const prefix = next(3) === 0 ? '' : word().slice(0, 2);
    const limit = 1 + next(5);
    const after = next(2) === 0 ? undefined : word();
    const matching = [...reference].sort().filter((k) => k.startsWith(prefix) && (after === undefined || k > after));
    const got = index.range(prefix, limit, after);
    assert.deepEqual(got.keys, matching.slice(0, limit), `prefix ${prefix} after ${after}`);
    assert.equal(got.more, matching.length > limit);
  }
  assert.deepEqual(index.snapshot(), [...reference].sort());
  assert.equal(index.size, reference.size);
});
}

test('a hundred thousand new keys in random order stay sorted across many chunk splits', () => {
  const index = new SortedKeys();
  let x = 1;
  for (let i = 0; i < 100_000; i++) {
    x = (Math.imul(x, 48271) % 0x7fffffff) >>> 0;
    index.insert(`k${x.toString(36)}-${i}`);
  }
  const keys = index.snapshot();
  for (let i = 1; i < keys.length; i++) assert.ok((keys[i - 1] as string) < (keys[i] as string));
  assert.equal(index.size, 100_000);
});

test('inserting a present key, removing an absent one, or building from unsorted keys is a bug', () => {
  const index = SortedKeys.fromSorted(['a', 'b']);
  assert.throws(() => index.insert('a'), AssertionError);
  assert.throws(() => index.remove('c'), AssertionError);
  assert.throws(() => SortedKeys.fromSorted(['b', 'a']), AssertionError);
});
