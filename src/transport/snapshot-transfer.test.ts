// Snapshot streaming into the real snapshot store (files, checksum, fsync), as a node wires them:
// the store's checksum is the end-to-end check of what the transport carried.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { index } from '../raft/types.js';
import { crc32c } from '../storage/crc32c.js';
import { SnapshotStore } from '../storage/snapshot-store.js';
import type { SnapshotSink, SnapshotSinkFactory, SnapshotSource } from './snapshot.js';
import { A, AddressBook, B, MemorySink, installSnapshotRequest, sampleSnapshotMeta, seededBytes, startNode, startProxy, waitFor } from './test-support.js';
import type { Proxy, TestNode } from './test-support.js';

const CHUNK_BYTES = 64 * 1024;
const SNAPSHOT_SIZE_BYTES = 3 * 1024 * 1024 + 777;

const root = await mkdtemp(join(tmpdir(), 'kuberaft-snapxfer-'));
after(() => rm(root, { recursive: true, force: true }));
let dirs = 0;
let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** Serves `bytes` but announces the checksum of `announced` (a source whose file went bad). */
function source(bytes: Buffer, announced = bytes): SnapshotSource {
  return {
    sizeBytes: bytes.length,
    checksum: crc32c(announced),
    read: (offset, length) => Promise.resolve(bytes.subarray(offset, offset + length)),
    close: () => undefined,
  };
}

function storeSink(store: SnapshotStore): SnapshotSinkFactory {
  return async (_from, meta, sizeBytes, checksum) => {
    const incoming = await store.incoming({ meta, sizeBytes, bodyCrc32c: checksum });
    return {
      write: (offset, chunk) => incoming.write(offset, chunk),
      commit: async () => {
        await incoming.commit();
      },
      abort: () => incoming.abort(),
    };
  };
}

async function pair(src: SnapshotSource, sinkFactory: SnapshotSinkFactory): Promise<{ a: TestNode; b: TestNode; proxy: Proxy }> {
  const book = new AddressBook();
  const b = await startNode(B, book, { snapshotSink: sinkFactory });
  cleanup.push(() => b.transport.close());
  const proxy = await startProxy(b.port);
  cleanup.push(() => proxy.close());
  const a = await startNode(A, book, {
    openSnapshot: () => Promise.resolve(src),
    limits: { snapshotChunkSizeBytes: CHUNK_BYTES, reconnectDelayMinMs: 10, reconnectDelayMaxMs: 50 },
  });
  cleanup.push(() => a.transport.close());
  // A reaches B through the proxy, so a test can cut the connection mid-stream.
  book.addresses.set(B, `127.0.0.1:${proxy.port}`);
  return { a, b, proxy };
}


