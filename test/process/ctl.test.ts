// The real `kuberaft ctl` against a real `kuberaft local --nodes 3` cluster.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalCluster, ctl, freePortBase, killAll, localToken, waitFor } from './local-cluster.js';
import type { CtlResult } from './local-cluster.js';

const dataDir = mkdtempSync(join(tmpdir(), 'kuberaft-ctl-'));
let cluster: LocalCluster | undefined;
const pids: number[] = [];
let leaderOrdinal = 0;
let followerOrdinal = 0;

before(async () => {
  cluster = await LocalCluster.start({ nodes: 3, dataDir, portBase: await freePortBase(3) });
  pids.push(...(await cluster.nodePids()));
});
after(async () => {
  if (cluster !== undefined) await cluster.stop('SIGTERM').catch(() => cluster?.kill());
  killAll(pids);
  rmSync(dataDir, { recursive: true, force: true });
});

function c(): LocalCluster {
  assert.ok(cluster !== undefined);
  return cluster;
}

/** ctl against node `ordinal`, with the admin token. */
function run(ordinal: number, ...args: string[]): Promise<CtlResult> {
  return ctl(args, { KUBERAFT_ENDPOINT: c().url(ordinal), KUBERAFT_TOKEN_FILE: join(dataDir, 'admin-token') });
}

function ok(r: CtlResult): string {
  assert.equal(r.code, 0, `exit ${String(r.code)}: ${r.stderr}`);
  return r.stdout;
}

async function findRoles(): Promise<void> {
  const s = await c().status(1);
  assert.ok(s.leader !== null);
  leaderOrdinal = Number(s.leader.replace('node-', ''));
  followerOrdinal = leaderOrdinal === 1 ? 2 : 1;
}

