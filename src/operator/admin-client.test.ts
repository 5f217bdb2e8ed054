import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { AdminClient, AdminError } from './admin-client.js';

const TOKEN = 'a-token-of-enough-length';
let server: Server;
let port: number;
let statusCalls = 0;
const requests: { method: string; url: string; auth: string | undefined; body: string }[] = [];

const STATUS = {
  id: 'demo-0', version: '0.1.0', pid: 1, clusterId: 'c', state: 'member', role: 'leader', term: 2, leader: 'demo-0',
  commitIndex: 7, appliedIndex: 7, lastIndex: 7, snapshotIndex: 0, snapshotSizeBytes: 0, pendingMembershipIndex: 0,
  members: [{ id: 'demo-0', address: 'a:7001', role: 'voter', matchIndex: 7 }, { id: 'demo-1', address: 'b:7001', role: 'learner', matchIndex: null }],
};

function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
  requests.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization, body });
  const json = (code: number, o: unknown): void => void res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(o));
  if (req.url === '/v1/status') {
    statusCalls++;
    if (statusCalls === 1) return json(503, { error: { code: 'shutting-down', message: 'later' } });
    return json(200, STATUS);
  }
  if (req.url === '/v1/members' && req.method === 'POST') return json(200, { index: 9, members: [] });
  if (req.url === '/v1/members/demo-1' && req.method === 'DELETE')
    return json(409, { error: { code: 'quorum-would-be-lost', message: 'removing demo-1 would lose quorum' } });
  if (req.url === '/v1/leader/transfer') return; // never answers: the client's timeout must end the call
  json(404, { error: { code: 'not-found', message: 'no route' } });
}

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => handle(req, res, body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

test('status is retried after a 5xx and parsed; the token is sent', async () => {
  const c = new AdminClient({ adminToken: TOKEN, sleep: async () => {} });
  const s = await c.status('127.0.0.1', port);
  assert.equal(statusCalls, 2);
  assert.equal(s.role, 'leader');
  assert.deepEqual(s.members.map((m) => [m.id, m.role, m.matchIndex]), [['demo-0', 'voter', 7], ['demo-1', 'learner', null]]);
  assert.equal(requests.at(-1)?.auth, `Bearer ${TOKEN}`);
});

test('membership calls send JSON and surface the node\'s error code without retrying', async () => {
  const c = new AdminClient({ adminToken: TOKEN });
  assert.deepEqual(await c.addLearner('127.0.0.1', 'demo-2', 'demo-2.demo-peers.ns.svc.cluster.local:7001', port), { index: 9 });
  assert.deepEqual(JSON.parse(requests.at(-1)?.body ?? ''), { id: 'demo-2', address: 'demo-2.demo-peers.ns.svc.cluster.local:7001', role: 'learner' });
  const before = requests.length;
  const err = await c.remove('127.0.0.1', 'demo-1', port).catch((e: unknown) => e);
  assert.ok(err instanceof AdminError);
  assert.equal(err.code, 'quorum-would-be-lost');
  assert.equal(err.status, 409);
  assert.equal(err.transient, false);
  assert.equal(requests.length, before + 1, 'not retried');
});

test('transport failures: unreachable and timeout, each with its own code', async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const c = new AdminClient({ adminToken: undefined, statusTimeoutMs: 200, changeTimeoutMs: 200, sleep: async () => {} });
  const unreachable = await c.status('127.0.0.1', deadPort).catch((e: unknown) => e);
  assert.ok(unreachable instanceof AdminError && unreachable.code === 'unreachable' && unreachable.transient);
  const slow = await c.transferLeadership('127.0.0.1', 'demo-1', port).catch((e: unknown) => e);
  assert.ok(slow instanceof AdminError && slow.code === 'timeout' && slow.transient, String(slow));
  const odd = await c.promote('127.0.0.1', '../status', port).catch((e: unknown) => e);
  assert.ok(odd instanceof AdminError);
  assert.equal(odd.code, 'not-found', 'ids are URL-encoded: no path tricks');
});
