// What node:http refuses by itself is answered as JSON too, and the server's limits hold. Raw
// sockets, because a well-behaved client cannot send most of these.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHttpApp } from './http-api.js';
import { DEFAULT_HTTP_LIMITS, hardenHttpServer, httpServerOptions, type HttpLimits } from './http-server.js';
import { memoryNode } from './http-test-support.js';

const LIMITS: HttpLimits = { ...DEFAULT_HTTP_LIMITS, connectionsMax: 4, headersTimeoutMs: 300, requestTimeoutMs: 600, timeoutCheckIntervalMs: 50 };

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

/** Everything the server sends until it closes the connection. */
function answer(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (text += d));
    s.on('error', () => undefined);
    s.on('close', () => resolve(text));
  });
}

function parse(raw: string): { status: number; headers: Map<string, string>; body: { error?: { code?: string; message?: string } } } {
  const [head = '', body = ''] = raw.split('\r\n\r\n', 2);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(body) as { error?: { code?: string; message?: string } } };
}

describe('the API server', () => {
  let server: Server;
  let port = 0;
  before(async () => {
    const app = createHttpApp(memoryNode());
    server = createServer(httpServerOptions(LIMITS), app);
    hardenHttpServer(server, 'node-1', LIMITS);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('answers an oversized header block with a JSON 431', async () => {
    const s = await open(port);
    const done = answer(s);
    s.write(`GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(LIMITS.headersSizeMaxBytes)}\r\n\r\n`);
    const r = parse(await done);
    assert.equal(r.status, 431);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(r.headers.get('x-kuberaft-served-by'), 'node-1');
    assert.equal(r.body.error?.code, 'headers-too-large');
  });

  it('answers an oversized URL and a malformed request with JSON errors', async () => {
    const long = await open(port);
    const longDone = answer(long);
    long.write(`GET /v1/kv/${'k'.repeat(LIMITS.headersSizeMaxBytes + 1)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.equal(parse(await longDone).body.error?.code, 'headers-too-large');
    for (const garbage of ['NOT HTTP AT ALL\r\n\r\n', 'GET / HTTP/1.1\r\nBad Header\r\n\r\n', 'GET /v1/status HTTP/1.1\r\nContent-Length: x\r\n\r\n']) {
      const s = await open(port);
      const done = answer(s);
      s.write(garbage);
      const r = parse(await done);
      assert.equal(r.status, 400, garbage);
      assert.equal(r.body.error?.code, 'bad-request', garbage);
      assert.match(r.body.error?.message ?? '', /^malformed HTTP request: /);
    }
  });

  it('answers a request whose headers do not arrive in time with a JSON 408', async () => {
    const s = await open(port);
    const done = answer(s);
    s.write('GET /v1/status HTTP/1.1\r\nHost: x\r\n');
    const started = Date.now();
    const r = parse(await done);
    assert.equal(r.status, 408);
    assert.equal(r.body.error?.code, 'request-timeout');
    assert.ok(Date.now() - started < 5_000);
  });

  it('closes connections beyond the cap and serves again once they go', async () => {
    const held = await Promise.all(Array.from({ length: LIMITS.connectionsMax }, () => open(port)));
    await sleep(50);
    const extra = await open(port);
    const closed = answer(extra);
    extra.write('GET /livez HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(await closed, '', 'a connection beyond the cap gets no answer');
    for (const s of held) s.destroy();
    await sleep(100);
    const res = await fetch(`http://127.0.0.1:${port}/livez`);
    assert.equal(res.status, 200);
    await res.text();
  });
});