describe('kuberaft ctl', () => {
  it('puts, gets, lists, compares-and-swaps and deletes through a follower', async () => {
    await findRoles();
    const f = followerOrdinal;
    assert.match(ok(await run(f, 'put', 'app/a', '1')), /^OK \(revision \d+\)\n$/);
    ok(await run(f, 'put', 'app/b', '2'));
    ok(await run(f, 'put', 'other', 'x'));
    assert.equal(ok(await run(f, 'get', 'app/a')), '1\n');
    assert.equal(ok(await run(f, 'list', 'app/')), 'app/a\t1\napp/b\t2\n');
    const json = JSON.parse(ok(await run(f, 'get', 'app/b', '--json'))) as { value: string; revision: number };
    assert.equal(json.value, '2');
    assert.ok(json.revision > 0);

    const swapped = await run(f, 'cas', 'app/a', '1', 'one');
    assert.match(ok(swapped), /^OK/);
    const refused = await run(f, 'cas', 'app/a', '1', 'uno');
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /not swapped/);
    assert.match(ok(await run(f, 'cas', 'app/new', 'fresh', '--absent')), /^OK/);
    assert.equal(ok(await run(f, 'get', 'app/a')), 'one\n');

    assert.match(ok(await run(f, 'del', 'app/b')), /^deleted/);
    assert.match(ok(await run(f, 'del', 'app/b')), /^not found/);
    const missing = await run(f, 'get', 'app/b');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /key "app\/b" not found/);
    // A serializable read answers locally once the follower has applied the write.
    await waitFor('the follower to apply the delete', async () => (await run(f, 'get', 'app/b', '--serializable')).code === 1, 10_000);
  });

  it('shows status and members as tables, and the same digest on every node', async () => {
    const text = ok(await run(followerOrdinal, 'status'));
    assert.match(text, new RegExp(`^id\\s+node-${followerOrdinal}$`, 'm'));
    assert.match(text, /^role\s+follower$/m);
    assert.match(text, /^ID\s+ROLE\s+ADDRESS/m);
    const members = ok(await run(followerOrdinal, 'members'));
    for (const i of [1, 2, 3]) assert.match(members, new RegExp(`^node-${i}( \\*)?\\s+voter\\s+127\\.0\\.0\\.1:\\d+`, 'm'));

    const digestOf = async (i: number): Promise<{ index: number; digest: string }> =>
      JSON.parse(ok(await run(i, 'digest', '--json'))) as { index: number; digest: string };
    await waitFor(
      'equal digests at equal indexes',
      async () => {
        const d = await Promise.all([1, 2, 3].map(digestOf));
        return d.every((x) => x.index === d[0]?.index && x.digest === d[0]?.digest);
      },
      10_000,
    );
  });

  it('transfers leadership and refuses admin calls without the token', async () => {
    await findRoles();
    const target = `node-${followerOrdinal}`;
    const transfer = await run(leaderOrdinal, 'transfer', target);
    assert.equal(ok(transfer), `leader is now ${target}\n`, `stderr: ${transfer.stderr}`);
    await waitFor('every node to follow the new leader', async () => (await c().status(3)).leader === target && (await c().status(1)).leader === target, 10_000);

    // No token given, and none in ./data of the working directory.
    const anonymous = await ctl(['members', 'remove', 'node-3'], { KUBERAFT_ENDPOINT: c().url(1), KUBERAFT_TOKEN_FILE: '', KUBERAFT_TOKEN: '' }, dataDir);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /\(unauthorized, HTTP 401\)/);
    const writer = await ctl(['members', 'remove', 'node-3'], { KUBERAFT_ENDPOINT: c().url(1), KUBERAFT_TOKEN_FILE: join(dataDir, 'write-token') });
    assert.equal(writer.code, 1);
    assert.match(writer.stderr, /token "local-write" has the write role; DELETE \/v1\/members\/node-3 needs admin \(forbidden, HTTP 403\)/);
    const reader = await ctl(['put', 'k', 'v'], { KUBERAFT_ENDPOINT: c().url(1), KUBERAFT_TOKEN: localToken(dataDir, 'read') });
    assert.equal(reader.code, 1);
    assert.match(reader.stderr, /\(forbidden, HTTP 403\)/);
  });

  it('finds the admin token of kuberaft local in ./data by itself', async () => {
    const home = join(dataDir, 'home');
    mkdirSync(join(home, 'data'), { recursive: true });
    copyFileSync(join(dataDir, 'admin-token'), join(home, 'data', 'admin-token'));
    const env = { KUBERAFT_ENDPOINT: c().url(1), KUBERAFT_TOKEN_FILE: '', KUBERAFT_TOKEN: '' };
    assert.match(ok(await ctl(['status'], env, home)), /^role\s+/m);
  });

  it('lists binary values as base64 instead of mangling them', async () => {
    const binary = Buffer.from([0xff, 0x00, 0xfe]);
    const put = await fetch(`${c().url(1)}/v1/kv/bin/one`, { method: 'PUT', body: binary, headers: { authorization: `Bearer ${localToken(dataDir, 'write')}` } });
    assert.equal(put.status, 200);
    await put.text();
    ok(await run(1, 'put', 'bin/two', 'text'));
    assert.equal(ok(await run(1, 'list', 'bin/')), `bin/one\t(base64) ${binary.toString('base64')}\nbin/two\ttext\n`);
  });

  it('watches changes, grants, shows and revokes a lease whose key goes with it, through a follower', async () => {
    await findRoles();
    const f = followerOrdinal;
    const granted = JSON.parse(ok(await run(f, 'lease', 'grant', '60000', '--json'))) as { id: number; ttlMs: number };
    assert.equal(granted.ttlMs, 60_000);
    const put = JSON.parse(ok(await run(f, 'put', 'leased/a', 'held', '--lease', String(granted.id), '--json'))) as { revision: number };
    assert.match(ok(await run(f, 'lease', 'show', String(granted.id))), new RegExp(`^lease ${granted.id}: ttl 60000 ms, \\d+ ms left, 1 keys\n$`));
    assert.match(ok(await run(f, 'lease', 'keepalive', String(granted.id))), /kept alive for 60000 ms/);
    assert.match(ok(await run(f, 'lease', 'revoke', String(granted.id))), /^revoked; 1 keys deleted \(revision \d+\)\n$/);
    // The put and the revocation's delete, from the put's revision on.
    const watched = ok(await run(f, 'watch', 'leased/', '--from-revision', String(put.revision), '--limit', '2'));
    assert.match(watched, new RegExp(`^${put.revision}\tput\tleased/a\theld\n\\d+\tdelete\tleased/a\n$`));
    const gone = await run(f, 'put', 'leased/b', 'x', '--lease', String(granted.id));
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /\(lease-not-found, HTTP 404\)/);
  });

  it('exits 1 with a clear message when the node is unreachable, and 2 on bad arguments', async () => {
    // The client retries an unreachable node until the time limit.
    const down = await ctl(['status', '--endpoint', 'http://127.0.0.1:1', '--timeout-ms', '1000']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot connect/);
    const bad = await ctl(['put', 'only-key']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /usage: kuberaft ctl put KEY VALUE/);
  });
});
