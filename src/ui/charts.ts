// The page's four charts, drawn by uPlot (loaded by index.html from the node as a global).
import type UPlot from 'uplot';
import { PROPOSAL_RESULTS, type Point } from './rates.js';

declare global {
  interface Window {
    readonly uPlot: typeof UPlot;
  }
}

const CHART_HEIGHT_PX = 170;
/** Time axis ticks at whole seconds and minutes. */
const TIME_TICK_INCREMENTS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300];
const COLORS = ['#2563eb', '#16a34a', '#dc2626', '#d97706', '#7c3aed'];

interface ChartSpec {
  readonly key: string;
  readonly title: string;
  readonly unit: string;
  readonly series: readonly { readonly label: string; readonly value: (p: Point) => number | null }[];
}

const SPECS: readonly ChartSpec[] = [
  { key: 'commits', title: 'Commits', unit: '/s', series: [{ label: 'entries committed', value: (p) => p.commitsPerSecond }] },
  {
    key: 'proposals',
    title: 'Proposals',
    unit: '/s',
    series: PROPOSAL_RESULTS.map((r) => ({ label: r, value: (p: Point) => p.proposalsPerSecond[r] })),
  },
  {
    key: 'commit-latency',
    title: 'Commit latency',
    unit: 'ms',
    series: [
      { label: 'p50', value: (p) => p.commitP50Ms },
      { label: 'p99', value: (p) => p.commitP99Ms },
    ],
  },
  { key: 'fsync', title: 'WAL fsync', unit: 'ms', series: [{ label: 'p99', value: (p) => p.fsyncP99Ms }] },
];

function format(v: number | null, unit: string): string {
  if (v === null) return '–';
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${unit}`;
}

interface Chart {
  readonly spec: ChartSpec;
  readonly plot: UPlot;
  /** One per series: its colour, label and newest value. */
  readonly latest: readonly HTMLElement[];
  readonly box: HTMLElement;
}

function clock(seconds: number): string {
  return new Date(seconds * 1000).toLocaleTimeString('en-GB', { hour12: false });
}

export class Charts {
  private readonly charts: Chart[] = [];

  constructor(container: HTMLElement) {
    // Every box is laid out before any chart measures its width (a lone grid item spans the whole row).
    const laidOut: { spec: ChartSpec; latest: HTMLElement[]; box: HTMLElement; area: HTMLElement }[] = [];
    for (const spec of SPECS) {
      const box = document.createElement('section');
      box.className = 'chart';
      box.dataset.chart = spec.key;
      const head = document.createElement('h3');
      head.textContent = `${spec.title} (${spec.unit})`;
      const latest = spec.series.map((s, i) => {
        const el = document.createElement('span');
        el.className = 'latest';
        // Set through the CSSOM, which the page's Content-Security-Policy allows (style attributes it does not).
        el.style.setProperty('--series-color', COLORS[i % COLORS.length] ?? 'black');
        el.textContent = `${s.label} –`;
        head.append(' ', el);
        return el;
      });
      const area = document.createElement('div');
      box.append(head, area);
      container.append(box);
      laidOut.push({ spec, latest, box, area });
    }
    for (const { spec, latest, box, area } of laidOut) {
      const plot = new window.uPlot(
        {
          width: Math.max(200, area.clientWidth),
          height: CHART_HEIGHT_PX,
          legend: { show: false },
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
          axes: [{ space: 70, incrs: TIME_TICK_INCREMENTS_S, values: (_u, splits) => splits.map(clock) }, { size: 50 }],
          series: [
            {},
            ...spec.series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false, points: { show: false } })),
          ],
        },
        [[], ...spec.series.map(() => [])],
        area,
      );
      this.charts.push({ spec, plot, latest, box });
    }
    new ResizeObserver(() => this.resize()).observe(container);
  }

  update(points: readonly Point[]): void {
    const t = points.map((p) => p.t);
    const last = points[points.length - 1];
    for (const c of this.charts) {
      c.plot.setData([t, ...c.spec.series.map((s) => points.map((p) => s.value(p)))]);
      c.spec.series.forEach((s, i) => {
        const el = c.latest[i];
        if (el !== undefined) el.textContent = `${s.label} ${last === undefined ? '–' : format(s.value(last), c.spec.unit)}`;
      });
      // The newest value, machine-readable (tests and scrapers of the page read it).
      c.box.dataset.latest = String(last === undefined ? '' : (c.spec.series[0]?.value(last) ?? ''));
    }
  }

  private resize(): void {
    for (const c of this.charts) {
      const area = c.plot.root.parentElement;
      if (area !== null && Math.abs(area.clientWidth - c.plot.width) > 1) c.plot.setSize({ width: Math.max(200, area.clientWidth), height: CHART_HEIGHT_PX });
    }
  }
}