describe('snapshot streaming into the snapshot store', () => {
  it('commits a snapshot of many chunks byte for byte, and only then delivers install-snapshot', async () => {
    const dir = join(root, `s${++dirs}`);
    const { store } = await SnapshotStore.open(dir);
    const bytes = seededBytes(SNAPSHOT_SIZE_BYTES, 11);
    const { a, b } = await pair(source(bytes), storeSink(store));
    const meta = { ...sampleSnapshotMeta, index: index(900) };
    a.transport.send(installSnapshotRequest(meta));
    await waitFor('install-snapshot delivered', () => b.received.length === 1, 10_000);
    const reader = await store.open(meta.index, meta.term);
    assert.ok(reader !== undefined, 'the snapshot was committed before delivery');
    const parts: Buffer[] = [];
    for await (const c of reader.chunks()) parts.push(Buffer.from(c));
    assert.ok(Buffer.concat(parts).equals(bytes));
    assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith('.part')), []);
    await waitFor('sender finished', () => a.transport.stats(B)?.snapshotInProgress === false);
  });

  it('a stream cut while writes are queued resumes where the file ends and commits the whole snapshot', async () => {
    const dir = join(root, `s${++dirs}`);
    const { store } = await SnapshotStore.open(dir);
    const bytes = seededBytes(SNAPSHOT_SIZE_BYTES, 14);
    const offsets: number[] = [];
    let cut = false;
    const kill: { run?: () => void } = {};
    const inner = storeSink(store);
    const watched: SnapshotSinkFactory = async (from, meta, sizeBytes, checksum) => {
      const sink = await inner(from, meta, sizeBytes, checksum);
      return {
        write: async (offset, chunk) => {
          offsets.push(offset);
          if (!cut && offset >= SNAPSHOT_SIZE_BYTES / 2) {
            cut = true;
            kill.run?.();
          }
          await sink.write(offset, chunk);
        },
        commit: () => sink.commit(),
        abort: () => sink.abort(),
      };
    };
    const { a, b, proxy } = await pair(source(bytes), watched);
    kill.run = () => {
      proxy.killAll();
      b.transport.disconnect(A, 'test: connection killed mid-stream');
    };
    const meta = { ...sampleSnapshotMeta, index: index(903) };
    a.transport.send(installSnapshotRequest(meta));
    await waitFor('install-snapshot delivered after the resume', () => b.received.length === 1, 15_000);
    assert.ok(cut, 'the connection was cut mid-stream');
    assert.ok(a.logs.some((l) => l.msg === 'resuming snapshot stream'), 'the sender resumed');
    // Every offset written once, in order: the resume started exactly where the writes ended.
    assert.deepEqual(offsets, Array.from({ length: Math.ceil(bytes.length / CHUNK_BYTES) }, (_, i) => i * CHUNK_BYTES));
    const reader = await store.open(meta.index, meta.term);
    assert.ok(reader !== undefined);
    const parts: Buffer[] = [];
    for await (const c of reader.chunks()) parts.push(Buffer.from(c));
    assert.ok(Buffer.concat(parts).equals(bytes));
  });

  it('refuses a snapshot whose bytes do not match the announced checksum: nothing is delivered or kept', async () => {
    const dir = join(root, `s${++dirs}`);
    const { store } = await SnapshotStore.open(dir);
    const good = seededBytes(SNAPSHOT_SIZE_BYTES, 12);
    const bad = Buffer.from(good);
    // One flipped bit in a chunk in the middle of the stream.
    bad[5 * CHUNK_BYTES + 123] = (bad[5 * CHUNK_BYTES + 123] as number) ^ 0x08;
    const { a, b } = await pair(source(bad, good), storeSink(store));
    a.transport.send(installSnapshotRequest({ ...sampleSnapshotMeta, index: index(901) }));
    await waitFor('the sender hears the rejection', () => a.logs.some((l) => l.msg === 'peer rejected the snapshot'), 10_000);
    await waitFor('sender finished', () => a.transport.stats(B)?.snapshotInProgress === false);
    assert.equal(b.received.length, 0);
    assert.ok(b.logs.some((l) => l.msg === 'snapshot commit failed' && String(l.fields.error).includes('checksum')));
    assert.deepEqual(await readdir(dir), []);
  });

  it('a failed disk write among the writes in flight discards the partial snapshot and rejects the stream', async () => {
    const bytes = seededBytes(SNAPSHOT_SIZE_BYTES, 13);
    const failAt = 7 * CHUNK_BYTES;
    const sinks: MemorySink[] = [];
    const failing: SnapshotSinkFactory = (): SnapshotSink => {
      const sink = new MemorySink((offset) => {
        if (offset === failAt) throw new Error('disk full');
      });
      sinks.push(sink);
      return sink;
    };
    const { a, b } = await pair(source(bytes), failing);
    a.transport.send(installSnapshotRequest({ ...sampleSnapshotMeta, index: index(902) }));
    await waitFor('the sender hears the rejection', () => a.logs.some((l) => l.msg === 'peer rejected the snapshot'), 10_000);
    assert.equal(b.received.length, 0);
    const sink = sinks[0];
    assert.ok(sink !== undefined && sink.aborted && !sink.committed);
    // Writes stop at the failure: none after it reached the sink, though more were queued.
    assert.equal(Math.max(...sink.writes), failAt);
  });
});
