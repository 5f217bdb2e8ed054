// Hostile and mistaken input against real node processes: garbage and malformed frames on the peer
// port, a peer holding the wrong cluster secret, bad HTTP requests. Every process stays up and keeps
// serving, and every HTTP error is JSON with a stable code and the documented status.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KEY_SIZE_MAX_BYTES, VALUE_SIZE_MAX_BYTES } from '../../src/kv/limits.js';
import { FRAME_SIZE_MAX_BYTES, HANDSHAKE_TIMEOUT_MS, PROTOCOL_VERSION } from '../../src/transport/constants.js';
import { ProcessCluster, destroyAll, http } from './harness.js';
import { History, KvClient, assertClusterSound } from './workload.js';
import type { HttpResult, NodeProcess } from './harness.js';

/** The node must close a bad connection well within this (a handshake timeout plus margin). */
const CLOSE_WAIT_MS = HANDSHAKE_TIMEOUT_MS + 5_000;
/** How long a learner with the wrong secret is watched for any progress. */
const REFUSED_WATCH_MS = 2_000;

let cluster: ProcessCluster;
const history = new History();
let client: KvClient;
let writes = 0;

before(async () => {
  cluster = await ProcessCluster.start({ nodes: 3 });
  client = new KvClient(1, cluster, history);
});
after(destroyAll);

/** Every member process runs, answers /livez, and the cluster takes a write. */
async function assertServing(): Promise<void> {
  for (const n of cluster.nodes.values()) {
    assert.ok(n.running, `${n.id} exited:\n${n.logTail()}`);
    const live = await http(`${n.url}/livez`);
    assert.equal(live.status, 200, n.id);
  }
  writes += 1;
  assert.equal(await client.put(`alive-${writes}`, String(writes)), 'ok');
}

function frame(version: number, type: number, payload: Uint8Array): Buffer {
  const out = Buffer.alloc(6 + payload.length);
  out.writeUInt32BE(2 + payload.length, 0);
  out[4] = version;
  out[5] = type;
  out.set(payload, 6);
  return out;
}

/** The header of a frame one byte over the limit. */
function oversizedHeader(): Buffer {
  const b = Buffer.alloc(6);
  b.writeUInt32BE(FRAME_SIZE_MAX_BYTES + 1, 0);
  b[4] = PROTOCOL_VERSION;
  b[5] = 6;
  return b;
}

/** Connects to a peer port, writes `bytes`, and resolves once the node closes the connection. */
async function sendAndExpectClose(port: number, bytes: Uint8Array): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined); // a reset is as good as a close
  socket.resume();
  try {
    await once(socket, 'connect');
    socket.write(bytes);
    await Promise.race([
      once(socket, 'close'),
      sleep(CLOSE_WAIT_MS).then(() => {
        throw new Error(`the node on port ${port} kept a bad connection open for ${CLOSE_WAIT_MS} ms`);
      }),
    ]);
  } finally {
    socket.destroy();
  }
}

function errorOf(r: HttpResult): { code: string; message: string } {
  assert.match(r.headers.get('content-type') ?? '', /application\/json/);
  const body = r.json<{ error?: { code?: unknown; message?: unknown } }>();
  assert.ok(body.error !== undefined && typeof body.error.code === 'string' && typeof body.error.message === 'string', r.body.toString());
  assert.ok(body.error.message.length > 0);
  return { code: body.error.code, message: body.error.message };
}

async function expectError(node: NodeProcess, path: string, init: RequestInit, status: number, code: string): Promise<{ code: string; message: string }> {
  const r = await http(`${node.url}${path}`, init);
  assert.equal(r.status, status, `${init.method ?? 'GET'} ${path}: ${r.status} ${r.body.toString().slice(0, 300)}`);
  const error = errorOf(r);
  assert.equal(error.code, code, `${init.method ?? 'GET'} ${path}`);
  return error;
}

