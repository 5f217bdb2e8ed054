// A small hand-written SVG line chart: latency (log scale) against throughput, one line per system and
// percentile, each point labelled with its client count.

export interface ChartPoint {
  readonly throughput: number;
  readonly latencyMs: number;
  readonly label: string;
}

export interface ChartSeries {
  readonly name: string;
  readonly color: string;
  readonly dashed: boolean;
  readonly points: readonly ChartPoint[];
}

const WIDTH = 760;
const HEIGHT = 440;
const MARGIN = { left: 70, right: 190, top: 40, bottom: 50 };
const TICKS_X = 5;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceStep(range: number, ticks: number): number {
  const raw = range / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

export function latencyThroughputSvg(title: string, series: readonly ChartSeries[]): string {
  const pts = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.throughput) && Number.isFinite(p.latencyMs) && p.latencyMs > 0);
  const xMax = Math.max(1, ...pts.map((p) => p.throughput)) * 1.05;
  const xStep = niceStep(xMax, TICKS_X);
  const yMinLog = Math.floor(Math.log10(Math.min(...pts.map((p) => p.latencyMs), 1)));
  const yMaxLog = Math.ceil(Math.log10(Math.max(...pts.map((p) => p.latencyMs), 10)));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (v: number): number => MARGIN.left + (v / (Math.ceil(xMax / xStep) * xStep)) * plotW;
  const y = (ms: number): number => MARGIN.top + plotH - ((Math.log10(ms) - yMinLog) / (yMaxLog - yMinLog)) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`);
  out.push(`<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`);
  for (let v = 0; v <= Math.ceil(xMax / xStep) * xStep + 1e-9; v += xStep) {
    out.push(`<line x1="${x(v).toFixed(1)}" y1="${MARGIN.top}" x2="${x(v).toFixed(1)}" y2="${MARGIN.top + plotH}" stroke="#eee"/>`);
    out.push(`<text x="${x(v).toFixed(1)}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${Math.round(v)}</text>`);
  }
  for (let e = yMinLog; e <= yMaxLog; e++) {
    const ms = 10 ** e;
    out.push(`<line x1="${MARGIN.left}" y1="${y(ms).toFixed(1)}" x2="${MARGIN.left + plotW}" y2="${y(ms).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${(y(ms) + 4).toFixed(1)}" text-anchor="end">${ms >= 1 ? ms : ms.toFixed(-e)}</text>`);
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle">throughput (operations/s)</text>`);
  out.push(`<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">latency (ms, log scale)</text>`);
  series.forEach((s, i) => {
    const visible = s.points.filter((p) => Number.isFinite(p.latencyMs) && p.latencyMs > 0);
    const d = visible.map((p, j) => `${j === 0 ? 'M' : 'L'}${x(p.throughput).toFixed(1)} ${y(p.latencyMs).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const p of visible) {
      out.push(`<circle cx="${x(p.throughput).toFixed(1)}" cy="${y(p.latencyMs).toFixed(1)}" r="3.5" fill="${s.color}"/>`);
      out.push(`<text x="${(x(p.throughput) + 5).toFixed(1)}" y="${(y(p.latencyMs) - 5).toFixed(1)}" font-size="10" fill="${s.color}">${esc(p.label)}</text>`);
    }
    const ly = MARGIN.top + 14 + i * 20;
    const lx = MARGIN.left + plotW + 14;
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 28}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${lx + 34}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
