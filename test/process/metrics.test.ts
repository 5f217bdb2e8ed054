// /metrics of real node processes: every metric the design names is there with sensible values, and
// `promtool check metrics` (Debian package `prometheus`) accepts the exposition.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { ProcessCluster, destroyAll, http } from './harness.js';
import { History, KvClient } from './workload.js';
import type { NodeProcess } from './harness.js';

const WRITES = 20;

/** The design's metric names (docs/operations.md) and the TYPE each must have. */
const REQUIRED: readonly [string, string][] = [
  ['raft_term', 'gauge'],
  ['raft_commit_index', 'gauge'],
  ['raft_applied_index', 'gauge'],
  ['raft_last_log_index', 'gauge'],
  ['raft_snapshot_size_bytes', 'gauge'],
  ['raft_snapshot_index', 'gauge'],
  ['raft_is_leader', 'gauge'],
  ['raft_leader_changes_total', 'counter'],
  ['raft_members', 'gauge'],
  ['raft_peer_match_index', 'gauge'],
  ['raft_proposals_total', 'counter'],
  ['raft_wal_fsync_duration_seconds', 'histogram'],
  ['raft_commit_latency_seconds', 'histogram'],
  ['process_cpu_seconds_total', 'counter'],
  ['process_resident_memory_bytes', 'gauge'],
  ['process_start_time_seconds', 'gauge'],
  ['nodejs_eventloop_lag_seconds', 'gauge'],
];

let cluster: ProcessCluster;

before(async () => {
  cluster = await ProcessCluster.start({ nodes: 3 });
  const client = new KvClient(1, cluster, new History());
  for (let i = 0; i < WRITES; i += 1) assert.equal(await client.put(`m-${i}`, String(i)), 'ok');
  await cluster.waitConverged();
});
after(destroyAll);

async function scrape(node: NodeProcess): Promise<string> {
  const r = await http(`${node.url}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
  return r.body.toString('utf8');
}

/** The value of one sample line `name{labels} value`, labels given exactly as exposed (node label included). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const found = new Map<string, string>();
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) found.set(pair[1] ?? '', pair[2] ?? '');
    if (Object.entries(labels).every(([k, v]) => found.get(k) === v)) return Number(m[3]);
  }
  return undefined;
}

describe('metrics', () => {
  it('exposes every metric of the design with values matching /v1/status', async () => {
    const leader = await cluster.waitForLeader();
    for (const node of cluster.nodes.values()) {
      const text = await scrape(node);
      for (const [name, type] of REQUIRED) assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), `${node.id}: ${name} (${type}) missing`);
      const s = await node.status();
      const isLeader = node.id === leader.id;
      assert.equal(sample(text, 'raft_is_leader', { node: node.id }), isLeader ? 1 : 0);
      assert.equal(sample(text, 'raft_term'), s.term);
      assert.equal(sample(text, 'raft_commit_index'), s.commitIndex);
      assert.equal(sample(text, 'raft_applied_index'), s.appliedIndex);
      assert.equal(sample(text, 'raft_last_log_index'), s.lastIndex);
      assert.ok((sample(text, 'raft_commit_index') ?? 0) >= WRITES);
      assert.equal(sample(text, 'raft_snapshot_index'), s.snapshotIndex);
      assert.equal(sample(text, 'raft_snapshot_size_bytes'), s.snapshotSizeBytes);
      assert.equal(sample(text, 'raft_members', { role: 'voter' }), 3);
      assert.equal(sample(text, 'raft_members', { role: 'learner' }), 0);
      assert.ok((sample(text, 'raft_leader_changes_total') ?? 0) >= 1);
      // Every node fsyncs its WAL.
      assert.ok((sample(text, 'raft_wal_fsync_duration_seconds_count') ?? 0) > 0, `${node.id}: no fsync observed`);
      if (isLeader) {
        assert.ok((sample(text, 'raft_proposals_total', { result: 'committed' }) ?? 0) >= WRITES);
        assert.ok((sample(text, 'raft_commit_latency_seconds_count') ?? 0) >= WRITES);
        for (const peer of cluster.nodes.keys()) {
          if (peer === node.id) continue;
          assert.equal(sample(text, 'raft_peer_match_index', { peer }), s.lastIndex, `match index of ${peer}`);
        }
      } else {
        assert.equal(sample(text, 'raft_peer_match_index'), undefined, 'only the leader tracks peers');
      }
      assert.ok((sample(text, 'process_resident_memory_bytes') ?? 0) > 0);
    }
  });

  it('passes promtool check metrics', async () => {
    const which = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
    assert.equal(
      which.status,
      0,
      'promtool is not installed: install the Debian package "prometheus" (apt-get install -y prometheus); .ci/run does this in CI',
    );
    for (const node of cluster.nodes.values()) {
      const text = await scrape(node);
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(check.status, 0, `${node.id}: promtool check metrics failed:\n${check.stdout}${check.stderr}`);
    }
  });
});