describe('bad input', () => {
  it('closes connections that send garbage or malformed frames on the peer port, and lives on', async () => {
    const hostile: Uint8Array[] = [
      randomBytes(4096),
      // A length beyond the frame limit: refused from its 4 bytes, before any buffering.
      Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 1]),
      oversizedHeader(),
      // A wrong protocol version, an unknown frame type, a hello whose fields run past the frame.
      frame(PROTOCOL_VERSION + 7, 1, randomBytes(40)),
      frame(PROTOCOL_VERSION, 250, randomBytes(40)),
      frame(PROTOCOL_VERSION, 1, Buffer.from([0xff, 0xff, 1, 2, 3])),
      // A Raft message before any handshake.
      frame(PROTOCOL_VERSION, 6, randomBytes(64)),
      // A length below the header's own size.
      Buffer.from([0, 0, 0, 1, 1]),
      // Half a frame, then silence: the handshake timeout closes it.
      Buffer.from([0, 0, 0, 40, PROTOCOL_VERSION, 1, 0]),
    ];
    await Promise.all([...cluster.nodes.values()].flatMap((n) => hostile.map((bytes) => sendAndExpectClose(n.peerPort, bytes))));
    await assertServing();
    // The node says why it closed them.
    const leader = await cluster.waitForLeader();
    assert.match(leader.log, /"msg":"peer connection closed".*malformed-frame|"msg":"peer handshake failed"/);
  });

  it('refuses a peer with the wrong cluster secret and keeps working', async () => {
    const wrongSecret = join(cluster.dir, 'wrong-secret');
    writeFileSync(wrongSecret, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const stranger = await cluster.addSlot('node-x', { clusterSecretFile: wrongSecret });
    await stranger.start();
    const add = await cluster.admin('POST', '/v1/members', { id: 'node-x', address: stranger.peerAddress, role: 'learner' });
    assert.equal(add.status, 200, add.body.toString());
    await sleep(REFUSED_WATCH_MS);
    const leader = await cluster.waitForLeader();
    const s = await leader.status();
    assert.equal(s.members.find((m) => m.id === 'node-x')?.matchIndex, 0, 'a peer without the secret received entries');
    assert.equal((await stranger.status()).state, 'joining');
    assert.match(leader.log + stranger.log, /"msg":"peer handshake failed"/);
    await assertServing();
    // Promoting it is refused (it never caught up); the cluster takes it out again.
    const promote = await http(`${leader.url}/v1/members/node-x/promote`, { method: 'POST', headers: cluster.adminHeaders() });
    assert.ok(promote.status >= 400 && promote.status < 500, `promote of a learner that never caught up: ${promote.status}`);
    await cluster.remove('node-x');
    await stranger.kill();
    cluster.nodes.delete('node-x');
    await assertServing();
  });

  it('answers bad HTTP requests with JSON errors and the documented status codes', async () => {
    const leader = await cluster.waitForLeader();
    const follower = [...cluster.nodes.values()].find((n) => n.id !== leader.id);
    assert.ok(follower !== undefined);
    const admin = cluster.adminHeaders({ 'content-type': 'application/json' });
    const write = cluster.headers('write');
    const read = cluster.headers('read');
    for (const node of [leader, follower]) {
      // Membership: malformed JSON, wrong types, wrong role, missing fields.
      await expectError(node, '/v1/members', { method: 'POST', headers: admin, body: '{"id": "node-9", "address": ' }, 400, 'bad-request');
      await expectError(node, '/v1/members', { method: 'POST', headers: admin, body: '{"id": 5, "address": "127.0.0.1:1"}' }, 400, 'bad-request');
      await expectError(node, '/v1/members', { method: 'POST', headers: admin, body: '["node-9"]' }, 400, 'bad-request');
      await expectError(node, '/v1/members', { method: 'POST', headers: admin, body: '{"id": "node-9", "address": "127.0.0.1:1", "role": "voter"}' }, 400, 'bad-request');
      await expectError(node, '/v1/members', { method: 'POST', headers: admin, body: '{"id": "node-9"}' }, 400, 'bad-request');
      await expectError(node, '/v1/leader/transfer', { method: 'POST', headers: admin, body: '{"to": null}' }, 400, 'bad-request');
      // A member no node could be started as, or at an address nobody can dial, never enters the configuration.
      await expectError(node, '/v1/members', { method: 'POST', headers: admin, body: '{"id": "bad id!", "address": "127.0.0.1:1"}' }, 400, 'bad-request');
      await expectError(node, '/v1/members', { method: 'POST', headers: admin, body: JSON.stringify({ id: 'n'.repeat(64), address: '127.0.0.1:1' }) }, 400, 'bad-request');
      await expectError(node, '/v1/members', { method: 'POST', headers: admin, body: '{"id": "node-9", "address": "nohost"}' }, 400, 'bad-request');
      await expectError(node, '/v1/members', { method: 'POST', headers: admin, body: '{"id": "node-9", "address": "0.0.0.0:7001"}' }, 400, 'bad-request');
      await expectError(node, '/internal/join?name=node-9&host=nohost', { headers: admin }, 400, 'bad-request');
      // Unknown members.
      await expectError(node, '/v1/members/nobody/promote', { method: 'POST', headers: admin }, 404, 'unknown-member');
      await expectError(node, '/v1/members/nobody', { method: 'DELETE', headers: admin }, 404, 'unknown-member');
      // Admin endpoints without or with a wrong bearer token.
      await expectError(node, '/v1/members', { method: 'POST', body: '{"id": "node-9", "address": "127.0.0.1:1"}' }, 401, 'unauthorized');
      await expectError(node, '/v1/members/node-2', { method: 'DELETE', headers: { authorization: 'Bearer nope' } }, 401, 'unauthorized');
      await expectError(node, '/v1/bootstrap', { method: 'POST' }, 401, 'unauthorized');
      await expectError(node, '/internal/leave?name=node-2&host=x', { method: 'GET' }, 401, 'unauthorized');
      // A bootstrapped member refuses a second bootstrap.
      await expectError(node, '/v1/bootstrap', { method: 'POST', headers: admin }, 409, 'already-initialized');
      // Key and value limits.
      await expectError(node, `/v1/kv/${'k'.repeat(KEY_SIZE_MAX_BYTES + 1)}`, { method: 'PUT', body: 'v', headers: write }, 413, 'too-large');
      await expectError(node, `/v1/kv/${'k'.repeat(KEY_SIZE_MAX_BYTES + 1)}`, { method: 'GET', headers: read }, 413, 'too-large');
      await expectError(node, '/v1/kv/big', { method: 'PUT', body: Buffer.alloc(VALUE_SIZE_MAX_BYTES + 1, 0x61), headers: write }, 413, 'too-large');
      // Other malformed client requests.
      await expectError(node, '/v1/kv/x', { method: 'PUT', body: 'v', headers: { ...write, 'x-kuberaft-request-id': 'no-sequence' } }, 400, 'bad-request');
      await expectError(node, '/v1/kv/x?consistency=eventual', { method: 'GET', headers: read }, 400, 'bad-request');
      await expectError(node, '/v1/kv?prefix=a&limit=-1', { method: 'GET', headers: read }, 400, 'bad-request');
      await expectError(node, '/v1/kv/x/cas', { method: 'POST', headers: { ...write, 'content-type': 'application/json' }, body: '{"expected": 1, "value": "v"}' }, 400, 'bad-request');
      await expectError(node, '/v1/kv/x/cas', { method: 'POST', headers: { ...write, 'content-type': 'application/json' }, body: 'not json' }, 400, 'bad-request');
      await expectError(node, '/v1/kv/x', { method: 'POST', body: '{}', headers: write }, 400, 'bad-request');
      await expectError(node, '/v1/kv/absent-key', { method: 'GET', headers: read }, 404, 'not-found');
      // A key that is not valid percent-encoding: the message blames the path, not a body.
      const undecodable = await expectError(node, '/v1/kv/%ZZ', { method: 'GET', headers: read }, 400, 'bad-request');
      assert.match(undecodable.message, /^malformed request: .*%ZZ/);
      const badJson = await expectError(node, '/v1/members', { method: 'POST', headers: admin, body: '{' }, 400, 'bad-request');
      assert.match(badJson.message, /^malformed request body: /);
      // Unknown routes.
      await expectError(node, '/v2/anything', { method: 'GET' }, 404, 'not-found');
      await expectError(node, '/v1/status', { method: 'DELETE' }, 404, 'not-found');
    }
    assert.deepEqual((await cluster.members()).map((m) => m.id).sort(), ['node-1', 'node-2', 'node-3']);
    // A key and values of exactly the limit are fine, also forwarded by a follower.
    assert.equal(await client.put('k'.repeat(KEY_SIZE_MAX_BYTES), 'at the limit'), 'ok');
    const viaFollower = new KvClient(2, cluster, history, follower);
    const big = (c: string): string => c.repeat(VALUE_SIZE_MAX_BYTES);
    for (const c of ['a', 'b', 'c']) assert.equal(await viaFollower.put(`big-${c}`, big(c)), 'ok');
    assert.equal(await viaFollower.get('big-b'), big('b'));
    await assertServing();
    await assertClusterSound(cluster, history);
  });
});
