// Turns a run's results into the console table, latest.md, the target verdicts and the chart series.
import type { CatchUpResult } from './catchup.js';
import type { DiskFloor } from './disk.js';
import type { FailoverResult } from './failover.js';
import type { MachineInfo } from './machine.js';
import type { ProfileSummary } from './profile.js';
import type { ChartSeries } from './svg.js';
import type { SystemName } from './loadgen/protocol.js';

export interface LoadStats {
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly ops: number;
  readonly errors: number;
  readonly errorSamples: readonly { readonly status: number | null; readonly detail: string }[];
}

export interface LoadRow {
  readonly id: string;
  readonly title: string;
  readonly clients: number;
  /** Part of the put sweep drawn in the chart. */
  readonly sweep: boolean;
  readonly results: Readonly<Record<SystemName, LoadStats>>;
}

export interface Target {
  readonly target: string;
  readonly value: string;
  readonly met: boolean;
}

export interface BenchResults {
  readonly mode: string;
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly machine: MachineInfo;
  readonly settings: Readonly<Record<SystemName, { readonly electionTimeoutMs: number; readonly heartbeatIntervalMs: number; readonly notes: readonly string[] }>>;
  readonly disk: DiskFloor;
  readonly roundTrip: Readonly<Record<SystemName, LoadStats>>;
  readonly load: readonly LoadRow[];
  readonly failover: Readonly<Record<SystemName, FailoverResult>>;
  readonly catchUp: Readonly<Record<SystemName, CatchUpResult>>;
  readonly profile: (ProfileSummary & { readonly workload: string }) | null;
  readonly targets: readonly Target[];
}

interface TableRow {
  readonly name: string;
  readonly kuberaft: number;
  readonly etcd: number;
  readonly digits: number;
}

function fmt(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toFixed(digits) : 'n/a';
}

function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a';
}

export function tableRows(r: Pick<BenchResults, 'load' | 'failover' | 'catchUp'>): TableRow[] {
  const rows: TableRow[] = [];
  for (const l of r.load) {
    rows.push({ name: `${l.title}: ops/s`, kuberaft: l.results.kuberaft.opsPerSecond, etcd: l.results.etcd.opsPerSecond, digits: 0 });
    rows.push({ name: `${l.title}: p50 ms`, kuberaft: l.results.kuberaft.p50Ms, etcd: l.results.etcd.p50Ms, digits: 2 });
    rows.push({ name: `${l.title}: p99 ms`, kuberaft: l.results.kuberaft.p99Ms, etcd: l.results.etcd.p99Ms, digits: 2 });
  }
  rows.push({ name: 'failover (SIGKILL leader → first write): p50 ms', kuberaft: r.failover.kuberaft.p50Ms, etcd: r.failover.etcd.p50Ms, digits: 0 });
  rows.push({ name: 'failover (SIGKILL leader → first write): p99 ms', kuberaft: r.failover.kuberaft.p99Ms, etcd: r.failover.etcd.p99Ms, digits: 0 });
  rows.push({ name: 'learner catch-up: MB/s', kuberaft: r.catchUp.kuberaft.mbPerSecond, etcd: r.catchUp.etcd.mbPerSecond, digits: 1 });
  return rows;
}

