import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { NodeId, SnapshotMeta } from '../raft/types.js';
import { index } from '../raft/types.js';
import { snapshotSourceFromBytes } from './snapshot.js';
import type { Proxy, TestNode } from './test-support.js';
import { A, AddressBook, B, MemorySink, installSnapshotRequest, sampleSnapshotMeta, seededBytes, startNode, startProxy, waitFor } from './test-support.js';

const CHUNK_BYTES = 256 * 1024;
const SNAPSHOT_SIZE_BYTES = 5 * 1024 * 1024 + 12_345;

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function pair(
  bytes: Buffer,
  onWrite: (sink: MemorySink, offset: number) => void | Promise<void>,
): Promise<{ a: TestNode; b: TestNode; proxy: Proxy; sinks: MemorySink[]; opened: SnapshotMeta[] }> {
  const book = new AddressBook();
  const sinks: MemorySink[] = [];
  const opened: SnapshotMeta[] = [];
  const b = await startNode(B, book, {
    snapshotSink: (from: NodeId, meta: SnapshotMeta, size: number) => {
      assert.equal(from, A);
      assert.equal(size, bytes.length);
      const sink: MemorySink = new MemorySink((offset) => onWrite(sink, offset));
      sinks.push(sink);
      opened.push(meta);
      return sink;
    },
  });
  cleanup.push(() => b.transport.close());
  const proxy = await startProxy(b.port);
  cleanup.push(() => proxy.close());
  const a = await startNode(A, book, {
    openSnapshot: () => Promise.resolve(snapshotSourceFromBytes(bytes)),
    limits: { snapshotChunkSizeBytes: CHUNK_BYTES, reconnectDelayMinMs: 10, reconnectDelayMaxMs: 50 },
  });
  cleanup.push(() => a.transport.close());
  // A reaches B only through the proxy, so the test can cut the connection mid-stream.
  book.addresses.set(B, `127.0.0.1:${proxy.port}`);
  return { a, b, proxy, sinks, opened };
}

describe('snapshot streaming', () => {
  it('streams a few MB and delivers install-snapshot only after commit', async () => {
    const bytes = seededBytes(SNAPSHOT_SIZE_BYTES, 1);
    const { a, b, sinks, opened } = await pair(bytes, () => undefined);
    const message = installSnapshotRequest(sampleSnapshotMeta);
    a.transport.send(message);
    // Sent again while streaming: one stream per peer, the duplicate is ignored.
    a.transport.send(message);
    await waitFor('install-snapshot delivered', () => b.received.length === 1, 10_000);
    assert.deepStrictEqual(b.received[0], message);
    assert.equal(sinks.length, 1);
    assert.ok(sinks[0]!.committed);
    assert.ok(sinks[0]!.bytes().equals(bytes));
    assert.deepStrictEqual(opened[0], sampleSnapshotMeta);
    await waitFor('sender finished', () => a.transport.stats(B)?.snapshotInProgress === false);
  });

  it('resumes from the received offset after the connection is killed mid-stream', async () => {
    const bytes = seededBytes(SNAPSHOT_SIZE_BYTES, 2);
    let killed = false;
    const kill: { run?: () => void } = {};
    const { a, b, proxy, sinks } = await pair(bytes, (_sink, offset) => {
      if (!killed && offset >= 2 * 1024 * 1024) {
        killed = true;
        kill.run?.();
      }
    });
    // Cut both legs: the proxy's sockets and B's end (which may hold bytes already in flight).
    kill.run = () => {
      proxy.killAll();
      b.transport.disconnect(A, 'test: connection killed mid-stream');
    };
    const message = installSnapshotRequest({ ...sampleSnapshotMeta, index: index(500) });
    a.transport.send(message);
    await waitFor('install-snapshot delivered after resume', () => b.received.length === 1, 15_000);
    assert.ok(killed, 'the connection was killed mid-stream');
    assert.deepStrictEqual(b.received[0], message);

    // One sink for the whole stream: the receiver kept the partial snapshot and the sender
    // continued where it stopped, so every offset was written exactly once, in order.
    assert.equal(sinks.length, 1);
    const sink = sinks[0]!;
    assert.ok(sink.committed && !sink.aborted);
    assert.ok(sink.bytes().equals(bytes), 'received bytes equal the snapshot byte for byte');
    const expectedOffsets = Array.from({ length: Math.ceil(bytes.length / CHUNK_BYTES) }, (_, i) => i * CHUNK_BYTES);
    assert.deepEqual(sink.writes, expectedOffsets);

    const resumed = a.logs.find((l) => l.msg === 'resuming snapshot stream');
    assert.ok(resumed, 'the sender logged a resume');
    assert.ok(Number(resumed.fields.offset) >= 2 * 1024 * 1024, `resumed at ${String(resumed.fields.offset)}`);
  });

  it('a newer snapshot waits for the current stream, which survives a dropped connection and is delivered once', async () => {
    const bytes = seededBytes(1024 * 1024, 3);
    let stall: (() => void) | undefined;
    const { a, b, sinks } = await pair(bytes, (sink, offset) => {
      // Hold the first stream after its first chunk until the test lets it go.
      if (sinks.indexOf(sink) === 0 && offset === CHUNK_BYTES) return new Promise<void>((r) => (stall = r));
      return undefined;
    });
    a.transport.send(installSnapshotRequest({ ...sampleSnapshotMeta, index: index(10) }));
    await waitFor('first stream stalls', () => stall !== undefined);
    a.transport.disconnect(B, 'test: drop the stalled stream');
    a.transport.send(installSnapshotRequest({ ...sampleSnapshotMeta, index: index(20) }));
    stall?.();
    await waitFor('both snapshots delivered', () => b.received.length >= 2, 10_000);
    await waitFor('sender finished', () => a.transport.stats(B)?.snapshotInProgress === false);
    assert.deepEqual(
      b.received.map((m) => (m.type === 'install-snapshot' ? m.snapshot.index : -1)),
      [10, 20],
    );
    // Whether the first stream finished on its old connection or resumed on the new one, it was
    // committed once and delivered once.
    assert.equal(sinks.length, 2);
    assert.ok(sinks.every((s) => s.committed && s.bytes().equals(bytes)));
  });
});
