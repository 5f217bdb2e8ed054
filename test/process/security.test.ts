// The client API's and the peer port's refusals, against real node processes: authorization by role
// through a leader and a follower (which forwards), JSON-only JSON routes, the exactly-once header,
// token files re-read on change, HTTP limits answered as JSON, the pre-authentication frame limit and
// the per-source connection limit on the peer port. Then the plain mode: no tokens at all.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FRAME_PREAUTH_MAX_BYTES, INBOUND_CONNECTIONS_MAX, INBOUND_CONNECTIONS_PER_SOURCE_MAX, PROTOCOL_VERSION } from '../../src/transport/constants.js';
import { NodeProcess, ProcessCluster, destroyAll, freePort, http, waitUntil } from './harness.js';
import type { HttpResult } from './harness.js';

/** Token files are polled every second: a change is in force within this. */
const RELOAD_WAIT_MS = 10_000;

let cluster: ProcessCluster;
let leader: NodeProcess;
let follower: NodeProcess;

before(async () => {
  cluster = await ProcessCluster.start({ nodes: 2 });
  leader = await cluster.waitForLeader();
  const other = [...cluster.nodes.values()].find((n) => n.id !== leader.id);
  assert.ok(other !== undefined);
  follower = other;
});
after(destroyAll);

function code(r: HttpResult): string | undefined {
  return r.json<{ error?: { code?: string } }>().error?.code;
}

async function expect(node: NodeProcess, path: string, init: RequestInit, status: number, errorCode?: string): Promise<HttpResult> {
  const r = await http(`${node.url}${path}`, init);
  assert.equal(r.status, status, `${node.id} ${init.method ?? 'GET'} ${path}: ${r.body.toString().slice(0, 300)}`);
  if (errorCode !== undefined) assert.equal(code(r), errorCode);
  return r;
}