export function consoleTable(rows: readonly TableRow[]): string {
  const head = ['workload', 'kuberaft', 'etcd', 'ratio'];
  const cells = rows.map((r) => [r.name, fmt(r.kuberaft, r.digits), fmt(r.etcd, r.digits), ratio(r.kuberaft, r.etcd)]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: readonly string[]): string => c.map((v, i) => (i === 0 ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

export function evaluateTargets(r: Pick<BenchResults, 'load' | 'failover' | 'catchUp' | 'disk' | 'roundTrip' | 'settings'>): Target[] {
  const targets: Target[] = [];
  for (const id of ['put-64', 'put-256']) {
    const row = r.load.find((l) => l.id === id);
    if (row === undefined) continue;
    const k = row.results.kuberaft;
    const e = row.results.etcd;
    targets.push({ target: `${row.title}: throughput ≥ etcd`, value: `${fmt(k.opsPerSecond, 0)} vs ${fmt(e.opsPerSecond, 0)} ops/s (${ratio(k.opsPerSecond, e.opsPerSecond)})`, met: k.opsPerSecond >= e.opsPerSecond });
    targets.push({ target: `${row.title}: p99 ≤ etcd`, value: `${fmt(k.p99Ms, 2)} vs ${fmt(e.p99Ms, 2)} ms (${ratio(k.p99Ms, e.p99Ms)})`, met: k.p99Ms <= e.p99Ms });
  }
  const seq = r.load.find((l) => l.id === 'sequential');
  if (seq !== undefined) {
    const floor = r.disk.fdatasyncP50Ms + r.roundTrip.kuberaft.p50Ms;
    const limit = 1.5 * floor;
    targets.push({
      target: 'single-client put p50 ≤ 1.5 × (fdatasync p50 + loopback HTTP round trip p50)',
      value: `${fmt(seq.results.kuberaft.p50Ms, 2)} ms vs limit ${fmt(limit, 2)} ms (floor ${fmt(r.disk.fdatasyncP50Ms, 3)} + ${fmt(r.roundTrip.kuberaft.p50Ms, 3)} ms)`,
      met: seq.results.kuberaft.p50Ms <= limit,
    });
  }
  const limitMs = 2 * r.settings.kuberaft.electionTimeoutMs;
  const f = r.failover.kuberaft;
  targets.push({ target: `failover p99 ≤ 2 × election timeout (${limitMs} ms)`, value: `${fmt(f.p99Ms, 0)} ms over ${f.kills} kills, ${f.failures} without a write in time`, met: f.failures === 0 && f.p99Ms <= limitMs });
  const c = r.catchUp.kuberaft;
  targets.push({ target: 'learner catch-up ≥ 200 MB/s', value: `${fmt(c.mbPerSecond, 1)} MB/s (${fmt(c.stateBytes / 1e6, 0)} MB in ${fmt(c.catchUpMs / 1000, 2)} s)`, met: c.mbPerSecond >= 200 });
  return targets;
}

export function chartSeries(load: readonly LoadRow[]): ChartSeries[] {
  const sweep = load.filter((l) => l.sweep);
  const colors: Record<SystemName, string> = { kuberaft: '#1f6feb', etcd: '#d1242f' };
  const out: ChartSeries[] = [];
  for (const system of ['kuberaft', 'etcd'] as const) {
    for (const [p, dashed] of [['p50', false], ['p99', true]] as const) {
      out.push({
        name: `${system} ${p}`,
        color: colors[system],
        dashed,
        points: sweep.map((l) => ({ throughput: l.results[system].opsPerSecond, latencyMs: p === 'p50' ? l.results[system].p50Ms : l.results[system].p99Ms, label: `${l.clients}c` })),
      });
    }
  }
  return out;
}

export function markdown(r: BenchResults): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(`# kuberaft vs etcd — ${r.mode} run of ${r.startedAt}`, '');
  out.push(`Machine: ${m.cpus} × ${m.cpuModel}, ${m.memTotalGiB} GiB RAM, disk ${m.disk}${m.diskRotational === null ? '' : m.diskRotational ? ' (rotational)' : ' (non-rotational)'}, ` +
    `Linux ${m.kernel}, Node ${m.node}, load average at start ${m.loadAverage1m}. Run took ${Math.round(r.durationSeconds)} s.`, '');
  out.push('Both clusters: 3 voters on 127.0.0.1, data on the same disk, fsync on. Keys 8 bytes, values 256 bytes.', '');
  for (const s of ['kuberaft', 'etcd'] as const) for (const n of r.settings[s].notes) out.push(`- ${s}: ${n}`);
  out.push('', '## Side by side', '', '| workload | kuberaft | etcd | kuberaft/etcd |', '|---|---:|---:|---:|');
  for (const row of tableRows(r)) out.push(`| ${row.name} | ${fmt(row.kuberaft, row.digits)} | ${fmt(row.etcd, row.digits)} | ${ratio(row.kuberaft, row.etcd)} |`);
  const errs = r.load.flatMap((l) => (['kuberaft', 'etcd'] as const).filter((s) => l.results[s].errors > 0).map((s) => `${l.title} (${s}): ${l.results[s].errors} errors, e.g. ${JSON.stringify(l.results[s].errorSamples[0] ?? null)}`));
  if (errs.length > 0) out.push('', 'Errors during load rows:', '', ...errs.map((e) => `- ${e}`));
  out.push('', '## Physical floor (same disk, same run)', '');
  out.push(`| measure | value |`, '|---|---:|');
  out.push(`| 4 KiB write + fdatasync, p50 / p99 | ${fmt(r.disk.fdatasyncP50Ms, 3)} / ${fmt(r.disk.fdatasyncP99Ms, 3)} ms |`);
  out.push(`| sequential write (1 MiB writes, then fsync) | ${fmt(r.disk.sequentialWriteMBps, 0)} MB/s |`);
  out.push(`| loopback HTTP round trip, kuberaft GET /livez, p50 / p99 | ${fmt(r.roundTrip.kuberaft.p50Ms, 3)} / ${fmt(r.roundTrip.kuberaft.p99Ms, 3)} ms |`);
  out.push(`| loopback HTTP round trip, etcd GET /version, p50 / p99 | ${fmt(r.roundTrip.etcd.p50Ms, 3)} / ${fmt(r.roundTrip.etcd.p99Ms, 3)} ms |`);
  out.push('', '## Failover and catch-up', '');
  for (const s of ['kuberaft', 'etcd'] as const) {
    const f = r.failover[s];
    out.push(`- ${s} failover: ${f.kills} SIGKILLs of the leader, ${f.failures} without a write within the give-up time; election timeout ${r.settings[s].electionTimeoutMs} ms, heartbeat ${r.settings[s].heartbeatIntervalMs} ms; samples (ms): ${f.samplesMs.join(', ')}`);
  }
  for (const s of ['kuberaft', 'etcd'] as const) {
    const c = r.catchUp[s];
    const outcome = c.failure === null ? `learner caught up in ${fmt(c.catchUpMs / 1000, 2)} s = ${fmt(c.mbPerSecond, 1)} MB/s; ${c.path}` : `the learner did NOT catch up: ${c.failure}`;
    out.push(`- ${s} catch-up: ${fmt(c.stateBytes / 1e6, 0)} MB loaded in ${fmt(c.loadSeconds, 1)} s (${c.loadErrors} errors); ${outcome}`);
  }
  out.push('', '## Targets', '', '| target | measured | met |', '|---|---|---|');
  for (const t of r.targets) out.push(`| ${t.target} | ${t.value} | ${t.met ? 'yes' : '**no**'} |`);
  if (r.profile !== null) {
    const p = r.profile;
    out.push('', `## Leader CPU profile (${p.workload})`, '', `${fmt(p.totalMs / 1000, 1)} s profiled, ${fmt(p.idlePercent, 1)} % idle.`, '');
    out.push('| self time | % | function | where |', '|---:|---:|---|---|');
    for (const f of p.topFunctions) out.push(`| ${fmt(f.selfMs, 0)} ms | ${fmt(f.percent, 1)} | \`${f.name}\` | ${f.where} |`);
    out.push('', '| self time | % | file |', '|---:|---:|---|');
    for (const f of p.topFiles) out.push(`| ${fmt(f.selfMs, 0)} ms | ${fmt(f.percent, 1)} | ${f.where} |`);
  }
  out.push('', '![latency against throughput](latest.svg)', '');
  return out.join('\n');
}
