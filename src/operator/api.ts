// The RaftCluster resource: its TypeScript types, defaults and OpenAPI schema, in one module.
// crds/raftclusters.kuberaft.io.yaml is generated from `crdManifest()` (`npm run crds`); a unit test
// fails when the committed file differs, and another when the types and the schema name different fields.
import type { V1CustomResourceDefinition, V1JSONSchemaProps, V1ResourceRequirements } from '@kubernetes/client-node';

export const GROUP = 'kuberaft.io';
export const VERSION = 'v1alpha1';
export const KIND = 'RaftCluster';
export const PLURAL = 'raftclusters';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const CRD_NAME = `${PLURAL}.${GROUP}`;

export const REPLICAS_MIN = 1;
export const REPLICAS_MAX = 9;
export const REPLICAS_DEFAULT = 3;
export const STORAGE_SIZE_DEFAULT = '1Gi';
export const ELECTION_TIMEOUT_MS_DEFAULT = 1000;
export const HEARTBEAT_INTERVAL_MS_DEFAULT = 100;
/** The node's own lower bounds (a heartbeat is at least one 10 ms tick). */
export const HEARTBEAT_INTERVAL_MS_MIN = 10;
export const ELECTION_TIMEOUT_MS_MAX = 60_000;
export const SNAPSHOT_THRESHOLD_DEFAULT = 10_000;
export const SNAPSHOT_THRESHOLD_MIN = 100;

export type PvcRetention = 'Retain' | 'Delete';
export const PVC_RETENTION_DEFAULT: PvcRetention = 'Delete';

export interface RaftTuning {
  electionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Snapshot after this many log entries since the last snapshot. */
  snapshotThreshold?: number;
}

export interface StorageSpec {
  size?: string;
  storageClassName?: string;
}

export interface RaftClusterSpec {
  replicas?: number;
  /** Container image of the nodes; the operator's --node-image when left out. */
  image?: string;
  storage?: StorageSpec;
  resources?: V1ResourceRequirements;
  raft?: RaftTuning;
  pvcRetention?: PvcRetention;
  paused?: boolean;
}

export type MemberRole = 'voter' | 'learner';

export interface MemberStatus {
  id: string;
  role: MemberRole;
  address: string;
  healthy: boolean;
}

export type ConditionType = 'Available' | 'Progressing' | 'Degraded';
export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: ConditionType;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface RaftClusterStatus {
  /** Voters in the live Raft configuration. */
  replicas?: number;
  /** Voters that answer, are members and are caught up (their pod is Ready). */
  readyReplicas?: number;
  /** Label selector of the nodes' pods, for the scale subresource. */
  selector?: string;
  /** Set once, when the operator bootstraps pod 0; never changes afterwards. */
  clusterId?: string;
  leader?: string;
  term?: number;
  commitIndex?: number;
  members?: MemberStatus[];
  observedGeneration?: number;
  conditions?: Condition[];
}

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
}

export interface RaftCluster {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ObjectMeta;
  spec: RaftClusterSpec;
  status?: RaftClusterStatus;
}

/** The spec with every default filled in: what the reconcile works from. */
export interface EffectiveSpec {
  replicas: number;
  image: string;
  storage: { size: string; storageClassName: string | undefined };
  resources: V1ResourceRequirements | undefined;
  raft: { electionTimeoutMs: number; heartbeatIntervalMs: number; snapshotThreshold: number };
  pvcRetention: PvcRetention;
  paused: boolean;
}

/** The API server applies the schema's defaults; these repeat them for objects stored before a default existed. */
export function effectiveSpec(spec: RaftClusterSpec, defaultImage: string): EffectiveSpec {
  return {
    replicas: spec.replicas ?? REPLICAS_DEFAULT,
    image: spec.image ?? defaultImage,
    storage: { size: spec.storage?.size ?? STORAGE_SIZE_DEFAULT, storageClassName: spec.storage?.storageClassName },
    resources: spec.resources,
    raft: {
      electionTimeoutMs: spec.raft?.electionTimeoutMs ?? ELECTION_TIMEOUT_MS_DEFAULT,
      heartbeatIntervalMs: spec.raft?.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS_DEFAULT,
      snapshotThreshold: spec.raft?.snapshotThreshold ?? SNAPSHOT_THRESHOLD_DEFAULT,
    },
    pvcRetention: spec.pvcRetention ?? PVC_RETENTION_DEFAULT,
    paused: spec.paused ?? false,
  };
}

// ---- schema

const int = (extra: V1JSONSchemaProps = {}): V1JSONSchemaProps => ({ type: 'integer', format: 'int64', ...extra });
const str = (extra: V1JSONSchemaProps = {}): V1JSONSchemaProps => ({ type: 'string', ...extra });

