// A latency histogram with logarithmic buckets: constant relative precision at every scale, a fixed
// size however many samples it holds, and mergeable, so load workers send it to the orchestrator
// instead of every sample.

/** Relative width of one bucket: percentiles are exact to within this fraction. */
export const HISTOGRAM_PRECISION_RATIO = 0.01;
/** Smallest latency told apart, in microseconds; anything faster lands in the first bucket. */
const HISTOGRAM_MIN_US = 1;
/** Latencies above this (in microseconds, here 10 min) land in the last bucket. */
const HISTOGRAM_MAX_US = 600_000_000;

const LOG_BASE = Math.log1p(HISTOGRAM_PRECISION_RATIO);
const BUCKETS = Math.ceil(Math.log(HISTOGRAM_MAX_US / HISTOGRAM_MIN_US) / LOG_BASE) + 1;

/** The JSON form a worker sends: sparse [bucket, count] pairs. */
export interface HistogramData {
  readonly buckets: readonly (readonly [number, number])[];
  readonly count: number;
  readonly sumUs: number;
  readonly maxUs: number;
}

export class Histogram {
  private readonly counts = new Float64Array(BUCKETS);
  private total = 0;
  private sumUs = 0;
  private maxUs = 0;

  recordMs(latencyMs: number): void {
    const us = Math.max(HISTOGRAM_MIN_US, latencyMs * 1000);
    const bucket = Math.min(BUCKETS - 1, Math.floor(Math.log(us / HISTOGRAM_MIN_US) / LOG_BASE));
    this.counts[bucket] = (this.counts[bucket] ?? 0) + 1;
    this.total++;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
  }

  get count(): number {
    return this.total;
  }

  meanMs(): number {
    return this.total === 0 ? NaN : this.sumUs / this.total / 1000;
  }

  maxMs(): number {
    return this.maxUs / 1000;
  }

  /** The latency at or below which `p` percent of samples fall (upper edge of its bucket), in ms. */
  percentileMs(p: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.counts[b] ?? 0;
      if (seen >= rank) return Math.min(this.maxUs, HISTOGRAM_MIN_US * Math.exp((b + 1) * LOG_BASE)) / 1000;
    }
    return this.maxUs / 1000;
  }

  merge(other: Histogram | HistogramData): void {
    const data = other instanceof Histogram ? other.toData() : other;
    for (const [b, n] of data.buckets) this.counts[b] = (this.counts[b] ?? 0) + n;
    this.total += data.count;
    this.sumUs += data.sumUs;
    if (data.maxUs > this.maxUs) this.maxUs = data.maxUs;
  }

  toData(): HistogramData {
    const buckets: [number, number][] = [];
    for (let b = 0; b < BUCKETS; b++) {
      const n = this.counts[b] ?? 0;
      if (n > 0) buckets.push([b, n]);
    }
    return { buckets, count: this.total, sumUs: this.sumUs, maxUs: this.maxUs };
  }

  static fromData(data: HistogramData): Histogram {
    const h = new Histogram();
    h.merge(data);
    return h;
  }
}
