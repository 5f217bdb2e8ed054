// Bytes from the network that are not a well-behaved peer: each closes only its own connection.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { nodeId, term } from '../raft/types.js';
import { FramedConnection } from './connection.js';
import { FRAME_PREAUTH_MAX_BYTES, FRAME_SIZE_MAX_BYTES, INBOUND_CONNECTIONS_MAX, INBOUND_CONNECTIONS_PER_SOURCE_MAX, PROTOCOL_VERSION } from './constants.js';
import { encodeFrame } from './frame.js';
import { dialerHandshake } from './handshake.js';
import type { TestNode } from './test-support.js';
import { A, AddressBook, B, SECRET, seededRandom, startNode, waitFor } from './test-support.js';

let a: TestNode;
let b: TestNode;
let sent = 0;

/** A→B still works: a fresh message arrives. */
async function stillWorks(): Promise<void> {
  sent++;
  const marker = sent;
  a.transport.send({ type: 'heartbeat', from: A, to: B, term: term(1), commit: 0 as never, readRound: marker });
  await waitFor(`message ${marker} after hostile input`, () =>
    b.received.some((m) => m.type === 'heartbeat' && m.readRound === marker),
  );
}

function rawSocket(localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port: b.port, host: '127.0.0.1', ...(localAddress === undefined ? {} : { localAddress }) }, () => resolve(s));
    s.on('error', reject);
  });
}

/** Resolves when the server closed the socket (it must, within the handshake timeout at most). */
function closedByServer(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    s.on('error', () => undefined);
    s.on('close', () => resolve());
    s.resume();
  });
}

function closeLogged(pattern: RegExp): boolean {
  return b.logs.some((l) => l.msg === 'peer connection closed' && pattern.test(String(l.fields.reason)));
}

describe('hostile input on the peer port', () => {
  before(async () => {
    const book = new AddressBook();
    a = await startNode(A, book);
    b = await startNode(B, book);
    await stillWorks();
  });
  after(async () => {
    await a.transport.close();
    await b.transport.close();
  });

  it('an oversized length prefix closes that connection at once', async () => {
    const s = await rawSocket();
    const closed = closedByServer(s);
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(FRAME_SIZE_MAX_BYTES + 1);
    s.write(prefix);
    await closed;
    assert.ok(closeLogged(/^frame-too-large/));
    await stillWorks();
  });

  it('random bytes close that connection', async () => {
    const rng = seededRandom(1234);
    for (let round = 0; round < 5; round++) {
      const s = await rawSocket();
      const closed = closedByServer(s);
      // A small, valid-looking length with a random body: the version or type check fails.
      const body = Buffer.from(Array.from({ length: 40 }, () => rng.int(256)));
      body[0] = 2 + rng.int(250);
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32BE(body.length);
      s.write(Buffer.concat([prefix, body, Buffer.from(Array.from({ length: 100 }, () => rng.int(256)))]));
      await closed;
    }
    assert.ok(closeLogged(/^malformed-frame/));
    await stillWorks();
  });

  it('a frame other than hello opens no session', async () => {
    const s = await rawSocket();
    const closed = closedByServer(s);
    s.write(encodeFrame({ type: 'raft', message: { type: 'timeout-now', from: A, to: B, term: term(9) } }));
    await closed;
    assert.ok(b.logs.some((l) => l.msg === 'peer handshake failed' && l.fields.code === 'protocol'));
    assert.ok(!b.received.some((m) => m.term === 9));
    await stillWorks();
  });

  it('an authenticated peer sending a malformed or spoofed frame loses only its connection', async () => {
    const attacker = nodeId('node-x');
    for (const payload of [
      // A raft frame whose message body is cut short.
      (() => {
        const f = encodeFrame({ type: 'raft', message: { type: 'timeout-now', from: attacker, to: B, term: term(1) } });
        const cut = f.subarray(0, f.length - 3);
        cut.writeUInt32BE(cut.length - 4, 0);
        return cut;
      })(),
      // A well-formed message that claims to come from A.
      encodeFrame({ type: 'raft', message: { type: 'timeout-now', from: A, to: B, term: term(7) } }),
    ]) {
      const conn = new FramedConnection(await rawSocket());
      await dialerHandshake(conn, { self: attacker, clusterId: '', secret: Buffer.from(SECRET) }, B);
      const closed = new Promise<string>((resolve) => conn.onClose(resolve));
      conn.socket.write(payload);
      await closed;
      await stillWorks();
    }
    assert.ok(closeLogged(/^malformed-frame/));
    assert.ok(closeLogged(/^protocol: node-x sent a timeout-now message from node-a/));
    assert.ok(!b.received.some((m) => m.term === 7));
  });

  it('a frame larger than a handshake frame before the handshake closes the connection', async () => {
    const s = await rawSocket();
    const closed = closedByServer(s);
    // A hello announcing FRAME_PREAUTH_MAX_BYTES + 1 bytes: far below the limit of an authenticated
    // peer, but no handshake frame is that large. The body is never sent: the length is enough.
    const head = Buffer.alloc(6);
    head.writeUInt32BE(FRAME_PREAUTH_MAX_BYTES + 1);
    head[4] = PROTOCOL_VERSION;
    head[5] = 1;
    s.write(head);
    await closed;
    assert.ok(closeLogged(new RegExp(`^frame-too-large: frame length ${FRAME_PREAUTH_MAX_BYTES + 1} exceeds the limit of ${FRAME_PREAUTH_MAX_BYTES} bytes`)));
    await stillWorks();
  });

  it('refuses connections beyond the per-source limit while a real peer still connects', async () => {
    // 257 connections from one source (127.0.0.2) that never say a word.
    const attempts = INBOUND_CONNECTIONS_MAX + 1;
    const sockets = await Promise.all(Array.from({ length: attempts }, () => rawSocket('127.0.0.2')));
    let closedCount = 0;
    for (const s of sockets) {
      s.on('error', () => undefined);
      s.on('close', () => closedCount++);
      s.resume();
    }
    try {
      await waitFor('connections beyond the per-source limit to be refused', () => closedCount >= attempts - INBOUND_CONNECTIONS_PER_SOURCE_MAX);
      assert.equal(closedCount, attempts - INBOUND_CONNECTIONS_PER_SOURCE_MAX);
      assert.ok(b.logs.some((l) => l.msg === 'refusing a peer connection' && /too many connections from 127\.0\.0\.2/.test(String(l.fields.reason))));
      // A's connection is dropped and redialed from 127.0.0.1: it gets in.
      const connects = (): number => a.logs.filter((l) => l.msg === 'connected to peer').length;
      const before = connects();
      b.transport.disconnect(A, 'test: redial while under attack');
      await waitFor('A to connect to B again', () => connects() > before);
      await stillWorks();
    } finally {
      for (const s of sockets) s.destroy();
    }
  });

  it('a peer that connects and says nothing is dropped after the handshake timeout', async () => {
    const s = await rawSocket();
    const started = Date.now();
    await closedByServer(s);
    assert.ok(Date.now() - started >= 1_500, 'closed before the handshake timeout');
    await stillWorks();
  });
});
