// The members table of the page, as data: the leader's view of each member (role, match index,
// lag, last contact, whether the leader counts it active) joined with what each member reports of
// itself (applied index, snapshot). Pure: no DOM, testable under Node.
import type { ClusterView, MemberReports, MemberRole, NodeStatus } from '../api/types.js';

/**
 * up: the leader heard from it within the election timeout. down: the leader has noticed it silent
 * for longer (red on the page). unknown: no leader's view to tell.
 */
export type Health = 'up' | 'down' | 'unknown';

export interface MemberRow {
  readonly id: string;
  readonly address: string;
  readonly role: MemberRole;
  readonly isLeader: boolean;
  /** The node serving the page. */
  readonly isSelf: boolean;
  readonly health: Health;
  readonly matchIndex: number | null;
  readonly lagEntries: number | null;
  readonly lastContactMs: number | null;
  /** From the member's own status; null when it did not answer (reportError says why) or was not asked yet. */
  readonly appliedIndex: number | null;
  readonly snapshotIndex: number | null;
  readonly snapshotSizeBytes: number | null;
  readonly reportError: string | null;
}

/** The members as the leader sees them, else as this node sees them (then health is unknown). */
export function memberRows(view: ClusterView, reports: MemberReports | undefined): MemberRow[] {
  const source: NodeStatus = view.leader ?? view.node;
  const fromLeader = view.leader !== null;
  return source.members.map((m) => {
    const report = reports?.members.find((r) => r.id === m.id);
    const own = report?.status ?? null;
    return {
      id: m.id,
      address: m.address,
      role: m.role,
      isLeader: fromLeader && m.id === source.id,
      isSelf: m.id === view.node.id,
      health: !fromLeader || m.active === null ? 'unknown' : m.active ? 'up' : 'down',
      matchIndex: fromLeader ? m.matchIndex : null,
      lagEntries: fromLeader ? m.lagEntries : null,
      lastContactMs: fromLeader ? m.lastContactMs : null,
      appliedIndex: own?.appliedIndex ?? null,
      snapshotIndex: own?.snapshotIndex ?? null,
      snapshotSizeBytes: own?.snapshotSizeBytes ?? null,
      reportError: report?.error?.message ?? null,
    };
  });
}

/** One line on which node serves the page and where it stands. */
export function selfSummary(view: ClusterView): string {
  const n = view.node;
  if (n.state === 'joining') return `${n.id} is waiting to be added to a cluster`;
  if (n.state === 'removed') return `${n.id} was removed from the cluster`;
  if (view.leader === null) return `${n.id} (${n.role}) knows no leader: ${view.leaderError?.message ?? 'unknown'}`;
  if (n.id === view.leader.id) return `${n.id} is the leader`;
  const behind = view.behindEntries ?? 0;
  const where = view.caughtUp === true ? (behind === 0 ? 'caught up' : `caught up (${behind} entries behind the leader's commit index)`) : `behind: ${behind} entries behind the leader's commit index`;
  return `${n.id} is a ${n.role}, ${where}`;
}
