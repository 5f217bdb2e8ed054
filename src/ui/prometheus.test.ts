import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { histogramDelta, histogramOf, histogramQuantile, parseMetrics, valueOf } from './prometheus.js';

const TEXT = `# HELP raft_commit_index Highest log index known to be committed.
# TYPE raft_commit_index gauge
raft_commit_index{node="node-1"} 42
raft_proposals_total{node="node-1",result="committed"} 40
raft_proposals_total{node="node-1",result="dropped"} 2
odd_labels{a="x\\"y",b="line\\nbreak",c="back\\\\slash"} 1.5e3
raft_commit_latency_seconds_bucket{le="0.001",node="node-1"} 10
raft_commit_latency_seconds_bucket{le="0.01",node="node-1"} 30
raft_commit_latency_seconds_bucket{le="+Inf",node="node-1"} 40
raft_commit_latency_seconds_count{node="node-1"} 40
not a sample line
broken{a="unterminated} 1
`;

describe('the metrics text parser', () => {
  const scrape = parseMetrics(TEXT);

  it('reads gauges and counters by labels', () => {
    assert.equal(valueOf(scrape, 'raft_commit_index'), 42);
    assert.equal(valueOf(scrape, 'raft_proposals_total', { result: 'dropped' }), 2);
    assert.equal(valueOf(scrape, 'raft_proposals_total', { result: 'timeout' }), undefined);
  });

  it('unescapes label values and reads exponents', () => {
    assert.deepEqual(scrape.get('odd_labels')?.[0], { labels: { a: 'x"y', b: 'line\nbreak', c: 'back\\slash' }, value: 1500 });
  });

  it('skips lines it cannot read instead of failing', () => {
    assert.equal(scrape.get('broken'), undefined);
    assert.equal(scrape.get('not'), undefined);
  });

  it('reads a histogram in bucket order', () => {
    assert.deepEqual(histogramOf(scrape, 'raft_commit_latency_seconds')?.buckets, [
      { le: 0.001, count: 10 },
      { le: 0.01, count: 30 },
      { le: Number.POSITIVE_INFINITY, count: 40 },
    ]);
  });
});

describe('histogram quantiles, as Prometheus computes them', () => {
  const h = { buckets: [{ le: 0.001, count: 10 }, { le: 0.01, count: 30 }, { le: Number.POSITIVE_INFINITY, count: 40 }] };

  it('interpolates inside the bucket that holds the rank', () => {
    // rank 20 of 40: the second bucket holds ranks 10..30, halfway → 0.001 + 0.5 × 0.009.
    assert.ok(Math.abs((histogramQuantile(0.5, h) ?? 0) - 0.0055) < 1e-12);
    // rank 5 in the first bucket: from 0.
    assert.ok(Math.abs((histogramQuantile(0.125, h) ?? 0) - 0.0005) < 1e-12);
  });

  it('answers the highest finite bound for a rank in the +Inf bucket', () => {
    assert.equal(histogramQuantile(0.99, h), 0.01);
  });

  it('has no quantile without observations', () => {
    assert.equal(histogramQuantile(0.5, { buckets: [{ le: 1, count: 0 }, { le: Number.POSITIVE_INFINITY, count: 0 }] }), undefined);
  });

  it('subtracts scrapes, and refuses a counter that went back (a restart)', () => {
    const later = { buckets: [{ le: 0.001, count: 10 }, { le: 0.01, count: 50 }, { le: Number.POSITIVE_INFINITY, count: 60 }] };
    assert.deepEqual(histogramDelta(h, later)?.buckets.map((b) => b.count), [0, 20, 20]);
    assert.equal(histogramDelta(later, h), undefined);
  });
});
