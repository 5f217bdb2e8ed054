// The shipped Grafana dashboard against a real Prometheus (Debian's `prometheus`): a real 3-node
// `kuberaft local` cluster takes writes while Prometheus scrapes its nodes every second, then every
// PromQL expression in charts/kuberaft/dashboards/kuberaft.json (and every template variable's query) is
// evaluated through Prometheus' HTTP API and must return data. Targets carry the labels the chart's
// PodMonitor gives them in Kubernetes (`namespace`, and `raftcluster` from the pod's instance label).
// The operator's panels are proven the same way: the chart is installed with helm into the real test
// control plane (test/controlplane), its operator pod reconciles a RaftCluster, and Prometheus scrapes
// the operator pod and the node pod it runs. The alert rules in docs/observability.md pass promtool.
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startTestCluster } from '../controlplane/cluster.js';
import type { TestCluster } from '../controlplane/cluster.js';
import { LocalCluster, freePortBase, killAll, localToken } from '../process/local-cluster.js';
import { waitFor } from './lib/wait.js';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const DASHBOARD_PATH = join(REPO_ROOT, 'charts', 'kuberaft', 'dashboards', 'kuberaft.json');
const PROMETHEUS_BIN = '/usr/bin/prometheus';
const PROMTOOL_BIN = '/usr/bin/promtool';
const OBSERVABILITY_DOC = join(REPO_ROOT, 'docs', 'observability.md');
const CHART_DIR = join(REPO_ROOT, 'charts', 'kuberaft');
const OPERATOR_NS = 'kuberaft-system';
const RC_NS = 'observed';
const RC_NAME = 'demo';
const OPERATOR_METRICS_PORT = 8080;
const NODE_API_PORT = 8001;
/** helm install --wait: the operator pod must pass its readiness probe. */
const HELM_INSTALL_TIMEOUT = '120s';
/** A one-node RaftCluster: StatefulSet, pod start, bootstrap by the operator. */
const RC_READY_TIMEOUT_MS = 120_000;

const run = promisify(execFile);
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

interface ScrapeJob {
  name: string;
  targets: readonly string[];
  labels: Record<string, string>;
}

