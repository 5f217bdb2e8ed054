// Reading the node's own GET /metrics in the page: the Prometheus text format (version 0.0.4) and
// histogram quantiles computed the way Prometheus' histogram_quantile does, so the page's charts
// match what a Prometheus would show for the same node. Pure: no DOM, testable under Node.

export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Series by metric name (histograms appear as name_bucket, name_sum, name_count). */
export type Scrape = ReadonlyMap<string, readonly Sample[]>;

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?[0-9]+)?$/;

function parseValue(text: string): number | undefined {
  switch (text) {
    case '+Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
    case 'NaN':
      return Number.NaN;
    default: {
      const n = Number(text);
      return text.trim() === '' || Number.isNaN(n) ? undefined : n;
    }
  }
}

/** `a="x",b="y\"z"` → {a: 'x', b: 'y"z'}; undefined when malformed. */
function parseLabels(text: string): Record<string, string> | undefined {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const name = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/.exec(text.slice(i));
    if (name === null) return undefined;
    i += name[0].length;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) return undefined;
      i += 1;
      if (c === '"') break;
      if (c !== '\\') {
        value += c;
        continue;
      }
      const escaped = text[i];
      i += 1;
      if (escaped === 'n') value += '\n';
      else if (escaped === '\\' || escaped === '"') value += escaped;
      else return undefined;
    }
    labels[name[1] as string] = value;
    const rest = /^\s*,?\s*/.exec(text.slice(i));
    i += rest === null ? 0 : rest[0].length;
  }
  return labels;
}

/** Parses an exposition; comments and lines it cannot read are skipped (the page shows what it can). */
export function parseMetrics(text: string): Scrape {
  const out = new Map<string, Sample[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE_LINE.exec(line);
    if (m === null) continue;
    const labels = m[3] === undefined ? {} : parseLabels(m[3]);
    const value = parseValue(m[4] as string);
    if (labels === undefined || value === undefined) continue;
    const name = m[1] as string;
    let series = out.get(name);
    if (series === undefined) out.set(name, (series = []));
    series.push({ labels, value });
  }
  return out;
}

/** The value of the series of `name` whose labels include `match` (the first, when several do). */
export function valueOf(scrape: Scrape, name: string, match: Readonly<Record<string, string>> = {}): number | undefined {
  return scrape.get(name)?.find((s) => Object.entries(match).every(([k, v]) => s.labels[k] === v))?.value;
}

/** A cumulative histogram: counts of observations ≤ each upper bound, ascending, the last one +Inf. */
export interface Histogram {
  readonly buckets: readonly { readonly le: number; readonly count: number }[];
}

export function histogramOf(scrape: Scrape, name: string): Histogram | undefined {
  const series = scrape.get(`${name}_bucket`);
  if (series === undefined) return undefined;
  const buckets = series
    .map((s) => ({ le: parseValue(s.labels.le ?? '') ?? Number.NaN, count: s.value }))
    .filter((b) => !Number.isNaN(b.le))
    .sort((a, b) => a.le - b.le);
  return buckets.length === 0 ? undefined : { buckets };
}

/** Observations between two scrapes of the same histogram; undefined when the counter went back (a restart). */
export function histogramDelta(before: Histogram, after: Histogram): Histogram | undefined {
  if (before.buckets.length !== after.buckets.length) return undefined;
  const buckets = [];
  for (let i = 0; i < after.buckets.length; i++) {
    const a = after.buckets[i] as { le: number; count: number };
    const b = before.buckets[i] as { le: number; count: number };
    if (a.le !== b.le || a.count < b.count) return undefined;
    buckets.push({ le: a.le, count: a.count - b.count });
  }
  return { buckets };
}

/**
 * The q-quantile (0 ≤ q ≤ 1) as histogram_quantile computes it: find the bucket holding the rank,
 * interpolate linearly inside it (from 0 for the first bucket); a rank in the +Inf bucket answers the
 * highest finite bound. undefined when there was no observation.
 */
export function histogramQuantile(q: number, h: Histogram): number | undefined {
  const last = h.buckets[h.buckets.length - 1];
  if (last === undefined || last.count <= 0) return undefined;
  const rank = q * last.count;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const b of h.buckets) {
    if (b.count >= rank) {
      if (b.le === Number.POSITIVE_INFINITY) return lowerBound;
      const inBucket = b.count - lowerCount;
      return inBucket <= 0 ? b.le : lowerBound + ((b.le - lowerBound) * (rank - lowerCount)) / inBucket;
    }
    lowerBound = b.le;
    lowerCount = b.count;
  }
  return lowerBound;
}
