// manifests/install.yaml and manifests/examples/ against a real API server (test/controlplane): the plain
// manifests apply cleanly (CRD established, RBAC accepted by the RBAC API), the RBAC grants what the
// operator and users need and nothing they should not have (asked of the API server's authorizer with
// impersonation), and the examples are accepted or, for the invalid one, rejected with one readable
// message per broken rule. The operator itself running from the chart is proven in prometheus.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KubectlError, startTestCluster } from '../controlplane/cluster.js';
import type { TestCluster } from '../controlplane/cluster.js';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const INSTALL = join(REPO_ROOT, 'manifests', 'install.yaml');
const EXAMPLES = join(REPO_ROOT, 'manifests', 'examples');
const OPERATOR_NS = 'kuberaft-system';
const OPERATOR_SA = `system:serviceaccount:${OPERATOR_NS}:kuberaft`;
const TENANT_NS = 'apps';
const CRD_ESTABLISHED_TIMEOUT = '60s';

let cluster: TestCluster;

before(async () => {
  cluster = await startTestCluster({ repoRoot: REPO_ROOT });
  await cluster.kubectl(['apply', '-f', INSTALL]);
  await cluster.kubectl(['wait', '--for=condition=established', `--timeout=${CRD_ESTABLISHED_TIMEOUT}`, 'crd/raftclusters.kuberaft.io']);
  await cluster.kubectl(['create', 'namespace', TENANT_NS]);
});

after(async () => {
  await cluster?.stop();
});

/** The authorizer's answer to `kubectl auth can-i` (exit 1 with nothing on stderr is "no", not a failure). */
async function canI(as: string, verb: string, resource: string, namespace: string): Promise<boolean> {
  const [type, subresource] = resource.split('/');
  const args = ['auth', 'can-i', verb, type as string, `--as=${as}`, '-n', namespace, ...(subresource ? [`--subresource=${subresource}`] : [])];
  try {
    const { stdout } = await cluster.kubectl(args);
    assert.equal(stdout.trim(), 'yes');
    return true;
  } catch (err) {
    if (err instanceof KubectlError && err.exitCode === 1 && err.stderr.trim() === '') return false;
    throw err;
  }
}

async function dryRun(file: string): Promise<string> {
  const { stdout } = await cluster.kubectl(['apply', '--dry-run=server', '-n', TENANT_NS, '-f', join(EXAMPLES, file)]);
  return stdout;
}

describe('manifests/install.yaml on a real API server', () => {
  test('creates the namespace, the CRD with its scale subresource, RBAC, the operator Deployment and its Service', async () => {
    const { stdout } = await cluster.kubectl(['get', 'deployment,service,serviceaccount,configmap,role,rolebinding', '-n', OPERATOR_NS, '-o', 'name']);
    for (const name of [
      'deployment.apps/kuberaft',
      'service/kuberaft-metrics',
      'serviceaccount/kuberaft',
      'configmap/kuberaft-dashboard',
      'role.rbac.authorization.k8s.io/kuberaft-leader-election',
      'rolebinding.rbac.authorization.k8s.io/kuberaft-leader-election',
    ]) {
      assert.ok(stdout.split('\n').includes(name), `${name} in:\n${stdout}`);
    }
    const scale = await cluster.kubectl(['get', 'crd', 'raftclusters.kuberaft.io', '-o', 'jsonpath={.spec.versions[0].subresources.scale.specReplicasPath}']);
    assert.equal(scale.stdout, '.spec.replicas');
  });

  test('the operator may do its job in any namespace, and no more', async () => {
    for (const [verb, resource] of [
      ['watch', 'raftclusters.kuberaft.io'],
      ['patch', 'raftclusters.kuberaft.io/status'],
      ['create', 'statefulsets.apps'],
      ['patch', 'statefulsets.apps'],
      ['create', 'poddisruptionbudgets.policy'],
      ['create', 'secrets'],
      ['get', 'secrets'],
      ['delete', 'persistentvolumeclaims'],
      ['create', 'events'],
    ] as const) {
      assert.equal(await canI(OPERATOR_SA, verb, resource, TENANT_NS), true, `${verb} ${resource}`);
    }
    for (const [verb, resource] of [
      ['list', 'secrets'],
      ['watch', 'secrets'],
      ['update', 'raftclusters.kuberaft.io'],
      ['delete', 'raftclusters.kuberaft.io'],
      ['delete', 'statefulsets.apps'],
      ['create', 'pods'],
      ['create', 'rolebindings.rbac.authorization.k8s.io'],
      ['update', 'leases.coordination.k8s.io'],
    ] as const) {
      assert.equal(await canI(OPERATOR_SA, verb, resource, TENANT_NS), false, `${verb} ${resource} is not granted`);
    }
    // Its Lease lives in its own namespace only.
    assert.equal(await canI(OPERATOR_SA, 'update', 'leases.coordination.k8s.io', OPERATOR_NS), true);
  });

  test('a user with the built-in edit role may create and scale RaftClusters; a viewer may only read them', async () => {
    await cluster.kubectl(['create', 'rolebinding', 'alice-edit', '--clusterrole=edit', '--user=alice', '-n', TENANT_NS]);
    await cluster.kubectl(['create', 'rolebinding', 'bob-view', '--clusterrole=view', '--user=bob', '-n', TENANT_NS]);
    // The aggregation controller fills the built-in roles asynchronously.
    const deadline = Date.now() + 30_000;
    while (!(await canI('alice', 'update', 'raftclusters.kuberaft.io/scale', TENANT_NS)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(await canI('alice', 'update', 'raftclusters.kuberaft.io/scale', TENANT_NS), true);
    assert.equal(await canI('alice', 'create', 'raftclusters.kuberaft.io', TENANT_NS), true);
    assert.equal(await canI('bob', 'list', 'raftclusters.kuberaft.io', TENANT_NS), true);
    assert.equal(await canI('bob', 'update', 'raftclusters.kuberaft.io/scale', TENANT_NS), false);
    assert.equal(await canI('bob', 'create', 'raftclusters.kuberaft.io', TENANT_NS), false);
  });
});

describe('manifests/examples on a real API server', () => {
  test('the valid examples are accepted', async () => {
    assert.match(await dryRun('raftcluster-3.yaml'), /raftcluster\.kuberaft\.io\/demo created \(server dry run\)/);
    assert.match(await dryRun('raftcluster-5-tuned.yaml'), /raftcluster\.kuberaft\.io\/tuned created \(server dry run\)/);
  });

  test('the invalid example is rejected with a message for each broken rule its comment lists', async () => {
    const err = await dryRun('raftcluster-invalid.yaml').then(
      () => assert.fail('the invalid example was accepted'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof KubectlError);
    const message = err.stderr;
    assert.match(message, /The RaftCluster "invalid" is invalid/);
    assert.match(message, /storage\.size/);
    assert.match(message, /electionTimeoutMs/);
    // The file's comment names every rule it breaks, so the docs that show it stay true.
    const comment = readFileSync(join(EXAMPLES, 'raftcluster-invalid.yaml'), 'utf8');
    for (const field of ['storage.size', 'raft.electionTimeoutMs']) assert.ok(comment.includes(`# - ${field}`), field);
  });
});
