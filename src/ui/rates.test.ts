import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMetrics } from './prometheus.js';
import { PointWindow, pointBetween, readingOf } from './rates.js';

function scrape(commit: number, committed: number, fsyncFast: number, fsyncTotal: number): string {
  return [
    `raft_commit_index ${commit}`,
    `raft_proposals_total{result="committed"} ${committed}`,
    `raft_proposals_total{result="dropped"} 0`,
    `raft_wal_fsync_duration_seconds_bucket{le="0.001"} ${fsyncFast}`,
    `raft_wal_fsync_duration_seconds_bucket{le="0.01"} ${fsyncTotal}`,
    `raft_wal_fsync_duration_seconds_bucket{le="+Inf"} ${fsyncTotal}`,
  ].join('\n');
}

describe('chart points from two scrapes', () => {
  it('turns counters into per-second rates and histograms into quantiles in ms', () => {
    const a = readingOf(parseMetrics(scrape(100, 50, 10, 10)), 10_000);
    const b = readingOf(parseMetrics(scrape(300, 150, 10, 110)), 12_000);
    const p = pointBetween(a, b);
    assert.ok(p !== undefined);
    assert.equal(p.t, 12);
    assert.equal(p.commitsPerSecond, 100);
    assert.equal(p.proposalsPerSecond.committed, 50);
    assert.equal(p.proposalsPerSecond.dropped, 0);
    // A series the node does not export is a gap, not a zero.
    assert.equal(p.proposalsPerSecond.timeout, null);
    // All 100 new fsyncs were in (1 ms, 10 ms]: p99 interpolates to 1 + 0.99 × 9 ms.
    assert.ok(Math.abs((p.fsyncP99Ms ?? 0) - 9.91) < 1e-9);
    assert.equal(p.commitP50Ms, null);
  });

  it('shows a gap, not a negative rate, across a restart', () => {
    const a = readingOf(parseMetrics(scrape(500, 50, 10, 10)), 0);
    const b = readingOf(parseMetrics(scrape(20, 3, 1, 1)), 1000);
    const p = pointBetween(a, b);
    assert.equal(p?.commitsPerSecond, null);
    assert.equal(p?.fsyncP99Ms, null);
  });

  it('keeps only the window', () => {
    const w = new PointWindow(3000);
    for (let s = 0; s <= 10; s++) w.add(readingOf(parseMetrics(scrape(s * 10, s, 0, 0)), s * 1000));
    assert.deepEqual(
      w.all().map((p) => p.t),
      [7, 8, 9, 10],
    );
    assert.ok(w.all().every((p) => p.commitsPerSecond === 10));
  });
});
