// Helpers for the operator's end-to-end tests: the operator process run from the checkout against a
// test cluster, RaftCluster manifests, and checks asked of every node through its HTTP API.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startTestCluster } from '../../controlplane/cluster.js';
import type { TestCluster } from '../../controlplane/cluster.js';
import { waitFor } from '../lib/wait.js';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..', '..');
export const CRD_FILE = join(REPO_ROOT, 'crds', 'raftclusters.kuberaft.io.yaml');
export const API_PORT = 8001;
export const HTTP_TIMEOUT_MS = 5_000;
/** A membership step: pod start, reconcile, catch-up. Generous for a loaded 2-core machine. */
export const CONVERGE_TIMEOUT_MS = 120_000;
/** Short lease so that a killed operator's successor takes over within seconds. */
export const TEST_LEASE_SECONDS = 4;
export const LEASE_NAMESPACE = 'kube-system';
/** SIGTERM to exit: the operator stops its controller and releases its lease. */
export const OPERATOR_STOP_TIMEOUT_MS = 15_000;

export interface OperatorProcess {
  readonly child: ChildProcess;
  readonly logPath: string;
  readonly exited: Promise<number | null>;
  /** SIGKILL: no lease release, no cleanup, like a crash or a lost node. */
  kill(): Promise<void>;
  /** SIGTERM, then wait. */
  stop(): Promise<void>;
  log(): string;
}

export function startOperator(cluster: TestCluster, name: string, extraArgs: readonly string[] = []): OperatorProcess {
  const logPath = join(cluster.runDir, `operator-${name}-${Date.now()}.log`);
  const fd = openSync(logPath, 'a');
  const child = spawn(
    process.execPath,
    [
      join(REPO_ROOT, 'bin', 'kuberaft.js'),
      'operator',
      '--kubeconfig', cluster.kubeconfigPath,
      '--metrics-port', '0',
      '--metrics-host', '127.0.0.1',
      '--leader-election-namespace', LEASE_NAMESPACE,
      '--leader-election-lease-seconds', String(TEST_LEASE_SECONDS),
      '--identity', name,
      '--node-image', 'kuberaft:e2e',
      '--log-level', 'debug',
      ...extraArgs,
    ],
    { stdio: ['ignore', fd, fd], env: { ...process.env, KUBECONFIG: undefined } },
  );
  closeSync(fd);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const signalAndWait = async (sig: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };
  return {
    child,
    logPath,
    exited,
    kill: () => signalAndWait('SIGKILL'),
    stop: async () => {
      // A hung shutdown is a failure, but must not hang the suite.
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), OPERATOR_STOP_TIMEOUT_MS);
      await signalAndWait('SIGTERM');
      clearTimeout(timer);
      assert.equal(child.exitCode, 0, `the operator did not exit cleanly within ${OPERATOR_STOP_TIMEOUT_MS} ms of SIGTERM`);
    },
    log: () => readFileSync(logPath, 'utf8'),
  };
}

export function raftClusterYaml(ns: string, name: string, replicas: number, extra = ''): string {
  return `apiVersion: kuberaft.io/v1alpha1
kind: RaftCluster
metadata: {name: ${name}, namespace: ${ns}}
spec:
  replicas: ${replicas}
  raft: {electionTimeoutMs: 600, heartbeatIntervalMs: 100}
${extra}`;
}

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

export interface RcStatus {
  replicas?: number;
  readyReplicas?: number;
  leader?: string;
  term?: number;
  commitIndex?: number;
  clusterId?: string;
  selector?: string;
  observedGeneration?: number;
  members?: { id: string; role: string; healthy: boolean; address: string }[];
  conditions?: Condition[];
}

export async function rcStatus(cluster: TestCluster, ns: string, name: string): Promise<{ generation: number; status: RcStatus }> {
  const o = JSON.parse((await cluster.kubectl(['get', 'raftcluster', name, '-n', ns, '-o', 'json'])).stdout) as {
    metadata: { generation: number };
    status?: RcStatus;
  };
  return { generation: o.metadata.generation, status: o.status ?? {} };
}

export function condition(s: RcStatus, type: string): Condition | undefined {
  return s.conditions?.find((c) => c.type === type);
}

export interface NodeStatusBody {
  id: string;
  clusterId: string | null;
  state: string;
  role: string;
  term: number;
  leader: string | null;
  commitIndex: number;
  appliedIndex: number;
  members: { id: string; role: string; address: string }[];
}

