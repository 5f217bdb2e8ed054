// The fast path must answer exactly as the express app does. Every request below goes to two real
// HTTP servers over loopback, one with the fast path in front of the app and one with the app alone,
// backed by the same in-memory node; status, body and the API's headers must match, and the fast
// path must have taken the requests it is meant for.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { LEASE_HEADER, REVISION_HEADER, SERVED_BY_HEADER } from '../api/types.js';
import { KEY_SIZE_MAX_BYTES, VALUE_SIZE_MAX_BYTES } from '../kv/limits.js';
import { createHttpApp } from './http-api.js';
import { kvFastPath } from './http-fast.js';
import { bearer, memoryNode } from './http-test-support.js';

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly headers: Record<string, string | null>;
}

const COMPARED_HEADERS = ['content-type', 'content-length', SERVED_BY_HEADER.toLowerCase(), REVISION_HEADER.toLowerCase(), LEASE_HEADER.toLowerCase()];

const COMPARED_HEADERS_WITH_AUTH = [...COMPARED_HEADERS, 'www-authenticate'];

/** Sends the write token unless the test gives its own Authorization (or '' for none). */
async function call(base: string, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  const h: Record<string, string> = { ...bearer('write'), ...headers };
  if (h.authorization === '') delete h.authorization;
  const res = await fetch(`${base}${path}`, { method, body, headers: h });
  const text = await res.text();
  return { status: res.status, body: text, headers: Object.fromEntries(COMPARED_HEADERS_WITH_AUTH.map((name) => [name, res.headers.get(name)])) };
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

describe('the KV fast path', () => {
  const fastNode = memoryNode();
  const appNode = memoryNode();
  let taken = 0;
  const fastApp = createHttpApp(fastNode);
  const fast = kvFastPath(fastNode);
  const withFast = createServer((req, res) => {
    if (fast(req, res)) taken++;
    else fastApp(req, res);
  });
  const appOnly = createServer(createHttpApp(appNode));
  let fastBase = '';
  let appBase = '';

  before(async () => {
    fastBase = await listen(withFast);
    appBase = await listen(appOnly);
  });
  after(async () => {
    withFast.closeAllConnections();
    appOnly.closeAllConnections();
    await Promise.all([withFast, appOnly].map((s) => new Promise((r) => s.close(r))));
  });

  /** Sends the request to both servers (same state on each) and returns the fast-path server's answer. */
  async function same(method: string, path: string, body?: string | Buffer, headers?: Record<string, string>): Promise<Answer> {
    const a = await call(fastBase, method, path, body, headers);
    const b = await call(appBase, method, path, body, headers);
    assert.deepEqual(a, b, `${method} ${path}`);
    return a;
  }

  it('takes plain puts and gets and answers them as the app does', async () => {
    const before = taken;
    assert.equal((await same('PUT', '/v1/kv/alpha', 'one')).body, '{"revision":1}');
    await same('PUT', '/v1/kv/dir/sub/beta.v2~x', Buffer.from([0, 1, 2, 255]));
    await same('PUT', '/v1/kv/empty', '');
    const got = await same('GET', '/v1/kv/alpha');
    assert.equal(got.body, 'one');
    assert.equal(got.headers[REVISION_HEADER.toLowerCase()], '1');
    await same('GET', '/v1/kv/dir/sub/beta.v2~x');
    await same('GET', '/v1/kv/empty?consistency=serializable');
    assert.equal((await same('GET', '/v1/kv/absent')).status, 404);
    await same('PUT', '/v1/kv/with-id', 'v', { 'X-Kuberaft-Request-Id': 'client-7:42' });
    await same('PUT', '/v1/kv/leased-k', 'v');
    assert.equal((await same('GET', '/v1/kv/leased-k')).headers[LEASE_HEADER.toLowerCase()], '7');
    assert.equal(taken - before, 10);
    const put = fastNode.seen.find((r) => r.req.kind === 'put' && r.req.key === 'with-id')?.req;
    assert.deepEqual(put?.kind === 'put' ? put.requestId : undefined, { client: 'client-7', seq: 42 });
  });

  it('ignores X-Request-Id, which proxies set to their own UUIDs', async () => {
    const before = taken;
    assert.equal((await same('PUT', '/v1/kv/proxied', 'v', { 'X-Request-Id': '0b7e4c4e-8f5c-4a9c-9d0e-2f1f3c5b6a7d' })).status, 200);
    assert.equal(taken - before, 1);
    for (const node of [fastNode, appNode]) {
      const put = node.seen.find((r) => r.req.kind === 'put' && r.req.key === 'proxied')?.req;
      assert.ok(put?.kind === 'put' && put.requestId === undefined);
    }
  });

  it('authorizes before anything else, as the app does', async () => {
    const before = taken;
    const none = await same('PUT', '/v1/kv/alpha', 'v', { authorization: '' });
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], 'Bearer realm="kuberaft"');
    assert.equal((await same('GET', '/v1/kv/alpha', undefined, { authorization: '' })).status, 401);
    assert.equal((await same('PUT', '/v1/kv/alpha', 'v', { authorization: 'Bearer not-a-known-token-at-all' })).status, 401);
    assert.equal((await same('PUT', '/v1/kv/alpha', 'v', { authorization: 'Basic dXNlcjpwYXNz' })).status, 401);
    const readOnly = await same('PUT', '/v1/kv/alpha', 'v', bearer('read'));
    assert.equal(readOnly.status, 403);
    assert.match(readOnly.body, /"code":"forbidden".*token \\"test-read\\" has the read role; PUT \/v1\/kv\/alpha needs write/);
    // An unauthorized key that is also too long: the token is checked first.
    assert.equal((await same('PUT', `/v1/kv/${'k'.repeat(KEY_SIZE_MAX_BYTES + 1)}`, 'v', { authorization: '' })).status, 401);
    assert.equal((await same('GET', '/v1/kv/alpha', undefined, bearer('read'))).status, 200);
    assert.equal(taken - before, 7);
    const principal = fastNode.seen.at(-1)?.principal;
    assert.deepEqual(principal, { name: 'test-read', role: 'read' });
  });

  it('answers errors as the app does', async () => {
    const before = taken;
    assert.equal((await same('PUT', '/v1/kv/bad-id', 'v', { 'X-Kuberaft-Request-Id': 'no-sequence' })).status, 400);
    const redirect = await same('PUT', '/v1/kv/follower-x', 'v');
    assert.equal(redirect.status, 503);
    assert.match(redirect.body, /"leader":"node-2"/);
    assert.equal((await same('GET', '/v1/kv/follower-y')).status, 503);
    assert.equal((await same('PUT', `/v1/kv/${'k'.repeat(KEY_SIZE_MAX_BYTES + 1)}`, 'v')).status, 413);
    assert.equal(taken - before, 4);
  });

  it('leaves everything else to the app', async () => {
    const before = taken;
    await same('PUT', '/v1/kv/sp%20ace', 'v');
    await same('GET', '/v1/kv/sp%20ace');
    await same('GET', '/v1/kv/alpha?consistency=bogus');
    await same('GET', '/v1/kv/alpha?consistency=serializable&x=1');
    await same('PUT', '/v1/kv/alpha?x=1', 'v');
    await same('PUT', '/v1/kv/alpha?lease=12', 'v');
    await same('PUT', '/v1/kv/trailing/', 'v');
    await same('GET', '/v1/kv/');
    await same('DELETE', '/v1/kv/alpha');
    await same('PUT', '/v1/kv/big', Buffer.alloc(VALUE_SIZE_MAX_BYTES + 1));
    await same('HEAD', '/v1/kv/alpha');
    assert.equal(taken - before, 0);
  });
});
