// A fleet of operator processes for failure tests: launch replicas, find the one holding the lease, and
// SIGKILL it after every membership step it is seen taking (by its Events), a standby taking over each time.
import assert from 'node:assert/strict';
import { CoreV1Api, KubeConfig, Watch } from '@kubernetes/client-node';
import type { CoreV1Event } from '@kubernetes/client-node';
import type { TestCluster } from '../../controlplane/cluster.js';
import { waitFor } from '../lib/wait.js';
import { CONVERGE_TIMEOUT_MS, startOperator } from './harness.js';
import type { OperatorProcess } from './harness.js';

/** Event reasons of the membership steps the operator takes (docs/operator.md, "Events"). */
export const STEP_REASONS: ReadonlySet<string> = new Set([
  'Bootstrapping',
  'ScalingStatefulSet',
  'AddingLearner',
  'Promoting',
  'RemovingMember',
  'TransferringLeadership',
  'ReplacingLostMember',
]);
/** What the operator logs once it holds the lease. */
export const BECAME_LEADER = 'became the operator leader';

export class OperatorFleet {
  readonly #cluster: TestCluster;
  readonly #prefix: string;
  readonly #all: OperatorProcess[] = [];

  constructor(cluster: TestCluster, prefix: string) {
    this.#cluster = cluster;
    this.#prefix = prefix;
  }

  launch(): OperatorProcess {
    const op = startOperator(this.#cluster, `${this.#prefix}-${this.#all.length}`);
    this.#all.push(op);
    return op;
  }

  alive(): OperatorProcess[] {
    return this.#all.filter((o) => o.child.exitCode === null && o.child.signalCode === null);
  }

  /** The live operator that logged taking the lease; never more than one. */
  async acting(): Promise<OperatorProcess> {
    return waitFor('an acting operator', CONVERGE_TIMEOUT_MS, async () => {
      const leaders = this.alive().filter((o) => o.log().includes(BECAME_LEADER));
      assert.ok(leaders.length <= 1, 'at most one live operator ever holds the lease');
      return leaders[0];
    });
  }

  /**
   * Until `done()` says the change is complete: SIGKILL the acting operator the moment the Event of a
   * step it took arrives (a watch on the RaftCluster's Events, so the kill lands before its next pass can
   * take another step), and start a new standby. Returns the step reasons killed after, in order; a step
   * whose Event arrives when no operator acts (the killed one finished a second step first) is joined to
   * the previous entry as `A+B`.
   */
  async killAfterEveryStep(ns: string, name: string, done: () => Promise<boolean>): Promise<string[]> {
    const kc = new KubeConfig();
    kc.loadFromFile(this.#cluster.kubeconfigPath);
    const path = `/api/v1/namespaces/${ns}/events`;
    const fieldSelector = `involvedObject.kind=RaftCluster,involvedObject.name=${name}`;
    const list = await kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: ns, fieldSelector });
    const killedAfter: string[] = [];
    let watchError: unknown;
    const onEvent = (type: string, obj: CoreV1Event): void => {
      if (type !== 'ADDED' || !STEP_REASONS.has(obj.reason ?? '')) return;
      const acting = this.alive().filter((o) => o.log().includes(BECAME_LEADER));
      if (acting.length === 0) {
        killedAfter.push(`${killedAfter.pop() ?? ''}+${obj.reason ?? ''}`);
        return;
      }
      for (const op of acting) op.child.kill('SIGKILL');
      killedAfter.push(obj.reason ?? '');
      this.launch(); // a new standby, so there is always one to take over
    };
    const watch = await new Watch(kc).watch(path, { fieldSelector, resourceVersion: list.metadata?.resourceVersion }, onEvent, (err: unknown) => {
      watchError = err ?? new Error('the Event watch ended');
    });
    try {
      await waitFor(`the change of ${ns}/${name} to finish`, 2 * CONVERGE_TIMEOUT_MS, async () => (watchError !== undefined || (await done()) ? true : undefined));
      assert.equal(watchError, undefined, 'the Event watch saw the whole change');
      return killedAfter;
    } finally {
      watch.abort();
    }
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.#all.map((o) => o.stop()));
  }
}
