// Every route of the HTTP API against the role it needs, through the real express app and the real
// authorization, over loopback: no token → 401, too small a role → 403, the right one → through.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { ClientRole } from '../auth/roles.js';
import { createHttpApp } from './http-api.js';
import { kvFastPath } from './http-fast.js';
import { bearer, memoryNode, type MemoryNodeOptions } from './http-test-support.js';

interface Route {
  readonly method: string;
  readonly path: string;
  readonly body?: string;
  readonly need: ClientRole;
}

const JSON_TYPE = { 'content-type': 'application/json' };
const ROUTES: readonly Route[] = [
  { method: 'GET', path: '/v1/kv/a', need: 'read' },
  { method: 'GET', path: '/v1/kv/a%20b?consistency=serializable', need: 'read' },
  { method: 'GET', path: '/v1/kv?prefix=a', need: 'read' },
  { method: 'GET', path: '/v1/status', need: 'read' },
  { method: 'GET', path: '/v1/digest', need: 'read' },
  { method: 'GET', path: '/v1/members', need: 'read' },
  { method: 'PUT', path: '/v1/kv/a', body: 'v', need: 'write' },
  { method: 'PUT', path: '/v1/kv/a%20b', body: 'v', need: 'write' },
  { method: 'DELETE', path: '/v1/kv/a', need: 'write' },
  { method: 'POST', path: '/v1/kv/a/cas', body: '{"expected":null,"value":"v"}', need: 'write' },
  { method: 'POST', path: '/v1/bootstrap', need: 'admin' },
  { method: 'POST', path: '/v1/members', body: '{"id":"node-4","address":"127.0.0.1:7004"}', need: 'admin' },
  { method: 'POST', path: '/v1/members/node-4/promote', need: 'admin' },
  { method: 'DELETE', path: '/v1/members/node-4', need: 'admin' },
  { method: 'POST', path: '/v1/leader/transfer', body: '{"to":"node-2"}', need: 'admin' },
  { method: 'GET', path: '/internal/join?name=node-4&host=127.0.0.1:7004', need: 'admin' },
  { method: 'GET', path: '/internal/leave?name=node-4&host=127.0.0.1:7004', need: 'admin' },
];
const ROLES: readonly ClientRole[] = ['read', 'write', 'admin'];
const RANK: Record<ClientRole, number> = { read: 1, write: 2, admin: 3 };

