import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NodeMetrics } from './metrics.js';

const source = {
  term: () => 3,
  commitIndex: () => 10,
  appliedIndex: () => 9,
  lastLogIndex: () => 11,
  snapshotIndex: () => 5,
  snapshotSizeBytes: () => 1234,
  isLeader: () => true,
  membersByRole: () => ({ voter: 3, learner: 1 }),
  peerMatchIndex: () => new Map([['node-2', 10]]),
};

describe('NodeMetrics', () => {
  it('names only counters *_total (Prometheus naming rules, checked by promtool)', async () => {
    const m = new NodeMetrics('node-1', source);
    const metrics = await m.registry.getMetricsAsJSON();
    assert.ok(metrics.length > 20);
    for (const metric of metrics) {
      if (metric.name.endsWith('_total')) assert.equal(metric.type, 'counter', `${metric.name} is a ${metric.type}`);
    }
    // The per-type breakdowns of the removed gauges remain.
    assert.ok(metrics.some((x) => x.name === 'nodejs_active_handles'));
  });

  it('reads the gauges from the source at scrape time', async () => {
    const text = await new NodeMetrics('node-1', source).registry.metrics();
    assert.match(text, /^raft_term\{node="node-1"\} 3$/m);
    assert.match(text, /^raft_members\{role="learner",node="node-1"\} 1$/m);
    assert.match(text, /^raft_peer_match_index\{peer="node-2",node="node-1"\} 10$/m);
  });
});
