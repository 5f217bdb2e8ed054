// Turns consecutive scrapes of the node's /metrics into the points of the page's charts, and keeps
// the last few minutes of them. Pure: no DOM, testable under Node.
import { histogramDelta, histogramOf, histogramQuantile, valueOf, type Histogram, type Scrape } from './prometheus.js';

/** How much history the charts show. */
export const CHART_WINDOW_MS = 5 * 60_000;

export const PROPOSAL_RESULTS = ['committed', 'dropped', 'refused', 'timeout'] as const;
export type ProposalResult = (typeof PROPOSAL_RESULTS)[number];

/** What the page keeps of one scrape. */
export interface Reading {
  /** When the scrape was answered, in milliseconds since the epoch (the page's clock). */
  readonly atMs: number;
  readonly commitIndex: number | undefined;
  readonly proposals: Readonly<Record<ProposalResult, number | undefined>>;
  readonly commitLatency: Histogram | undefined;
  readonly fsync: Histogram | undefined;
}

export function readingOf(scrape: Scrape, atMs: number): Reading {
  const proposals = {} as Record<ProposalResult, number | undefined>;
  for (const result of PROPOSAL_RESULTS) proposals[result] = valueOf(scrape, 'raft_proposals_total', { result });
  return {
    atMs,
    commitIndex: valueOf(scrape, 'raft_commit_index'),
    proposals,
    commitLatency: histogramOf(scrape, 'raft_commit_latency_seconds'),
    fsync: histogramOf(scrape, 'raft_wal_fsync_duration_seconds'),
  };
}

/** One point of every chart; null where the interval had nothing to measure (a gap, not a zero). */
export interface Point {
  /** Seconds since the epoch, the end of the interval (uPlot's time unit). */
  readonly t: number;
  readonly commitsPerSecond: number | null;
  readonly proposalsPerSecond: Readonly<Record<ProposalResult, number | null>>;
  readonly commitP50Ms: number | null;
  readonly commitP99Ms: number | null;
  readonly fsyncP99Ms: number | null;
}

function rate(before: number | undefined, after: number | undefined, seconds: number): number | null {
  // A counter that went back means the node restarted: that interval has no rate.
  if (before === undefined || after === undefined || after < before) return null;
  return (after - before) / seconds;
}

function quantileMs(q: number, before: Histogram | undefined, after: Histogram | undefined): number | null {
  if (before === undefined || after === undefined) return null;
  const delta = histogramDelta(before, after);
  const v = delta === undefined ? undefined : histogramQuantile(q, delta);
  return v === undefined ? null : v * 1000;
}

/** The point for the interval between two readings; undefined if they are not in time order. */
export function pointBetween(before: Reading, after: Reading): Point | undefined {
  const seconds = (after.atMs - before.atMs) / 1000;
  if (!(seconds > 0)) return undefined;
  const proposalsPerSecond = {} as Record<ProposalResult, number | null>;
  for (const r of PROPOSAL_RESULTS) proposalsPerSecond[r] = rate(before.proposals[r], after.proposals[r], seconds);
  return {
    t: after.atMs / 1000,
    commitsPerSecond: rate(before.commitIndex, after.commitIndex, seconds),
    proposalsPerSecond,
    commitP50Ms: quantileMs(0.5, before.commitLatency, after.commitLatency),
    commitP99Ms: quantileMs(0.99, before.commitLatency, after.commitLatency),
    fsyncP99Ms: quantileMs(0.99, before.fsync, after.fsync),
  };
}

/** The points of the last CHART_WINDOW_MS, oldest first. */
export class PointWindow {
  private readonly points: Point[] = [];
  private last: Reading | undefined;

  constructor(private readonly windowMs: number = CHART_WINDOW_MS) {}

  /** Adds a scrape's reading; returns the new point, if the reading made one. */
  add(reading: Reading): Point | undefined {
    const before = this.last;
    this.last = reading;
    const p = before === undefined ? undefined : pointBetween(before, reading);
    if (p === undefined) return undefined;
    this.points.push(p);
    const oldest = p.t - this.windowMs / 1000;
    while ((this.points[0]?.t ?? Number.POSITIVE_INFINITY) < oldest) this.points.shift();
    return p;
  }

  all(): readonly Point[] {
    return this.points;
  }
}
