// When this node last heard from each peer, measured where peer messages arrive, and the leader's
// rule for calling a member active. The core counts a follower toward check-quorum when it heard
// from it within the last election timeout; this is the same rule on the wall clock, so that
// GET /v1/status can say "last contact 1.3 s ago, not active" at the moment the leader would notice.
import type { NodeId } from '../raft/types.js';

export interface Contact {
  /** Milliseconds since the last message from the peer; undefined if none arrived yet. */
  readonly lastContactMs: number | undefined;
  /** Heard within the election timeout, or still within a new leader's grace (see isActive). */
  readonly active: boolean;
}

export class PeerContact {
  private readonly heardAt = new Map<NodeId, number>();
  /** When this node last became leader; undefined while it does not lead. */
  private leaderSince: number | undefined;

  /** `now` is a monotonic clock in milliseconds (performance.now in production, a fake in tests). */
  constructor(
    private readonly electionTimeoutMs: number,
    private readonly now: () => number,
  ) {}

  /** A message from `peer` arrived. */
  heard(peer: NodeId): void {
    this.heardAt.set(peer, this.now());
  }

  /** Called on every status change: a new leadership starts the grace period. */
  leading(isLeader: boolean): void {
    if (!isLeader) this.leaderSince = undefined;
    else this.leaderSince ??= this.now();
  }

  /**
   * A freshly elected leader presumes every member active for one election timeout, as the core
   * does (a new progress starts recently active): followers talk only to the leader, so the new
   * leader may not have heard from one for a long time before its first heartbeat is answered.
   */
  of(peer: NodeId): Contact {
    const now = this.now();
    const heard = this.heardAt.get(peer);
    const since = Math.max(heard ?? Number.NEGATIVE_INFINITY, this.leaderSince ?? Number.NEGATIVE_INFINITY);
    return { lastContactMs: heard === undefined ? undefined : Math.max(0, Math.round(now - heard)), active: now - since < this.electionTimeoutMs };
  }
}
