// Turns a run's results into the console table, latest.md, the target verdicts and the chart series.
import type { CatchUpResult } from './catchup.js';
import type { DiskFloor } from './disk.js';
import type { FailoverResult } from './failover.js';
import type { MachineInfo } from './machine.js';
import type { ProfileSummary } from './profile.js';
import type { ChartSeries } from './svg.js';
import type { LoadTarget, SystemName } from './loadgen/protocol.js';

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
  /** By how the load reached the cluster; a row not run through a target lacks it. */
  readonly results: Readonly<Partial<Record<LoadTarget, LoadStats>>>;
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

/** One line of the side-by-side table. `etcdNative`/`etcdGateway` are etcd driven by clientv3 and by its JSON gateway. */
interface TableRow {
  readonly name: string;
  readonly kuberaft: number;
  readonly etcdNative: number | undefined;
  readonly etcdGateway: number | undefined;
  readonly digits: number;
}

function fmt(v: number | undefined, digits: number): string {
  return v !== undefined && Number.isFinite(v) ? v.toFixed(digits) : 'n/a';
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '–';
}

const NAN_STATS: LoadStats = { opsPerSecond: NaN, p50Ms: NaN, p99Ms: NaN, meanMs: NaN, ops: 0, errors: 0, errorSamples: [] };

export function tableRows(r: Pick<BenchResults, 'load' | 'failover' | 'catchUp'>): TableRow[] {
  const rows: TableRow[] = [];
  for (const l of r.load) {
    const k = l.results.kuberaft ?? NAN_STATS;
    const n = l.results['etcd-native'];
    const g = l.results['etcd-gateway'];
    const unit = l.id.startsWith('watch-fanout') ? 'events/s' : 'ops/s';
    rows.push({ name: `${l.title}: ${unit}`, kuberaft: k.opsPerSecond, etcdNative: n?.opsPerSecond, etcdGateway: g?.opsPerSecond, digits: 0 });
    rows.push({ name: `${l.title}: p50 ms`, kuberaft: k.p50Ms, etcdNative: n?.p50Ms, etcdGateway: g?.p50Ms, digits: 2 });
    rows.push({ name: `${l.title}: p99 ms`, kuberaft: k.p99Ms, etcdNative: n?.p99Ms, etcdGateway: g?.p99Ms, digits: 2 });
  }
  // Properties of the cluster, not of a client: measured once per system (etcd's in its column of the native client).
  rows.push({ name: 'failover (SIGKILL leader → first write): p50 ms', kuberaft: r.failover.kuberaft.p50Ms, etcdNative: r.failover.etcd.p50Ms, etcdGateway: undefined, digits: 0 });
  rows.push({ name: 'failover (SIGKILL leader → first write): p99 ms', kuberaft: r.failover.kuberaft.p99Ms, etcdNative: r.failover.etcd.p99Ms, etcdGateway: undefined, digits: 0 });
  rows.push({ name: 'learner catch-up: MB/s', kuberaft: r.catchUp.kuberaft.mbPerSecond, etcdNative: r.catchUp.etcd.mbPerSecond, etcdGateway: undefined, digits: 1 });
  return rows;
}

const TABLE_HEAD = ['workload', 'kuberaft (client library)', 'etcd (clientv3, native)', 'etcd (JSON gateway)', 'kuberaft/native', 'kuberaft/gateway'];

function cells(r: TableRow): string[] {
  return [r.name, fmt(r.kuberaft, r.digits), fmt(r.etcdNative, r.digits), fmt(r.etcdGateway, r.digits), ratio(r.kuberaft, r.etcdNative), ratio(r.kuberaft, r.etcdGateway)];
}

export function consoleTable(rows: readonly TableRow[]): string {
  const all = rows.map(cells);
  const widths = TABLE_HEAD.map((h, i) => Math.max(h.length, ...all.map((c) => (c[i] ?? '').length)));
  const line = (c: readonly string[]): string => c.map((v, i) => (i === 0 ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0))).join('  ');
  return [line(TABLE_HEAD), widths.map((w) => '-'.repeat(w)).join('  '), ...all.map(line)].join('\n');
}

