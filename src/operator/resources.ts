// The Kubernetes objects a RaftCluster owns, as pure functions of its spec: the Secret with the
// cluster secret and admin token, the headless peer Service, the client Service, the StatefulSet
// and the PodDisruptionBudget. All carry an owner reference, so deleting the RaftCluster deletes them.
import type { V1OwnerReference, V1PodDisruptionBudget, V1Secret, V1Service, V1StatefulSet, V1EnvVar } from '@kubernetes/client-node';
import { createHash, randomBytes } from 'node:crypto';
import { API_VERSION, KIND } from './api.js';
import type { EffectiveSpec, RaftCluster } from './api.js';
import { NODE_API_PORT, NODE_PEER_PORT } from './admin-client.js';
import { peersServiceName } from './plan.js';

export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const APP_NAME = 'kuberaft';
export const MANAGED_BY = 'kuberaft-operator';
/** On the pod template: a hash of everything the operator sets in it, to tell when it must be updated. */
export const TEMPLATE_HASH_ANNOTATION = 'kuberaft.io/template-hash';
/** On a node's volume claim: the uid of the RaftCluster whose member the volume's node became (see plan.ts). */
export const MEMBER_MARK_ANNOTATION = 'kuberaft.io/member-of';

export const VOLUME_CLAIM_TEMPLATE = 'data';
export const DATA_MOUNT_PATH = '/data';
/** A subdirectory, so that a filesystem's own entries (lost+found) never sit in the node's data dir. */
export const DATA_DIR = `${DATA_MOUNT_PATH}/kuberaft`;
export const AUTH_MOUNT_PATH = '/etc/kuberaft/auth';
export const SECRET_KEY_CLUSTER = 'cluster-secret';
export const SECRET_KEY_ADMIN = 'admin-token';
/** Random bytes of each generated secret (hex encoded: twice as many characters). */
export const GENERATED_SECRET_BYTES = 32;
/** A node flushes and closes its WAL on SIGTERM well within this. */
export const TERMINATION_GRACE_PERIOD_SECONDS = 15;
export const READINESS_PERIOD_SECONDS = 2;
export const LIVENESS_PERIOD_SECONDS = 5;
export const LIVENESS_FAILURE_THRESHOLD = 6;
/** At most one node down at a time by voluntary disruption; see docs/decisions.md. */
export const PDB_MAX_UNAVAILABLE = 1;

export function selectorLabels(cluster: string): Record<string, string> {
  return { [LABEL_NAME]: APP_NAME, [LABEL_INSTANCE]: cluster };
}

export function selectorString(cluster: string): string {
  return Object.entries(selectorLabels(cluster))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

function labels(cluster: string): Record<string, string> {
  return { ...selectorLabels(cluster), [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_COMPONENT]: 'node' };
}

export function ownerReference(rc: RaftCluster): V1OwnerReference {
  return { apiVersion: API_VERSION, kind: KIND, name: rc.metadata.name, uid: rc.metadata.uid, controller: true, blockOwnerDeletion: true };
}

function meta(rc: RaftCluster, name: string): { name: string; namespace: string; labels: Record<string, string>; ownerReferences: V1OwnerReference[] } {
  return { name, namespace: rc.metadata.namespace, labels: labels(rc.metadata.name), ownerReferences: [ownerReference(rc)] };
}

export const authSecretName = (cluster: string): string => `${cluster}-auth`;
export const clientServiceName = (cluster: string): string => cluster;
export const statefulSetName = (cluster: string): string => cluster;
export const pdbName = (cluster: string): string => cluster;
export const claimName = (pod: string): string => `${VOLUME_CLAIM_TEMPLATE}-${pod}`;

/** Created once with fresh random values; never rewritten (nodes would no longer agree). */
export function authSecret(rc: RaftCluster): V1Secret {
  const random = (): string => randomBytes(GENERATED_SECRET_BYTES).toString('hex');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(rc, authSecretName(rc.metadata.name)),
    type: 'Opaque',
    stringData: { [SECRET_KEY_CLUSTER]: random(), [SECRET_KEY_ADMIN]: random() },
  };
}

const ports = [
  { name: 'peer', port: NODE_PEER_PORT, targetPort: NODE_PEER_PORT },
  { name: 'api', port: NODE_API_PORT, targetPort: NODE_API_PORT },
];

export function peersService(rc: RaftCluster): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(rc, peersServiceName(rc.metadata.name)),
    // Not-ready pods need their names too: a node waiting to join is not Ready until it is caught up.
    spec: { clusterIP: 'None', publishNotReadyAddresses: true, selector: selectorLabels(rc.metadata.name), ports },
  };
}

export function clientService(rc: RaftCluster): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(rc, clientServiceName(rc.metadata.name)),
    spec: { type: 'ClusterIP', selector: selectorLabels(rc.metadata.name), ports: [{ name: 'api', port: NODE_API_PORT, targetPort: NODE_API_PORT }] },
  };
}

