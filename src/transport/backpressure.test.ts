// A peer that stops reading must not make the sender's memory grow: the socket's buffer stops
// at its high-water mark, the send queue at its limit, and the oldest messages are dropped.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Message } from '../raft/types.js';
import { index, term } from '../raft/types.js';
import type { Proxy, TestNode } from './test-support.js';
import { A, AddressBook, B, startNode, startProxy, waitFor } from './test-support.js';

const QUEUE_MAX_MESSAGES = 64;
const ENTRY_BYTES = 32 * 1024;
const SENT = 3_000;

function append(n: number): Message {
  return {
    type: 'append',
    from: A,
    to: B,
    term: term(1),
    prevIndex: index(n),
    prevTerm: term(1),
    commit: index(0),
    entries: [{ term: term(1), index: index(n + 1), kind: 'normal', data: new Uint8Array(ENTRY_BYTES).fill(n % 256) }],
  };
}

describe('backpressure', () => {
  let a: TestNode | undefined;
  let b: TestNode | undefined;
  let proxy: Proxy | undefined;
  after(async () => {
    await a?.transport.close();
    await proxy?.close();
    await b?.transport.close();
  });

  it('a peer that stops reading bounds the queue and drops the oldest messages', async () => {
    const book = new AddressBook();
    b = await startNode(B, book);
    proxy = await startProxy(b.port);
    let droppedReported = 0;
    a = await startNode(A, book, {
      limits: { queueMaxMessages: QUEUE_MAX_MESSAGES, reconnectDelayMinMs: 10, reconnectDelayMaxMs: 50 },
      metrics: { messageDropped: (_peer, reason) => reason === 'queue-full' && droppedReported++ },
    });
    book.addresses.set(B, `127.0.0.1:${proxy.port}`);
    const sender = a;
    const receiver = b;
    sender.transport.send(append(0));
    await waitFor('connection up', () => receiver.received.length === 1);

    proxy.pauseClients();
    let maxQueued = 0;
    let maxSocketBuffered = 0;
    for (let n = 1; n <= SENT; n++) {
      sender.transport.send(append(n));
      const s = sender.transport.stats(B)!;
      maxQueued = Math.max(maxQueued, s.queuedMessages);
      maxSocketBuffered = Math.max(maxSocketBuffered, s.socketBufferedBytes);
      if (n % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    const stats = sender.transport.stats(B)!;
    assert.ok(maxQueued <= QUEUE_MAX_MESSAGES, `queue reached ${maxQueued}`);
    // The socket holds at most its high-water mark plus the one frame that crossed it.
    assert.ok(maxSocketBuffered < 256 * 1024, `socket buffered ${maxSocketBuffered} bytes`);
    assert.ok(stats.droppedMessages > SENT / 2, `dropped only ${stats.droppedMessages}`);
    assert.equal(droppedReported, stats.droppedMessages);

    // Once the peer reads again, what is still queued (the newest messages) arrives.
    proxy.resumeClients();
    await waitFor('newest message delivered', () => receiver.received.some((m) => m.type === 'append' && m.prevIndex === SENT), 10_000);
    assert.ok(receiver.received.length < SENT, 'old messages were dropped, not buffered');
    const last = receiver.received.at(-1);
    assert.ok(last?.type === 'append' && last.entries[0]?.data.every((x) => x === SENT % 256));
  });
});
