import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { nodeId } from '../raft/types.js';
import { RequestError } from './errors.js';
import type { TestNode } from './test-support.js';
import { A, AddressBook, B, C, startNode } from './test-support.js';

let a: TestNode;
let b: TestNode;
let book: AddressBook;
const hung: (() => void)[] = [];

function isRequestError(code: string, remoteCode?: string): (e: unknown) => boolean {
  return (e) => e instanceof RequestError && e.code === code && (remoteCode === undefined || e.remoteCode === remoteCode);
}

describe('request / response between peers', () => {
  before(async () => {
    book = new AddressBook();
    a = await startNode(A, book);
    b = await startNode(B, book);
    b.transport.onRequest(async (from, payload) => {
      const text = Buffer.from(payload).toString();
      if (text === 'fail') throw Object.assign(new Error(`not the leader; ask node-c (from ${from})`), { code: 'not-leader' });
      if (text === 'hang') await new Promise<void>((r) => hung.push(r));
      return Buffer.from(`${from}:${text.split('').reverse().join('')}`);
    });
    a.transport.onRequest((from, payload) => Promise.resolve(Uint8Array.from([...payload, from.length])));
  });
  after(async () => {
    for (const release of hung) release();
    await a.transport.close();
    await b.transport.close();
  });

  it('answers requests, many at once and in both directions', async () => {
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => a.transport.request(B, Buffer.from(`req-${i}`), 2_000)),
    );
    answers.forEach((r, i) => assert.equal(Buffer.from(r).toString(), `node-a:${`req-${i}`.split('').reverse().join('')}`));
    assert.deepEqual([...(await b.transport.request(A, Uint8Array.from([1, 2]), 2_000))], [1, 2, B.length]);
  });

  it('reports a remote error with its code', async () => {
    await assert.rejects(a.transport.request(B, Buffer.from('fail'), 2_000), (e: unknown) => {
      assert.ok(isRequestError('remote-error', 'not-leader')(e));
      assert.match((e as Error).message, /not the leader; ask node-c \(from node-a\)/);
      return true;
    });
  });

  it('times out when the peer does not answer, and later requests still work', async () => {
    const started = Date.now();
    await assert.rejects(a.transport.request(B, Buffer.from('hang'), 150), isRequestError('request-timeout'));
    assert.ok(Date.now() - started >= 140);
    const r = await a.transport.request(B, Buffer.from('ok'), 2_000);
    assert.equal(Buffer.from(r).toString(), 'node-a:ko');
  });

  it('fails fast for a peer without an address or that cannot be reached', async () => {
    await assert.rejects(a.transport.request(C, Buffer.from('x'), 2_000), isRequestError('peer-unreachable'));
    // A port nobody listens on: take one from a transport and close it.
    const gone = await startNode(nodeId('node-gone'), book);
    await gone.transport.close();
    const started = Date.now();
    await assert.rejects(a.transport.request(gone.id, Buffer.from('x'), 5_000), isRequestError('peer-unreachable'));
    assert.ok(Date.now() - started < 2_000, 'unreachable is reported before the timeout');
    await a.transport.removePeer(gone.id);
  });

  it('fails requests in flight when the connection drops', async () => {
    const pending = a.transport.request(B, Buffer.from('hang'), 5_000);
    await new Promise((r) => setTimeout(r, 50));
    b.transport.disconnect(A, 'test: drop');
    await assert.rejects(pending, isRequestError('connection-lost'));
  });
});
