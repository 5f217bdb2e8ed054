// The client against real HTTP(S) servers on 127.0.0.1 that answer as nodes do, scripted per test:
// routing to the leader, retries that keep one request id, lanes for concurrent writes, time limits,
// cancellation, error codes, TLS with a client certificate, bearer tokens, and watches that resume.
// The process suite (test/process/client.test.ts) runs the same client against real nodes.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, afterEach, describe, it } from 'node:test';
import { generateClusterCerts } from '../../test/controlplane/certs.js';
import { REQUEST_ID_HEADER } from '../api/types.js';
import { Client } from './client.js';
import { CompactedError, KuberaftError } from './errors.js';

interface Seen {
  readonly node: string;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

type Handler = (node: string, req: Seen, res: ServerResponse) => void;

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
    await once(s, 'close');
  }
});

function reply(res: ServerResponse, node: string, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-kuberaft-served-by': node });
  res.end(JSON.stringify(body));
}

/** `count` fake nodes node-1..; `/v1/status` says who leads (`leader()`), everything else goes to `handler`. */
async function fakeCluster(count: number, leader: () => string, handler: Handler): Promise<{ urls: string[]; seen: Seen[] }> {
  const seen: Seen[] = [];
  const urls: string[] = [];
  for (let i = 1; i <= count; i++) {
    const node = `node-${i}`;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const s: Seen = { node, method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() };
        if (s.url === '/v1/status') return reply(res, node, 200, { id: node, role: leader() === node ? 'leader' : 'follower', leader: leader(), term: 1, commitIndex: 1, members: [] });
        seen.push(s);
        handler(node, s, res);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    servers.push(server);
    urls.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  }
  return { urls, seen };
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<KuberaftError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof KuberaftError, String(e));
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected a ${code} error`);
}

describe('Client', () => {
  it('sends writes and linearizable reads straight to the leader, learned from the nodes', async () => {
    let leader = 'node-2';
    const { urls, seen } = await fakeCluster(3, () => leader, (node, req, res) => {
      if (node !== leader) return reply(res, node, 503, { error: { code: 'not-leader', message: `ask ${leader}`, leader } });
      if (req.method === 'PUT') return reply(res, node, 200, { revision: 7 });
      res.writeHead(200, { 'x-kuberaft-served-by': node, 'x-kuberaft-revision': '7', 'x-kuberaft-lease': '3' });
      res.end('v');
    });
    const client = new Client({ endpoints: urls });
    assert.deepEqual(await client.put('k', 'v'), { revision: 7 });
    const got = await client.get('k');
    assert.deepEqual(got, { key: 'k', value: Buffer.from('v'), revision: 7, lease: 3, servedBy: 'node-2' });
    assert.deepEqual(
      seen.map((s) => s.node),
      ['node-2', 'node-2'],
    );
    // Leadership moves: the old leader names the new one, and the client follows at once.
    leader = 'node-3';
    await client.put('k', 'w');
    assert.deepEqual(
      seen.slice(2).map((s) => s.node),
      ['node-2', 'node-3'],
    );
    await client.put('k', 'x');
    assert.equal(seen.at(-1)?.node, 'node-3');
    client.close();
  });

  it('retries a write with the same request id until it gets an answer, and gives concurrent writes their own lanes', async () => {
    let failures = 2;
    const { urls, seen } = await fakeCluster(1, () => 'node-1', (node, req, res) => {
      if (req.url.startsWith('/v1/kv/retry') && failures-- > 0) return reply(res, node, 504, { error: { code: 'maybe-committed', message: 'unknown outcome' } });
      if (req.url.startsWith('/v1/kv/slow')) return void setTimeout(() => reply(res, node, 200, { revision: 1, ok: true }), 50);
      reply(res, node, 200, { revision: 1, deleted: true, ok: true });
    });
    const client = new Client({ endpoints: urls, clientId: 'me', retry: { initialDelayMs: 1, maxDelayMs: 5 } });
    await client.put('retry', 'v');
    const ids = seen.map((s) => s.headers[REQUEST_ID_HEADER.toLowerCase()]);
    assert.equal(ids.length, 3);
    assert.ok(ids.every((id) => id === 'me.0:1'), JSON.stringify(ids));
    // The next write on the lane has the next sequence number.
    await client.delete('k');
    assert.equal(seen.at(-1)?.headers[REQUEST_ID_HEADER.toLowerCase()], 'me.0:2');
    seen.length = 0;
    await Promise.all([client.put('slow1', 'a'), client.put('slow2', 'b'), client.cas('slow3', null, 'c')]);
    const lanes = new Set(seen.map((s) => String(s.headers[REQUEST_ID_HEADER.toLowerCase()]).split(':')[0]));
    assert.equal(lanes.size, 3, 'three writes in flight, three lanes');
    // Reads and lease calls carry no request id.
    seen.length = 0;
    await client.list('p').catch(() => undefined);
    assert.equal(seen[0]?.headers[REQUEST_ID_HEADER.toLowerCase()], undefined);
    client.close();
  });

  it('does not retry what cannot succeed, and maps error answers to typed errors', async () => {
    const { urls, seen } = await fakeCluster(1, () => 'node-1', (node, req, res) => {
      if (req.url.startsWith('/v1/watch')) return reply(res, node, 410, { error: { code: 'compacted', message: 'too old', oldestRevision: 42 } });
      if (req.url.startsWith('/v1/leases')) return reply(res, node, 404, { error: { code: 'lease-not-found', message: 'gone' } });
      reply(res, node, 413, { error: { code: 'too-large', message: 'value too large' } });
    });
    const client = new Client({ endpoints: urls });
    const e = await rejectsWith(client.put('k', 'v'), 'too-large');
    assert.equal(e.status, 413);
    assert.equal(seen.length, 1);
    await rejectsWith(client.keepAliveOnce(5), 'lease-not-found');
    const w = client.watch('p', { fromRevision: 1 });
    try {
      for await (const _ of w) assert.fail('no events');
      assert.fail('the watch should have thrown');
    } catch (err) {
      assert.ok(err instanceof CompactedError, String(err));
      assert.equal(err.oldestRevision, 42);
    }
    client.close();
  });

  it('gives up at the call\'s time limit, and when the caller aborts', async () => {
    const { urls } = await fakeCluster(1, () => 'node-1', () => undefined /* never answers */);
    const client = new Client({ endpoints: urls, timeoutMs: 100 });
    const started = performance.now();
    await rejectsWith(client.get('k'), 'timeout');
    assert.ok(performance.now() - started < 2_000);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    await rejectsWith(client.put('k', 'v', { signal: abort.signal, timeoutMs: 5_000 }), 'aborted');
    client.close();
    await rejectsWith(client.get('k'), 'closed');
  });

  it('keeps retrying while no node answers, then reports the last failure', async () => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as AddressInfo).port;
    probe.close();
    await once(probe, 'close');
    const client = new Client({ endpoints: [`http://127.0.0.1:${port}`], timeoutMs: 300, retry: { initialDelayMs: 5, maxDelayMs: 20 } });
    const e = await rejectsWith(client.put('k', 'v'), 'timeout');
    assert.match(e.message, /ECONNREFUSED/);
    client.close();
  });

  it('sends the bearer token on every request', async () => {
    const { urls, seen } = await fakeCluster(1, () => 'node-1', (node, _req, res) => reply(res, node, 200, { revision: 1 }));
    let n = 0;
    const client = new Client({ endpoints: urls, token: () => `t${++n}` });
    await client.put('a', 'b');
    await client.put('a', 'c');
    assert.deepEqual(
      seen.map((s) => s.headers.authorization),
      ['Bearer t1', 'Bearer t2'],
    );
    client.close();
  });

  it('watches resume after the node closes the stream or the connection breaks, with no gap and no duplicate', async () => {
    const asked: string[] = [];
    let round = 0;
    const { urls } = await fakeCluster(2, () => 'node-1', (node, req, res) => {
      asked.push(`${node} ${req.url}`);
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const line = (m: unknown): boolean => res.write(`${JSON.stringify(m)}\n`);
      const put = (revision: number, key: string): boolean => line({ type: 'events', revision, events: [{ type: 'put', key, value: Buffer.from(`v${revision}`).toString('base64') }] });
      round++;
      if (round === 1) {
        line({ type: 'created', fromRevision: 5, node });
        put(5, 'a');
        put(6, 'b');
        line({ type: 'closed', code: 'slow-watcher', message: 'too slow', resumeRevision: 7 });
        res.end();
      } else if (round === 2) {
        line({ type: 'created', fromRevision: 7, node });
        // A node asked from further back than needed would send 6 again: the client drops it.
        put(6, 'b');
        put(7, 'c');
        line({ type: 'progress', revision: 9 });
        // Ended mid-line: the half message is not an event.
        res.end('{"type":"events","revision":10,"ev');
      } else {
        line({ type: 'created', fromRevision: 10, node });
        put(10, 'd');
      }
    });
    const client = new Client({ endpoints: urls, retry: { initialDelayMs: 1, maxDelayMs: 5 } });
    const w = client.watch('', {});
    const got: string[] = [];
    for await (const e of w) {
      got.push(`${e.revision}:${e.key}=${e.type === 'put' ? e.value.toString() : ''}`);
      if (got.length === 4) break;
    }
    assert.deepEqual(got, ['5:a=v5', '6:b=v6', '7:c=v7', '10:d=v10']);
    assert.match(asked[0] ?? '', /\/v1\/watch\?prefix=&encoding=base64$/);
    assert.match(asked[1] ?? '', /fromRevision=7/);
    assert.match(asked[2] ?? '', /fromRevision=10/);
    assert.equal(w.revision, 10);
    client.close();
  });

  it('a watch whose stream goes silent moves on to another node', async () => {
    const asked: string[] = [];
    const { urls } = await fakeCluster(2, () => 'node-1', (node, req, res) => {
      asked.push(node);
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify({ type: 'created', fromRevision: 1, node })}\n`);
      if (asked.length > 1) res.write(`${JSON.stringify({ type: 'events', revision: 1, events: [{ type: 'delete', key: 'k' }] })}\n`);
      // Otherwise: silence, as from a stopped node.
      void req;
    });
    const client = new Client({ endpoints: urls });
    const w = client.watch('', { fromRevision: 1, idleTimeoutMs: 200 });
    for await (const e of w) {
      assert.deepEqual(e, { type: 'delete', key: 'k', revision: 1 });
      break;
    }
    assert.equal(asked.length, 2);
    assert.notEqual(asked[0], asked[1]);
    client.close();
  });
});

describe('Client over TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kuberaft-client-tls-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('checks the node\'s certificate against the given CA and presents a client certificate', async () => {
    const certs = generateClusterCerts(dir, ['127.0.0.1'], ['localhost']);
    const server = createTlsServer(
      { cert: readFileSync(certs.apiserverCert), key: readFileSync(certs.apiserverKey), ca: readFileSync(certs.caCert), requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        reply(res, 'node-1', 200, { revision: (req.socket as TLSSocket).authorized ? 1 : 0, cn: peer.subject?.CN });
      },
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    servers.push(server);
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = new Client({ endpoints: [url], tls: { ca: readFileSync(certs.caCert), cert: readFileSync(certs.adminCert), key: readFileSync(certs.adminKey) } });
    assert.deepEqual(await client.put('k', 'v'), { revision: 1 }, 'the client presented a certificate the server trusts');
    client.close();
    // Without the CA the node's certificate is refused: no retry makes that succeed.
    const untrusting = new Client({ endpoints: [url], timeoutMs: 300 });
    const e = await rejectsWith(untrusting.put('k', 'v'), 'timeout');
    assert.match(e.message, /certificate|self.signed|UNABLE_TO|SELF_SIGNED/i);
    untrusting.close();
  });
});
