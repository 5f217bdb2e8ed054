// A fleet of operator processes for failure tests: launch replicas, find the one holding the lease, and
// SIGKILL it after every membership step it is seen taking (by its Events), a standby taking over each time.
import assert from 'node:assert/strict';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
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
/** How often the operators' logs are read for a step to kill in: well below the time a node call takes. */
const LOG_POLL_INTERVAL_MS = 2;

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

  /**
   * Until `done()` says the change is complete: SIGKILL the acting operator as soon as it logs that it
   * takes a step (`reconcile step` with a step reason, logged just before the step's API or node call), so
   * the kill lands before, during or just after that call, and start a new standby. Each distinct step
   * (same action) is interrupted once; its retry by the successor is let through. Returns the steps the
   * operators were killed in.
   */
  async killInEveryStep(ns: string, name: string, done: () => Promise<boolean>): Promise<string[]> {
    const killedIn: string[] = [];
    const cluster = `${ns}/${name}`;
    const offsets = new Map<OperatorProcess, number>();
    const interrupted = new Set<string>();
    const check = (): void => {
      for (const op of this.alive()) {
        const from = offsets.get(op) ?? 0;
        const size = statSync(op.logPath).size;
        if (size <= from) continue;
        const fd = openSync(op.logPath, 'r');
        const bytes = Buffer.alloc(size - from);
        readSync(fd, bytes, 0, bytes.length, from);
        closeSync(fd);
        // Only whole lines: a line still being written is read again next time.
        const text = bytes.toString('utf8');
        const end = text.lastIndexOf('\n') + 1;
        offsets.set(op, from + Buffer.byteLength(text.slice(0, end)));
        for (const line of text.slice(0, end).split('\n')) {
          if (!line.includes('"msg":"reconcile step"') || !line.includes(`"cluster":"${cluster}"`) || line.includes('"kind":"wait"')) continue;
          const step = /"step":"([A-Za-z]+)"/.exec(line)?.[1] ?? '';
          const action = /"action":(\{.*\})\}$/.exec(line)?.[1] ?? line;
          // Each distinct step is interrupted once: killing every retry too would stop any progress.
          if (!STEP_REASONS.has(step) || interrupted.has(action)) continue;
          interrupted.add(action);
          op.child.kill('SIGKILL');
          killedIn.push(step);
          this.launch();
          return;
        }
      }
    };
    // Lines already logged are history, not steps of this change.
    for (const op of this.alive()) offsets.set(op, statSync(op.logPath).size);
    const timer = setInterval(check, LOG_POLL_INTERVAL_MS);
    try {
      await waitFor(`the change of ${cluster} to finish`, 2 * CONVERGE_TIMEOUT_MS, async () => ((await done()) ? true : undefined));
      return killedIn;
    } finally {
      clearInterval(timer);
    }
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.#all.map((o) => o.stop()));
  }
}
