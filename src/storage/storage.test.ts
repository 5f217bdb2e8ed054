import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { index, nodeId, term } from '../raft/types.js';
import type { Entry, HardState, SnapshotMeta } from '../raft/types.js';
import { crc32c } from './crc32c.js';
import { DataDirLockedError, DataDirMismatchError, SnapshotCorruptionError, StorageError } from './errors.js';
import { openStorage, SNAPSHOT_DIR, WAL_DIR } from './storage.js';
import type { Storage } from './storage.js';

const root = await mkdtemp(join(tmpdir(), 'kuberaft-storage-'));
after(() => rm(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `node-${++dirs}`);

const n1 = nodeId('n1');
const SEGMENT_BYTES = 400;
const open = (dir: string, extra: { clusterId?: string; onNote?: (n: string) => void } = {}): Promise<Storage> =>
  openStorage(dir, { nodeId: n1, segmentSizeMaxBytes: SEGMENT_BYTES, ...extra });
const entry = (i: number, t: number): Entry => ({ index: index(i), term: term(t), kind: 'normal', data: new TextEncoder().encode(`put k${i}=${t}`) });
const range = (from: number, to: number, t: number): Entry[] => Array.from({ length: to - from + 1 }, (_, k) => entry(from + k, t));
const hs = (t: number, commit: number): HardState => ({ term: term(t), vote: n1, commit: index(commit) });
const meta = (i: number, t: number): SnapshotMeta => ({ index: index(i), term: term(t), membership: { members: [{ id: n1, address: '127.0.0.1:7001', role: 'voter' }] } });
const state = (i: number): Buffer => Buffer.from(`state machine at ${i} `.repeat(500));

async function takeSnapshot(storage: Storage, m: SnapshotMeta): Promise<void> {
  const writer = await storage.snapshots.create(m);
  const bytes = state(m.index);
  for (let at = 0; at < bytes.length; at += 1000) await writer.write(bytes.subarray(at, at + 1000));
  await writer.commit();
}

test('a node appends, restarts and boots from exactly what it wrote', async () => {
  const dir = freshDir();
  const storage = await open(dir, { clusterId: 'c1' });
  assert.deepEqual(storage.boot, { hardState: { term: 0, vote: undefined, commit: 0 }, snapshot: undefined, entries: [] });
  await Promise.all([storage.append(range(1, 3, 1), hs(1, 0)), storage.append(range(4, 5, 1), hs(1, 3))]);
  assert.equal(storage.lastIndex, 5);
  await assert.rejects(open(dir), DataDirLockedError);
  await storage.close();
  const again = await open(dir);
  assert.deepEqual(again.boot, { hardState: hs(1, 3), snapshot: undefined, entries: range(1, 5, 1) });
  assert.equal(again.dataDir.identity.clusterId, 'c1');
  await again.close();
  await assert.rejects(openStorage(dir, { nodeId: nodeId('n2') }), DataDirMismatchError);
  await assert.rejects(open(dir, { clusterId: 'c2' }), DataDirMismatchError);
});

test('a local snapshot compacts the WAL; the node boots from the snapshot and the entries after it', async () => {
  const dir = freshDir();
  const storage = await open(dir);
  for (let i = 1; i <= 60; i += 5) await storage.append(range(i, i + 4, 1), hs(1, i + 2));
  const segmentsBefore = await readdir(join(dir, WAL_DIR));
  await takeSnapshot(storage, meta(40, 1));
  await storage.compact(index(40));
  const segmentsAfter = await readdir(join(dir, WAL_DIR));
  assert.ok(segmentsAfter.length < segmentsBefore.length, `${segmentsAfter.length} segments after compaction, ${segmentsBefore.length} before`);
  await storage.append(range(61, 62, 2), hs(2, 61));
  await storage.close();

  const again = await open(dir);
  assert.deepEqual(again.boot, { hardState: hs(2, 61), snapshot: meta(40, 1), entries: [...range(41, 60, 1), ...range(61, 62, 2)] });
  const latest = await again.snapshots.openLatest();
  assert.deepEqual(latest?.meta, meta(40, 1));
  // Later snapshots replace earlier ones, keeping SNAPSHOTS_RETAINED_COUNT.
  await takeSnapshot(again, meta(50, 1));
  await again.compact(index(50));
  await takeSnapshot(again, meta(60, 1));
  await again.compact(index(60));
  assert.deepEqual((await again.snapshots.list()).map((s) => s.index), [60, 50]);
  await again.close();
  assert.deepEqual((await open(dir).then(async (s) => (await s.close(), s.boot))).entries, range(61, 62, 2));
});

test('a received snapshot replaces the log; entries from the same Ready follow it in one fsync', async () => {
  const dir = freshDir();
  let fsyncs = 0;
  const storage = await openStorage(dir, { nodeId: n1, onFsync: () => fsyncs++ });
  await storage.append(range(1, 10, 1), hs(1, 2));
  const body = state(100);
  const incoming = await storage.snapshots.incoming({ meta: meta(100, 3), sizeBytes: body.length, bodyCrc32c: crc32c(body) });
  await incoming.write(0, body);
  await incoming.commit();
  fsyncs = 0;
  await Promise.all([storage.installSnapshot(meta(100, 3)), storage.append(range(101, 102, 3), hs(3, 100))]);
  assert.equal(fsyncs, 1);
  await storage.close();
  const again = await open(dir);
  assert.deepEqual(again.boot, { hardState: hs(3, 100), snapshot: meta(100, 3), entries: range(101, 102, 3) });
  const reader = await again.snapshots.openLatest();
  assert.ok(reader !== undefined);
  const chunks: Buffer[] = [];
  for await (const c of reader.chunks()) chunks.push(Buffer.from(c));
  assert.ok(Buffer.concat(chunks).equals(body));
  await again.close();
});

test('a snapshot committed but not yet recorded in the WAL when the node crashed is discarded on open', async () => {
  const dir = freshDir();
  const storage = await open(dir);
  await storage.append(range(1, 30, 1), hs(1, 25));
  await takeSnapshot(storage, meta(20, 1));
  await storage.close(); // "crash" before compact()
  const notes: string[] = [];
  const again = await open(dir, { onNote: (n) => notes.push(n) });
  assert.equal(again.boot.snapshot, undefined);
  assert.deepEqual(again.boot.entries, range(1, 30, 1));
  assert.equal(await again.snapshots.openLatest(), undefined);
  assert.equal(notes.length, 1);
  assert.match(notes[0] ?? '', /0000000000000014-0000000000000001\.snap: it was written but a crash came before the WAL recorded it/);
  assert.deepEqual(again.notes, notes);
  await again.close();
});

test('a damaged or missing installed snapshot stops the open, naming the file, and releases the lock', async () => {
  const dir = freshDir();
  const storage = await open(dir);
  await storage.append(range(1, 30, 1), hs(1, 25));
  await takeSnapshot(storage, meta(20, 1));
  await storage.compact(index(20));
  await storage.close();
  const [file] = await storage.snapshots.list();
  assert.ok(file !== undefined);
  const bytes = await readFile(file.file);
  const damaged = Buffer.from(bytes);
  damaged[damaged.length - 10] = (damaged[damaged.length - 10] as number) ^ 0x80;
  await writeFile(file.file, damaged);
  await assert.rejects(open(dir), (e: unknown) => e instanceof SnapshotCorruptionError && e.file === file.file && e.message.includes(file.file));
  await rm(file.file);
  await assert.rejects(open(dir), (e: unknown) => e instanceof StorageError && e.code === 'snapshot-missing' && e.message.includes(join(storage.dir, SNAPSHOT_DIR)));
  await writeFile(file.file, bytes);
  const repaired = await open(dir);
  assert.deepEqual(repaired.boot.snapshot, meta(20, 1));
  await repaired.close();
});