export async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  const text = await res.text();
  assert.ok(res.ok, `${init?.method ?? 'GET'} ${url}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

export const podUrl = (cluster: TestCluster, ns: string, pod: string, path: string): string =>
  `http://${cluster.podIp(ns, pod)}:${API_PORT}${path}`;

export function podNames(name: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${name}-${i}`);
}

export async function podsOf(cluster: TestCluster, ns: string, name: string): Promise<string[]> {
  const { stdout } = await cluster.kubectl(['get', 'pods', '-n', ns, '-l', `app.kubernetes.io/instance=${name}`, '-o', 'name']);
  return stdout.split('\n').filter(Boolean).map((n) => n.replace('pod/', '')).sort();
}

/**
 * Waits until the cluster has exactly `n` voters named `<name>-0..n-1` and no learners — as reported by
 * every node — the operator reports it in status (Progressing=False/Stable), and only those pods exist.
 */
export async function waitConverged(cluster: TestCluster, ns: string, name: string, n: number): Promise<{ status: RcStatus; nodes: NodeStatusBody[] }> {
  const want = podNames(name, n);
  return waitFor(`${ns}/${name} to converge to ${n} voters`, CONVERGE_TIMEOUT_MS, async () => {
    const { generation, status } = await rcStatus(cluster, ns, name);
    if (status.observedGeneration !== generation) return undefined;
    if (condition(status, 'Progressing')?.reason !== 'Stable') return undefined;
    if (status.replicas !== n || status.readyReplicas !== n) return undefined;
    if ((await podsOf(cluster, ns, name)).join() !== want.join()) return undefined;
    const nodes = await Promise.all(want.map((p) => getJson<NodeStatusBody>(podUrl(cluster, ns, p, '/v1/status'))));
    for (const node of nodes) {
      if (node.state !== 'member') return undefined;
      const voters = node.members.filter((m) => m.role === 'voter').map((m) => m.id).sort();
      if (voters.join() !== want.join() || node.members.length !== n) return undefined;
    }
    return { status, nodes };
  });
}

/** Checks the converged status: counts, leader, term and commit match what the nodes say. */
export function assertStatusMatches(status: RcStatus, nodes: readonly NodeStatusBody[], name: string, n: number): void {
  assert.equal(status.replicas, n);
  assert.equal(status.readyReplicas, n);
  const leader = nodes.find((x) => x.role === 'leader');
  assert.ok(leader, 'one node leads');
  assert.equal(status.leader, leader.id);
  assert.ok(status.term !== undefined && status.term <= leader.term);
  assert.ok(status.commitIndex !== undefined && status.commitIndex > 0);
  assert.equal(status.selector, `app.kubernetes.io/name=kuberaft,app.kubernetes.io/instance=${name}`);
  assert.deepEqual(status.members?.map((m) => `${m.id}/${m.role}/${String(m.healthy)}`).sort(), podNames(name, n).map((p) => `${p}/voter/true`));
  assert.equal(condition(status, 'Available')?.status, 'True');
  assert.equal(condition(status, 'Degraded')?.status, 'False');
  for (const node of nodes) assert.equal(node.clusterId, status.clusterId, `${node.id} belongs to the recorded cluster`);
}

/** Writes through the client API; returns only once acknowledged. */
export async function put(cluster: TestCluster, ns: string, pod: string, key: string, value: string): Promise<void> {
  await getJson(podUrl(cluster, ns, pod, `/v1/kv/${encodeURIComponent(key)}`), { method: 'PUT', body: value });
}

/** Puts `count` keys `<prefix>-<i>` round-robin through `pods` and records each acknowledged one in `written`. */
export async function writeSome(cluster: TestCluster, ns: string, pods: readonly string[], prefix: string, count: number, written: Map<string, string>): Promise<void> {
  for (let i = 0; i < count; i++) {
    const key = `${prefix}-${i}`;
    await put(cluster, ns, pods[i % pods.length] ?? '', key, `${key}-value`);
    written.set(key, `${key}-value`);
  }
}

/** The test control plane with the RaftCluster CRD established and namespace `ns` ready for pods. */
export async function startClusterWithCrd(ns: string): Promise<TestCluster> {
  const cluster = await startTestCluster({ repoRoot: REPO_ROOT, keepRunDir: process.env.KUBERAFT_E2E_KEEP === '1' });
  await cluster.kubectl(['apply', '-f', CRD_FILE]);
  await cluster.kubectl(['wait', '--for=condition=Established', 'crd/raftclusters.kuberaft.io', '--timeout=60s']);
  await createNamespace(cluster, ns);
  return cluster;
}

/** Every acknowledged write is readable (linearizable read) from every node; digests agree. */
export async function assertData(cluster: TestCluster, ns: string, pods: readonly string[], written: ReadonlyMap<string, string>): Promise<void> {
  for (const pod of pods) {
    for (const [key, value] of written) {
      const res = await fetch(podUrl(cluster, ns, pod, `/v1/kv/${encodeURIComponent(key)}`), { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
      assert.equal(res.status, 200, `${pod}: GET ${key}`);
      assert.equal(await res.text(), value, `${pod}: ${key}`);
    }
  }
  await waitFor('every node to report the same digest at the same index', CONVERGE_TIMEOUT_MS, async () => {
    const ds = await Promise.all(pods.map((p) => getJson<{ index: number; digest: string }>(podUrl(cluster, ns, p, '/v1/digest'))));
    return new Set(ds.map((d) => `${d.index}:${d.digest}`)).size === 1 ? true : undefined;
  });
}

/** `kubectl get rc` printer columns, by column name. */
export async function printerColumns(cluster: TestCluster, ns: string, name: string): Promise<Record<string, string>> {
  const { stdout } = await cluster.kubectl(['get', 'krc', name, '-n', ns]);
  const [header = '', row = ''] = stdout.trim().split('\n');
  const heads = header.trim().split(/\s+/);
  const cells = row.trim().split(/\s+/);
  return Object.fromEntries(heads.map((h, i) => [h, cells[i] ?? '']));
}

/**
 * Reasons of the Events recorded on the RaftCluster, oldest first: ordered by resourceVersion (the etcd
 * revision of their creation), since their timestamps have a granularity of one second.
 */
export async function eventReasons(cluster: TestCluster, ns: string, name: string): Promise<string[]> {
  const { stdout } = await cluster.kubectl(['get', 'events', '-n', ns, '--field-selector', `involvedObject.kind=RaftCluster,involvedObject.name=${name}`, '-o', 'json']);
  const { items } = JSON.parse(stdout) as { items: { reason: string; metadata: { resourceVersion: string } }[] };
  return items
    .map((e) => ({ reason: e.reason, revision: BigInt(e.metadata.resourceVersion) }))
    .sort((a, b) => (a.revision < b.revision ? -1 : a.revision > b.revision ? 1 : 0))
    .map((e) => e.reason);
}

export async function createNamespace(cluster: TestCluster, ns: string): Promise<void> {
  await cluster.kubectl(['create', 'namespace', ns]);
  await waitFor(`the default service account of ${ns}`, CONVERGE_TIMEOUT_MS, async () => (await cluster.kubectl(['get', 'sa', 'default', '-n', ns])).stdout || undefined);
}

/** The admin bearer token the operator generated for the cluster (Secret `<name>-auth`). */
export async function adminToken(cluster: TestCluster, ns: string, name: string): Promise<string> {
  const { stdout } = await cluster.kubectl(['get', 'secret', `${name}-auth`, '-n', ns, '-o', 'jsonpath={.data.admin-token}']);
  return Buffer.from(stdout, 'base64').toString('utf8');
}

/** Makes `to` the Raft leader through the admin API (asked of `via`), and waits until it says so. */
export async function makeLeader(cluster: TestCluster, ns: string, name: string, via: string, to: string): Promise<void> {
  const token = await adminToken(cluster, ns, name);
  await waitFor(`${to} to lead`, CONVERGE_TIMEOUT_MS, async () => {
    if ((await getJson<{ role: string }>(podUrl(cluster, ns, to, '/v1/status'))).role === 'leader') return true;
    await getJson(podUrl(cluster, ns, via, '/v1/leader/transfer'), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to }),
    });
    return undefined;
  });
}

/** Names of the cluster's volume claims (`data-<pod>`), sorted. */
export async function claimsOf(cluster: TestCluster, ns: string, name: string): Promise<string[]> {
  const { stdout } = await cluster.kubectl(['get', 'pvc', '-n', ns, '-o', 'name']);
  return stdout
    .split('\n')
    .map((n) => n.replace('persistentvolumeclaim/', ''))
    .filter((n) => n.startsWith(`data-${name}-`))
    .sort();
}
