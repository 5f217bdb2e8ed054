// The shipped Grafana dashboard against a real Prometheus (Debian's `prometheus`): a real 3-node
// `kuberaft local` cluster takes writes while Prometheus scrapes its nodes every second, then every
// PromQL expression in charts/kuberaft/dashboards/kuberaft.json (and every template variable's query) is
// evaluated through Prometheus' HTTP API and must return data. Targets carry the labels the chart's
// PodMonitor gives them in Kubernetes (`namespace`, and `raftcluster` from the pod's instance label).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LocalCluster, freePortBase, killAll, status } from '../process/local-cluster.js';
import { waitFor } from './lib/wait.js';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const DASHBOARD_PATH = join(REPO_ROOT, 'charts', 'kuberaft', 'dashboards', 'kuberaft.json');
const PROMETHEUS_BIN = '/usr/bin/prometheus';
const NODES = 3;
const SCRAPE_INTERVAL_SECONDS = 1;
/** Grafana's $__rate_interval for a 15 s scrape interval; here it spans the whole test. */
const RATE_INTERVAL = '1m';
/** The "All" value of the dashboard's namespace and raftcluster variables. */
const ALL_VALUE = '.*';
const TARGET_NAMESPACE = 'e2e';
const TARGET_RAFTCLUSTER = 'local';
const PROMETHEUS_READY_TIMEOUT_MS = 30_000;
const SCRAPE_TIMEOUT_MS = 30_000;
const PROMETHEUS_STOP_TIMEOUT_MS = 10_000;
const HTTP_TIMEOUT_MS = 5_000;
/** Writes made after the first scrape, so rates and latency histograms move between scrapes. */
const WRITES = 60;
const WRITE_PAUSE_MS = 50;

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

interface DashboardTarget {
  expr: string;
}

interface DashboardPanel {
  title: string;
  type: string;
  targets?: DashboardTarget[];
  panels?: DashboardPanel[];
}

interface DashboardVariable {
  name: string;
  type: string;
  query?: string | { query: string };
}

interface Dashboard {
  panels: DashboardPanel[];
  templating: { list: DashboardVariable[] };
}

/** A real Prometheus server on a free port with a throwaway TSDB. */
class Prometheus {
  private stderr = '';
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (this.stderr = (this.stderr + s).slice(-8000)));
    this.exited = new Promise((r) => child.once('exit', () => r()));
  }

  static async start(dir: string, config: string, port: number): Promise<Prometheus> {
    const configPath = join(dir, 'prometheus.yml');
    writeFileSync(configPath, config);
    const child = spawn(
      PROMETHEUS_BIN,
      [
        `--config.file=${configPath}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const prom = new Prometheus(child, `http://127.0.0.1:${port}`);
    try {
      await waitFor('Prometheus to be ready', PROMETHEUS_READY_TIMEOUT_MS, async () => {
        assert.equal(child.exitCode, null, 'prometheus exited');
        const res = await fetch(`${prom.url}/-/ready`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
        return res.status === 200 ? true : undefined;
      });
    } catch (err) {
      await prom.stop();
      throw new Error(`${(err as Error).message}\n--- prometheus stderr\n${prom.stderr}`);
    }
    return prom;
  }

  private async api<T>(path: string, params: Record<string, string | string[]>): Promise<T> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const x of Array.isArray(v) ? v : [v]) q.append(k, x);
    const res = await fetch(`${this.url}${path}?${q}`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
    const body = (await res.json()) as { status: string; data: T; error?: string };
    assert.equal(body.status, 'success', `${path} ${JSON.stringify(params)}: ${body.error ?? res.status}`);
    return body.data;
  }

  async query(expr: string): Promise<Sample[]> {
    const data = await this.api<{ resultType: string; result: Sample[] }>('/api/v1/query', { query: expr });
    assert.equal(data.resultType, 'vector', expr);
    return data.result;
  }

  labelValues(label: string, match: string): Promise<string[]> {
    return this.api<string[]>(`/api/v1/label/${encodeURIComponent(label)}/values`, { 'match[]': match });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), PROMETHEUS_STOP_TIMEOUT_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Every panel query of the dashboard, with the panel it belongs to (rows' nested panels included). */
function dashboardExpressions(d: Dashboard): { panel: string; expr: string }[] {
  const walk = (ps: readonly DashboardPanel[]): { panel: string; expr: string }[] =>
    ps.flatMap((p) => [...(p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })), ...walk(p.panels ?? [])]);
  return walk(d.panels);
}

/** The PromQL Grafana sends with the variables at "All" and the rate interval set. */
function substitute(expr: string): string {
  const out = expr
    .replaceAll('$__rate_interval', RATE_INTERVAL)
    .replaceAll('$namespace', ALL_VALUE)
    .replaceAll('$raftcluster', ALL_VALUE);
  assert.ok(!out.includes('$'), `an unknown dashboard variable in: ${expr}`);
  return out;
}

const OPERATOR_METRIC = /\bkuberaft_\w+/;

function scrapeConfig(targets: readonly string[]): string {
  return [
    'global:',
    `  scrape_interval: ${SCRAPE_INTERVAL_SECONDS}s`,
    `  scrape_timeout: ${SCRAPE_INTERVAL_SECONDS}s`,
    'scrape_configs:',
    '  - job_name: kuberaft-nodes',
    '    metrics_path: /metrics',
    '    static_configs:',
    `      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    '        labels:',
    `          namespace: ${TARGET_NAMESPACE}`,
    `          raftcluster: ${TARGET_RAFTCLUSTER}`,
    '',
  ].join('\n');
}

const dashboard = JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8')) as Dashboard;
const expressions = dashboardExpressions(dashboard);
const nodeExpressions = expressions.filter((e) => !OPERATOR_METRIC.test(e.expr));
const operatorExpressions = expressions.filter((e) => OPERATOR_METRIC.test(e.expr));

const dir = mkdtempSync(join(tmpdir(), 'kuberaft-prometheus-'));
let cluster: LocalCluster | undefined;
let prometheus: Prometheus | undefined;
const nodePids: number[] = [];

before(async () => {
  assert.ok(
    existsSync(PROMETHEUS_BIN),
    `${PROMETHEUS_BIN} is missing: install Debian's Prometheus (apt-get install prometheus; .ci/run does) — this test never skips`,
  );
  const portBase = await freePortBase(NODES);
  cluster = await LocalCluster.start({ nodes: NODES, dataDir: join(dir, 'data'), portBase });
  nodePids.push(...(await cluster.nodePids()));
  const targets = Array.from({ length: NODES }, (_, i) => cluster?.url(i + 1).replace('http://', '') ?? '');
  const promPort = (await freePortBase(1)) + 1;
  prometheus = await Prometheus.start(dir, scrapeConfig(targets), promPort);
  const prom = prometheus;
  await waitFor('every node to be scraped', SCRAPE_TIMEOUT_MS, async () => {
    const up = await prom.query('up{job="kuberaft-nodes"} == 1');
    return up.length === NODES ? true : undefined;
  });
  // Writes through every node (followers forward them), spread over several scrapes.
  for (let i = 0; i < WRITES; i += 1) {
    const res = await fetch(`${cluster.url((i % NODES) + 1)}/v1/kv/dashboard-${i}`, {
      method: 'PUT',
      body: `value-${i}`,
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    });
    assert.equal(res.status, 200, await res.text());
    await new Promise((r) => setTimeout(r, WRITE_PAUSE_MS));
  }
  // Until a scrape after the last write has been stored: the commit index Prometheus holds reaches it.
  const c = cluster;
  const commitIndexes = await Promise.all(Array.from({ length: NODES }, async (_, i) => (await status(c.url(i + 1))).commitIndex));
  const leaderCommit = Math.max(...commitIndexes);
  await waitFor('a scrape after the writes', SCRAPE_TIMEOUT_MS, async () => {
    const r = await prom.query(`min(raft_applied_index{job="kuberaft-nodes"}) >= ${leaderCommit}`);
    return r.length === 1 ? true : undefined;
  });
});

