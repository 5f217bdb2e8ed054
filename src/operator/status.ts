// The RaftCluster's status as a pure function of this pass's plan (and the previous status, for the
// conditions' transition times). The reconciler writes it with one merge patch, only when it changed.
import type { Condition, ConditionStatus, ConditionType, MemberStatus, RaftClusterStatus } from './api.js';
import type { Action, LiveView, Plan } from './plan.js';
import { quorum, stepReason } from './plan.js';

export interface StatusInput {
  readonly plan: Plan;
  readonly paused: boolean;
  readonly generation: number | undefined;
  readonly selector: string;
  /** Recorded cluster id (after this pass's bootstrap, if any). */
  readonly clusterId: string | undefined;
  readonly previous: RaftClusterStatus | undefined;
  /** The failure of this pass's step, if it failed: reported in Progressing's message. */
  readonly stepError: string | undefined;
  readonly now: Date;
}

interface ConditionValue {
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}

function actionMessage(action: Action): string {
  switch (action.kind) {
    case 'create-statefulset':
      return `creating the StatefulSet with ${action.replicas} pod`;
    case 'scale-statefulset':
      return `scaling the StatefulSet to ${action.replicas} pods`;
    case 'bootstrap':
      return `bootstrapping a new cluster on ${action.pod.name}`;
    case 'record-cluster-id':
      return `recording cluster id ${action.clusterId}`;
    case 'add-learner':
      return `adding ${action.pod.name} as a learner`;
    case 'promote':
      return `promoting learner ${action.id} to voter`;
    case 'remove':
      return action.lost ? `removing ${action.id}, whose data was lost, to add it back` : `removing member ${action.id}`;
    case 'transfer':
      return `transferring leadership from ${action.from} to ${action.to}`;
    case 'wait':
    case 'degraded':
      return action.message;
    case 'stable':
      return 'the Raft configuration matches the spec';
  }
}

function conditionsOf(input: StatusInput, live: LiveView | undefined): Record<ConditionType, ConditionValue> {
  const action = input.plan.action;
  const voters = live?.members.filter((m) => m.role === 'voter') ?? [];
  const healthyVoters = voters.filter((m) => m.healthy).length;
  const available: ConditionValue =
    live !== undefined && healthyVoters >= quorum(voters.length)
      ? { status: 'True', reason: 'QuorumAvailable', message: `leader ${live.leaderStatus.id}, ${healthyVoters} of ${voters.length} voters healthy` }
      : { status: 'False', reason: 'NoQuorum', message: live === undefined ? 'no leader answered' : `only ${healthyVoters} of ${voters.length} voters are healthy` };

  const unhealthy = live?.members.filter((m) => !m.healthy).map((m) => m.id) ?? [];
  let degraded: ConditionValue;
  if (action.kind === 'degraded') degraded = { status: 'True', reason: action.reason, message: action.message };
  else if (input.clusterId !== undefined && live === undefined) degraded = { status: 'True', reason: 'NoQuorum', message: 'no leader answered' };
  else if (unhealthy.length > 0) degraded = { status: 'True', reason: 'MembersUnhealthy', message: `members not ready: ${unhealthy.join(', ')}` };
  else degraded = { status: 'False', reason: 'Healthy', message: 'every member is healthy' };

  let progressing: ConditionValue;
  const reason = stepReason(action);
  if (input.paused) progressing = { status: 'False', reason: 'Paused', message: `spec.paused is set; next step would be: ${actionMessage(action)}` };
  else if (reason !== undefined)
    progressing = { status: 'True', reason, message: input.stepError === undefined ? actionMessage(action) : `${actionMessage(action)} failed: ${input.stepError}` };
  else if (action.kind === 'degraded') progressing = { status: 'False', reason: action.reason, message: 'no change is made while the cluster is degraded' };
  else progressing = { status: 'False', reason: 'Stable', message: actionMessage(action) };
  return { Available: available, Progressing: progressing, Degraded: degraded };
}

const CONDITION_ORDER: readonly ConditionType[] = ['Available', 'Progressing', 'Degraded'];

export function computeStatus(input: StatusInput): RaftClusterStatus {
  const live = input.plan.live;
  const values = conditionsOf(input, live);
  const conditions: Condition[] = CONDITION_ORDER.map((type) => {
    const v = values[type];
    const prev = input.previous?.conditions?.find((c) => c.type === type);
    const same = prev !== undefined && prev.status === v.status;
    return {
      type,
      status: v.status,
      reason: v.reason,
      message: v.message,
      lastTransitionTime: same ? prev.lastTransitionTime : input.now.toISOString(),
      ...(input.generation === undefined ? {} : { observedGeneration: input.generation }),
    };
  });
  const members: MemberStatus[] | undefined = live?.members.map((m) => ({ id: m.id, role: m.role, address: m.address, healthy: m.healthy }));
  const voters = live?.members.filter((m) => m.role === 'voter');
  const status: RaftClusterStatus = {
    selector: input.selector,
    conditions,
    ...(input.generation === undefined ? {} : { observedGeneration: input.generation }),
    ...(input.clusterId === undefined ? {} : { clusterId: input.clusterId }),
  };
  if (live !== undefined && voters !== undefined && members !== undefined) {
    status.replicas = voters.length;
    status.readyReplicas = voters.filter((m) => m.healthy).length;
    status.leader = live.leaderStatus.id;
    status.term = live.leaderStatus.term;
    status.commitIndex = live.leaderStatus.commitIndex;
    status.members = members;
  } else {
    // Without a leader, what is known of the members is kept; counts say nothing is ready.
    status.replicas = input.previous?.replicas ?? 0;
    status.readyReplicas = 0;
    if (input.previous?.members !== undefined) status.members = input.previous.members.map((m) => ({ ...m, healthy: false }));
  }
  return status;
}

/**
 * The merge patch turning `previous` into `next` (top-level status fields; arrays are replaced whole, as
 * merge patches do), or undefined when nothing changed. Fields absent from `next` are removed with null.
 */
export function statusPatch(previous: RaftClusterStatus | undefined, next: RaftClusterStatus): Record<string, unknown> | undefined {
  const prev = (previous ?? {}) as Record<string, unknown>;
  const cur = next as Record<string, unknown>;
  const patch: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(prev), ...Object.keys(cur)])) {
    const a = prev[key];
    const b = cur[key];
    if (canonicalJson(a) !== canonicalJson(b)) patch[key] = b === undefined ? null : b;
  }
  return Object.keys(patch).length === 0 ? undefined : patch;
}

/** JSON with object keys sorted: the API server returns stored objects with sorted keys. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : v,
  );
}