function scrapeConfig(jobs: readonly ScrapeJob[]): string {
  return [
    'global:',
    `  scrape_interval: ${SCRAPE_INTERVAL_SECONDS}s`,
    `  scrape_timeout: ${SCRAPE_INTERVAL_SECONDS}s`,
    'scrape_configs:',
    ...jobs.flatMap((j) => [
      `  - job_name: ${j.name}`,
      '    metrics_path: /metrics',
      '    static_configs:',
      `      - targets: [${j.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
      ...(Object.keys(j.labels).length === 0 ? [] : ['        labels:', ...Object.entries(j.labels).map(([k, v]) => `          ${k}: ${v}`)]),
    ]),
    '',
  ].join('\n');
}

/** The RaftCluster whose operator and node the operator panels are proven with. */
const RAFTCLUSTER_YAML = `
apiVersion: kuberaft.io/v1alpha1
kind: RaftCluster
metadata: {name: ${RC_NAME}, namespace: ${RC_NS}}
spec: {replicas: 1}
`;

async function installOperator(k8s: TestCluster): Promise<string> {
  await run(k8s.helmPath, [
    'install', 'kuberaft', CHART_DIR, '--namespace', OPERATOR_NS, '--create-namespace', '--kubeconfig', k8s.kubeconfigPath,
    '--wait', '--timeout', HELM_INSTALL_TIMEOUT,
  ]).catch((err: unknown) => {
    throw new Error(`helm install: ${(err as { stderr?: string }).stderr ?? String(err)}`);
  });
  const { stdout } = await k8s.kubectl(['get', 'pods', '-n', OPERATOR_NS, '-l', 'app.kubernetes.io/component=operator', '-o', 'jsonpath={.items[*].metadata.name}']);
  const pods = stdout.trim().split(/\s+/);
  assert.equal(pods.length, 1, `one operator pod: ${stdout}`);
  return pods[0] as string;
}

const dashboard = JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8')) as Dashboard;
const expressions = dashboardExpressions(dashboard);
const nodeExpressions = expressions.filter((e) => !OPERATOR_METRIC.test(e.expr));
const operatorExpressions = expressions.filter((e) => OPERATOR_METRIC.test(e.expr));

const dir = mkdtempSync(join(tmpdir(), 'kuberaft-prometheus-'));
let cluster: LocalCluster | undefined;
let k8s: TestCluster | undefined;
let prometheus: Prometheus | undefined;
const nodePids: number[] = [];

before(async () => {
  assert.ok(
    existsSync(PROMETHEUS_BIN),
    `${PROMETHEUS_BIN} is missing: install Debian's Prometheus (apt-get install prometheus; .ci/run does) — this test never skips`,
  );
  const portBase = await freePortBase(NODES);
  // The local cluster and the control plane start side by side.
  const [local, control] = await Promise.allSettled([
    LocalCluster.start({ nodes: NODES, dataDir: join(dir, 'data'), portBase }),
    startTestCluster({ repoRoot: REPO_ROOT }),
  ]);
  if (local.status === 'fulfilled') cluster = local.value;
  if (control.status === 'fulfilled') k8s = control.value;
  if (local.status === 'rejected') throw local.reason;
  if (control.status === 'rejected') throw control.reason;
  const c = local.value;
  const kube = control.value;
  nodePids.push(...(await c.nodePids()));

  const operatorPod = await installOperator(kube);
  await kube.kubectl(['create', 'namespace', RC_NS]);
  await kube.kubectl(['apply', '-f', '-'], RAFTCLUSTER_YAML);
  await waitFor(`RaftCluster ${RC_NAME} to have a ready voter`, RC_READY_TIMEOUT_MS, async () => {
    const { stdout } = await kube.kubectl(['get', 'raftcluster', RC_NAME, '-n', RC_NS, '-o', 'jsonpath={.status.readyReplicas}']);
    return stdout.trim() === '1' ? true : undefined;
  });

  const promPort = (await freePortBase(1)) + 1;
  prometheus = await Prometheus.start(
    dir,
    scrapeConfig([
      {
        name: 'kuberaft-nodes',
        targets: Array.from({ length: NODES }, (_, i) => c.url(i + 1).replace('http://', '')),
        labels: { namespace: TARGET_NAMESPACE, raftcluster: TARGET_RAFTCLUSTER },
      },
      // What the PodMonitor scrapes in Kubernetes: the node pod's API port, with its namespace and cluster.
      { name: 'kuberaft-pods', targets: [`${kube.podIp(RC_NS, `${RC_NAME}-0`)}:${NODE_API_PORT}`], labels: { namespace: RC_NS, raftcluster: RC_NAME } },
      // What the ServiceMonitor scrapes: the operator pod's metrics port (honorLabels: no target labels).
      { name: 'kuberaft-operator', targets: [`${kube.podIp(OPERATOR_NS, operatorPod)}:${OPERATOR_METRICS_PORT}`], labels: {} },
    ]),
    promPort,
  );
  const prom = prometheus;
  await waitFor('every target to be scraped', SCRAPE_TIMEOUT_MS, async () => {
    const up = await prom.query('up == 1');
    return up.length === NODES + 2 ? true : undefined;
  });
  // Reconciles while Prometheus watches: a spec change the operator acts on (and resyncs besides).
  await kube.kubectl(['annotate', 'raftcluster', RC_NAME, '-n', RC_NS, 'kuberaft.io/observed-by=prometheus-test']);
  // Writes through every node (followers forward them), spread over several scrapes.
  for (let i = 0; i < WRITES; i += 1) {
    const res = await fetch(`${c.url((i % NODES) + 1)}/v1/kv/dashboard-${i}`, {
      method: 'PUT',
      body: `value-${i}`,
      headers: { authorization: `Bearer ${localToken(c.dataDir, 'write')}` },
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    });
    assert.equal(res.status, 200, await res.text());
    await new Promise((r) => setTimeout(r, WRITE_PAUSE_MS));
  }
  // Until a scrape after the last write has been stored: the commit index Prometheus holds reaches it.
  const commitIndexes = await Promise.all(Array.from({ length: NODES }, async (_, i) => (await c.status(i + 1)).commitIndex));
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
  await k8s?.stop();
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

  test('series are grouped by the labels the PodMonitor sets: one group per RaftCluster', async () => {
    const prom = prometheus as Prometheus;
    const panelExpr = (title: string): string => (expressions.find((e) => e.panel === title) as { expr: string }).expr;
    const key = (m: Record<string, string>): string => `${m.namespace}/${m.raftcluster}`;
    const term = await prom.query(substitute(panelExpr('Term')));
    assert.deepEqual(term.map((s) => key(s.metric)).sort(), [`${TARGET_NAMESPACE}/${TARGET_RAFTCLUSTER}`, `${RC_NS}/${RC_NAME}`].sort());
    const members = await prom.query(substitute(panelExpr('Members per cluster by role')));
    const byRole = Object.fromEntries(members.map((s) => [`${key(s.metric)} ${s.metric.role}`, Number(s.value[1])]));
    assert.deepEqual(byRole, {
      [`${TARGET_NAMESPACE}/${TARGET_RAFTCLUSTER} voter`]: NODES,
      [`${TARGET_NAMESPACE}/${TARGET_RAFTCLUSTER} learner`]: 0,
      [`${RC_NS}/${RC_NAME} voter`]: 1,
      [`${RC_NS}/${RC_NAME} learner`]: 0,
    });
    const lag = await prom.query(substitute(panelExpr('Peer match index lag')));
    assert.equal(lag.filter((s) => key(s.metric) === `${TARGET_NAMESPACE}/${TARGET_RAFTCLUSTER}`).length, NODES - 1, 'the leader reports each other member');
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
      assert.deepEqual(values.sort(), (v.name === 'namespace' ? [TARGET_NAMESPACE, RC_NS] : [TARGET_RAFTCLUSTER, RC_NAME]).sort());
    }
  });

  test('the operator queries are the Operator row and use only the operator metrics', () => {
    assert.deepEqual(
      [...new Set(operatorExpressions.map((e) => e.panel))],
      ['Reconcile rate by result', 'Reconcile duration', 'Membership changes', 'Voters: desired, live, ready'],
    );
    for (const { expr } of operatorExpressions) assert.doesNotMatch(expr, /\braft_/, 'an operator query never mixes node metrics');
  });

  test('every operator query returns data with a finite value, from the operator the chart installed', async () => {
    const prom = prometheus as Prometheus;
    const empty: string[] = [];
    for (const { panel, expr } of operatorExpressions) {
      const samples = await prom.query(substitute(expr));
      const finite = samples.filter((s) => Number.isFinite(Number(s.value[1])));
      if (finite.length === 0) empty.push(`${panel}: ${expr} → ${JSON.stringify(samples)}`);
    }
    assert.deepEqual(empty, []);
    // The bootstrap of the RaftCluster is counted.
    const bootstraps = await prom.query('kuberaft_membership_changes_total{kind="bootstrap"}');
    assert.ok(bootstraps.some((s) => Number(s.value[1]) >= 1), JSON.stringify(bootstraps));
  });

  test('the node pod the operator runs is scraped like the local nodes', async () => {
    const prom = prometheus as Prometheus;
    const term = await prom.query(`raft_is_leader{namespace="${RC_NS}", raftcluster="${RC_NAME}"}`);
    assert.deepEqual(
      term.map((s) => [s.metric.node, s.value[1]]),
      [[`${RC_NAME}-0`, '1']],
    );
  });

  test('the alert rules in docs/observability.md pass promtool', () => {
    const doc = readFileSync(OBSERVABILITY_DOC, 'utf8');
    const section = doc.split('## Alerts worth setting')[1] ?? '';
    const rules = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(rules, 'a yaml block of rules under "## Alerts worth setting"');
    const path = join(dir, 'alerts.yml');
    writeFileSync(path, rules);
    const check = spawnSync(PROMTOOL_BIN, ['check', 'rules', path], { encoding: 'utf8' });
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
    assert.match(check.stdout, /SUCCESS: [1-9]\d* rules found/);
  });
});
