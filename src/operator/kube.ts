// The operator's view of the Kubernetes API: the few typed calls the reconcile, the controller and
// leader election make, over @kubernetes/client-node. Errors keep the API's HTTP status (`statusOf`).
import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type {
  KubeConfig,
  V1Lease,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodDisruptionBudget,
  V1Secret,
  V1Service,
  V1StatefulSet,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from './api.js';
import type { RaftCluster, RaftClusterStatus } from './api.js';

export const HTTP_NOT_FOUND = 404;
export const HTTP_CONFLICT = 409;

/** The HTTP status of a failed API call, or undefined for a transport failure. */
export function statusOf(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

async function orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (statusOf(err) === HTTP_NOT_FOUND) return undefined;
    throw err;
  }
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface EventInput {
  readonly cluster: RaftCluster;
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
  readonly component: string;
}

export class Kube {
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly policy: PolicyV1Api;
  readonly custom: CustomObjectsApi;
  readonly coordination: CoordinationV1Api;

  constructor(readonly config: KubeConfig) {
    this.core = config.makeApiClient(CoreV1Api);
    this.apps = config.makeApiClient(AppsV1Api);
    this.policy = config.makeApiClient(PolicyV1Api);
    this.custom = config.makeApiClient(CustomObjectsApi);
    this.coordination = config.makeApiClient(CoordinationV1Api);
  }

  async getCluster(namespace: string, name: string): Promise<RaftCluster | undefined> {
    return orUndefined(this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name }) as Promise<RaftCluster>);
  }

  async listClusters(namespace: string | undefined): Promise<RaftCluster[]> {
    return (await this.listClustersWithVersion(namespace)).items;
  }

  /** The list with its resourceVersion, for a watch to start from. */
  async listClustersWithVersion(namespace: string | undefined): Promise<{ items: RaftCluster[]; metadata: { resourceVersion?: string } }> {
    return (namespace === undefined
      ? await this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })
      : await this.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace })) as {
      items: RaftCluster[];
      metadata: { resourceVersion?: string };
    };
  }

  async patchClusterStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
    await this.custom.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { status } },
      mergePatch,
    );
  }

  getSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    return orUndefined(this.core.readNamespacedSecret({ namespace, name }));
  }

  /** Creates the object; an existing one (created concurrently) is not an error. */
  async createSecret(body: V1Secret): Promise<void> {
    await ignoreConflict(this.core.createNamespacedSecret({ namespace: body.metadata?.namespace ?? '', body }));
  }

  getService(namespace: string, name: string): Promise<V1Service | undefined> {
    return orUndefined(this.core.readNamespacedService({ namespace, name }));
  }

  async createService(body: V1Service): Promise<void> {
    await ignoreConflict(this.core.createNamespacedService({ namespace: body.metadata?.namespace ?? '', body }));
  }

  getPdb(namespace: string, name: string): Promise<V1PodDisruptionBudget | undefined> {
    return orUndefined(this.policy.readNamespacedPodDisruptionBudget({ namespace, name }));
  }

  async createPdb(body: V1PodDisruptionBudget): Promise<void> {
    await ignoreConflict(this.policy.createNamespacedPodDisruptionBudget({ namespace: body.metadata?.namespace ?? '', body }));
  }

  getStatefulSet(namespace: string, name: string): Promise<V1StatefulSet | undefined> {
    return orUndefined(this.apps.readNamespacedStatefulSet({ namespace, name }));
  }

  async createStatefulSet(body: V1StatefulSet): Promise<void> {
    await this.apps.createNamespacedStatefulSet({ namespace: body.metadata?.namespace ?? '', body });
  }

  async patchStatefulSet(namespace: string, name: string, body: Record<string, unknown>): Promise<void> {
    await this.apps.patchNamespacedStatefulSet({ namespace, name, body }, mergePatch);
  }

  async listPods(namespace: string, labelSelector: string): Promise<V1Pod[]> {
    return (await this.core.listNamespacedPod({ namespace, labelSelector })).items;
  }

  async listClaims(namespace: string, labelSelector: string): Promise<V1PersistentVolumeClaim[]> {
    return (await this.core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector })).items;
  }

  async annotateClaim(namespace: string, name: string, annotations: Record<string, string>): Promise<void> {
    await this.core.patchNamespacedPersistentVolumeClaim({ namespace, name, body: { metadata: { annotations } } }, mergePatch);
  }

  async deleteClaim(namespace: string, name: string): Promise<void> {
    await orUndefined(this.core.deleteNamespacedPersistentVolumeClaim({ namespace, name }));
  }

  async createEvent(e: EventInput): Promise<void> {
    const now = new Date();
    const meta = e.cluster.metadata;
    await this.core.createNamespacedEvent({
      namespace: meta.namespace,
      body: {
        metadata: { generateName: `${meta.name}.`, namespace: meta.namespace },
        involvedObject: { apiVersion: e.cluster.apiVersion, kind: e.cluster.kind, name: meta.name, namespace: meta.namespace, uid: meta.uid, ...(meta.resourceVersion === undefined ? {} : { resourceVersion: meta.resourceVersion }) },
        type: e.type,
        reason: e.reason,
        message: e.message,
        source: { component: e.component },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
        reportingComponent: e.component,
        reportingInstance: e.component,
      },
    });
  }

  getLease(namespace: string, name: string): Promise<V1Lease | undefined> {
    return orUndefined(this.coordination.readNamespacedLease({ namespace, name }));
  }

  createLease(body: V1Lease): Promise<V1Lease> {
    return this.coordination.createNamespacedLease({ namespace: body.metadata?.namespace ?? '', body });
  }

  /** Optimistic: fails with 409 when the lease changed since it was read (its resourceVersion is in `body`). */
  replaceLease(body: V1Lease): Promise<V1Lease> {
    return this.coordination.replaceNamespacedLease({ namespace: body.metadata?.namespace ?? '', name: body.metadata?.name ?? '', body });
  }

  /** A status merge of the cluster's status type, for callers holding a typed status. */
  patchStatus(namespace: string, name: string, status: RaftClusterStatus): Promise<void> {
    return this.patchClusterStatus(namespace, name, status as Record<string, unknown>);
  }
}

async function ignoreConflict(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (statusOf(err) !== HTTP_CONFLICT) throw err;
  }
}
