import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { index, nodeId, term } from '../raft/types.js';
import type { Entry, HardState, SnapshotMeta } from '../raft/types.js';
import { WAL_RECORD_PAYLOAD_MAX_BYTES } from './constants.js';
import { StorageError, WalCorruptionError } from './errors.js';
import { openWal } from './wal.js';
import { SEGMENT_PREPARE_AHEAD_RATIO } from './constants.js';
import type { OpenFlags } from './fs.js';
import { NodeFs } from './node-fs.js';
import { PREPARED_SEGMENT_FILE } from './wal-prealloc.js';
import type { WalOptions } from './wal.js';
import { RECORD_HEADER_BYTES } from './wal-record.js';
import { scanSegment } from './wal-segment.js';

const root = await mkdtemp(join(tmpdir(), 'kuberaft-wal-'));
after(() => rm(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `wal-${++dirs}`);

const entry = (i: number, t: number, data = `value-${i}-${t}`): Entry => ({
  index: index(i),
  term: term(t),
  kind: 'normal',
  data: new TextEncoder().encode(data),
});
const range = (from: number, to: number, t: number): Entry[] => Array.from({ length: to - from + 1 }, (_, k) => entry(from + k, t));
const hs = (t: number, commit: number, vote?: string): HardState => ({ term: term(t), vote: vote === undefined ? undefined : nodeId(vote), commit: index(commit) });
const meta = (i: number, t: number): SnapshotMeta => ({
  index: index(i),
  term: term(t),
  membership: { members: [{ id: nodeId('a'), address: '127.0.0.1:1', role: 'voter' }] },
});

/** Segments of 64 KiB: preallocating the default 64 MiB per test would only cost time. */
const TEST_SEGMENT_BYTES = 64 * 1024;
const openSmallWal = (dir: string, options: WalOptions = {}): ReturnType<typeof openWal> => openWal(dir, { segmentSizeMaxBytes: TEST_SEGMENT_BYTES, ...options });

/** Where the records of a segment start. */
function recordOffsets(bytes: Buffer, seq: number): number[] {
  return scanSegment(bytes, seq, undefined).records.map((r) => r.offsetBytes);
}

async function reopen(dir: string, options: WalOptions = {}): Promise<Awaited<ReturnType<typeof openWal>>> {
  const result = await openSmallWal(dir, options);
  await result.wal.close();
  return result;
}

test('a new WAL is empty, and reopening returns exactly what was appended', async () => {
  const dir = freshDir();
  const { wal, boot, notes } = await openSmallWal(dir);
  assert.deepEqual(boot, { hardState: hs(0, 0), snapshot: undefined, entries: [] });
  assert.deepEqual(notes, []);
  await wal.append(range(1, 3, 1), hs(1, 0, 'a'));
  await wal.append([entry(4, 1, '')], hs(1, 3, 'a'));
  await wal.append([], hs(2, 3));
  await wal.close();
  const again = await reopen(dir);
  assert.deepEqual(again.boot, { hardState: hs(2, 3), snapshot: undefined, entries: [...range(1, 3, 1), entry(4, 1, '')] });
  await assert.rejects(wal.append([entry(5, 2)]), (e: unknown) => e instanceof StorageError && e.code === 'storage-closed');
});

test('group commit: 100 concurrent appends share few fsyncs, and each resolves only after an fsync that began after it', async () => {
  const dir = freshDir();
  const events: string[] = [];
  const { wal } = await openSmallWal(dir, { onFsync: (seconds) => {
    assert.ok(seconds >= 0 && seconds < 60);
    events.push('fsync');
  } });
  const appends: Promise<void>[] = [];
  for (let i = 1; i <= 100; i++) {
    const calledAt = events.length;
    events.push(`call ${i}`);
    appends.push(
      wal.append([entry(i, 1)], hs(1, 0)).then(() => {
        assert.ok(events.slice(calledAt + 1).includes('fsync'), `append ${i} resolved before any fsync after it`);
        events.push(`done ${i}`);
      }),
    );
    // Spread the calls over several event-loop turns so that some arrive while an fsync runs.
    if (i % 10 === 0) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(appends);
  const fsyncs = events.filter((e) => e === 'fsync').length;
  assert.ok(fsyncs >= 1 && fsyncs <= 20, `expected far fewer fsyncs than appends, got ${fsyncs}`);
  // Resolution follows call order.
  const done = events.filter((e) => e.startsWith('done')).map((e) => Number(e.split(' ')[1]));
  assert.deepEqual(done, range(1, 100, 1).map((e) => e.index));
  await wal.close();
  assert.deepEqual((await reopen(dir)).boot.entries, range(1, 100, 1));
});

test('suffix replacement across segment boundaries', async () => {
  const dir = freshDir();
  const { wal } = await openSmallWal(dir, { segmentSizeMaxBytes: 300 });
  for (let i = 1; i <= 30; i++) await wal.append([entry(i, 1)], hs(1, 5));
  const before = wal.segments().length;
  assert.ok(before >= 5, `expected several segments, got ${before}`);
  // A new leader's entries replace 8.. (written many segments ago), then the log grows again.
  await wal.append(range(8, 12, 2), hs(2, 5));
  await wal.append(range(13, 14, 2), hs(2, 9));
  // And a replacement of the last few only.
  await wal.append([entry(14, 3, 'replaced')], hs(3, 9));
  await wal.close();
  const { boot } = await reopen(dir, { segmentSizeMaxBytes: 300 });
  assert.deepEqual(boot, { hardState: hs(3, 9), snapshot: undefined, entries: [...range(1, 7, 1), ...range(8, 13, 2), entry(14, 3, 'replaced')] });
});

test('appends that would replace committed entries or leave a gap are programmer errors', async () => {
  const { wal } = await openSmallWal(freshDir());
  await wal.append(range(1, 5, 1), hs(1, 3));
  assert.throws(() => void wal.append([entry(7, 1)]), /gap/);
  assert.throws(() => void wal.append([entry(3, 2)]), /committed/);
  await wal.close();
});

test('rollover, snapshot marker and compaction delete old segments and keep the state', async () => {
  const dir = freshDir();
  const options = { segmentSizeMaxBytes: 400 };
  const { wal } = await openSmallWal(dir, options);
  await wal.append(range(1, 60, 1), hs(1, 0, 'a'));
  for (let i = 61; i <= 80; i++) await wal.append([entry(i, 2)], hs(2, i - 1, 'b'));
  const segmentsBefore = wal.segments();
  assert.ok(segmentsBefore.length >= 8);
  await assert.rejects(async () => wal.compact(index(50)), /durable snapshot marker/);
  await wal.recordSnapshot(meta(50, 1), true);
  const deleted = await wal.compact(index(50));
  assert.ok(deleted.length >= 2, `expected old segments deleted, got ${deleted.length}`);
  const remaining = wal.segments();
  assert.deepEqual(deleted, segmentsBefore.slice(0, deleted.length).map((s) => s.path));
  // Every deleted segment held only entries <= 50; the oldest kept one starts at or below 51.
  assert.ok((remaining[1]?.firstIndex ?? 0) - 1 > 50);
  assert.ok((remaining[0]?.firstIndex ?? 0) <= 51);
  await wal.append([entry(81, 2)], hs(2, 80, 'b'));
  await wal.close();
  const { boot } = await reopen(dir, options);
  assert.deepEqual(boot, { hardState: hs(2, 80, 'b'), snapshot: meta(50, 1), entries: [...range(51, 60, 1), ...range(61, 81, 2)] });

  // Compacting everything up to the last segment keeps that segment, whose header carries the state.
  const second = await openSmallWal(dir, options);
  await second.wal.recordSnapshot(meta(81, 2), true);
  await second.wal.compact(index(81));
  assert.ok(second.wal.segments().length <= 2);
  await second.wal.close();
  assert.deepEqual((await reopen(dir, options)).boot, { hardState: hs(2, 80, 'b'), snapshot: meta(81, 2), entries: [] });
});

test('a received snapshot replaces the log; entries follow it', async () => {
  const dir = freshDir();
  const { wal } = await openSmallWal(dir, { segmentSizeMaxBytes: 500 });
  await wal.append(range(1, 40, 1), hs(1, 10));
  await wal.recordSnapshot(meta(100, 3), false);
  await wal.append(range(101, 103, 3), hs(3, 100));
  assert.equal(wal.lastIndex, 103);
  await wal.compact(index(100));
  await wal.close();
  const { boot } = await reopen(dir);
  assert.deepEqual(boot, { hardState: hs(3, 100), snapshot: meta(100, 3), entries: range(101, 103, 3) });
});

test('a flipped byte before the tail stops recovery with WalCorruptionError naming file and offset', async () => {
  const dir = freshDir();
  const { wal } = await openSmallWal(dir);
  for (let i = 1; i <= 10; i++) await wal.append([entry(i, 1)], hs(1, 0));
  await wal.close();
  const [segment] = wal.segments();
  assert.ok(segment !== undefined);
  const bytes = await readFile(segment.path);
  const offset = recordOffsets(bytes, segment.seq)[6] as number;
  bytes[offset + RECORD_HEADER_BYTES + 3] = (bytes[offset + RECORD_HEADER_BYTES + 3] as number) ^ 0xff;
  await writeFile(segment.path, bytes);
  await assert.rejects(openSmallWal(dir), (e: unknown) => {
    assert.ok(e instanceof WalCorruptionError);
    assert.equal(e.code, 'wal-corrupt');
    assert.equal(e.file, segment.path);
    assert.equal(e.offsetBytes, offset);
    assert.ok(e.message.includes(segment.path) && e.message.includes(`offset ${offset}`) && /re-add the node/.test(e.message) && e.message.includes('docs/operations.md'));
    return true;
  });
  // Nothing was repaired behind the operator's back.
  assert.deepEqual(await readFile(segment.path), bytes);
});

test('damage at the end of a segment that is not the last is corruption, even when it looks torn', async () => {
  const dir = freshDir();
  const { wal } = await openSmallWal(dir, { segmentSizeMaxBytes: 300 });
  for (let i = 1; i <= 12; i++) await wal.append([entry(i, 1)]);
  await wal.close();
  const [first] = wal.segments();
  assert.ok(first !== undefined && wal.segments().length >= 3);
  const bytes = await readFile(first.path);
  // Zero the end of its last record: what a crash during its write would have left, had it been the last segment.
  bytes.fill(0, first.durableBytes - 10, first.durableBytes);
  await writeFile(first.path, bytes);
  await assert.rejects(openSmallWal(dir), (e: unknown) => e instanceof WalCorruptionError && e.file === first.path && /a later segment exists/.test(e.message));
});

test('a missing segment in the middle is refused', async () => {
  const dir = freshDir();
  const { wal } = await openSmallWal(dir, { segmentSizeMaxBytes: 200 });
  for (let i = 1; i <= 12; i++) await wal.append([entry(i, 1)]);
  await wal.close();
  const middle = wal.segments()[1];
  assert.ok(middle !== undefined);
  await rm(middle.path);
  await assert.rejects(openSmallWal(dir), (e: unknown) => e instanceof StorageError && e.code === 'wal-inconsistent' && e.message.includes('missing segments'));
});

test('a failed write fails every pending and later append, and recovery keeps what was durable', async () => {
  const dir = freshDir();
  const { wal } = await openSmallWal(dir);
  await wal.append(range(1, 3, 1), hs(1, 2));
  // Pull the file out from under the writer: the next write fails with EBADF, as a full or broken disk would.
  const internals = wal as unknown as { current: { fh: { close(): Promise<void> } } };
  await internals.current.fh.close();
  const pending = [wal.append([entry(4, 1)]), wal.append([entry(5, 1)], hs(1, 4))];
  for (const p of pending) await assert.rejects(p, (e: unknown) => e instanceof StorageError && e.code === 'wal-failed' && /restart the node/.test(e.message));
  await assert.rejects(wal.append([entry(6, 1)]), (e: unknown) => e instanceof StorageError && e.code === 'wal-failed');
  await wal.close(); // releases what it holds even after a failure
  const { boot } = await reopen(dir);
  assert.deepEqual(boot, { hardState: hs(1, 2), snapshot: undefined, entries: range(1, 3, 1) });
});

test('a crash part-way through compaction leaves a log that recovers to the same state', async () => {
  const dir = freshDir();
  const options = { segmentSizeMaxBytes: 300 };
  const { wal } = await openSmallWal(dir, options);
  for (let i = 1; i <= 40; i += 2) await wal.append(range(i, i + 1, 1), hs(1, i));
  await wal.recordSnapshot(meta(30, 1), true);
  const before = wal.segments();
  const pristine = join(root, `compaction-pristine-${dirs}`);
  await cp(dir, pristine, { recursive: true });
  const deleted = await wal.compact(index(30));
  await wal.close();
  assert.ok(deleted.length >= 3);
  const expected = (await reopen(dir, options)).boot;
  assert.deepEqual(expected, { hardState: hs(1, 39), snapshot: meta(30, 1), entries: range(31, 40, 1) });
  // Segments are deleted oldest first, so a crash leaves the first j deleted and the rest in place.
  for (let j = 0; j < deleted.length; j++) {
    const copy = join(root, `compaction-crash-${dirs}-${j}`);
    await cp(pristine, copy, { recursive: true });
    for (const s of before.slice(0, j)) await rm(join(copy, s.path.slice(dir.length)));
    assert.deepEqual((await reopen(copy, options)).boot, expected, `crash after deleting ${j} of ${deleted.length} segments`);
  }
});

test('an entry too large for a record fails its caller at once and the WAL goes on', async () => {
  const dir = freshDir();
  const { wal } = await openSmallWal(dir);
  const huge: Entry = { index: index(1), term: term(1), kind: 'normal', data: new Uint8Array(WAL_RECORD_PAYLOAD_MAX_BYTES) };
  assert.throws(() => void wal.append([huge]), /exceeds WAL_RECORD_PAYLOAD_MAX_BYTES/);
  await wal.append([entry(1, 1)]);
  await wal.close();
  assert.deepEqual((await reopen(dir)).boot.entries, [entry(1, 1)]);
});

test('segments are preallocated with zeros, the next one ahead of need, and a leftover is cleaned up', async () => {
  const dir = freshDir();
  const segmentSizeMaxBytes = 4096;
  const { wal } = await openWal(dir, { segmentSizeMaxBytes });
  const temp = join(dir, PREPARED_SEGMENT_FILE);
  const [first] = wal.segments();
  assert.ok(first !== undefined);
  assert.deepEqual(await readFile(first.path), Buffer.alloc(segmentSizeMaxBytes), 'a new segment is all zeros, at its full size');
  await assert.rejects(readFile(temp), /ENOENT/, 'nothing is prepared while the open segment is mostly empty');
  let i = 1;
  while ((wal.segments().at(-1)?.durableBytes ?? 0) < segmentSizeMaxBytes * SEGMENT_PREPARE_AHEAD_RATIO) await wal.append([entry(i++, 1)]);
  await wal.append([entry(i++, 1)]);
  assert.deepEqual(await readFile(temp), Buffer.alloc(segmentSizeMaxBytes), 'the next segment is prepared once the open one is half full');
  while (wal.segments().length < 2) await wal.append([entry(i++, 1)]);
  await assert.rejects(readFile(temp), /ENOENT/, 'the rollover took the prepared file');
  const second = wal.segments()[1];
  assert.ok(second !== undefined);
  assert.equal((await readFile(second.path)).length, segmentSizeMaxBytes);
  await wal.close();
  await writeFile(temp, 'a preparation that a crash interrupted');
  const again = await openWal(dir, { segmentSizeMaxBytes });
  await again.wal.close();
  await assert.rejects(readFile(temp), /ENOENT/);
  assert.equal(again.boot.entries.length, i - 1);
});

test('a preallocation that failed in the background is tried again at the rollover', async () => {
  const dir = freshDir();
  let failures = 1;
  let opened = false;
  // The disk is full once, while the next segment is prepared in the background.
  const fs = new (class extends NodeFs {
    override open(path: string, flags: OpenFlags): ReturnType<NodeFs['open']> {
      if (path.endsWith(PREPARED_SEGMENT_FILE) && opened && failures-- > 0) return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
      return super.open(path, flags);
    }
  })();
  const { wal } = await openWal(dir, { fs, segmentSizeMaxBytes: 1024 });
  opened = true;
  for (let i = 1; i <= 60; i++) await wal.append([entry(i, 1)]);
  assert.ok(wal.segments().length >= 3, `${wal.segments().length} segments`);
  assert.ok(failures < 0, 'the failed preparation was tried again');
  await wal.close();
  assert.equal((await reopen(dir)).boot.entries.length, 60);
});
