import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Message, NodeId } from '../raft/types.js';
import { nodeId } from '../raft/types.js';
import { snapshotSourceFromBytes } from './snapshot.js';
import type { TestNode } from './test-support.js';
import { A, AddressBook, B, C, MemorySink, sampleMessages, startNode, waitFor } from './test-support.js';
import type { ConnectionState } from './types.js';

const SNAPSHOT_BYTES = Buffer.from('snapshot bytes of the state machine');

// Each test registers what it started; afterEach closes it, whatever the test's outcome.
let running: TestNode[] = [];
afterEach(async () => {
  await Promise.all(running.map((n) => n.transport.close()));
  running = [];
});

async function start(id: NodeId, book: AddressBook, ...rest: Parameters<typeof startNode> extends [NodeId, AddressBook, ...infer R] ? R : never): Promise<TestNode> {
  const n = await startNode(id, book, ...rest);
  running.push(n);
  return n;
}

const withSnapshots = {
  openSnapshot: () => Promise.resolve(snapshotSourceFromBytes(SNAPSHOT_BYTES)),
  snapshotSink: () => new MemorySink(),
};

describe('PeerTransport', () => {
  it('two transports exchange every message type, in order, both ways', async () => {
    const book = new AddressBook();
    const a = await start(A, book, withSnapshots);
    const b = await start(B, book, withSnapshots);
    const ab = sampleMessages(A, B);
    const ba = sampleMessages(B, A);
    for (const m of ab) a.transport.send(m);
    for (const m of ba) b.transport.send(m);
    await waitFor('all messages', () => a.received.length === ba.length && b.received.length === ab.length);
    // install-snapshot arrives after its bytes are committed, so it may overtake nothing but
    // the messages behind it; everything else keeps its order.
    const withoutSnapshot = (ms: Message[]): Message[] => ms.filter((m) => m.type !== 'install-snapshot');
    assert.deepStrictEqual(withoutSnapshot(b.received), withoutSnapshot(ab));
    assert.deepStrictEqual(withoutSnapshot(a.received), withoutSnapshot(ba));
    assert.deepStrictEqual(b.received.find((m) => m.type === 'install-snapshot'), ab.find((m) => m.type === 'install-snapshot'));
  });

  it('three transports deliver each peer its own messages in order', async () => {
    const book = new AddressBook();
    const nodes = [await start(A, book), await start(B, book), await start(C, book)];
    const COUNT = 200;
    for (const from of nodes) {
      for (const to of nodes) {
        if (from === to) continue;
        for (let i = 0; i < COUNT; i++) {
          from.transport.send({ type: 'heartbeat-response', from: from.id, to: to.id, term: 1 as never, readRound: i });
        }
      }
    }
    await waitFor('every message', () => nodes.every((n) => n.received.length === 2 * COUNT));
    for (const to of nodes) {
      for (const from of nodes) {
        if (from === to) continue;
        const rounds = to.received.filter((m) => m.from === from.id).map((m) => (m.type === 'heartbeat-response' ? m.readRound : -1));
        assert.deepEqual(rounds, Array.from({ length: COUNT }, (_, i) => i));
      }
    }
  });

  it('reconnects after the peer restarts its listener on the same port', async () => {
    const book = new AddressBook();
    const states: ConnectionState[] = [];
    const a = await start(A, book, { metrics: { connectionState: (_p, dir, s) => dir === 'outbound' && states.push(s) } });
    const b = await start(B, book);
    a.transport.send({ type: 'timeout-now', from: A, to: B, term: 1 as never });
    await waitFor('first message', () => b.received.length === 1);

    await b.transport.close();
    running = running.filter((n) => n !== b);
    await waitFor('a sees the disconnect', () => states.includes('disconnected'));
    // Queued while B is down (a message written just before the drop may be lost: Raft tolerates it).
    a.transport.send({ type: 'timeout-now', from: A, to: B, term: 2 as never });

    const b2 = await start(B, book, {}, b.port);
    await waitFor('message after restart', () => b2.received.some((m) => m.term === 2));
    a.transport.send({ type: 'timeout-now', from: A, to: B, term: 3 as never });
    await waitFor('later messages', () => b2.received.some((m) => m.term === 3));
    assert.ok(states.filter((s) => s === 'connected').length >= 2, `states: ${states.join(',')}`);
  });


  it('redials at once when a peer in backoff connects to us, instead of waiting out the backoff', async () => {
    const book = new AddressBook();
    // Backoff long enough that only the early redial can explain a prompt delivery.
    const longBackoff = { limits: { reconnectDelayMinMs: 20_000, reconnectDelayMaxMs: 20_000, handshakeTimeoutMs: 2_000 } };
    const a = await start(A, book, longBackoff);
    const b = await start(B, book);
    const bPort = b.port;
    await b.transport.close();
    running = running.filter((n) => n !== b);
    // A's dial to the closed port fails: its link to B now waits 10–20 s before the next attempt.
    a.transport.send({ type: 'timeout-now', from: A, to: B, term: 1 as never });
    await waitFor('a failed dial', () => a.logs.some((l) => l.msg === 'cannot connect to peer'));

    const b2 = await start(B, book, {}, bPort);
    // B's message makes B dial A; A learns that B is up and sends what it queued for B.
    b2.transport.send({ type: 'timeout-now', from: B, to: A, term: 2 as never });
    await waitFor('b reaches a', () => a.received.some((m) => m.term === 2));
    await waitFor('a reaches b without waiting out its backoff', () => b2.received.some((m) => m.term === 1), 3_000);
  });
  it('refuses a peer with the wrong secret on both sides; good peers keep working', async () => {
    const book = new AddressBook();
    const a = await start(A, book);
    const b = await start(B, book);
    const intruder = await start(C, book, { secret: 'not-the-cluster-secret-at-all!!' });
    intruder.transport.send({ type: 'timeout-now', from: C, to: A, term: 1 as never });
    a.transport.send({ type: 'timeout-now', from: A, to: C, term: 1 as never });
    a.transport.send({ type: 'timeout-now', from: A, to: B, term: 1 as never });
    b.transport.send({ type: 'timeout-now', from: B, to: A, term: 1 as never });

    // Each side detects the other's bad proof when it checks one (byPeer: false), and logs the
    // other's refusal when it is the one being checked (byPeer: true): in both directions.
    const refused = (n: TestNode, byPeer: boolean): boolean =>
      n.logs.some((l) => l.msg === 'peer handshake failed' && l.fields.code === 'bad-proof' && l.fields.byPeer === byPeer);
    await waitFor('refusals logged on both sides', () =>
      [a, intruder].every((n) => refused(n, true) && refused(n, false)),
    );
    await waitFor('good peers exchange messages', () => b.received.length === 1 && a.received.length === 1);
    assert.equal(a.received[0]?.from, B);
    assert.equal(intruder.received.length, 0);
  });

  it('refuses a peer from another cluster and a dial that reaches the wrong node', async () => {
    const book = new AddressBook();
    const a = await start(A, book, { clusterId: () => 'cluster-1' });
    const c = await start(C, book, { clusterId: () => 'cluster-2' });
    c.transport.send({ type: 'timeout-now', from: C, to: A, term: 1 as never });
    await waitFor('wrong cluster refused', () =>
      c.logs.some((l) => l.msg === 'peer handshake failed' && l.fields.code === 'wrong-cluster'),
    );
    const ghost = nodeId('node-ghost');
    book.addresses.set(ghost, book.addresses.get(A)!);
    c.transport.send({ type: 'timeout-now', from: C, to: ghost, term: 1 as never });
    await waitFor('wrong node refused', () => a.logs.some((l) => l.fields.code === 'wrong-node'));
    assert.equal(a.received.length, 0);
  });
});