async function serve(options: MemoryNodeOptions): Promise<{ base: string; server: Server; node: ReturnType<typeof memoryNode> }> {
  const node = memoryNode(options);
  const app = createHttpApp(node);
  const fast = kvFastPath(node);
  const server = createServer((req, res) => {
    if (!fast(req, res)) app(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, node };
}

async function call(base: string, r: Pick<Route, 'method' | 'path' | 'body'>, headers: Record<string, string>): Promise<{ status: number; code: string | undefined }> {
  const res = await fetch(`${base}${r.path}`, { method: r.method, body: r.body, headers: r.body?.startsWith('{') ? { ...JSON_TYPE, ...headers } : headers });
  const text = await res.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return { status: res.status, code };
}

describe('authorization of the client API', () => {
  let strict: Awaited<ReturnType<typeof serve>>;
  let open: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    strict = await serve({});
    open = await serve({ anonymousRole: 'read', metricsRequireToken: true });
  });
  after(() => {
    for (const s of [strict, open]) {
      s.server.closeAllConnections();
      s.server.close();
    }
  });

  it('maps every route to its role: no token 401, a smaller role 403, the role itself passes', async () => {
    for (const r of ROUTES) {
      const what = `${r.method} ${r.path}`;
      const none = await call(strict.base, r, {});
      assert.deepEqual(none, { status: 401, code: 'unauthorized' }, what);
      for (const role of ROLES) {
        const got = await call(strict.base, r, bearer(role));
        if (RANK[role] < RANK[r.need]) assert.deepEqual(got, { status: 403, code: 'forbidden' }, `${what} as ${role}`);
        // bootstrap of the test node answers 409: it got past authorization.
        else assert.ok(got.code !== 'unauthorized' && got.code !== 'forbidden', `${what} as ${role}: ${JSON.stringify(got)}`);
      }
    }
  });

  it('gives requests without a token the anonymous role, and refuses a wrong token all the same', async () => {
    assert.equal((await call(open.base, { method: 'GET', path: '/v1/status' }, {})).status, 200);
    assert.deepEqual(await call(open.base, { method: 'PUT', path: '/v1/kv/a', body: 'v' }, {}), { status: 403, code: 'forbidden' });
    assert.deepEqual(await call(open.base, { method: 'GET', path: '/v1/status' }, { authorization: 'Bearer wrong-wrong-wrong-wrong' }), { status: 401, code: 'unauthorized' });
    assert.equal((await call(open.base, { method: 'PUT', path: '/v1/kv/a', body: 'v' }, bearer('write'))).status, 200);
    assert.deepEqual(open.node.seen.at(-1)?.principal, { name: 'test-write', role: 'write' });
  });

  it('serves probes to anyone, and metrics unless told to need the read role', async () => {
    for (const path of ['/livez', '/readyz', '/metrics']) assert.equal((await call(strict.base, { method: 'GET', path }, {})).status, 200, path);
    for (const path of ['/livez', '/readyz']) assert.equal((await call(open.base, { method: 'GET', path }, {})).status, 200, path);
    assert.deepEqual(await call(open.base, { method: 'GET', path: '/metrics' }, { authorization: 'Bearer wrong-wrong-wrong-wrong' }), { status: 401, code: 'unauthorized' });
    assert.equal((await call(open.base, { method: 'GET', path: '/metrics' }, bearer('read'))).status, 200);
  });

  it('takes JSON routes only with Content-Type: application/json (415), after authorization', async () => {
    const cas = { method: 'POST', path: '/v1/kv/a/cas', body: '{"expected":null,"value":"v"}' };
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx']) {
      const res = await fetch(`${strict.base}${cas.path}`, { method: 'POST', body: cas.body, headers: { ...bearer('write'), 'content-type': type } });
      assert.equal(res.status, 415, type);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'unsupported-media-type');
    }
    const plain = await fetch(`${strict.base}/v1/members`, { method: 'POST', body: '{"id":"n","address":"h:1"}', headers: { ...bearer('admin'), 'content-type': 'text/plain' } });
    assert.equal(plain.status, 415);
    await plain.text();
    const charset = await fetch(`${strict.base}${cas.path}`, { method: 'POST', body: cas.body, headers: { ...bearer('write'), 'content-type': 'Application/JSON; charset=utf-8' } });
    assert.equal(charset.status, 200);
    await charset.text();
    // Without a token the answer is 401 whatever the body.
    assert.equal((await call(strict.base, { ...cas, body: 'x' }, {})).status, 401);
  });

  it('lists values as UTF-8 text, refuses values that are not, and round-trips any bytes as base64', async () => {
    const binary = Buffer.from([0, 0xff, 0xfe, 0x80, 0x41]);
    for (const [key, value] of [
      ['list/text', Buffer.from('héllo', 'utf8')],
      ['list/binary', binary],
    ] as const) {
      const res = await fetch(`${strict.base}/v1/kv/${key}`, { method: 'PUT', body: value, headers: bearer('write') });
      assert.equal(res.status, 200);
      await res.text();
    }
    const text = await fetch(`${strict.base}/v1/kv?prefix=list/text`, { headers: bearer('read') });
    assert.deepEqual(((await text.json()) as { items: { value: string }[] }).items.map((i) => i.value), ['héllo']);
    const refused = await fetch(`${strict.base}/v1/kv?prefix=list/`, { headers: bearer('read') });
    assert.equal(refused.status, 422);
    const error = ((await refused.json()) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'value-not-utf8');
    assert.match(error.message, /"list\/binary" is not UTF-8 text; list with \?encoding=base64/);
    const b64 = await fetch(`${strict.base}/v1/kv?prefix=list/&encoding=base64`, { headers: bearer('read') });
    const items = ((await b64.json()) as { items: { key: string; value: string }[] }).items;
    assert.deepEqual(
      items.map((i) => [i.key, Buffer.from(i.value, 'base64')]),
      [
        ['list/binary', binary],
        ['list/text', Buffer.from('héllo', 'utf8')],
      ],
    );
    assert.equal((await call(strict.base, { method: 'GET', path: '/v1/kv?prefix=a&encoding=hex' }, bearer('read'))).code, 'bad-request');
  });
});
