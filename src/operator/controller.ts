// Watches RaftClusters and the StatefulSets and Pods they own, and feeds their keys (namespace/name of
// the RaftCluster) to the work queue; a periodic resync enqueues every RaftCluster again, so a missed
// event delays a pass by at most one resync period. Informers re-list on 410 Gone (the client does it)
// and are restarted with a delay after any other watch failure (a dropped connection, an API restart).
import { makeInformer } from '@kubernetes/client-node';
import type { Informer, KubernetesListObject, KubernetesObject, ObjectCache, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from './api.js';
import type { RaftCluster } from './api.js';
import type { Kube } from './kube.js';
import type { Logger } from '../log/logger.js';
import type { OperatorMetrics } from './metrics.js';
import type { Reconciler } from './reconciler.js';
import { APP_NAME, LABEL_INSTANCE, LABEL_NAME } from './resources.js';
import { WorkQueue } from './workqueue.js';

export const RESYNC_PERIOD_MS_DEFAULT = 30_000;
/** Delay before a failed watch is started again (a list follows, so nothing is missed). */
export const WATCH_RESTART_DELAY_MS = 2_000;

export interface ControllerOptions {
  readonly kube: Kube;
  readonly reconciler: Reconciler;
  readonly metrics: OperatorMetrics;
  readonly log: Logger;
  /** Only this namespace; all namespaces when undefined. */
  readonly namespace: string | undefined;
  readonly resyncPeriodMs?: number;
}

type AnyInformer = Informer<KubernetesObject> & ObjectCache<KubernetesObject>;

export class Controller {
  readonly #o: ControllerOptions;
  readonly #queue: WorkQueue;
  readonly #informers: AnyInformer[] = [];
  readonly #restartTimers = new Set<NodeJS.Timeout>();
  #resync: NodeJS.Timeout | undefined;
  #synced = false;
  #stopped = false;

  constructor(o: ControllerOptions) {
    this.#o = o;
    this.#queue = new WorkQueue((key) => this.#handle(key), {
      onError: (key, err) => o.log.error('reconcile failed', { cluster: key, err: err instanceof Error ? err.message : String(err) }),
    });
  }

  get synced(): boolean {
    return this.#synced;
  }

  async start(): Promise<void> {
    const { kube, namespace } = this.#o;
    const kc = kube.config;
    const nsPath = namespace === undefined ? '' : `/namespaces/${namespace}`;
    const nodeSelector = `${LABEL_NAME}=${APP_NAME}`;

    const clusters = makeInformer<RaftCluster & KubernetesObject>(
      kc,
      `/apis/${GROUP}/${VERSION}${nsPath}/${PLURAL}`,
      async () => (await kube.listClustersWithVersion(namespace)) as unknown as KubernetesListObject<RaftCluster & KubernetesObject>,
    );
    const sets = makeInformer<V1StatefulSet>(
      kc,
      `/apis/apps/v1${nsPath}/statefulsets`,
      () =>
        (namespace === undefined
          ? kube.apps.listStatefulSetForAllNamespaces({ labelSelector: nodeSelector })
          : kube.apps.listNamespacedStatefulSet({ namespace, labelSelector: nodeSelector })) as Promise<KubernetesListObject<V1StatefulSet>>,
      nodeSelector,
    );
    const pods = makeInformer<V1Pod>(
      kc,
      `/api/v1${nsPath}/pods`,
      () =>
        (namespace === undefined
          ? kube.core.listPodForAllNamespaces({ labelSelector: nodeSelector })
          : kube.core.listNamespacedPod({ namespace, labelSelector: nodeSelector })) as Promise<KubernetesListObject<V1Pod>>,
      nodeSelector,
    );

    const byOwnName = (o: KubernetesObject): void => this.#enqueue(o.metadata?.namespace, o.metadata?.name);
    const byInstance = (o: KubernetesObject): void => this.#enqueue(o.metadata?.namespace, o.metadata?.labels?.[LABEL_INSTANCE]);
    this.#watch('raftclusters', clusters as unknown as AnyInformer, byOwnName);
    this.#watch('statefulsets', sets as unknown as AnyInformer, byInstance);
    this.#watch('pods', pods as unknown as AnyInformer, byInstance);
    await Promise.all(this.#informers.map((i) => i.start()));
    this.#synced = true;
    const period = this.#o.resyncPeriodMs ?? RESYNC_PERIOD_MS_DEFAULT;
    this.#resync = setInterval(() => void this.#resyncAll(), period);
    await this.#resyncAll();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#resync !== undefined) clearInterval(this.#resync);
    for (const t of this.#restartTimers) clearTimeout(t);
    this.#restartTimers.clear();
    await Promise.all(this.#informers.map((i) => i.stop()));
    await this.#queue.stop();
  }

  #watch(what: string, informer: AnyInformer, key: (o: KubernetesObject) => void): void {
    informer.on('add', key);
    informer.on('update', key);
    informer.on('delete', key);
    informer.on('error', (err: unknown) => {
      if (this.#stopped) return;
      this.#o.log.warn('watch failed; restarting it', { what, err: err instanceof Error ? err.message : String(err) });
      const t = setTimeout(() => {
        this.#restartTimers.delete(t);
        if (!this.#stopped) informer.start().catch(() => {
          // start() reports failures through the error handler above, which schedules the next try.
        });
      }, WATCH_RESTART_DELAY_MS);
      this.#restartTimers.add(t);
    });
    this.#informers.push(informer);
  }

  async #resyncAll(): Promise<void> {
    try {
      for (const rc of await this.#o.kube.listClusters(this.#o.namespace)) this.#enqueue(rc.metadata.namespace, rc.metadata.name);
    } catch (err) {
      this.#o.log.warn('resync list failed', { err: err instanceof Error ? err.message : String(err) });
    }
  }

  #enqueue(namespace: string | undefined, name: string | undefined): void {
    if (namespace === undefined || name === undefined || name === '') return;
    this.#queue.add(`${namespace}/${name}`);
  }

  async #handle(key: string): Promise<number | undefined> {
    const [namespace = '', name = ''] = key.split('/');
    const end = this.#o.metrics.reconcileSeconds.startTimer();
    try {
      const r = await this.#o.reconciler.reconcile(namespace, name);
      this.#o.metrics.reconcileTotal.inc({ result: r.outcome });
      return r.requeueAfterMs;
    } catch (err) {
      this.#o.metrics.reconcileTotal.inc({ result: 'error' });
      throw err;
    } finally {
      end();
    }
  }
}
