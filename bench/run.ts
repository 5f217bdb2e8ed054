// `npm run bench [-- --quick]`: kuberaft against etcd on this machine, in the same run. Starts a
// 3-node cluster of each on loopback with data on the same disk, drives every workload against one
// system at a time (never two at once) — kuberaft through its client library, etcd through its native
// Go client and through its JSON gateway — measures failover and learner catch-up, profiles the
// kuberaft leader, and writes bench/results/latest.*.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measureCatchUp } from './catchup.js';
import type { CatchUpResult } from './catchup.js';
import type { BenchMode } from './config.js';
import {
  FANOUT_WATCHERS,
  FANOUT_WRITERS,
  KEY_SIZE_BYTES,
  LEASE_CLIENTS,
  LEASE_TTL_MS,
  LOAD_WORKERS,
  MIXED_READ_PERCENT,
  MODES,
  PORT_BASE_CANDIDATES,
  PUT_CLIENT_COUNTS,
  PUT_KEY_SPACE,
  READ_CLIENTS,
  READ_KEY_SPACE,
  VALUE_SIZE_BYTES,
} from './config.js';
import { measureDisk } from './disk.js';
import { measureFailover } from './failover.js';
import type { FailoverResult } from './failover.js';
import { LoadPool } from './loadgen/pool.js';
import type { MergedResult } from './loadgen/pool.js';
import { LOAD_TARGETS, systemOf } from './loadgen/protocol.js';
import type { LoadJob, LoadTarget, Operation, SystemName } from './loadgen/protocol.js';
import { describeMachine } from './machine.js';
import { readProfile, summarizeProfile } from './profile.js';
import type { BenchResults, LoadRow, LoadStats } from './report.js';
import { chartSeries, consoleTable, evaluateTargets, markdown, tableRows } from './report.js';
import type { BenchCluster, ClusterMember } from './systems/cluster.js';
import { EtcdCluster, etcdBinary } from './systems/etcd.js';
import { etcdLoadBinary } from './systems/etcd-native.js';
import { KuberaftCluster } from './systems/kuberaft.js';
import { latencyThroughputSvg } from './svg.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
/** Raw artefacts (the .cpuprofile) go here; git ignores it. */
const RAW_DIR = join(RESULTS_DIR, 'raw');
const LEADER_TIMEOUT_MS = 30_000;
const PROFILE_TOP_ENTRIES = 15;

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

/**
 * Compiles the node (dist/) so the benchmark measures the current sources as users run them. tsc emits
 * even when it reports type errors; those are shown but do not stop the run if the node was emitted.
 */
