// The client against a real HTTP server on 127.0.0.1 that records requests and answers as the node API does.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiError, KuberaftClient } from './http-client.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

type Handler = (req: Seen, res: ServerResponse) => void;

let server: Server;
let endpoint: string;
let handler: Handler = (_req, res) => res.end();
const seen: Seen[] = [];
const dir = mkdtempSync(join(tmpdir(), 'kuberaft-client-'));

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      seen.push(s);
      handler(s, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
after(async () => {
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
  rmSync(dir, { recursive: true, force: true });
});

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-kuberaft-served-by': 'node-1' });
  res.end(JSON.stringify(body));
}

function last(): Seen {
  const s = seen.at(-1);
  assert.ok(s !== undefined, 'no request arrived');
  return s;
}

describe('KuberaftClient', () => {
  it('puts raw bytes under an encoded key, with the request id and bearer token', async () => {
    handler = (_req, res) => json(res, 200, { revision: 7 });
    const client = new KuberaftClient({ endpoint, token: 'tok' });
    assert.deepEqual(await client.put('a/b c', 'välue', 'c1:1'), { revision: 7 });
    const s = last();
    assert.equal(s.method, 'PUT');
    assert.equal(s.url, '/v1/kv/a%2Fb%20c');
    assert.equal(s.body.toString('utf8'), 'välue');
    assert.equal(s.headers['x-kuberaft-request-id'], 'c1:1');
    assert.equal(s.headers['authorization'], 'Bearer tok');
    assert.equal(s.headers['content-type'], 'application/octet-stream');
  });

  it('gets a value with its revision, and undefined for an absent key', async () => {
    handler = (req, res) => {
      if (req.url.startsWith('/v1/kv/missing')) return json(res, 404, { error: { code: 'not-found', message: 'no such key' } });
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-kuberaft-revision': '12', 'x-kuberaft-served-by': 'node-2' });
      res.end(Buffer.from([1, 2, 3]));
    };
    const client = new KuberaftClient({ endpoint });
    const v = await client.get('k', { serializable: true });
    assert.deepEqual(v, { value: Buffer.from([1, 2, 3]), revision: 12, servedBy: 'node-2' });
    assert.equal(last().url, '/v1/kv/k?consistency=serializable');
    assert.equal(last().headers['authorization'], undefined);
    assert.equal(await client.get('missing'), undefined);
  });

  it('decodes JSON errors into ApiError with code, status and leader', async () => {
    handler = (_req, res) => json(res, 503, { error: { code: 'not-leader', message: 'ask the leader', leader: 'node-3' } });
    const err = await new KuberaftClient({ endpoint }).del('k').catch((e: unknown) => e);
    assert.ok(err instanceof ApiError);
    assert.equal(err.code, 'not-leader');
    assert.equal(err.status, 503);
    assert.equal(err.leader, 'node-3');
    assert.equal(err.message, 'ask the leader');
  });

  it('reports a non-JSON error body as bad-response with the status', async () => {
    handler = (_req, res) => {
      res.writeHead(502);
      res.end('upstream exploded');
    };
    const err = await new KuberaftClient({ endpoint }).status().catch((e: unknown) => e);
    assert.ok(err instanceof ApiError);
    assert.equal(err.code, 'bad-response');
    assert.equal(err.status, 502);
    assert.match(err.message, /upstream exploded/);
  });

  it('sends cas, list, membership and transfer requests as the API describes', async () => {
    handler = (req, res) => {
      if (req.url.startsWith('/v1/kv?')) return json(res, 200, { items: [{ key: 'a1', value: Buffer.from([0xff, 0x78]).toString('base64'), revision: 3 }], more: true });
      if (req.url.endsWith('/cas')) return json(res, 200, { ok: false, revision: 4 });
      if (req.url === '/v1/leader/transfer') return json(res, 200, { leader: 'node-2' });
      return json(res, 200, { index: 9, members: [{ id: 'node-4', address: '127.0.0.1:7004', role: 'learner' }] });
    };
    const client = new KuberaftClient({ endpoint, token: 't' });
    assert.deepEqual(await client.cas('k', null, 'v'), { ok: false, revision: 4 });
    assert.deepEqual(JSON.parse(last().body.toString()), { expected: null, value: 'v' });
    assert.equal(last().headers['content-type'], 'application/json');
    const list = await client.list('a', { limit: 2 });
    assert.equal(list.more, true);
    assert.equal(list.items[0]?.key, 'a1');
    assert.deepEqual(list.items[0]?.value, Buffer.from([0xff, 0x78]));
    assert.equal(last().url, '/v1/kv?prefix=a&encoding=base64&limit=2');
    assert.equal((await client.addLearner('node-4', '127.0.0.1:7004')).index, 9);
    assert.deepEqual(JSON.parse(last().body.toString()), { id: 'node-4', address: '127.0.0.1:7004', role: 'learner' });
    await client.promote('node-4');
    assert.equal(`${last().method} ${last().url}`, 'POST /v1/members/node-4/promote');
    await client.removeMember('node-4');
    assert.equal(`${last().method} ${last().url}`, 'DELETE /v1/members/node-4');
    assert.deepEqual(await client.transferLeadership('node-2'), { leader: 'node-2' });
    assert.deepEqual(JSON.parse(last().body.toString()), { to: 'node-2' });
  });

  it('times out with code timeout', async () => {
    handler = () => undefined; // never answers
    const err = await new KuberaftClient({ endpoint, timeoutMs: 100 }).status().catch((e: unknown) => e);
    assert.ok(err instanceof ApiError);
    assert.equal(err.code, 'timeout');
    assert.equal(err.status, undefined);
  });

  it('reports a closed port as unreachable', async () => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as AddressInfo).port;
    probe.close();
    await once(probe, 'close');
    const client = new KuberaftClient({ endpoint: `http://127.0.0.1:${port}` });
    const err = await client.digest().catch((e: unknown) => e);
    assert.ok(err instanceof ApiError);
    assert.equal(err.code, 'unreachable');
    assert.match(err.message, /ECONNREFUSED/);
    assert.equal(await client.live(), false);
  });
});