export function evaluateTargets(r: Pick<BenchResults, 'load' | 'failover' | 'catchUp' | 'disk' | 'roundTrip' | 'settings'>): Target[] {
  const targets: Target[] = [];
  for (const id of ['put-64', 'put-256']) {
    const row = r.load.find((l) => l.id === id);
    const k = row?.results.kuberaft;
    if (row === undefined || k === undefined) continue;
    for (const [target, label] of [['etcd-native', 'etcd native'], ['etcd-gateway', 'etcd JSON gateway']] as const) {
      const e = row.results[target];
      if (e === undefined) continue;
      targets.push({ target: `${row.title}: throughput ≥ ${label}`, value: `${fmt(k.opsPerSecond, 0)} vs ${fmt(e.opsPerSecond, 0)} ops/s (${ratio(k.opsPerSecond, e.opsPerSecond)})`, met: k.opsPerSecond >= e.opsPerSecond });
      targets.push({ target: `${row.title}: p99 ≤ ${label}`, value: `${fmt(k.p99Ms, 2)} vs ${fmt(e.p99Ms, 2)} ms (${ratio(k.p99Ms, e.p99Ms)})`, met: k.p99Ms <= e.p99Ms });
    }
  }
  const seq = r.load.find((l) => l.id === 'sequential')?.results.kuberaft;
  if (seq !== undefined) {
    const floor = r.disk.fdatasyncP50Ms + r.roundTrip.kuberaft.p50Ms;
    const limit = 1.5 * floor;
    targets.push({
      target: 'single-client put p50 ≤ 1.5 × (fdatasync p50 + loopback HTTP round trip p50)',
      value: `${fmt(seq.p50Ms, 2)} ms vs limit ${fmt(limit, 2)} ms (floor ${fmt(r.disk.fdatasyncP50Ms, 3)} + ${fmt(r.roundTrip.kuberaft.p50Ms, 3)} ms)`,
      met: seq.p50Ms <= limit,
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
  const colors: Record<LoadTarget, string> = { kuberaft: '#1f6feb', 'etcd-native': '#d1242f', 'etcd-gateway': '#9a6700' };
  const out: ChartSeries[] = [];
  for (const target of ['kuberaft', 'etcd-native', 'etcd-gateway'] as const) {
    for (const [p, dashed] of [['p50', false], ['p99', true]] as const) {
      const points = sweep.flatMap((l) => {
        const r = l.results[target];
        return r === undefined ? [] : [{ throughput: r.opsPerSecond, latencyMs: p === 'p50' ? r.p50Ms : r.p99Ms, label: `${l.clients}c` }];
      });
      if (points.length > 0) out.push({ name: `${target} ${p}`, color: colors[target], dashed, points });
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
  out.push(
    'kuberaft is driven through its client library (src/client: HTTP/1.1, one keep-alive connection per client, writes sent to the leader with request ids); ' +
      'etcd through its own Go client (clientv3 over gRPC, as many connections as clients: the native rows) and through its JSON gateway (HTTP/1.1 + JSON with base64, an in-process proxy in front of the gRPC server: the gateway rows). ' +
      'Failover and catch-up are properties of a cluster, measured once per system (etcd in the native column).',
    '',
  );
  for (const s of ['kuberaft', 'etcd'] as const) for (const n of r.settings[s].notes) out.push(`- ${s}: ${n}`);
  out.push('', '## Side by side', '', `| ${TABLE_HEAD.join(' | ')} |`, '|---|---:|---:|---:|---:|---:|');
  for (const row of tableRows(r)) out.push(`| ${cells(row).join(' | ')} |`);
  const errs = r.load.flatMap((l) =>
    (['kuberaft', 'etcd-native', 'etcd-gateway'] as const).flatMap((t) => {
      const x = l.results[t];
      return x === undefined || x.errors === 0 ? [] : [`${l.title} (${t}): ${x.errors} errors, e.g. ${JSON.stringify(x.errorSamples[0] ?? null)}`];
    }),
  );
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