after(async () => {
  await prometheus?.stop();
  if (cluster) await cluster.stop();
  killAll(nodePids);
  rmSync(dir, { recursive: true, force: true });
});

describe('the Grafana dashboard against a real Prometheus scraping a real cluster', () => {
  test('the dashboard has queries, and every query names only known variables', () => {
    assert.ok(nodeExpressions.length >= 12, `node queries: ${nodeExpressions.length}`);
    for (const e of expressions) substitute(e.expr);
  });

  test('every node-metrics query returns data with a finite value', async () => {
    const prom = prometheus as Prometheus;
    const empty: string[] = [];
    for (const { panel, expr } of nodeExpressions) {
      const samples = await prom.query(substitute(expr));
      const finite = samples.filter((s) => Number.isFinite(Number(s.value[1])));
      if (finite.length === 0) empty.push(`${panel}: ${expr} → ${JSON.stringify(samples)}`);
    }
    assert.deepEqual(empty, []);
  });

  test('series are grouped by the labels the PodMonitor sets', async () => {
    const prom = prometheus as Prometheus;
    const term = await prom.query(substitute('max by (namespace, raftcluster) (raft_term{namespace=~"$namespace", raftcluster=~"$raftcluster"})'));
    assert.deepEqual(term.map((s) => s.metric), [{ namespace: TARGET_NAMESPACE, raftcluster: TARGET_RAFTCLUSTER }]);
    const members = await prom.query(
      substitute(
        (dashboardExpressions(dashboard).find((e) => e.panel === 'Members per cluster by role') as { expr: string }).expr,
      ),
    );
    const byRole = Object.fromEntries(members.map((s) => [s.metric.role, Number(s.value[1])]));
    assert.deepEqual(byRole, { voter: NODES, learner: 0 });
    const lag = (dashboardExpressions(dashboard).find((e) => e.panel === 'Peer match index lag') as { expr: string }).expr;
    const peers = (await prom.query(substitute(lag))).map((s) => s.metric.peer).sort();
    assert.equal(peers.length, NODES - 1, 'the leader reports each other member');
  });

  test("every template variable's label_values query finds values", async () => {
    const prom = prometheus as Prometheus;
    const queries = dashboard.templating.list.filter((v) => v.type === 'query');
    assert.deepEqual(queries.map((v) => v.name), ['namespace', 'raftcluster']);
    for (const v of queries) {
      const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
      const m = /^label_values\((.+),\s*(\w+)\)$/.exec(q);
      assert.ok(m, `${v.name}: ${q}`);
      const values = await prom.labelValues(m[2] as string, substitute(m[1] as string));
      assert.deepEqual(values, [v.name === 'namespace' ? TARGET_NAMESPACE : TARGET_RAFTCLUSTER]);
    }
  });

  test('the operator queries are the Operator row and use only the operator metrics', () => {
    // These need a running operator; its metric names are checked here, their data where it runs.
    assert.deepEqual(
      [...new Set(operatorExpressions.map((e) => e.panel))],
      ['Reconcile rate by result', 'Reconcile duration', 'Membership changes'],
    );
    for (const { expr } of operatorExpressions) assert.doesNotMatch(expr, /\braft_/, 'an operator query never mixes node metrics');
  });
});