function buildNode(): void {
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(REPO_ROOT, 'tsconfig.build.json')], { encoding: 'utf8' });
  if (r.status === 0) return;
  if (!existsSync(join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js'))) throw new Error(`building the node failed:\n${r.stdout}${r.stderr}`);
  log(`warning: the build reported type errors; benchmarking the JavaScript it emitted:\n${(r.stdout + r.stderr).trim()}`);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function choosePortBase(): Promise<number> {
  for (const base of PORT_BASE_CANDIDATES) {
    const ports = [...KuberaftCluster.ports(base), ...EtcdCluster.ports(base)];
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error(`no free port range among bases ${PORT_BASE_CANDIDATES.join(', ')} (see bench/config.ts PORT_BASE_CANDIDATES)`);
}

function stats(r: MergedResult): LoadStats {
  return {
    opsPerSecond: r.opsPerSecond,
    p50Ms: r.latency.percentileMs(50),
    p99Ms: r.latency.percentileMs(99),
    meanMs: r.latency.meanMs(),
    ops: r.ops,
    errors: r.errors,
    errorSamples: r.errorSamples,
  };
}

interface RowSpec {
  readonly id: string;
  readonly title: string;
  readonly operation: Operation;
  readonly clients: number;
  readonly sweep: boolean;
  readonly keyPrefix: string;
  readonly keySpace: number;
  readonly target: 'leader' | 'follower';
  readonly opsTotal?: number;
  /** How the row is driven: every target, or (for features the gateway rows do not cover) kuberaft and etcd's native client. */
  readonly targets: readonly LoadTarget[];
}

const NATIVE_ONLY: readonly LoadTarget[] = ['kuberaft', 'etcd-native'];

function rowSpecs(mode: BenchMode): RowSpec[] {
  const put = { kind: 'put' } as const;
  const all = LOAD_TARGETS;
  return [
    { id: 'sequential', title: 'sequential puts, 1 client', operation: put, clients: 1, sweep: false, keyPrefix: 'k', keySpace: PUT_KEY_SPACE, target: 'leader', opsTotal: mode.sequentialOps, targets: all },
    ...PUT_CLIENT_COUNTS.map((c) => ({ id: `put-${c}`, title: `puts, ${c} clients`, operation: put, clients: c, sweep: true, keyPrefix: 'k', keySpace: PUT_KEY_SPACE, target: 'leader' as const, targets: all })),
    { id: `read-${READ_CLIENTS}`, title: `linearizable reads, ${READ_CLIENTS} clients`, operation: { kind: 'read' }, clients: READ_CLIENTS, sweep: false, keyPrefix: 'r', keySpace: READ_KEY_SPACE, target: 'leader', targets: all },
    { id: `mixed-${READ_CLIENTS}`, title: `mixed ${MIXED_READ_PERCENT}/${100 - MIXED_READ_PERCENT} read/write, ${READ_CLIENTS} clients`, operation: { kind: 'mixed', readPercent: MIXED_READ_PERCENT }, clients: READ_CLIENTS, sweep: false, keyPrefix: 'r', keySpace: READ_KEY_SPACE, target: 'leader', targets: all },
    { id: 'put-64-follower', title: 'puts via a follower, 64 clients', operation: put, clients: 64, sweep: false, keyPrefix: 'k', keySpace: PUT_KEY_SPACE, target: 'follower', targets: all },
  ];
}

/** Rows of the features the gateway rows do not cover; run last (the leases they grant outlive the row). */
function featureRowSpecs(): RowSpec[] {
  return [
    {
      id: `watch-fanout-${FANOUT_WATCHERS}`,
      title: `watch fan-out: changes delivered to ${FANOUT_WATCHERS} watchers (${FANOUT_WRITERS} writers)`,
      operation: { kind: 'watch-fanout', watchers: FANOUT_WATCHERS, writers: FANOUT_WRITERS },
      clients: FANOUT_WATCHERS + FANOUT_WRITERS,
      sweep: false,
      keyPrefix: 'w',
      keySpace: 1_000,
      target: 'leader',
      targets: NATIVE_ONLY,
    },
    {
      id: `lease-${LEASE_CLIENTS}`,
      title: `lease grant + keepalive, ${LEASE_CLIENTS} clients`,
      operation: { kind: 'lease', ttlMs: LEASE_TTL_MS },
      clients: LEASE_CLIENTS,
      sweep: false,
      keyPrefix: 'l',
      keySpace: 1,
      target: 'leader',
      targets: NATIVE_ONLY,
    },
  ];
}

/** Where a target's load goes: kuberaft's client gets every member and finds the leader; etcd's clients get the member asked. */
function endpointsFor(target: LoadTarget, cluster: BenchCluster, member: ClusterMember, kind: 'leader' | 'follower'): readonly string[] {
  if (target === 'kuberaft' && kind === 'leader') return cluster.members().map((m) => m.clientUrl);
  return [member.clientUrl];
}

function job(target: LoadTarget, endpoints: readonly string[], mode: BenchMode, spec: Omit<RowSpec, 'id' | 'title' | 'sweep' | 'target' | 'targets'>): LoadJob {
  return {
    target,
    endpoints,
    operation: spec.operation,
    clients: spec.clients,
    // One connection per client for every target: HTTP/1.1 carries one request at a time per connection,
    // and etcd's native client gets as many gRPC connections.
    conns: spec.clients,
    warmupMs: mode.warmupMs,
    durationMs: mode.durationMs,
    opsTotal: spec.opsTotal,
    keySizeBytes: KEY_SIZE_BYTES,
    keyPrefix: spec.keyPrefix,
    keySpace: spec.keySpace,
    sequentialKeys: false,
    keyFirst: 0,
    valueSizeBytes: VALUE_SIZE_BYTES,
  };
}

async function endpointFor(cluster: BenchCluster, target: 'leader' | 'follower'): Promise<ClusterMember> {
  const leader = await cluster.leader(LEADER_TIMEOUT_MS);
  if (target === 'leader') return leader;
  const follower = cluster.members().find((m) => m.id !== leader.id);
  if (follower === undefined) throw new Error(`${cluster.system} has no follower`);
  return follower;
}

/** Runs one row against each of its targets in turn. */
async function runRow(spec: RowSpec, clusters: Readonly<Record<SystemName, BenchCluster>>, pool: LoadPool, mode: BenchMode): Promise<LoadRow> {
  const results: Partial<Record<LoadTarget, LoadStats>> = {};
  for (const target of spec.targets) {
    const cluster = clusters[systemOf(target)];
    const member = await endpointFor(cluster, spec.target);
    const leader = await cluster.leader(LEADER_TIMEOUT_MS);
    const base = job(target, endpointsFor(target, cluster, member, spec.target), mode, spec);
    // Watchers spread over every member; writers write to the leader.
    const j: LoadJob = spec.operation.kind === 'watch-fanout' ? { ...base, endpoints: cluster.members().map((m) => m.clientUrl), writerEndpoints: target === 'kuberaft' ? cluster.members().map((m) => m.clientUrl) : [leader.clientUrl] } : base;
    results[target] = stats(await pool.run(j));
  }
  const cell = (t: LoadTarget): string => {
    const r = results[t];
    return r === undefined ? '' : ` | ${t} ${r.opsPerSecond.toFixed(0).padStart(6)} ops/s p50 ${r.p50Ms.toFixed(2)} p99 ${r.p99Ms.toFixed(2)} ms${r.errors > 0 ? ` (${r.errors} errors)` : ''}`;
  };
  log(`${spec.title.padEnd(42)}${LOAD_TARGETS.map(cell).join('')}`);
  return { id: spec.id, title: spec.title, clients: spec.clients, sweep: spec.sweep, results };
}

async function profileLeader(cluster: KuberaftCluster, pool: LoadPool, mode: BenchMode, dir: string): Promise<BenchResults['profile']> {
  const leader = await cluster.leader(LEADER_TIMEOUT_MS);
  mkdirSync(dir, { recursive: true });
  log(`profiling ${leader.id} (node --cpu-prof) under 64-client puts for ${mode.profileMs} ms`);
  await cluster.restartWith(leader.id, ['--cpu-prof', '--cpu-prof-dir', dir]);
  await pool.run({ ...job('kuberaft', cluster.members().map((m) => m.clientUrl), mode, { operation: { kind: 'put' }, clients: 64, keyPrefix: 'k', keySpace: PUT_KEY_SPACE }), warmupMs: 0, durationMs: mode.profileMs });
  await cluster.restartPlain(leader.id); // the clean stop makes Node write the profile
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`no .cpuprofile written in ${dir}`);
  mkdirSync(RAW_DIR, { recursive: true });
  copyFileSync(join(dir, file), join(RAW_DIR, 'leader-put-64.cpuprofile'));
  return { workload: 'leader during 64-client puts', ...summarizeProfile(readProfile(join(dir, file)), REPO_ROOT, PROFILE_TOP_ENTRIES) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, keep: { type: 'boolean', default: false } } });
  const mode = MODES[values.quick ? 'quick' : 'full'];
  const started = Date.now();
  buildNode();
  const root = mkdtempSync(join(tmpdir(), 'kuberaft-bench-'));
  const logDir = join(root, 'logs');
  mkdirSync(logDir);
  log(`kuberaft vs etcd, ${mode.name} mode; data and logs in ${root}`);
  const machine = describeMachine(root);
  log(`machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memTotalGiB} GiB, ${machine.disk}, load ${machine.loadAverage1m}`);

  const disk = measureDisk(root, mode.fsyncIterations, mode.sequentialWriteBytes);
  log(`disk: 4 KiB + fdatasync p50 ${disk.fdatasyncP50Ms.toFixed(3)} ms, p99 ${disk.fdatasyncP99Ms.toFixed(3)} ms; sequential write ${disk.sequentialWriteMBps.toFixed(0)} MB/s`);

  const portBase = await choosePortBase();
  const etcdBin = await etcdBinary(log);
  const etcdLoad = await etcdLoadBinary(log);
  const kuberaft = new KuberaftCluster({ dataRoot: join(root, 'kuberaft'), portBase, logDir });
  const etcd = new EtcdCluster(etcdBin, { dataRoot: join(root, 'etcd'), portBase, logDir });
  const clusters: readonly BenchCluster[] = [kuberaft, etcd];
  const bySystem: Readonly<Record<SystemName, BenchCluster>> = { kuberaft, etcd };
  let pool: LoadPool | undefined;
  let ok = false;
  const onSignal = (): void => {
    log('interrupted: stopping the clusters');
    void Promise.all(clusters.map((c) => c.stop())).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  try {
    for (const c of clusters) {
      await c.start();
      log(`${c.system}: 3 voters up, leader ${(await c.leader(LEADER_TIMEOUT_MS)).id}`);
    }
    pool = await LoadPool.start(LOAD_WORKERS, etcdLoad);

    const roundTrip = {} as Record<SystemName, LoadStats>;
    for (const c of clusters) {
      const leader = await c.leader(LEADER_TIMEOUT_MS);
      const target: LoadTarget = c.system === 'kuberaft' ? 'kuberaft' : 'etcd-gateway';
      roundTrip[c.system] = stats(await pool.run(job(target, [leader.clientUrl], mode, { operation: { kind: 'ping' }, clients: 1, keyPrefix: 'k', keySpace: 1 })));
      // The read rows read keys that exist.
      await pool.run({ ...job(target, [leader.clientUrl], mode, { operation: { kind: 'put' }, clients: 16, keyPrefix: 'r', keySpace: READ_KEY_SPACE, opsTotal: READ_KEY_SPACE }), sequentialKeys: true });
    }

    const load: LoadRow[] = [];
    for (const spec of rowSpecs(mode)) load.push(await runRow(spec, bySystem, pool, mode));

    const profile = await profileLeader(kuberaft, pool, mode, join(root, 'profile'));

    const failover = {} as Record<SystemName, FailoverResult>;
    for (const c of clusters) {
      log(`failover: ${mode.failoverKills} leader SIGKILLs on ${c.system}`);
      failover[c.system] = await measureFailover(c, mode.failoverKills, log);
    }

    const catchUp = {} as Record<SystemName, CatchUpResult>;
    for (const c of clusters) {
      log(`catch-up: ${c.system}`);
      catchUp[c.system] = await measureCatchUp(c, pool, mode.catchUpStateBytes, log);
      const r = catchUp[c.system];
      if (r.failure === null) log(`  ${c.system}: learner caught up in ${(r.catchUpMs / 1000).toFixed(2)} s = ${r.mbPerSecond.toFixed(1)} MB/s (${r.path})`);
    }

    for (const spec of featureRowSpecs()) load.push(await runRow(spec, bySystem, pool, mode));

    const settings = {
      kuberaft: { electionTimeoutMs: kuberaft.electionTimeoutMs, heartbeatIntervalMs: kuberaft.heartbeatIntervalMs, notes: kuberaft.notes },
      etcd: { electionTimeoutMs: etcd.electionTimeoutMs, heartbeatIntervalMs: etcd.heartbeatIntervalMs, notes: etcd.notes },
    };
    const partial = { load, failover, catchUp, disk, roundTrip, settings };
    const results: BenchResults = {
      mode: mode.name,
      startedAt: new Date(started).toISOString(),
      durationSeconds: (Date.now() - started) / 1000,
      machine,
      settings,
      disk,
      roundTrip,
      load,
      failover,
      catchUp,
      profile,
      targets: evaluateTargets(partial),
    };
    mkdirSync(RESULTS_DIR, { recursive: true });
    writeFileSync(join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(join(RESULTS_DIR, 'latest.md'), markdown(results));
    writeFileSync(join(RESULTS_DIR, 'latest.svg'), latencyThroughputSvg(`puts at ${PUT_CLIENT_COUNTS.join('/')} clients: latency against throughput (${mode.name} run)`, chartSeries(load)));
    log('');
    log(consoleTable(tableRows(results)));
    log('');
    for (const t of results.targets) log(`${t.met ? 'met   ' : 'MISSED'} ${t.target}: ${t.value}`);
    log(`\nwrote ${join(RESULTS_DIR, 'latest.{json,md,svg}')} in ${Math.round(results.durationSeconds)} s`);
    ok = true;
  } finally {
    process.removeListener('SIGINT', onSignal);
    await pool?.close();
    await Promise.all(clusters.map((c) => c.stop()));
    if (ok && !values.keep) rmSync(root, { recursive: true, force: true });
    else log(`kept ${root} (server logs in ${logDir})`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exitCode = 1;
});