export const SPEC_SCHEMA: V1JSONSchemaProps = {
  type: 'object',
  description: 'The desired Raft cluster.',
  properties: {
    replicas: int({ description: 'Number of voting members, changed one member at a time.', minimum: REPLICAS_MIN, maximum: REPLICAS_MAX, _default: REPLICAS_DEFAULT }),
    image: str({ description: "Container image of the nodes (default: the operator's --node-image).", minLength: 1 }),
    storage: {
      type: 'object',
      description: 'The volume of each node (immutable: a StatefulSet cannot change its volume claims).',
      _default: { size: STORAGE_SIZE_DEFAULT },
      properties: {
        size: str({ description: 'Volume size, a Kubernetes quantity such as 1Gi.', _default: STORAGE_SIZE_DEFAULT }),
        storageClassName: str({ description: "Storage class of the volumes (the cluster's default when left out)." }),
      },
      x_kubernetes_validations: [
        { rule: '!has(self.size) || (isQuantity(self.size) && quantity(self.size).isGreaterThan(quantity("0")))', message: 'storage.size must be a positive quantity such as 1Gi or 500Mi' },
        { rule: 'self == oldSelf', message: 'storage is immutable: create a new RaftCluster to change the volumes' },
      ],
    },
    resources: {
      type: 'object',
      description: "Compute resources of the node container (a core/v1 ResourceRequirements).",
      x_kubernetes_preserve_unknown_fields: true,
    },
    raft: {
      type: 'object',
      description: 'Raft timing and snapshot tuning, passed to every node.',
      _default: { electionTimeoutMs: ELECTION_TIMEOUT_MS_DEFAULT, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS_DEFAULT, snapshotThreshold: SNAPSHOT_THRESHOLD_DEFAULT },
      properties: {
        electionTimeoutMs: int({ description: 'Base election timeout in milliseconds.', minimum: 6 * HEARTBEAT_INTERVAL_MS_MIN, maximum: ELECTION_TIMEOUT_MS_MAX, _default: ELECTION_TIMEOUT_MS_DEFAULT }),
        heartbeatIntervalMs: int({ description: 'Leader heartbeat interval in milliseconds.', minimum: HEARTBEAT_INTERVAL_MS_MIN, _default: HEARTBEAT_INTERVAL_MS_DEFAULT }),
        snapshotThreshold: int({ description: 'Snapshot after this many log entries since the last snapshot.', minimum: SNAPSHOT_THRESHOLD_MIN, _default: SNAPSHOT_THRESHOLD_DEFAULT }),
      },
      x_kubernetes_validations: [
        { rule: '!has(self.electionTimeoutMs) || !has(self.heartbeatIntervalMs) || self.electionTimeoutMs > 5 * self.heartbeatIntervalMs', message: 'raft.electionTimeoutMs must be greater than 5 × raft.heartbeatIntervalMs' },
      ],
    },
    pvcRetention: str({ description: 'What happens to the volume of a member removed by a scale-down.', _enum: ['Retain', 'Delete'], _default: PVC_RETENTION_DEFAULT }),
    paused: { type: 'boolean', description: 'Stop all changes (status is still reported).', _default: false },
  },
};

const MEMBER_SCHEMA: V1JSONSchemaProps = {
  type: 'object',
  required: ['id', 'role', 'address', 'healthy'],
  properties: {
    id: str(),
    role: str({ _enum: ['voter', 'learner'] }),
    address: str(),
    healthy: { type: 'boolean' },
  },
};

const CONDITION_SCHEMA: V1JSONSchemaProps = {
  type: 'object',
  required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
  properties: {
    type: str({ _enum: ['Available', 'Progressing', 'Degraded'] }),
    status: str({ _enum: ['True', 'False', 'Unknown'] }),
    reason: str(),
    message: str(),
    lastTransitionTime: str({ format: 'date-time' }),
    observedGeneration: int(),
  },
};

export const STATUS_SCHEMA: V1JSONSchemaProps = {
  type: 'object',
  properties: {
    replicas: int(),
    readyReplicas: int(),
    selector: str(),
    clusterId: str(),
    leader: str(),
    term: int(),
    commitIndex: int(),
    members: { type: 'array', items: MEMBER_SCHEMA, x_kubernetes_list_type: 'map', x_kubernetes_list_map_keys: ['id'] },
    observedGeneration: int(),
    conditions: { type: 'array', items: CONDITION_SCHEMA, x_kubernetes_list_type: 'map', x_kubernetes_list_map_keys: ['type'] },
  },
};

export function crdManifest(): V1CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD_NAME },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: 'raftcluster', shortNames: ['krc'] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: {
            status: {},
            scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
          },
          additionalPrinterColumns: [
            { name: 'Replicas', type: 'integer', jsonPath: '.status.replicas', description: 'Voters in the live configuration' },
            { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas', description: 'Voters that are caught up' },
            { name: 'Leader', type: 'string', jsonPath: '.status.leader' },
            { name: 'Term', type: 'integer', jsonPath: '.status.term' },
            { name: 'Commit', type: 'integer', jsonPath: '.status.commitIndex' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'A Raft-replicated key-value cluster run by the kuberaft operator.',
              properties: {
                apiVersion: str(),
                kind: str(),
                metadata: { type: 'object' },
                spec: { ...SPEC_SCHEMA, _default: {} },
                status: STATUS_SCHEMA,
              },
            },
          },
        },
      ],
    },
  };
}
