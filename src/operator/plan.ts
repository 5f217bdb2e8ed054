// The reconcile's decision, as a pure function of what was observed this pass: the live Raft
// configuration (asked of the leader), each pod and its node's own status, and the StatefulSet.
// It returns exactly one step (or a reason to wait); nothing is remembered between passes, so a crash
// between two steps is repaired by the next pass deciding again from the same facts.
import { NODE_PEER_PORT } from './admin-client.js';
import type { NodeMember, NodeStatus } from './admin-client.js';
import { assertNever } from '../raft/assert.js';

/** What one pod looks like this pass. */
export interface PodView {
  readonly name: string;
  readonly ordinal: number;
  readonly ip: string | undefined;
  /** The pod's Ready condition (the node's /readyz). */
  readonly ready: boolean;
  readonly terminating: boolean;
  /**
   * Whether the pod's volume carries this RaftCluster's member mark (set before the pod's node is
   * bootstrapped or added). false = a volume the cluster never saw: its data is lost. undefined = unknown.
   */
  readonly volumeMarked: boolean | undefined;
  /** The node's own status; an error code when it did not answer; undefined when it was not asked. */
  readonly node: NodeStatus | { readonly error: string } | undefined;
}

export interface Observation {
  /** RaftCluster name: pods are `<name>-<ordinal>`. */
  readonly name: string;
  readonly namespace: string;
  readonly desiredReplicas: number;
  /** Recorded in status when pod 0 was bootstrapped; undefined before. */
  readonly clusterId: string | undefined;
  /** undefined = no StatefulSet yet. */
  readonly statefulSetReplicas: number | undefined;
  readonly pods: ReadonlyMap<number, PodView>;
}

/** Stable reason codes of the Progressing condition and of Events. */
export type StepReason =
  | 'CreatingStatefulSet'
  | 'ScalingStatefulSet'
  | 'Bootstrapping'
  | 'RecordingClusterId'
  | 'AddingLearner'
  | 'WaitingForPod'
  | 'WaitingForCatchUp'
  | 'WaitingForCommit'
  | 'Promoting'
  | 'TransferringLeadership'
  | 'RemovingMember'
  | 'ReplacingLostMember';

export type DegradedReason = 'NoQuorum' | 'QuorumWouldBeLost' | 'ForeignData';

export type Action =
  | { readonly kind: 'create-statefulset'; readonly replicas: number }
  | { readonly kind: 'scale-statefulset'; readonly replicas: number }
  | { readonly kind: 'bootstrap'; readonly pod: PodView }
  | { readonly kind: 'record-cluster-id'; readonly clusterId: string }
  | { readonly kind: 'add-learner'; readonly pod: PodView; readonly address: string; readonly via: PodView }
  | { readonly kind: 'promote'; readonly id: string; readonly via: PodView }
  | { readonly kind: 'remove'; readonly id: string; readonly via: PodView; readonly lost: boolean }
  | { readonly kind: 'transfer'; readonly from: string; readonly to: string; readonly via: PodView }
  | { readonly kind: 'wait'; readonly reason: StepReason; readonly message: string }
  | { readonly kind: 'degraded'; readonly reason: DegradedReason; readonly message: string }
  | { readonly kind: 'stable' };

/** The live picture, for status: present whenever a leader answered. */
export interface LiveView {
  readonly leader: PodView;
  readonly leaderStatus: NodeStatus;
  readonly members: readonly (NodeMember & { readonly healthy: boolean })[];
}

export interface Plan {
  readonly action: Action;
  readonly live: LiveView | undefined;
}

export function podName(cluster: string, ordinal: number): string {
  return `${cluster}-${ordinal}`;
}

/** The ordinal of a member id of this cluster; Infinity for an id that is not one of its pods (removed first). */
export function ordinalOf(cluster: string, id: string): number {
  const m = /^(.*)-(0|[1-9][0-9]{0,3})$/.exec(id);
  return m !== null && m[1] === cluster && m[2] !== undefined ? Number(m[2]) : Number.POSITIVE_INFINITY;
}

/** Peer address of a pod: its stable DNS name through the headless Service. */
export function peerAddress(cluster: string, namespace: string, pod: string, port: number): string {
  return `${pod}.${peersServiceName(cluster)}.${namespace}.svc.cluster.local:${port}`;
}

export function peersServiceName(cluster: string): string {
  return `${cluster}-peers`;
}

