// Membership churn, one change at a time, the way an operator does it: add a fresh node as a
// learner, wait until it caught up, promote it; or remove a voter (possibly the leader). Removed
// nodes are stopped once their removal is applied somewhere.
import { isVoter, learners, voters } from '../../src/raft/index.js';
import { RaftError } from '../../src/raft/errors.js';
import type { MembershipChange, NodeId } from '../../src/raft/types.js';
import { nodeId } from '../../src/raft/types.js';
import type { Prng } from './prng.js';
import type { World } from './world.js';

/** A learner this close to the leader's last index is promoted. */
export const CATCH_UP_LAG_ENTRIES_MAX = 5;

export interface ChurnLimits {
  readonly votersMin: number;
  readonly votersMax: number;
}

export class Churn {
  private nextId: number;
  /** Nodes whose removal was proposed; stopped once it is applied. */
  private readonly removing = new Set<NodeId>();
  changes = 0;

  constructor(
    private readonly world: World,
    private readonly rng: Prng,
    private readonly limits: ChurnLimits,
  ) {
    this.nextId = world.nodes.size + 1;
  }

  /** One look at the cluster; proposes at most one change. */
  step(): void {
    this.stopRemoved();
    const leader = this.world.leader();
    const st = leader === undefined ? undefined : this.world.status(leader.id);
    if (leader === undefined || st === undefined || st.role !== 'leader' || st.pendingMembershipIndex !== 0) return;
    const m = st.membership;
    const learner = learners(m)[0];
    if (learner !== undefined) {
      const match = st.progress.get(learner)?.match ?? 0;
      if (match + CATCH_UP_LAG_ENTRIES_MAX >= st.lastIndex) this.propose(leader.id, { kind: 'promote', id: learner });
      return;
    }
    const vs = voters(m);
    const grow = vs.length < this.limits.votersMax && (vs.length <= this.limits.votersMin || this.rng.chance(0.5));
    if (grow) {
      // Reuse a node that was created but never made it into a configuration.
      const idle = [...this.world.nodes.values()].find((n) => n.state === 'running' && !m.members.some((x) => x.id === n.id) && !this.removing.has(n.id) && n.disk.lastIndex === 0);
      const id = idle?.id ?? nodeId(`n${this.nextId++}`);
      if (idle === undefined) this.world.create(id);
      this.propose(leader.id, { kind: 'add-learner', id, address: `${id}.sim:7000` });
    } else if (vs.length > this.limits.votersMin) {
      const victim = this.rng.pick(vs);
      if (this.propose(leader.id, { kind: 'remove', id: victim })) this.removing.add(victim);
    }
  }

  private propose(leader: NodeId, change: MembershipChange): boolean {
    const r = this.world.withCore(leader, `membership ${change.kind} ${change.id}`, (raft) => raft.proposeMembership(change));
    if (r instanceof RaftError) return false;
    this.changes++;
    return true;
  }

  private stopRemoved(): void {
    const m = this.world.committedMembership.membership;
    for (const id of this.removing) {
      if (m.members.some((x) => x.id === id)) continue;
      this.removing.delete(id);
      this.world.stop(id);
    }
  }

  /** Whether `id` is a voter in the newest applied configuration. */
  isVoter(id: NodeId): boolean {
    return isVoter(this.world.committedMembership.membership, id);
  }
}