export function podDisruptionBudget(rc: RaftCluster): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(rc, pdbName(rc.metadata.name)),
    spec: { maxUnavailable: PDB_MAX_UNAVAILABLE, selector: { matchLabels: selectorLabels(rc.metadata.name) } },
  };
}

function env(name: string, value: string): V1EnvVar {
  return { name, value };
}

/** The StatefulSet with `replicas` pods; the template hash annotation covers everything else in the template. */
export function statefulSet(rc: RaftCluster, spec: EffectiveSpec, replicas: number): V1StatefulSet {
  const name = rc.metadata.name;
  const ns = rc.metadata.namespace;
  const template = {
    metadata: { labels: labels(name), annotations: {} as Record<string, string> },
    spec: {
      terminationGracePeriodSeconds: TERMINATION_GRACE_PERIOD_SECONDS,
      containers: [
        {
          name: 'node',
          image: spec.image,
          args: ['node'],
          env: [
            { name: 'KUBERAFT_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            env('KUBERAFT_DATA_DIR', DATA_DIR),
            env('KUBERAFT_LISTEN_PEER', `0.0.0.0:${NODE_PEER_PORT}`),
            env('KUBERAFT_LISTEN_API', `0.0.0.0:${NODE_API_PORT}`),
            env('KUBERAFT_ADVERTISE_PEER', `$(KUBERAFT_ID).${peersServiceName(name)}.${ns}.svc.cluster.local:${NODE_PEER_PORT}`),
            env('KUBERAFT_CLUSTER_SECRET_FILE', `${AUTH_MOUNT_PATH}/${SECRET_KEY_CLUSTER}`),
            env('KUBERAFT_ADMIN_TOKEN_FILE', `${AUTH_MOUNT_PATH}/${SECRET_KEY_ADMIN}`),
            // The operator generates only the admin token so far: clients of its clusters read and
            // write without one, as before client tokens existed (docs/decisions.md).
            env('KUBERAFT_ANONYMOUS_ROLE', 'write'),
            env('KUBERAFT_ELECTION_TIMEOUT_MS', String(spec.raft.electionTimeoutMs)),
            env('KUBERAFT_HEARTBEAT_INTERVAL_MS', String(spec.raft.heartbeatIntervalMs)),
            env('KUBERAFT_SNAPSHOT_THRESHOLD_ENTRIES', String(spec.raft.snapshotThreshold)),
          ],
          ports: [
            { name: 'peer', containerPort: NODE_PEER_PORT },
            { name: 'api', containerPort: NODE_API_PORT },
          ],
          readinessProbe: { httpGet: { path: '/readyz', port: 'api' }, periodSeconds: READINESS_PERIOD_SECONDS },
          livenessProbe: { httpGet: { path: '/livez', port: 'api' }, periodSeconds: LIVENESS_PERIOD_SECONDS, failureThreshold: LIVENESS_FAILURE_THRESHOLD },
          volumeMounts: [
            { name: VOLUME_CLAIM_TEMPLATE, mountPath: DATA_MOUNT_PATH },
            { name: 'auth', mountPath: AUTH_MOUNT_PATH, readOnly: true },
          ],
          ...(spec.resources === undefined ? {} : { resources: spec.resources }),
        },
      ],
      volumes: [{ name: 'auth', secret: { secretName: authSecretName(name) } }],
    },
  };
  template.metadata.annotations[TEMPLATE_HASH_ANNOTATION] = templateHash(template);
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(rc, statefulSetName(name)),
    spec: {
      replicas,
      serviceName: peersServiceName(name),
      // The operator orders membership itself; OrderedReady would stall repairs behind an unready pod (docs/decisions.md).
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: selectorLabels(name) },
      persistentVolumeClaimRetentionPolicy: { whenScaled: spec.pvcRetention, whenDeleted: 'Retain' },
      template,
      volumeClaimTemplates: [
        {
          metadata: { name: VOLUME_CLAIM_TEMPLATE, labels: labels(name) },
          spec: {
            accessModes: ['ReadWriteOnce'],
            resources: { requests: { storage: spec.storage.size } },
            ...(spec.storage.storageClassName === undefined ? {} : { storageClassName: spec.storage.storageClassName }),
          },
        },
      ],
    },
  };
}

export function templateHash(template: unknown): string {
  return createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 16);
}

/** The ordinal of a StatefulSet pod name, or undefined. */
export function podOrdinal(cluster: string, pod: string): number | undefined {
  const prefix = `${cluster}-`;
  if (!pod.startsWith(prefix)) return undefined;
  const rest = pod.slice(prefix.length);
  return /^(0|[1-9][0-9]*)$/.test(rest) ? Number(rest) : undefined;
}
