// The operator's watches against a real API server that goes away: the kube-apiserver is SIGKILLed and
// started again under a running operator. Every watch connection drops ("Premature close"); the new
// apiserver's watch cache starts at the current etcd revision, so the informers, resuming from their old
// resourceVersions, are answered 410 Gone and must re-list. The test shows both: the restarted apiserver
// answers 410 to a watch from a pre-restart version, and its request log (--v=3) shows the operator's
// informers LISTing again (a watch restarted after any other failure resumes without a LIST). The operator
// runs with a resync period longer than the test, so only a working watch can make it see the
// `kubectl scale` that follows; the same operator process must reconcile it to the end.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { waitFor } from './lib/wait.js';
import type { TestCluster } from '../controlplane/cluster.js';
import {
  assertData,
  assertStatusMatches,
  podNames,
  put,
  raftClusterYaml,
  startClusterWithCrd,
  startOperator,
  waitConverged,
} from './operator-lib/harness.js';
import type { OperatorProcess } from './operator-lib/harness.js';
import { restartApiserver, restartedApiserverLog } from './operator-lib/apiserver.js';
import type { RestartedApiserver } from './operator-lib/apiserver.js';

const NS = 'watch';
const NAME = 'w';
/** Longer than the whole test: a change seen at all is seen through a watch. */
const RESYNC_SECONDS = 3600;
/** Outlives the apiserver's absence, so the operator keeps its lease (and its informers) through it. */
const LEASE_SECONDS = 120;
const GONE_CHECK_TIMEOUT_MS = 30_000;
const HTTP_GONE = 410;
/** Watch restart delay (2 s) plus the apiserver's cache warming up. */
const RELIST_TIMEOUT_MS = 60_000;
/** A restarted apiserver answers 429 to some requests while its flow control starts up. */
const APISERVER_SETTLE_TIMEOUT_MS = 30_000;
const APISERVER_SETTLE_POLL_MS = 500;

/** How the apiserver answers a watch from `resourceVersion`: 'gone' (410, as status or ERROR event) or 'ok'. */
async function watchFrom(cluster: TestCluster, path: string, resourceVersion: string): Promise<'gone' | 'ok'> {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (v: 'gone' | 'ok'): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void controller.then((c) => c.abort());
      resolve(v);
    };
    const timer = setTimeout(() => settle('ok'), GONE_CHECK_TIMEOUT_MS);
    const controller = new Watch(kc).watch(
      path,
      { resourceVersion },
      (type: string, obj: { code?: number }) => {
        if (type === 'ERROR' && obj.code === HTTP_GONE) settle('gone');
        else if (type !== 'ERROR') settle('ok');
      },
      (err: unknown) => {
        if ((err as { statusCode?: number } | null)?.statusCode === HTTP_GONE) settle('gone');
        else if (err) reject(err instanceof Error ? err : new Error(String(err)));
        else settle('ok');
      },
    );
    // The request itself can fail (a restarted apiserver sheds load with 429 until its priority
    // levels are configured); the caller decides whether to ask again.
    controller.catch((err: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(err instanceof Error ? err : new Error(String(err)));
    });
  });
}

/** watchFrom, asked again while the apiserver is still starting (429 Too Many Requests). */
async function watchFromStarted(cluster: TestCluster, path: string, resourceVersion: string): Promise<'gone' | 'ok'> {
  const deadline = Date.now() + APISERVER_SETTLE_TIMEOUT_MS;
  for (;;) {
    try {
      return await watchFrom(cluster, path, resourceVersion);
    } catch (err) {
      if (!/Too Many Requests/.test(String(err)) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, APISERVER_SETTLE_POLL_MS));
    }
  }
}

describe('operator: watches through an apiserver restart', () => {
  let cluster: TestCluster;
  let operator: OperatorProcess | undefined;
  let restarted: RestartedApiserver | undefined;

  before(async () => {
    cluster = await startClusterWithCrd(NS);
  });

  after(async () => {
    await operator?.stop();
    await cluster?.stop();
    await restarted?.stop();
  });

  test('the kube-apiserver restarts (connections cut, old resourceVersions Gone); a later scale is reconciled', async () => {
    operator = startOperator(cluster, 'op', ['--resync-seconds', String(RESYNC_SECONDS), '--leader-election-lease-seconds', String(LEASE_SECONDS)]);
    await cluster.kubectl(['apply', '-f', '-'], raftClusterYaml(NS, NAME, 1));
    await waitConverged(cluster, NS, NAME, 1);
    const written = new Map<string, string>();
    for (let i = 0; i < 4; i++) {
      await put(cluster, NS, `${NAME}-0`, `k-${i}`, `v-${i}`);
      written.set(`k-${i}`, `v-${i}`);
    }
    const clustersPath = `/apis/kuberaft.io/v1alpha1/namespaces/${NS}/raftclusters`;
    const oldVersion = (await cluster.kubectl(['get', '--raw', clustersPath])).stdout;
    const rv = (JSON.parse(oldVersion) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    // Writes elsewhere (a ConfigMap) move the etcd revision past every version the informers hold.
    await cluster.kubectl(['create', 'configmap', 'bump', '-n', NS, '--from-literal=a=1']);
    const logBefore = operator.log().length;

    restarted = await restartApiserver(cluster, ['--v=3']);
    assert.equal(await watchFromStarted(cluster, clustersPath, rv), 'gone', `the restarted apiserver answers 410 Gone to a watch from ${rv}`);
    // The informers' lists are the only cluster-wide, label-selected LISTs of pods and StatefulSets (the
    // reconcile lists per namespace); a restarted watch resumes without listing unless told 410 Gone.
    for (const resource of ['/api/v1/pods', '/apis/apps/v1/statefulsets']) {
      const relist = new RegExp(`verb="LIST" URI="${resource.replaceAll('/', '\\/')}\\?labelSelector=app\\.kubernetes\\.io%2Fname%3Dkuberaft`);
      await waitFor(`the operator to re-list ${resource} from the restarted apiserver`, RELIST_TIMEOUT_MS, async () =>
        relist.test(readFileSync(restartedApiserverLog(cluster), 'utf8')) ? true : undefined,
      );
    }

    await cluster.kubectl(['scale', `raftcluster/${NAME}`, '-n', NS, '--replicas=3']);
    const done = await waitConverged(cluster, NS, NAME, 3);
    assertStatusMatches(done.status, done.nodes, NAME, 3);
    await assertData(cluster, NS, podNames(NAME, 3), written);

    assert.equal(operator.child.exitCode, null, 'the same operator process did it');
    const since = operator.log().slice(logBefore);
    assert.ok(!since.includes('became the operator leader'), 'it kept its lease through the outage');
    assert.match(since, /"step":"AddingLearner"/, 'the operator took the scale-up steps after the restart');
  });
});
