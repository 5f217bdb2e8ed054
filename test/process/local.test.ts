// The real `kuberaft local --nodes 3`: forms a cluster of three processes, serves through any node,
// stops every child on SIGINT, and resumes from its data dirs.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LocalCluster, STOP_TIMEOUT_MS, ctl, freePortBase, killAll, pidAlive, waitFor } from './local-cluster.js';

const dataDir = mkdtempSync(join(tmpdir(), 'kuberaft-local-'));
const started: LocalCluster[] = [];
const pids: number[] = [];
after(() => {
  for (const c of started) c.kill();
  killAll(pids);
  rmSync(dataDir, { recursive: true, force: true });
});

describe('kuberaft local --nodes 3', () => {
  it('forms a 3-voter cluster, serves through a follower, stops every child on SIGINT and resumes from its data', async () => {
    const portBase = await freePortBase(3);
    const first = await LocalCluster.start({ nodes: 3, dataDir, portBase });
    started.push(first);
    pids.push(...(await first.nodePids()));

    // It prints each node's API URL and peer address.
    for (let i = 1; i <= 3; i += 1)
      assert.match(first.stdout, new RegExp(`^local \\| node-${i}  api http://127\\.0\\.0\\.1:${portBase + 100 + i}  peer 127\\.0\\.0\\.1:${portBase + i}  `, 'm'));
    assert.match(first.stdout, /starting a new 3-node cluster/);
    // And the cluster page's URL, which every node serves.
    const pageUrl = `http://127.0.0.1:${portBase + 101}/`;
    assert.ok(first.stdout.includes(`local | cluster page: ${pageUrl} `), first.stdout);
    const page = await fetch(pageUrl);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>kuberaft<\/title>/);
    // Children's log lines are relayed with their node's prefix.
    assert.match(first.stderr, /^node-2 \| \{"ts":/m);

    // Every node sees the same three voters and the same leader.
    const statuses = await Promise.all([1, 2, 3].map((i) => first.status(i)));
    const leader = statuses[0]?.leader;
    assert.ok(leader !== null && leader !== undefined);
    for (const s of statuses) {
      assert.equal(s.state, 'member');
      assert.equal(s.leader, leader);
    }
    const leaderStatus = statuses.find((s) => s.id === leader);
    assert.deepEqual(
      leaderStatus?.members.map((m) => [m.id, m.role, m.address]),
      [1, 2, 3].map((i) => [`node-${i}`, 'voter', `127.0.0.1:${portBase + i}`]),
    );

    // The shared secrets are generated once, private to the user.
    for (const f of ['cluster-secret', 'admin-token', 'write-token', 'read-token', 'tokens.yaml']) assert.equal(statSync(join(dataDir, f)).mode & 0o777, 0o600, f);
    // Requests need a token; the supervisor says where they are.
    assert.equal((await fetch(`${first.url(1)}/v1/status`)).status, 401);
    assert.match(first.stdout, /^local \| {6}curl -H "Authorization: Bearer \$\(cat .*write-token\)" -X PUT/m);

    // A write and a linearizable read through a follower.
    const follower = statuses.find((s) => s.id !== leader);
    assert.ok(follower !== undefined);
    const followerUrl = first.url(Number(follower.id.replace('node-', '')));
    const token = { KUBERAFT_TOKEN_FILE: join(dataDir, 'write-token') };
    const put = await ctl(['put', 'greeting', 'hello from a follower', '--endpoint', followerUrl], token);
    assert.equal(put.code, 0, put.stderr);
    const got = await ctl(['get', 'greeting', '--endpoint', followerUrl], token);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout, 'hello from a follower\n');

    // A node that dies unexpectedly is reported and restarted, and serves again.
    const victimPid = (await first.status(3)).pid;
    process.kill(victimPid, 'SIGKILL');
    await waitFor('the restart notice', () => /^local \| node-3 exited unexpectedly \(signal SIGKILL\); restarting in \d+ ms$/m.test(first.stdout), 10_000);
    await waitFor(
      'node-3 to serve again under a new pid',
      async () => (await first.status(3).catch(() => undefined))?.pid !== undefined && (await first.status(3)).pid !== victimPid,
      30_000,
    );
    pids.push(...(await first.nodePids()));

    // SIGINT stops the supervisor with exit 0 and leaves no node process behind.
    const nodePids = await first.nodePids();
    assert.equal(new Set(nodePids).size, 3);
    const exit = await first.stop('SIGINT');
    assert.deepEqual(exit, { code: 0, signal: null });
    await waitFor('every node process to exit', () => nodePids.every((p) => !pidAlive(p)), STOP_TIMEOUT_MS);
    assert.match(first.stdout, /^local \| stopped$/m);

    // A second start resumes: no new bootstrap, the same voters, and the value is still there.
    const second = await LocalCluster.start({ nodes: 3, dataDir, portBase });
    started.push(second);
    pids.push(...(await second.nodePids()));
    assert.match(second.stdout, /resuming the 3-node cluster/);
    const again = await ctl(['get', 'greeting', '--endpoint', second.url(3)], token);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'hello from a follower\n');
    const s = await second.status(1);
    assert.equal(s.members.filter((m) => m.role === 'voter').length, 3);
    const secondPids = await second.nodePids();
    assert.deepEqual(await second.stop('SIGTERM'), { code: 0, signal: null });
    await waitFor('every node process to exit', () => secondPids.every((p) => !pidAlive(p)), STOP_TIMEOUT_MS);
  });
});
