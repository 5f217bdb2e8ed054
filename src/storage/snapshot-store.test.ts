import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { index, nodeId, term } from '../raft/types.js';
import type { SnapshotMeta } from '../raft/types.js';
import { SNAPSHOT_SYNC_INTERVAL_BYTES } from './constants.js';
import { crc32c } from './crc32c.js';
import { SnapshotCorruptionError, StorageError } from './errors.js';
import { SnapshotStore } from './snapshot-store.js';
import type { SnapshotReader } from './snapshot-store.js';

const root = await mkdtemp(join(tmpdir(), 'kuberaft-snap-'));
after(() => rm(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `snap-${++dirs}`);

const meta = (i: number, t = 2): SnapshotMeta => ({
  index: index(i),
  term: term(t),
  membership: { members: [{ id: nodeId('a'), address: '10.0.0.1:7000', role: 'voter' }, { id: nodeId('b'), address: '10.0.0.2:7000', role: 'learner' }] },
});
/** Deterministic pseudo-random bytes, so a misplaced chunk cannot go unnoticed. */
function body(sizeBytes: number, seed = 1): Buffer {
  const out = Buffer.alloc(sizeBytes);
  let x = seed;
  for (let i = 0; i < sizeBytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}
async function readAll(reader: SnapshotReader, fromOffset = 0, chunkBytes?: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of reader.chunks(fromOffset, chunkBytes)) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}
async function save(store: SnapshotStore, m: SnapshotMeta, data: Buffer, chunkBytes = 65536): Promise<void> {
  const writer = await store.create(m);
  for (let at = 0; at < data.length; at += chunkBytes) await writer.write(data.subarray(at, at + chunkBytes));
  await writer.commit();
}

test('a snapshot written in chunks reads back whole, in chunks, from any offset, and as a stream', async () => {
  const { store } = await SnapshotStore.open(freshDir());
  assert.equal(await store.openLatest(), undefined);
  const data = body(3 * 1024 * 1024 + 17);
  await save(store, meta(10), data);
  const reader = await store.openLatest();
  assert.ok(reader !== undefined);
  assert.deepEqual(reader.meta, meta(10));
  assert.equal(reader.sizeBytes, data.length);
  assert.equal(reader.bodyCrc32c, crc32c(data));
  assert.ok((await readAll(reader)).equals(data));
  let largest = 0;
  for await (const chunk of reader.chunks(0, 4096)) largest = Math.max(largest, chunk.length);
  assert.equal(largest, 4096);
  assert.ok((await readAll(reader, 1_000_001)).equals(data.subarray(1_000_001)));
  const streamed: Buffer[] = [];
  for await (const chunk of reader.stream()) streamed.push(Buffer.from(chunk as Uint8Array));
  assert.ok(Buffer.concat(streamed).equals(data));
  // An empty snapshot is a valid snapshot.
  await save(store, meta(11), Buffer.alloc(0));
  const empty = await store.openLatest();
  assert.equal(empty?.sizeBytes, 0);
  assert.deepEqual(empty?.meta, meta(11));
});

test('a snapshot whose write a crash interrupted is never visible and is cleaned on open', async () => {
  const dir = freshDir();
  const { store } = await SnapshotStore.open(dir);
  await save(store, meta(5), body(1000));
  const writer = await store.create(meta(9));
  await writer.write(body(5000));
  // No commit: the process "dies" here (the handle is closed only to not leak it).
  assert.equal((await store.openLatest())?.meta.index, 5);
  await writer.abort().catch(() => undefined);
  await writeFile(join(dir, '0000000000000009-0000000000000002.snap.tmp'), body(300));
  const reopened = await SnapshotStore.open(dir);
  assert.equal(reopened.notes.length, 1);
  assert.match(reopened.notes[0] ?? '', /\.snap\.tmp/);
  assert.deepEqual(await readdir(dir), ['0000000000000005-0000000000000002.snap']);
  assert.equal((await reopened.store.openLatest())?.meta.index, 5);
});

test('corruption in the body, the header or the length is detected and names the file', async () => {
  for (const damage of ['body', 'header', 'short'] as const) {
    const dir = freshDir();
    const { store } = await SnapshotStore.open(dir);
    await save(store, meta(7), body(10_000));
    const [file] = await store.list();
    assert.ok(file !== undefined);
    if (damage === 'short') await truncate(file.file, 5000);
    else {
      const bytes = await readFile(file.file);
      const at = damage === 'body' ? bytes.length - 1234 : 40;
      bytes[at] = (bytes[at] as number) ^ 0x04;
      await writeFile(file.file, bytes);
    }
    // As a restart finds it: a store that did not write the file itself checks it.
    const { store: reopened } = await SnapshotStore.open(dir);
    await assert.rejects(reopened.openLatest(), (e: unknown) => {
      assert.ok(e instanceof SnapshotCorruptionError, `${damage}: ${String(e)}`);
      assert.equal(e.code, 'snapshot-corrupt');
      assert.equal(e.file, file.file);
      assert.ok(e.message.includes(file.file));
      return true;
    });
    if (damage === 'body') {
      // Without the up-front check the damage still surfaces, at the end of the read.
      const unchecked = await reopened.openLatest({ verifyBody: false });
      assert.ok(unchecked !== undefined);
      await assert.rejects(readAll(unchecked), SnapshotCorruptionError);
    }
  }
});

test('a file this store committed is trusted until it changes: then its damage is found by the same store', async () => {
  const dir = freshDir();
  const { store } = await SnapshotStore.open(dir);
  const data = body(50_000, 9);
  await save(store, meta(8), data);
  const reader = await store.openLatest();
  assert.ok(reader !== undefined && (await readAll(reader)).equals(data));
  const [file] = await store.list();
  assert.ok(file !== undefined);
  // Past the file system's timestamp granularity, so that the rewrite shows in the file's identity.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const bytes = await readFile(file.file);
  bytes[bytes.length - 10] = (bytes[bytes.length - 10] as number) ^ 0x01;
  await writeFile(file.file, bytes);
  await assert.rejects(store.openLatest(), SnapshotCorruptionError);
  const unchecked = await store.openLatest({ verifyBody: false });
  assert.ok(unchecked !== undefined);
  await assert.rejects(readAll(unchecked), SnapshotCorruptionError);
});

test('a received snapshot larger than the background flush interval commits whole', async () => {
  const dir = freshDir();
  const { store } = await SnapshotStore.open(dir);
  const chunk = body(1024 * 1024, 5);
  const chunks = Math.ceil((SNAPSHOT_SYNC_INTERVAL_BYTES * 1.5) / chunk.length);
  let crc = 0;
  for (let i = 0; i < chunks; i++) crc = crc32c(chunk, crc);
  const incoming = await store.incoming({ meta: meta(70), sizeBytes: chunks * chunk.length, bodyCrc32c: crc });
  for (let i = 0; i < chunks; i++) await incoming.write(i * chunk.length, chunk);
  const info = await incoming.commit();
  assert.equal(info.sizeBytes, chunks * chunk.length);
  const { store: reopened } = await SnapshotStore.open(dir);
  const reader = await reopened.openLatest();
  assert.ok(reader !== undefined);
  let at = 0;
  for await (const part of reader.chunks(0, chunk.length)) {
    assert.ok(Buffer.from(part).equals(chunk), `chunk at ${at}`);
    at += part.length;
  }
  assert.equal(at, chunks * chunk.length);
});

test('a received snapshot resumes from where an interrupted transfer stopped and commits only when whole and matching', async () => {
  const dir = freshDir();
  const { store } = await SnapshotStore.open(dir);
  const data = body(200_000, 7);
  const announced = { meta: meta(50, 3), sizeBytes: data.length, bodyCrc32c: crc32c(data) };
  const first = await store.incoming(announced);
  assert.equal(first.offsetBytes, 0);
  await first.write(0, data.subarray(0, 70_000));
  await first.write(70_000, data.subarray(70_000, 90_000));
  await assert.rejects(first.write(10, data.subarray(10, 20)), (e: unknown) => e instanceof StorageError && e.code === 'snapshot-offset-mismatch');
  await assert.rejects(first.commit(), (e: unknown) => e instanceof StorageError && e.code === 'snapshot-incomplete');
  // The connection drops; a new transfer of the same snapshot resumes (the old handle is abandoned).
  const resumed = await store.incoming(announced);
  assert.equal(resumed.offsetBytes, 90_000);
  await assert.rejects(resumed.write(90_000, Buffer.concat([data.subarray(90_000), Buffer.alloc(1)])), (e: unknown) => e instanceof StorageError && e.code === 'snapshot-incomplete');
  await resumed.write(90_000, data.subarray(90_000));
  const info = await resumed.commit();
  assert.deepEqual(info.meta, announced.meta);
  const reader = await store.openLatest();
  assert.ok(reader !== undefined && (await readAll(reader)).equals(data));
  assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith('.part')), []);
});