export function quorum(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

export function nodeOf(pod: PodView | undefined): NodeStatus | undefined {
  const n = pod?.node;
  return n !== undefined && !('error' in n) ? n : undefined;
}

/** The node that leads this cluster now: a member of our cluster claiming leadership, at the highest term. */
export function findLeader(obs: Observation): PodView | undefined {
  let best: PodView | undefined;
  for (const pod of obs.pods.values()) {
    const n = nodeOf(pod);
    if (n === undefined || pod.terminating || n.state !== 'member' || n.role !== 'leader') continue;
    if (obs.clusterId !== undefined && n.clusterId !== obs.clusterId) continue;
    if (best === undefined || n.term > (nodeOf(best)?.term ?? -1)) best = pod;
  }
  return best;
}

function memberHealthy(obs: Observation, leaderStatus: NodeStatus, m: NodeMember): boolean {
  if (m.id === leaderStatus.id) return true;
  const pod = obs.pods.get(ordinalOf(obs.name, m.id));
  const n = nodeOf(pod);
  return pod !== undefined && pod.ready && !pod.terminating && n !== undefined && n.state === 'member' && n.leader !== null;
}

/** Caught up = the leader has replicated everything it committed to it, and the node itself says it is a member. */
function caughtUp(obs: Observation, leaderStatus: NodeStatus, m: NodeMember): boolean {
  const n = nodeOf(obs.pods.get(ordinalOf(obs.name, m.id)));
  return (m.matchIndex ?? 0) >= leaderStatus.commitIndex && n !== undefined && n.state === 'member';
}

export function plan(obs: Observation): Plan {
  const sts = obs.statefulSetReplicas;
  if (sts === undefined) return { action: { kind: 'create-statefulset', replicas: 1 }, live: undefined };
  if (obs.clusterId === undefined) return { action: planBootstrap(obs, sts), live: undefined };

  const leader = findLeader(obs);
  const leaderStatus = nodeOf(leader);
  if (leader === undefined || leaderStatus === undefined) {
    const answered = [...obs.pods.values()].filter((p) => nodeOf(p) !== undefined).length;
    return {
      action: { kind: 'degraded', reason: 'NoQuorum', message: `no node reports a leader (${answered} of ${obs.pods.size} pods answered); changing nothing until a leader is elected` },
      live: undefined,
    };
  }
  const members = leaderStatus.members.map((m) => ({ ...m, healthy: memberHealthy(obs, leaderStatus, m) }));
  const live: LiveView = { leader, leaderStatus, members };
  return { action: planMembership(obs, sts, leader, leaderStatus, members), live };
}

function planBootstrap(obs: Observation, sts: number): Action {
  if (sts < 1) return { kind: 'scale-statefulset', replicas: 1 };
  const pod0 = obs.pods.get(0);
  const n = nodeOf(pod0);
  if (pod0 === undefined || n === undefined || pod0.terminating)
    return { kind: 'wait', reason: 'WaitingForPod', message: `waiting for pod ${podName(obs.name, 0)} to answer before bootstrapping` };
  // A bootstrap whose result was not recorded (the operator stopped in between): adopt it; never bootstrap twice.
  if (n.clusterId !== null && n.state === 'member') return { kind: 'record-cluster-id', clusterId: n.clusterId };
  if (n.state === 'joining' && n.clusterId === null && n.lastIndex === 0) return { kind: 'bootstrap', pod: pod0 };
  return { kind: 'wait', reason: 'Bootstrapping', message: `pod ${pod0.name} is ${n.state} with cluster id ${String(n.clusterId)}; waiting for it to become a member` };
}

function planMembership(
  obs: Observation,
  sts: number,
  leader: PodView,
  ls: NodeStatus,
  members: readonly (NodeMember & { readonly healthy: boolean })[],
): Action {
  const name = obs.name;
  const desired = obs.desiredReplicas;
  const ord = (id: string): number => ordinalOf(name, id);
  const voters = members.filter((m) => m.role === 'voter');
  const learners = members.filter((m) => m.role === 'learner').sort((a, b) => ord(a.id) - ord(b.id));
  const highestMember = Math.max(...members.map((m) => (Number.isFinite(ord(m.id)) ? ord(m.id) : -1)));

  // One change at a time: the node refuses a second one anyway, and waiting keeps each step observable.
  if (ls.pendingMembershipIndex !== 0)
    return { kind: 'wait', reason: 'WaitingForCommit', message: `the configuration change at index ${ls.pendingMembershipIndex} is not committed yet` };

  // Every member needs its pod: a StatefulSet scaled below a member (by hand, or a crash mid-shrink) is restored.
  if (sts < highestMember + 1) return { kind: 'scale-statefulset', replicas: highestMember + 1 };

  // A member whose node came back empty (new volume, or wiped) forgot what it acknowledged: take it out, then add it anew.
  for (const m of members) {
    if (m.id === ls.id) continue;
    const pod = obs.pods.get(ord(m.id));
    const n = nodeOf(pod);
    if (pod === undefined || pod.terminating || n === undefined) continue;
    const wiped = (m.role === 'voter' && n.state === 'joining') || pod.volumeMarked === false;
    if (!wiped) continue;
    if (m.role === 'voter') {
      const refusal = quorumRefusal(voters, m.id);
      if (refusal !== undefined) return refusal;
    }
    return { kind: 'remove', id: m.id, via: leader, lost: true };
  }

  for (const m of learners) {
    if (ord(m.id) >= desired) return { kind: 'remove', id: m.id, via: leader, lost: false };
    if (caughtUp(obs, ls, m)) return { kind: 'promote', id: m.id, via: leader };
    return { kind: 'wait', reason: 'WaitingForCatchUp', message: `learner ${m.id} has ${m.matchIndex ?? 0} of ${ls.commitIndex} committed entries` };
  }

  // Shrink the StatefulSet one pod at a time, and only below pods that are no longer members.
  const stsTarget = Math.max(desired, highestMember + 1);
  if (sts > stsTarget) return { kind: 'scale-statefulset', replicas: sts - 1 };

  const surplus = voters.filter((m) => ord(m.id) >= desired).sort((a, b) => ord(b.id) - ord(a.id));
  const victim = surplus[0];
  if (victim !== undefined) {
    const refusal = quorumRefusal(voters, victim.id);
    if (refusal !== undefined) return refusal;
    if (victim.id === ls.id) {
      const to = voters
        .filter((m) => m.id !== victim.id && ord(m.id) < desired && m.healthy && (m.matchIndex ?? 0) >= ls.commitIndex)
        .sort((a, b) => ord(a.id) - ord(b.id))[0];
      if (to === undefined) return { kind: 'wait', reason: 'TransferringLeadership', message: `leader ${victim.id} must hand over before its removal, but no remaining voter is caught up yet` };
      return { kind: 'transfer', from: victim.id, to: to.id, via: leader };
    }
    return { kind: 'remove', id: victim.id, via: leader, lost: false };
  }

  const memberIds = new Set(members.map((m) => m.id));
  for (let i = 0; i < desired; i++) {
    const id = podName(name, i);
    if (memberIds.has(id)) continue;
    if (sts < i + 1) return { kind: 'scale-statefulset', replicas: i + 1 };
    const pod = obs.pods.get(i);
    const n = nodeOf(pod);
    if (pod === undefined || pod.terminating || n === undefined || pod.ip === undefined)
      return { kind: 'wait', reason: 'WaitingForPod', message: `waiting for pod ${id} to run and answer before adding it` };
    if (n.clusterId !== null && n.clusterId !== obs.clusterId)
      return { kind: 'degraded', reason: 'ForeignData', message: `pod ${id} holds data of cluster ${n.clusterId}, not ${String(obs.clusterId)}; delete its volume to let it join` };
    return { kind: 'add-learner', pod, address: peerAddress(name, obs.namespace, id, NODE_PEER_PORT), via: leader };
  }
  return { kind: 'stable' };
}

/** Refuses to remove a voter when the voters left could not commit: fewer healthy ones than their quorum. */
function quorumRefusal(voters: readonly (NodeMember & { readonly healthy: boolean })[], id: string): Action | undefined {
  const rest = voters.filter((v) => v.id !== id);
  const healthy = rest.filter((v) => v.healthy).length;
  if (rest.length === 0 || healthy < quorum(rest.length))
    return {
      kind: 'degraded',
      reason: 'QuorumWouldBeLost',
      message: `removing ${id} would leave ${healthy} healthy of ${rest.length} voters, below a quorum of ${quorum(Math.max(rest.length, 1))}; waiting for members to recover`,
    };
  return undefined;
}

/** The Progressing reason a step is reported under. */
export function stepReason(action: Action): StepReason | undefined {
  switch (action.kind) {
    case 'create-statefulset':
      return 'CreatingStatefulSet';
    case 'scale-statefulset':
      return 'ScalingStatefulSet';
    case 'bootstrap':
      return 'Bootstrapping';
    case 'record-cluster-id':
      return 'RecordingClusterId';
    case 'add-learner':
      return 'AddingLearner';
    case 'promote':
      return 'Promoting';
    case 'remove':
      return action.lost ? 'ReplacingLostMember' : 'RemovingMember';
    case 'transfer':
      return 'TransferringLeadership';
    case 'wait':
      return action.reason;
    case 'degraded':
    case 'stable':
      return undefined;
    default:
      return assertNever(action, 'action');
  }
}
