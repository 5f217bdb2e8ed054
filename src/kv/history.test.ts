import assert from 'node:assert/strict';
import { test } from 'node:test';
import { index } from '../raft/types.js';
import { ChangeHistory, CompactedError, changeRecord } from './history.js';
import type { ChangeRecord } from './history.js';
import { HISTORY_EVENT_OVERHEAD_BYTES } from './limits.js';

const put = (revision: number, key: string, size = 0): ChangeRecord =>
  changeRecord(index(revision), [{ type: 'put', key, value: new Uint8Array(size), lease: undefined }]);

test('a record costs its keys, values and a fixed overhead per event', () => {
  const r = changeRecord(index(3), [
    { type: 'put', key: 'ключ', value: new Uint8Array(10), lease: undefined },
    { type: 'delete', key: 'b' },
  ]);
  assert.equal(r.sizeBytes, 2 * HISTORY_EVENT_OVERHEAD_BYTES + 8 + 10 + 1);
  assert.throws(() => changeRecord(index(1), []), /at least one event/);
});

test('the history keeps at most its revision bound, dropping the oldest, and says what is gone', () => {
  const h = new ChangeHistory(index(0), 3, 1 << 20);
  for (let r = 1; r <= 5; r++) h.append(put(r * 2, `k${r}`));
  assert.equal(h.revisionCount, 3);
  assert.equal(h.compactedThrough, 4);
  assert.equal(h.oldestRevision, 5);
  assert.equal(h.lastRevision, 10);
  assert.deepEqual(
    h.snapshot().map((r) => r.revision),
    [6, 8, 10],
  );
  // A reader at revision 5 misses nothing (there was no change at 5): it starts at 6.
  assert.equal(h.at(h.seek(5))?.revision, 6);
  assert.equal(h.at(h.seek(9))?.revision, 10);
  assert.equal(h.at(h.seek(11)), undefined);
  assert.throws(() => h.seek(4), (e: unknown) => e instanceof CompactedError && e.oldestRevision === 5 && e.revision === 4 && /starts at revision 5/.test(e.message));
});

test('the byte bound trims too, but the newest record is always kept', () => {
  const size = HISTORY_EVENT_OVERHEAD_BYTES + 2 + 100;
  const h = new ChangeHistory(index(0), 1000, size * 3);
  for (let r = 1; r <= 4; r++) h.append(put(r, `k${r}`, 100));
  assert.equal(h.revisionCount, 3);
  assert.equal(h.sizeBytes, size * 3);
  assert.equal(h.bytesFrom(2), size * 3);
  assert.equal(h.bytesFrom(4), size);
  assert.equal(h.bytesFrom(5), 0);
  h.append(put(5, 'huge', 10_000));
  assert.equal(h.revisionCount, 1);
  assert.equal(h.compactedThrough, 4);
  assert.equal(h.bytesFrom(5), h.sizeBytes);
});

test('appending out of order is a bug; a restored history continues where its writer was', () => {
  const h = new ChangeHistory(index(10));
  h.append(put(12, 'a'));
  assert.throws(() => h.append(put(12, 'b')), /revisions ascend/);
  assert.throws(() => h.append(put(11, 'b')), /revisions ascend/);
  const restored = ChangeHistory.restored(h.compactedThrough, h.snapshot());
  assert.equal(restored.oldestRevision, 11);
  assert.deepEqual(restored.snapshot(), h.snapshot());
});

test('many appends keep positions, byte counts and bounds right across the internal compaction', () => {
  const h = new ChangeHistory(index(0), 100, 1 << 30);
  for (let r = 1; r <= 10_000; r++) {
    h.append(put(r, `k${r % 7}`, r % 13));
    if (r % 997 === 0) {
      let expected = 0;
      for (const rec of h.snapshot()) expected += rec.sizeBytes;
      assert.equal(h.sizeBytes, expected);
      assert.equal(h.bytesFrom(h.oldestRevision), expected);
      assert.equal(h.at(h.seek(r - 50))?.revision, r - 50);
    }
  }
  assert.equal(h.revisionCount, 100);
  assert.equal(h.oldestRevision, 9901);
});

test('cursors measure how far a reader is behind, across trimming, and tell when it was trimmed past', () => {
  const size = HISTORY_EVENT_OVERHEAD_BYTES + 1;
  const h = new ChangeHistory(index(0), 5, 1 << 20);
  for (let r = 1; r <= 3; r++) h.append(put(r, 'k'));
  const c = h.cursor(2);
  assert.deepEqual(c, { records: 1, bytes: size });
  assert.deepEqual(h.totals(), { records: 3, bytes: 3 * size });
  for (let r = 4; r <= 6; r++) h.append(put(r, 'k'));
  assert.equal(h.totals().records - c.records, 5);
  assert.equal(h.trimmedPast(c), false);
  h.append(put(7, 'k'));
  assert.equal(h.trimmedPast(c), true);
  assert.deepEqual(h.cursor(8), h.totals());
});