describe('the client API of a node with tokens', () => {
  it('refuses requests without a token, with too small a role, and serves the right one', async () => {
    for (const node of [leader, follower]) {
      const put = (headers: Record<string, string>): RequestInit => ({ method: 'PUT', body: 'v', headers });
      const none = await expect(node, '/v1/kv/k', put({}), 401, 'unauthorized');
      assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="kuberaft"');
      await expect(node, '/v1/kv/k', put({ authorization: 'Bearer not-a-token-of-this-cluster' }), 401, 'unauthorized');
      await expect(node, '/v1/kv/k', put(cluster.headers('read')), 403, 'forbidden');
      await expect(node, '/v1/status', {}, 401, 'unauthorized');
      await expect(node, '/internal/join?name=node-9&host=127.0.0.1:1', { headers: cluster.headers('write') }, 403, 'forbidden');
      await expect(node, '/internal/leave?name=node-9&host=127.0.0.1:1', { headers: cluster.headers('write') }, 403, 'forbidden');
      await expect(node, '/v1/members/node-9', { method: 'DELETE', headers: cluster.headers('write') }, 403, 'forbidden');
      const body = JSON.stringify({ to: node.id });
      await expect(node, '/v1/leader/transfer', { method: 'POST', body, headers: cluster.headers('write', { 'content-type': 'application/json' }) }, 403, 'forbidden');
      // A follower forwards the write with its principal; the leader serves it.
      const ok = await expect(node, `/v1/kv/by-${node.id}`, put(cluster.headers('write')), 200);
      assert.equal(ok.headers.get('x-kuberaft-served-by'), leader.id);
      const read = await expect(node, `/v1/kv/by-${node.id}`, { headers: cluster.headers('read') }, 200);
      assert.equal(read.body.toString(), 'v');
      // Probes and metrics need no token.
      for (const path of ['/livez', '/readyz', '/metrics']) await expect(node, path, {}, 200);
    }
  });

  it('takes compare-and-swap only as JSON: a text/plain body (what a cross-site form sends) is 415', async () => {
    const body = JSON.stringify({ expected: null, value: 'csrf' });
    await expect(follower, '/v1/kv/csrf/cas', { method: 'POST', body, headers: cluster.headers('write', { 'content-type': 'text/plain' }) }, 415, 'unsupported-media-type');
    await expect(follower, '/v1/kv/csrf', { headers: cluster.headers('read') }, 404, 'not-found');
    const r = await expect(follower, '/v1/kv/csrf/cas', { method: 'POST', body, headers: cluster.headers('write', { 'content-type': 'application/json' }) }, 200);
    assert.equal(r.json<{ ok: boolean }>().ok, true);
  });

  it('makes writes exactly-once with X-Kuberaft-Request-Id and leaves X-Request-Id to proxies', async () => {
    const id = `security-${process.pid}:1`;
    const first = await expect(follower, '/v1/kv/once', { method: 'PUT', body: 'first', headers: cluster.headers('write', { 'x-kuberaft-request-id': id }) }, 200);
    const retry = await expect(follower, '/v1/kv/once', { method: 'PUT', body: 'retry', headers: cluster.headers('write', { 'x-kuberaft-request-id': id }) }, 200);
    assert.deepEqual(retry.json(), first.json(), 'the retry answers the first result');
    assert.equal((await expect(leader, '/v1/kv/once', { headers: cluster.headers('read') }, 200)).body.toString(), 'first');
    // A proxy's UUID: neither a 400 nor taken for a request id (two puts, two revisions).
    const uuid = { 'x-request-id': '9b2f0a7e-3c1d-4e5f-8a9b-0c1d2e3f4a5b' };
    const a = await expect(follower, '/v1/kv/proxied', { method: 'PUT', body: 'a', headers: cluster.headers('write', uuid) }, 200);
    const b = await expect(follower, '/v1/kv/proxied', { method: 'PUT', body: 'b', headers: cluster.headers('write', uuid) }, 200);
    assert.ok(b.json<{ revision: number }>().revision > a.json<{ revision: number }>().revision);
  });

  it('lists binary values as base64 and refuses to list them as text', async () => {
    const binary = Buffer.from([0xc3, 0x28, 0x00, 0xff]);
    await expect(follower, '/v1/kv/bin/x', { method: 'PUT', body: binary, headers: cluster.headers('write') }, 200);
    await expect(follower, '/v1/kv?prefix=bin/', { headers: cluster.headers('read') }, 422, 'value-not-utf8');
    const r = await expect(follower, '/v1/kv?prefix=bin/&encoding=base64', { headers: cluster.headers('read') }, 200);
    const items = r.json<{ items: { key: string; value: string }[] }>().items;
    assert.deepEqual(items.map((i) => [i.key, Buffer.from(i.value, 'base64')]), [['bin/x', binary]]);
  });

  it('re-reads the tokens file: a new token works and a removed one is refused, without a restart', async () => {
    const fresh = 'rotated-token-rotated-token';
    const lines = [`  - {name: rotated, role: write, token: ${fresh}}`, `  - {name: test-read, role: read, token: ${cluster.tokens.read}}`, `  - {name: test-admin, role: admin, token: ${cluster.tokens.admin}}`];
    writeFileSync(cluster.tokensFile, `tokens:\n${lines.join('\n')}\n`);
    const put = (token: string): Promise<HttpResult> => http(`${follower.url}/v1/kv/rotation`, { method: 'PUT', body: 'v', headers: { authorization: `Bearer ${token}` } });
    await waitUntil('the rotated token to work on both nodes', async () => (await put(fresh)).status === 200 && (await http(`${leader.url}/v1/kv/rotation`, { method: 'PUT', body: 'v', headers: { authorization: `Bearer ${fresh}` } })).status === 200, RELOAD_WAIT_MS);
    assert.equal((await put(cluster.tokens.write)).status, 401, 'the removed write token is refused');
    // A file that does not parse leaves the tokens in force (and the node says why).
    writeFileSync(cluster.tokensFile, 'tokens: [unclosed\n');
    await waitUntil('the node to log the unusable tokens file', () => /token files changed but cannot be used/.test(follower.log), RELOAD_WAIT_MS);
    assert.equal((await put(fresh)).status, 200);
    assert.ok(!follower.log.includes(fresh) && !follower.log.includes(cluster.tokens.admin), 'no token in the log');
    // Back to the harness's tokens for the tests that follow.
    const original = (['read', 'write', 'admin'] as const).map((role) => `  - {name: test-${role}, role: ${role}, token: ${cluster.tokens[role]}}`);
    writeFileSync(cluster.tokensFile, `tokens:\n${original.join('\n')}\n`);
    await waitUntil('the original write token to work again', async () => (await put(cluster.tokens.write)).status === 200, RELOAD_WAIT_MS);
  });

  it('answers an oversized header block with a JSON 431 (a raw socket: fetch would refuse to send it)', async () => {
    const socket = connect(follower.apiPort, '127.0.0.1');
    await once(socket, 'connect');
    let text = '';
    socket.setEncoding('utf8').on('data', (d: string) => (text += d));
    socket.write(`GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(32 * 1024)}\r\n\r\n`);
    await once(socket, 'close');
    const [head = '', body = ''] = text.split('\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 431 /);
    assert.match(head, /content-type: application\/json/i);
    assert.equal((JSON.parse(body) as { error: { code: string } }).error.code, 'headers-too-large');
  });
});

describe('the peer port of a node', () => {
  it('closes a connection that announces a frame larger than any handshake frame', async () => {
    const socket = connect(follower.peerPort, '127.0.0.1');
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    const head = Buffer.alloc(6);
    head.writeUInt32BE(FRAME_PREAUTH_MAX_BYTES + 1);
    head[4] = PROTOCOL_VERSION;
    head[5] = 1;
    socket.write(head);
    socket.resume();
    await once(socket, 'close');
    await waitUntil('the node to log why', () => new RegExp(`frame length ${FRAME_PREAUTH_MAX_BYTES + 1} exceeds the limit of ${FRAME_PREAUTH_MAX_BYTES} bytes`).test(follower.log), 5_000);
  });

  it('refuses the connections of one source beyond its limit, and the cluster keeps working', async () => {
    const attempts = INBOUND_CONNECTIONS_MAX + 1;
    const sockets: Socket[] = [];
    let closed = 0;
    try {
      for (let i = 0; i < attempts; i += 1) {
        const s = connect({ port: follower.peerPort, host: '127.0.0.1', localAddress: '127.0.0.2' });
        s.on('error', () => undefined);
        s.on('close', () => (closed += 1));
        s.resume();
        sockets.push(s);
      }
      await waitUntil('the connections beyond the per-source limit to be closed', () => closed >= attempts - INBOUND_CONNECTIONS_PER_SOURCE_MAX, 5_000);
      await sleep(200);
      assert.equal(closed, attempts - INBOUND_CONNECTIONS_PER_SOURCE_MAX);
      // The leader's replication to the follower, and the follower's forwarding, still work.
      await expect(follower, '/v1/kv/under-attack', { method: 'PUT', body: 'v', headers: cluster.headers('write') }, 200);
      await cluster.waitConverged();
    } finally {
      for (const s of sockets) s.destroy();
    }
  });
});

describe('the data directory of a running node', () => {
  it('refuses a second process on it, and leaves the node serving', async () => {
    const second = new NodeProcess(follower.id, await freePort(), await freePort(), follower.dataDir, cluster);
    await second.start({ waitLive: false });
    assert.deepEqual(await second.exited(), { code: 1, signal: null }, second.logTail());
    assert.match(second.log, /"code":"data-dir-locked"/);
    assert.match(second.log, new RegExp(`in use by process ${follower.pid}`));
    await expect(follower, '/v1/kv/still-mine', { method: 'PUT', body: 'v', headers: cluster.headers('write') }, 200);
  });
});

describe('a node without tokens (plain mode)', () => {
  it('serves requests without a token when started with --anonymous-role admin', async () => {
    const plain = ProcessCluster.create({ auth: 'anonymous' });
    const node = await plain.addSlot('plain-1');
    await node.start({ bootstrap: true });
    await plain.waitForLeader();
    await expect(node, '/v1/kv/plain', { method: 'PUT', body: 'p' }, 200);
    assert.equal((await expect(node, '/v1/kv/plain', {}, 200)).body.toString(), 'p');
    assert.equal((await node.status()).role, 'leader');
    plain.destroy();
  });
});