test('a received snapshot that does not match its announced checksum is refused and deleted', async () => {
  const dir = freshDir();
  const { store } = await SnapshotStore.open(dir);
  const data = body(5000, 3);
  const incoming = await store.incoming({ meta: meta(60), sizeBytes: data.length, bodyCrc32c: crc32c(data) ^ 1 });
  await incoming.write(0, data);
  await assert.rejects(incoming.commit(), (e: unknown) => e instanceof StorageError && e.code === 'snapshot-checksum-mismatch');
  assert.deepEqual(await readdir(dir), []);
  // A new announcement discards the partial file of another snapshot.
  const other = await store.incoming({ meta: meta(61), sizeBytes: 10, bodyCrc32c: 0 });
  await other.write(0, Buffer.alloc(4));
  const newer = await store.incoming({ meta: meta(62), sizeBytes: data.length, bodyCrc32c: crc32c(data) });
  assert.equal(newer.offsetBytes, 0);
  assert.equal((await readdir(dir)).filter((n) => n.endsWith('.part')).length, 1);
  await newer.abort();
  assert.deepEqual(await readdir(dir), []);
});

test('prune keeps the newest snapshots and the installed one', async () => {
  const { store } = await SnapshotStore.open(freshDir());
  for (const i of [10, 20, 30, 40, 50]) await save(store, meta(i), body(100, i));
  const deleted = await store.prune({ index: 20, term: 2 }, 2);
  assert.deepEqual(deleted.map((s) => s.index), [30, 10]);
  assert.deepEqual((await store.list()).map((s) => s.index), [50, 40, 20]);
});
