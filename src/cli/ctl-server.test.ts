// `kuberaft ctl` end to end against a real HTTP server on 127.0.0.1 that answers as a node does: what it
// sends (through the client library) and what it prints.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCtlCommand } from './ctl.js';
import type { CliIo } from './io.js';

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
const dir = mkdtempSync(join(tmpdir(), 'kuberaft-ctl-'));

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

function captureIo(env: Record<string, string> = {}): CliIo & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return { out: (t) => void (out += t), err: (t) => void (err += t), env, stdout: () => out, stderr: () => err };
}

describe('kuberaft ctl against a server', () => {
  it('prints a value and exits 0; prints the server message and exits 1 on errors', async () => {
    handler = (req, res) => {
      if (req.url === '/v1/kv/k') {
        res.writeHead(200, { 'x-kuberaft-revision': '5' });
        return void res.end('hello');
      }
      json(res, 409, { error: { code: 'membership-change-pending', message: 'wait for the pending change to commit' } });
    };
    const io = captureIo({ KUBERAFT_ENDPOINT: endpoint });
    assert.equal(await runCtlCommand(['get', 'k'], io), 0);
    assert.equal(io.stdout(), 'hello\n');
    const io2 = captureIo({ KUBERAFT_ENDPOINT: endpoint });
    assert.equal(await runCtlCommand(['members', 'remove', 'n3'], io2), 1);
    assert.equal(io2.stderr(), 'kuberaft ctl: wait for the pending change to commit (membership-change-pending, HTTP 409)\n');
  });

  it('sends the token from the token file and prints JSON with --json', async () => {
    handler = (_req, res) => json(res, 200, { index: 4, digest: 'ab12' });
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'sekrit-token\n');
    const io = captureIo({ KUBERAFT_ENDPOINT: endpoint, KUBERAFT_TOKEN_FILE: tokenFile });
    assert.equal(await runCtlCommand(['digest', '--json'], io), 0);
    assert.deepEqual(JSON.parse(io.stdout()), { index: 4, digest: 'ab12' });
    assert.equal(last().headers['authorization'], 'Bearer sekrit-token');
  });

  it('exits 1 when a cas does not swap or a key is absent', async () => {
    handler = (req, res) =>
      req.url.endsWith('/cas') ? json(res, 200, { ok: false, revision: 2 }) : json(res, 404, { error: { code: 'not-found', message: 'no such key' } });
    const io = captureIo({ KUBERAFT_ENDPOINT: endpoint });
    assert.equal(await runCtlCommand(['cas', 'k', 'a', 'b'], io), 1);
    assert.match(io.stdout(), /not swapped/);
    assert.equal(await runCtlCommand(['get', 'nope'], io), 1);
    assert.match(io.stderr(), /key "nope" not found/);
  });
});

describe('kuberaft ctl leases and watch', () => {
  it('grants, shows, keeps alive and revokes leases, and puts with a lease', async () => {
    handler = (req, res) => {
      if (req.url === '/v1/leases') return json(res, 200, { id: 12, ttlMs: 3000 });
      if (req.url === '/v1/leases/12/keepalive') return json(res, 200, { id: 12, ttlMs: 3000 });
      if (req.url === '/v1/leases/12' && req.method === 'GET') return json(res, 200, { id: 12, ttlMs: 3000, remainingMs: 2500, keys: 1 });
      if (req.url === '/v1/leases/12') return json(res, 200, { revoked: true, keysDeleted: 1, revision: 20 });
      json(res, 200, { revision: 13 });
    };
    const io = captureIo({ KUBERAFT_ENDPOINT: endpoint });
    assert.equal(await runCtlCommand(['lease', 'grant', '3000'], io), 0);
    assert.deepEqual(JSON.parse(last().body.toString()), { ttlMs: 3000 });
    assert.equal(await runCtlCommand(['put', 'k', 'v', '--lease', '12'], io), 0);
    assert.equal(last().url, '/v1/kv/k?lease=12');
    assert.equal(await runCtlCommand(['lease', 'show', '12'], io), 0);
    assert.equal(await runCtlCommand(['lease', 'keepalive', '12'], io), 0);
    assert.equal(await runCtlCommand(['lease', 'revoke', '12'], io), 0);
    assert.equal(last().method, 'DELETE');
    assert.equal(
      io.stdout(),
      'lease 12 (ttl 3000 ms)\nOK (revision 13)\nlease 12: ttl 3000 ms, 2500 ms left, 1 keys\nlease 12 kept alive for 3000 ms\nrevoked; 1 keys deleted (revision 20)\n',
    );
  });

  it('prints watched changes, one per line, and stops after --limit events', async () => {
    handler = (req, res) => {
      assert.match(req.url, /^\/v1\/watch\?prefix=a%2F&encoding=base64&fromRevision=5$/);
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify({ type: 'created', fromRevision: 5, node: 'node-1' })}\n`);
      res.write(`${JSON.stringify({ type: 'events', revision: 5, events: [{ type: 'put', key: 'a/1', value: Buffer.from('x').toString('base64') }] })}\n`);
      res.write(`${JSON.stringify({ type: 'events', revision: 7, events: [{ type: 'delete', key: 'a/1' }] })}\n`);
    };
    const io = captureIo({ KUBERAFT_ENDPOINT: endpoint });
    assert.equal(await runCtlCommand(['watch', 'a/', '--from-revision', '5', '--limit', '2'], io), 0);
    assert.equal(io.stdout(), '5\tput\ta/1\tx\n7\tdelete\ta/1\n');
  });
});
