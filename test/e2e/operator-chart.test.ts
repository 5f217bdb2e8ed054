// The operator as users install it: the chart (charts/kuberaft) installed with `helm install --wait` into
// the real test control plane, its operator pod run by the test kubelet with in-cluster config. A
// RaftCluster is applied with one replica and scaled with `kubectl scale` through 1 → 3 → 1 → 3. After
// each step every node reports exactly the wanted voters, every acknowledged write is still there, the
// nodes' digests agree, and status and `kubectl get krc` say so — as in operator.test.ts, whose operator
// runs from the checkout with an admin kubeconfig instead.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startTestCluster } from '../controlplane/cluster.js';
import type { TestCluster } from '../controlplane/cluster.js';
import {
  REPO_ROOT,
  assertData,
  assertStatusMatches,
  createNamespace,
  eventReasons,
  podNames,
  printerColumns,
  put,
  raftClusterYaml,
  rcStatus,
  waitConverged,
} from './operator-lib/harness.js';

const run = promisify(execFile);
const CHART_DIR = join(REPO_ROOT, 'charts', 'kuberaft');
const OPERATOR_NS = 'kuberaft-system';
const OPERATOR_SELECTOR = 'app.kubernetes.io/component=operator';
/** helm install --wait: the operator pod must pass its readiness probe. */
const HELM_INSTALL_TIMEOUT = '120s';
const NS = 'charted';
const NAME = 'demo';
/** Writes after each step, each through a different node. */
const WRITES_PER_STEP = 4;

interface OperatorPod {
  name: string;
  restarts: number;
}

async function operatorPods(cluster: TestCluster): Promise<OperatorPod[]> {
  const { stdout } = await cluster.kubectl(['get', 'pods', '-n', OPERATOR_NS, '-l', OPERATOR_SELECTOR, '-o', 'json']);
  const { items } = JSON.parse(stdout) as {
    items: { metadata: { name: string }; status?: { containerStatuses?: { restartCount: number }[] } }[];
  };
  return items.map((p) => ({
    name: p.metadata.name,
    restarts: (p.status?.containerStatuses ?? []).reduce((sum, c) => sum + c.restartCount, 0),
  }));
}

describe('the chart-installed operator scales a RaftCluster one member at a time', () => {
  let cluster: TestCluster | undefined;
  let operatorPod: string;
  const written = new Map<string, string>();
  let writes = 0;

  const k8s = (): TestCluster => {
    assert.ok(cluster, 'the test cluster started');
    return cluster;
  };

  async function writeSome(pods: readonly string[], count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const key = `k${writes++}`;
      const value = `v${writes}-${Date.now()}`;
      // Through a different node each time, at its pod IP: followers forward to the leader.
      await put(k8s(), NS, pods[i % pods.length] ?? '', key, value);
      written.set(key, value);
    }
  }

  /** Converged to `n` voters, status and printer columns agree with the nodes, every write is on every node. */
  async function assertAt(n: number): Promise<string | undefined> {
    const { status, nodes } = await waitConverged(k8s(), NS, NAME, n);
    assertStatusMatches(status, nodes, NAME, n);
    const cols = await printerColumns(k8s(), NS, NAME);
    assert.equal(cols.REPLICAS, String(n));
    assert.equal(cols.READY, String(n));
    assert.equal(cols.LEADER, status.leader);
    assert.equal(cols.COMMIT, String(status.commitIndex));
    assert.ok(Number(cols.TERM) >= 1);
    await assertData(k8s(), NS, podNames(NAME, n), written);
    return status.clusterId;
  }

  /** Scales with `kubectl scale`, checks the result; returns how long the step took. */
  async function scaleTo(n: number): Promise<number> {
    const start = Date.now();
    await k8s().kubectl(['scale', `raftcluster/${NAME}`, '-n', NS, `--replicas=${n}`]);
    await assertAt(n);
    return Date.now() - start;
  }

  before(async () => {
    cluster = await startTestCluster({ repoRoot: REPO_ROOT });
    await run(cluster.helmPath, [
      'install', 'kuberaft', CHART_DIR, '--namespace', OPERATOR_NS, '--create-namespace', '--kubeconfig', cluster.kubeconfigPath,
      '--wait', '--timeout', HELM_INSTALL_TIMEOUT,
    ]).catch((err: unknown) => {
      throw new Error(`helm install: ${(err as { stderr?: string }).stderr ?? String(err)}`);
    });
    const pods = await operatorPods(cluster);
    assert.equal(pods.length, 1, `one operator pod: ${JSON.stringify(pods)}`);
    operatorPod = pods[0]?.name ?? '';
    await createNamespace(cluster, NS);
  });

  after(async () => {
    await cluster?.stop();
  });

  test('1 → 3 → 1 → 3 voters, no acknowledged write lost', async (t) => {
    const start = Date.now();
    await k8s().kubectl(['apply', '-f', '-'], raftClusterYaml(NS, NAME, 1));
    const clusterId = await assertAt(1);
    t.diagnostic(`bootstrap to 1 voter: ${Date.now() - start} ms`);
    assert.match(clusterId ?? '', /^[0-9a-f-]{36}$/);
    await writeSome(podNames(NAME, 1), WRITES_PER_STEP);

    t.diagnostic(`1 → 3: ${await scaleTo(3)} ms`);
    await writeSome(podNames(NAME, 3), WRITES_PER_STEP);
    t.diagnostic(`3 → 1: ${await scaleTo(1)} ms`);
    await writeSome(podNames(NAME, 1), WRITES_PER_STEP);
    t.diagnostic(`1 → 3: ${await scaleTo(3)} ms`);

    const { status } = await rcStatus(k8s(), NS, NAME);
    assert.equal(status.clusterId, clusterId, 'bootstrapped once: the cluster id never changes');
    const reasons = await eventReasons(k8s(), NS, NAME);
    assert.equal(reasons.filter((r) => r === 'Bootstrapping').length, 1);
    // 1→3 twice adds 4 members, each a learner then a promotion; 3→1 removes 2.
    assert.equal(reasons.filter((r) => r === 'AddingLearner').length, 4);
    assert.equal(reasons.filter((r) => r === 'Promoting').length, 4);
    assert.equal(reasons.filter((r) => r === 'RemovingMember').length, 2);
    // The chart's one operator pod did all of it, without a restart.
    assert.deepEqual(await operatorPods(k8s()), [{ name: operatorPod, restarts: 0 }]);
  });
});
