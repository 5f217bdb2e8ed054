// The operator under failure, on the real control plane: two operator replicas (only the Lease holder
// acts); the acting operator SIGKILLed after every step of a scale-up, its successor finishing the change;
// the Raft leader's pod deleted during a scale-up; a pod deleted together with its volume (its node comes
// back empty and is removed and added again). After each, the configuration equals the spec on every
// node and no acknowledged write is lost.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestCluster } from '../controlplane/cluster.js';
import { waitFor } from './lib/wait.js';
import {
  CONVERGE_TIMEOUT_MS,
  LEASE_NAMESPACE,
  assertData,
  assertStatusMatches,
  eventReasons,
  getJson,
  podNames,
  podUrl,
  raftClusterYaml,
  rcStatus,
  startClusterWithCrd,
  waitConverged,
  writeSome,
} from './operator-lib/harness.js';
import type { OperatorProcess } from './operator-lib/harness.js';
import { BECAME_LEADER, OperatorFleet } from './operator-lib/fleet.js';

const NS = 'failures';
const NAME = 'ha';

describe('operator: failures', () => {
  let cluster: TestCluster;
  let fleet: OperatorFleet;
  const written = new Map<string, string>();

  const leaseHolder = async (): Promise<string> =>
    (await cluster.kubectl(['get', 'lease', 'kuberaft-operator', '-n', LEASE_NAMESPACE, '-o', 'jsonpath={.spec.holderIdentity}'])).stdout;


  before(async () => {
    cluster = await startClusterWithCrd(NS);
    fleet = new OperatorFleet(cluster, 'op');
  });

  after(async () => {
    await fleet?.stopAll();
    await cluster?.stop();
  });

  test('two operator replicas: one holds the lease and acts, the other stays idle', async () => {
    const a = fleet.launch();
    await waitFor('operator a to lead', CONVERGE_TIMEOUT_MS, async () => a.log().includes(BECAME_LEADER) || undefined);
    const b = fleet.launch();
    await cluster.kubectl(['apply', '-f', '-'], raftClusterYaml(NS, NAME, 1));
    const { status, nodes } = await waitConverged(cluster, NS, NAME, 1);
    assertStatusMatches(status, nodes, NAME, 1);
    assert.equal(await leaseHolder(), 'op-0');
    assert.ok(!b.log().includes(BECAME_LEADER), 'the standby never led');
    assert.ok(!b.log().includes('reconcile'), 'the standby never reconciled');
    await writeSome(cluster, NS, podNames(NAME, 1), 'one', 4, written);

    // Both serve health and metrics; only the leader reports leading and reconciling.
    const metricsOf = async (op: OperatorProcess): Promise<string> => {
      const port = /"metricsPort":(\d+)/.exec(op.log())?.[1];
      assert.ok(port, 'the operator logs its metrics port');
      for (const path of ['/healthz', '/readyz']) assert.equal((await fetch(`http://127.0.0.1:${port}${path}`)).status, 200, path);
      return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    };
    const [ma, mb] = [await metricsOf(a), await metricsOf(b)];
    assert.match(ma, /^kuberaft_operator_leader 1$/m);
    assert.match(mb, /^kuberaft_operator_leader 0$/m);
    assert.match(ma, /^kuberaft_reconcile_total\{result="progressing"\} [1-9]/m);
    assert.match(ma, /^kuberaft_reconcile_duration_seconds_count [1-9]/m);
    assert.match(ma, /^kuberaft_membership_changes_total\{kind="bootstrap"\} 1$/m);
    assert.match(ma, new RegExp(`^kuberaft_cluster_ready_voters\\{namespace="${NS}",cluster="${NAME}"\\} 1$`, 'm'));
    assert.match(mb, /^kuberaft_reconcile_total\{result="progressing"\} 0$/m);
  });

  test('the acting operator is killed after every step of 1 → 3; each successor carries on from the live state', async () => {
    await cluster.kubectl(['scale', `raftcluster/${NAME}`, '-n', NS, '--replicas=3']);
    const killedAfter = await fleet.killAfterEveryStep(NS, NAME, async () => {
      const { status } = await rcStatus(cluster, NS, NAME);
      return status.readyReplicas === 3 && status.replicas === 3 && status.conditions?.find((c) => c.type === 'Progressing')?.reason === 'Stable';
    });
    // 6 steps: StatefulSet +1, learner, promotion, twice; each by another operator (one pair may share a kill).
    assert.ok(killedAfter.length >= 5, `the operator was killed after (nearly) every step: ${killedAfter.join(', ')}`);
    const { status, nodes } = await waitConverged(cluster, NS, NAME, 3);
    assertStatusMatches(status, nodes, NAME, 3);
    const reasons = await eventReasons(cluster, NS, NAME);
    assert.equal(reasons.filter((r) => r === 'Bootstrapping').length, 1, 'never bootstrapped twice');
    await assertData(cluster, NS, podNames(NAME, 3), written);
    await writeSome(cluster, NS, podNames(NAME, 3), 'three', 6, written);
  });

  test('the Raft leader pod is deleted during a scale-up to 5', async () => {
    const before = (await eventReasons(cluster, NS, NAME)).filter((r) => r === 'AddingLearner').length;
    await cluster.kubectl(['scale', `raftcluster/${NAME}`, '-n', NS, '--replicas=5']);
    await waitFor('the first learner of the scale-up', CONVERGE_TIMEOUT_MS, async () =>
      (await eventReasons(cluster, NS, NAME)).filter((r) => r === 'AddingLearner').length > before || undefined,
    );
    const { status } = await rcStatus(cluster, NS, NAME);
    assert.ok(status.leader);
    await cluster.kubectl(['delete', 'pod', status.leader, '-n', NS, '--wait=false']);
    const done = await waitConverged(cluster, NS, NAME, 5);
    assertStatusMatches(done.status, done.nodes, NAME, 5);
    await assertData(cluster, NS, podNames(NAME, 5), written);
  });

  test('a pod deleted with its volume comes back empty and is removed and added again', async () => {
    const victim = `${NAME}-2`;
    const before = (await eventReasons(cluster, NS, NAME)).filter((r) => r === 'ReplacingLostMember').length;
    await cluster.kubectl(['delete', 'pvc', `data-${victim}`, '-n', NS, '--wait=false']);
    await cluster.kubectl(['delete', 'pod', victim, '-n', NS]);
    await waitFor('the lost member to be replaced', CONVERGE_TIMEOUT_MS, async () =>
      (await eventReasons(cluster, NS, NAME)).filter((r) => r === 'ReplacingLostMember').length > before || undefined,
    );
    const done = await waitConverged(cluster, NS, NAME, 5);
    assertStatusMatches(done.status, done.nodes, NAME, 5);
    await assertData(cluster, NS, podNames(NAME, 5), written);
  });

  test('a scale-down whose first victim leads hands leadership over before removing it', async () => {
    const token = Buffer.from(
      (await cluster.kubectl(['get', 'secret', `${NAME}-auth`, '-n', NS, '-o', 'jsonpath={.data.admin-token}'])).stdout,
      'base64',
    ).toString('utf8');
    const victim = `${NAME}-4`;
    await getJson(podUrl(cluster, NS, `${NAME}-0`, '/v1/leader/transfer'), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: victim }),
    });
    await waitFor(`${victim} to lead`, CONVERGE_TIMEOUT_MS, async () =>
      (await getJson<{ role: string }>(podUrl(cluster, NS, victim, '/v1/status'))).role === 'leader' || undefined,
    );
    const before = (await eventReasons(cluster, NS, NAME)).filter((r) => r === 'TransferringLeadership').length;
    await cluster.kubectl(['scale', `raftcluster/${NAME}`, '-n', NS, '--replicas=3']);
    const done = await waitConverged(cluster, NS, NAME, 3);
    assertStatusMatches(done.status, done.nodes, NAME, 3);
    assert.ok((await eventReasons(cluster, NS, NAME)).filter((r) => r === 'TransferringLeadership').length > before, 'leadership was handed over');
    await assertData(cluster, NS, podNames(NAME, 3), written);
  });
});
