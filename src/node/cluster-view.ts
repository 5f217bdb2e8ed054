// What the cluster page reads (GET /v1/cluster, GET /v1/cluster/members): this node's status, the
// leader's, and each member's own, asked over the peer transport. Any node can then show the whole
// cluster as its leader sees it, with no address of the other members' HTTP APIs needed.
import type { ClusterView, ErrorDetail, MemberReport, MemberReports, NodeStatus } from '../api/types.js';
import type { NodeId } from '../raft/types.js';
import { toNodeError } from './errors.js';

/** How long a follower waits for the leader's status; the page asks again at its next poll. */
export const LEADER_STATUS_TIMEOUT_MS = 1_000;
/** How long each member may take to report its status; a member down costs the fan-out this much at most. */
export const MEMBER_STATUS_TIMEOUT_MS = 1_000;

export interface ClusterViewSource {
  /** This node's own status (GET /v1/status). */
  localStatus(): NodeStatus;
  /** A member's own status over the peer transport (this node's: locally). */
  memberStatus(id: NodeId, timeoutMs: number): Promise<NodeStatus>;
  /** A node whose applied index is within this many entries of the leader's commit index is caught up. */
  readonly caughtUpLagEntriesMax: number;
}

function detail(e: unknown): ErrorDetail {
  const err = toNodeError(e);
  return { code: err.code, message: err.message };
}

export async function clusterView(source: ClusterViewSource): Promise<ClusterView> {
  const node = source.localStatus();
  let leader: NodeStatus | null = null;
  let leaderError: ErrorDetail | null = null;
  if (node.leader === null) leaderError = { code: 'not-leader', message: 'no leader is known (an election is under way, or there is no quorum)' };
  else if (node.leader === node.id) leader = node;
  else {
    try {
      const s = await source.memberStatus(node.leader as NodeId, LEADER_STATUS_TIMEOUT_MS);
      if (s.role === 'leader') leader = s;
      else leaderError = { code: 'not-leader', message: `${node.leader} no longer leads (it is ${s.role} in term ${s.term})` };
    } catch (e) {
      leaderError = detail(e);
    }
  }
  const behindEntries = leader === null ? null : Math.max(0, leader.commitIndex - node.appliedIndex);
  return { node, leader, leaderError, behindEntries, caughtUp: behindEntries === null ? null : behindEntries <= source.caughtUpLagEntriesMax };
}

/** Every member of this node's configuration, asked at once; one that does not answer is reported, not waited for beyond its timeout. */
export async function memberReports(source: ClusterViewSource): Promise<MemberReports> {
  const ids = source.localStatus().members.map((m) => m.id as NodeId);
  const members = await Promise.all(
    ids.map(async (id): Promise<MemberReport> => {
      try {
        return { id, status: await source.memberStatus(id, MEMBER_STATUS_TIMEOUT_MS), error: null };
      } catch (e) {
        return { id, status: null, error: detail(e) };
      }
    }),
  );
  return { members };
}
