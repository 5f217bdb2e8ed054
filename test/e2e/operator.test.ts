// The operator end to end on the real control plane: the CRD from crds/ installed with kubectl, the
// operator run from the checkout, a RaftCluster applied and scaled with `kubectl scale` through
// 1 → 3 → 5 → 3 → 1 → 3. After each step every node reports exactly the wanted voters, every
// acknowledged write is still there, the nodes' digests agree, and status and `kubectl get rc` say so.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { KubectlError, startTestCluster } from '../controlplane/cluster.js';
import type { TestCluster } from '../controlplane/cluster.js';
import { waitFor } from './lib/wait.js';
import {
  CONVERGE_TIMEOUT_MS,
  CRD_FILE,
  REPO_ROOT,
  assertData,
  assertStatusMatches,
  condition,
  createNamespace,
  eventReasons,
  podNames,
  printerColumns,
  put,
  raftClusterYaml,
  rcStatus,
  startOperator,
  waitConverged,
} from './operator-lib/harness.js';
import type { OperatorProcess } from './operator-lib/harness.js';

const NS = 'scale';
const NAME = 'demo';

describe('operator: scaling a RaftCluster one member at a time', () => {
  let cluster: TestCluster;
  let operator: OperatorProcess | undefined;
  const written = new Map<string, string>();
  let writes = 0;

  async function writeSome(pods: readonly string[], count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const key = `k${writes++}`;
      const value = `v${writes}-${Date.now()}`;
      // Through a different node each time: followers forward to the leader.
      await put(cluster, NS, pods[i % pods.length] ?? '', key, value);
      written.set(key, value);
    }
  }

  async function scaleTo(n: number): Promise<void> {
    await cluster.kubectl(['scale', `raftcluster/${NAME}`, '-n', NS, `--replicas=${n}`]);
    const { status, nodes } = await waitConverged(cluster, NS, NAME, n);
    assertStatusMatches(status, nodes, NAME, n);
    const cols = await printerColumns(cluster, NS, NAME);
    assert.equal(cols.REPLICAS, String(n));
    assert.equal(cols.READY, String(n));
    assert.equal(cols.LEADER, status.leader);
    assert.equal(cols.COMMIT, String(status.commitIndex));
    assert.ok(Number(cols.TERM) >= 1);
    await assertData(cluster, NS, podNames(NAME, n), written);
  }

  before(async () => {
    cluster = await startTestCluster({ repoRoot: REPO_ROOT });
    await cluster.kubectl(['apply', '-f', CRD_FILE]);
    await cluster.kubectl(['wait', '--for=condition=Established', 'crd/raftclusters.kuberaft.io', '--timeout=60s']);
    await createNamespace(cluster, NS);
    operator = startOperator(cluster, 'op-a');
  });

  after(async () => {
    await operator?.stop();
    await cluster?.stop();
  });

  test('invalid RaftClusters are refused by kubectl apply with a readable message', async () => {
    const cases: [string, string, RegExp][] = [
      ['too-many', raftClusterYaml(NS, 'bad', 10), /spec\.replicas.*less than or equal to 9/],
      ['too-few', raftClusterYaml(NS, 'bad', 0), /spec\.replicas.*greater than or equal to 1/],
      ['size', raftClusterYaml(NS, 'bad', 3, '  storage: {size: lots}\n'), /storage\.size must be a positive quantity/],
      [
        'timing',
        `apiVersion: kuberaft.io/v1alpha1\nkind: RaftCluster\nmetadata: {name: bad, namespace: ${NS}}\nspec:\n  raft: {electionTimeoutMs: 400, heartbeatIntervalMs: 100}\n`,
        /electionTimeoutMs must be greater than 5 × raft\.heartbeatIntervalMs/,
      ],
      ['retention', raftClusterYaml(NS, 'bad', 3, '  pvcRetention: Sometimes\n'), /pvcRetention.*Unsupported value.*"Retain", "Delete"/],
    ];
    for (const [what, yaml, message] of cases) {
      const err = await cluster.kubectl(['apply', '-f', '-'], yaml).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof KubectlError, `${what}: apply must fail`);
      assert.match(err.stderr, message, what);
    }
    assert.equal((await cluster.kubectl(['get', 'krc', '-n', NS, '-o', 'name'])).stdout, '', 'nothing was created');
  });

  test('1 → 3 → 5 → 3 → 1 → 3 voters, no acknowledged write lost', async () => {
    await cluster.kubectl(['apply', '-f', '-'], raftClusterYaml(NS, NAME, 1));
    const first = await waitConverged(cluster, NS, NAME, 1);
    assertStatusMatches(first.status, first.nodes, NAME, 1);
    assert.match(first.status.clusterId ?? '', /^[0-9a-f-]{36}$/);
    await writeSome(podNames(NAME, 1), 5);

    await scaleTo(3);
    await writeSome(podNames(NAME, 3), 6);
    await scaleTo(5);
    await writeSome(podNames(NAME, 5), 5);
    await scaleTo(3);
    await writeSome(podNames(NAME, 3), 3);
    await scaleTo(1);
    await writeSome(podNames(NAME, 1), 3);
    await scaleTo(3);

    const { status } = await rcStatus(cluster, NS, NAME);
    assert.equal(status.clusterId, first.status.clusterId, 'bootstrapped once: the cluster id never changes');
    const reasons = await eventReasons(cluster, NS, NAME);
    assert.equal(reasons.filter((r) => r === 'Bootstrapping').length, 1);
    // 1→3→5 and 1→3 add 6 members; 5→3→1 removes 4; each add is a learner then a promotion.
    assert.equal(reasons.filter((r) => r === 'AddingLearner').length, 6);
    assert.equal(reasons.filter((r) => r === 'Promoting').length, 6);
    assert.equal(reasons.filter((r) => r === 'RemovingMember').length, 4);
    // Scale-down deleted the volumes of removed members (pvcRetention: Delete, the default).
    const claims = (await cluster.kubectl(['get', 'pvc', '-n', NS, '-o', 'name'])).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(claims, podNames(NAME, 5).map((p) => `persistentvolumeclaim/data-${p}`).filter((c) => /-[0-2]$/.test(c)));
  });

  test('paused: a scale request waits, status says Paused, unpausing resumes', async () => {
    await cluster.kubectl(['patch', 'krc', NAME, '-n', NS, '--type=merge', '-p', '{"spec":{"paused":true}}']);
    await waitFor('Progressing=Paused', CONVERGE_TIMEOUT_MS, async () => {
      const { status } = await rcStatus(cluster, NS, NAME);
      return condition(status, 'Progressing')?.reason === 'Paused' || undefined;
    });
    await cluster.kubectl(['scale', `raftcluster/${NAME}`, '-n', NS, '--replicas=1']);
    await new Promise((r) => setTimeout(r, 3_000));
    const paused = await rcStatus(cluster, NS, NAME);
    assert.equal(paused.status.replicas, 3, 'no member removed while paused');
    assert.match(condition(paused.status, 'Progressing')?.message ?? '', /next step would be/);
    await cluster.kubectl(['patch', 'krc', NAME, '-n', NS, '--type=merge', '-p', '{"spec":{"paused":false}}']);
    const { status, nodes } = await waitConverged(cluster, NS, NAME, 1);
    assertStatusMatches(status, nodes, NAME, 1);
    await assertData(cluster, NS, podNames(NAME, 1), written);
  });
});
