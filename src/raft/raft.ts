// The Raft consensus core: a pure, synchronous state machine. Inputs are tick(), step(), propose(),
// proposeMembership(), transferLeadership() and readIndex(); outputs leave through ready()/advance()
// (see ready.ts for the contract). The role is a swapped step function, not a class hierarchy.
//
// Section numbers refer to Ongaro's dissertation "Consensus: Bridging Theory and Practice".
import { assert, assertNever } from './assert.js';
import { COMMITTED_BATCH_BYTES_MAX, PROMOTE_LAG_ENTRIES_MAX, SNAPSHOT_RETRY_ELECTION_TIMEOUTS, resolveOptions, type RaftOptions, type ResolvedRaftOptions } from './config.js';
import { RaftError } from './errors.js';
import { RaftLog } from './log.js';
import { EMPTY_MEMBERSHIP, MEMBERS_MAX_COUNT, applyChange, encodeMembership, findMember, isVoter, membershipOf, voters } from './membership.js';
import { Progress, type ProgressState } from './progress.js';
import { committedIndex, confirmedRound, quorumSize, voteOutcome } from './quorum.js';
import { ReadIndexQueue } from './read-index.js';
import { isReplication, type ProposalTicket, type Ready } from './ready.js';
import type {
  AppendRequest,
  AppendResponse,
  Entry,
  EntryKind,
  HardState,
  HeartbeatRequest,
  InstallSnapshotRequest,
  LogIndex,
  Member,
  Membership,
  MembershipChange,
  Message,
  NodeId,
  PreVoteRequest,
  RandomSource,
  ReadState,
  Role,
  SnapshotMeta,
  Term,
  VoteRequest,
} from './types.js';

/** What the driver loaded from stable storage (or a fresh start). */
export interface RaftBootState {
  readonly hardState: HardState;
  readonly snapshot: SnapshotMeta | undefined;
  /** Invariant: contiguous, starting right after snapshot.index (or at 1). */
  readonly entries: readonly Entry[];
  /** The last index the state machine already reflects (>= snapshot.index). */
  readonly applied: LogIndex;
}

/** A node with nothing: it waits to be added to a cluster and never campaigns on its own. */
export function emptyBootState(): RaftBootState {
  return { hardState: { term: 0 as Term, vote: undefined, commit: 0 as LogIndex }, snapshot: undefined, entries: [], applied: 0 as LogIndex };
}

/**
 * The boot state of a new cluster's founding members: every one of them calls this with the same
 * list, so they all start with the same committed configuration entry at index 1, term 1.
 */
export function bootstrapState(members: readonly Member[]): RaftBootState {
  const m = membershipOf(members);
  if (voters(m).length === 0) throw new RaftError('invalid-argument', 'a new cluster needs at least one voter');
  const entry: Entry = { term: 1 as Term, index: 1 as LogIndex, kind: 'config', data: encodeMembership(m) };
  return { hardState: { term: 1 as Term, vote: undefined, commit: 1 as LogIndex }, snapshot: undefined, entries: [entry], applied: 0 as LogIndex };
}

export interface PeerProgress {
  readonly match: LogIndex;
  readonly next: LogIndex;
  readonly state: ProgressState;
  readonly recentActive: boolean;
  readonly inflight: number;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly vote: NodeId | undefined;
  readonly leader: NodeId | undefined;
  readonly commit: LogIndex;
  readonly applied: LogIndex;
  readonly lastIndex: LogIndex;
  readonly firstIndex: LogIndex;
  readonly snapshotIndex: LogIndex;
  readonly snapshotTerm: Term;
  readonly membership: Membership;
  /** The index of the appended configuration that is not yet committed, or 0. */
  readonly pendingMembershipIndex: LogIndex;
  readonly transferee: NodeId | undefined;
  /** Leader only: what it knows of each other member. */
  readonly progress: ReadonlyMap<NodeId, PeerProgress>;
}


type StepFn = (m: Message) => void;

const NONE = undefined;

export class Raft {
  readonly id: NodeId;
  private readonly opts: ResolvedRaftOptions;
  private readonly random: RandomSource;
  private readonly log: RaftLog;

  private term: Term;
  private vote: NodeId | undefined;
  private role: Role = 'follower';
  private leader: NodeId | undefined = NONE;
  private stepRole: StepFn;

  /** The configuration in effect: the newest one appended (§4.1), and the index of its entry. */
  private membership: Membership;
  private membershipIndex: LogIndex;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** Counts ticks as leader, for last-heard bookkeeping. */
  private tickCount = 0;

  // Candidate state.
  private votes = new Map<NodeId, boolean>();

  // Leader state.
  private progress = new Map<NodeId, Progress>();
  private transferee: NodeId | undefined = NONE;
  private uncommittedBytes = 0;
  private broadcastPending = false;
  private reads = new ReadIndexQueue();
  /**
   * Nodes outside the configuration that asked for votes: members removed while they could not hear
   * of it. Each gets the log (it has a progress entry, never counted toward a quorum) until it holds
   * the configuration in effect, which tells it that it was removed.
   * Invariant: every id here has a progress entry and is not a member; at most MEMBERS_MAX_COUNT.
   */
  private removedCatchingUp = new Set<NodeId>();

  // Output accumulated for the next Ready.
  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private droppedReads: string[] = [];
  private prevHardState: HardState;
  /** Set between ready() and advance(). */
  private outstanding: Ready | undefined = NONE;

  constructor(options: RaftOptions, boot: RaftBootState) {
    this.opts = resolveOptions(options);
    this.id = options.id;
    this.random = options.random;
    this.log = new RaftLog(boot.snapshot, EMPTY_MEMBERSHIP, boot.entries, boot.hardState.commit, boot.applied);
    this.term = boot.hardState.term;
    this.vote = boot.hardState.vote;
    this.prevHardState = boot.hardState;
    const m = this.log.membershipAt(this.log.lastIndex());
    this.membership = m.membership;
    this.membershipIndex = m.index;
    this.stepRole = this.stepFollower;
    this.becomeFollower(this.term, NONE);
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    this.assertNotOutstanding('tick');
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.startElection(false);
    }
  }

  private tickLeader(): void {
    this.tickCount++;
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.opts.electionTimeoutTicks) {
      this.electionElapsed = 0;
      if (this.opts.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, NONE);
        return;
      }
      // A transfer that did not finish within an election timeout is abandoned (§3.10).
      if (this.transferee !== NONE) this.transferee = NONE;
      for (const id of this.removedCatchingUp) if (!this.isAlive(id)) this.stopCatchingUpRemoved(id);
    }
    if (this.heartbeatElapsed >= this.opts.heartbeatIntervalTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
  }

  /**
   * Founds a new cluster on an empty node at run time: the node ends up in exactly the state that
   * bootstrapState(members) gives at start-up. Refused on a node that has a log or a term.
   */
  bootstrap(members: readonly Member[]): void {
    this.assertNotOutstanding('bootstrap');
    if (this.log.lastIndex() !== 0 || this.term !== 0)
      throw new RaftError('invalid-argument', 'only an empty node can found a cluster; this one already has a log');
    const boot = bootstrapState(members);
    this.log.appendOwn(boot.entries);
    this.becomeFollower(boot.hardState.term, NONE);
    this.log.commitTo(boot.hardState.commit);
    this.refreshMembership();
  }

  /** Starts an election now, as if the election timeout had elapsed (tests, bootstrap). */
  campaign(): void {
    this.assertNotOutstanding('campaign');
    if (this.promotable() && this.role !== 'leader') this.startElection(false);
  }

  propose(data: Uint8Array): ProposalTicket {
    return this.proposeEntry('normal', data);
  }

  proposeMembership(change: MembershipChange): ProposalTicket {
    this.assertNotOutstanding('proposeMembership');
    this.requireLeader();
    if (this.membershipIndex > this.log.committed)
      throw new RaftError('membership-change-pending', `configuration at index ${this.membershipIndex} is not committed yet; retry once it is`);
    // A new leader may hold an uncommitted configuration from an earlier term that it cannot see as
    // such; committing an entry of its own term first rules that out (the single-server change fix).
    if (this.log.term(this.log.committed) !== this.term)
      throw new RaftError('membership-change-pending', 'the leader has not committed an entry in its term yet; retry shortly');
    const next = applyChange(this.membership, change);
    if (change.kind === 'promote') {
      const pr = this.progress.get(change.id);
      const match = pr?.match ?? 0;
      // The learner must be replicating (its log is known to match ours) and answering, not merely
      // within the lag of a short log it has never received.
      const replicating = pr !== undefined && pr.state === 'replicate' && this.isAlive(change.id);
      if (!replicating || match + PROMOTE_LAG_ENTRIES_MAX < this.log.lastIndex())
        throw new RaftError(
          'learner-not-caught-up',
          `learner ${change.id} has entries up to ${match}, the leader up to ${this.log.lastIndex()}; promote it once it is within ${PROMOTE_LAG_ENTRIES_MAX}`,
        );
    }
    if (change.kind === 'remove' && isVoter(this.membership, change.id)) {
      const remaining = voters(next);
      const alive = remaining.filter((id) => this.isAlive(id)).length;
      if (alive < quorumSize(remaining.length))
        throw new RaftError(
          'quorum-would-be-lost',
          `removing ${change.id} leaves ${remaining.length} voters of which only ${alive} answered recently; ${quorumSize(remaining.length)} are needed to commit`,
        );
    }
    return this.proposeEntry('config', encodeMembership(next));
  }

  transferLeadership(to: NodeId): void {
    this.assertNotOutstanding('transferLeadership');
    this.requireLeader();
    if (to === this.id) return;
    if (!isVoter(this.membership, to))
      throw new RaftError(findMember(this.membership, to) ? 'wrong-role' : 'unknown-member', `cannot transfer leadership to ${to}: it is not a voter`);
    if (this.transferee === to) return;
    this.transferee = to;
    this.electionElapsed = 0;
    const pr = this.progress.get(to);
    assert(pr !== undefined, 'transfer: voter without progress');
    if (pr.match === this.log.lastIndex()) this.send({ type: 'timeout-now', from: this.id, to, term: this.term });
    else this.sendAppend(to);
  }

  /** Asks for a linearizable read point; the answer arrives in Ready.readStates (§6.4). */
  readIndex(context: string): void {
    this.assertNotOutstanding('readIndex');
    this.requireLeader();
    if (this.log.term(this.log.committed) !== this.term) {
      this.reads.hold(context);
      return;
    }
    this.registerRead(context);
  }

  step(m: Message): void {
    this.assertNotOutstanding('step');
    if (m.to !== this.id || m.from === this.id) return;
    if (this.role === 'leader' && (m.type === 'pre-vote' || m.type === 'vote')) this.maybeCatchUpRemoved(m);
    if (m.term > this.term) {
      if ((m.type === 'vote' || m.type === 'pre-vote') && this.inLease() && !(m.type === 'vote' && m.transfer)) {
        // A leader was heard from within the minimum election timeout: a disruptive (removed or
        // partitioned) server must not depose it (§4.2.3).
        return;
      }
      if (m.type === 'pre-vote') {
        // Pre-votes never change our term.
      } else if (m.type === 'pre-vote-response' && !m.reject) {
        // A grant carries the term we would campaign in; the vote is counted below.
      } else {
        const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'install-snapshot';
        this.becomeFollower(m.term, fromLeader ? m.from : NONE);
      }
    } else if (m.term < this.term) {
      if ((this.opts.checkQuorum || this.opts.preVote) && (m.type === 'heartbeat' || m.type === 'append')) {
        // Tell a stale leader the newer term so that it steps down; without this, pre-vote and
        // check-quorum could leave it leading a minority forever.
        this.send({ type: 'append-response', from: this.id, to: m.from, term: this.term, reject: false, index: 0 as LogIndex, hintIndex: 0 as LogIndex, hintTerm: 0 as Term });
      } else if (m.type === 'pre-vote') {
        this.send({ type: 'pre-vote-response', from: this.id, to: m.from, term: this.term, reject: true });
      }
      return;
    }

    switch (m.type) {
      case 'pre-vote':
      case 'vote': {
        const canVote =
          this.vote === m.from ||
          (this.vote === NONE && this.leader === NONE) ||
          (m.type === 'pre-vote' && m.term > this.term);
        const grant = canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm);
        if (m.type === 'pre-vote') {
          this.send({ type: 'pre-vote-response', from: this.id, to: m.from, term: grant ? m.term : this.term, reject: !grant });
          // Two followers whose timers fired together would each win the other's pre-vote and then
          // split the real vote, costing another election timeout. Of two pre-candidates for the same
          // term, the one with the higher id steps back (with a fresh timeout) when it grants the other.
          // Pre-votes change nothing durable, so this only decides who campaigns first.
          if (grant && this.role === 'pre-candidate' && m.term === this.term + 1 && m.from < this.id) this.becomeFollower(this.term, NONE);
        } else {
          if (grant) {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
          this.send({ type: 'vote-response', from: this.id, to: m.from, term: this.term, reject: !grant });
        }
        return;
      }
      default:
        this.stepRole(m);
    }
  }

  // ---------------------------------------------------------------- roles

  private becomeFollower(t: Term, leader: NodeId | undefined): void {
    const wasLeader = this.role === 'leader';
    if (t !== this.term) {
      assert(t > this.term, () => `term must not go back from ${this.term} to ${t}`);
      this.term = t;
      this.vote = NONE;
    }
    this.role = 'follower';
    this.leader = leader;
    this.stepRole = this.stepFollower;
    this.resetTimers();
    if (wasLeader) this.abandonLeadership();
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become a pre-candidate');
    // Term and vote stay as they are: a pre-vote changes nothing durable.
    this.role = 'pre-candidate';
    this.leader = NONE;
    this.stepRole = this.stepCandidate;
    this.votes = new Map();
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become a candidate');
    this.term = (this.term + 1) as Term;
    this.vote = this.id;
    this.role = 'candidate';
    this.leader = NONE;
    this.stepRole = this.stepCandidate;
    this.votes = new Map();
    this.resetTimers();
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', 'only a candidate becomes leader');
    this.role = 'leader';
    this.leader = this.id;
    this.stepRole = this.stepLeader;
    this.resetTimers();
    this.transferee = NONE;
    this.uncommittedBytes = 0;
    this.reads = new ReadIndexQueue();
    this.progress = new Map();
    this.removedCatchingUp = new Set();
    for (const mem of this.membership.members) this.addProgress(mem.id);
    // The no-op entry lets the leader commit entries of earlier terms (§3.6.2, Figure 3.7).
    this.appendOwn('noop', new Uint8Array(0));
    this.broadcastPending = true;
    if (this.maybeCommit()) this.onCommitAdvanced();
  }

  private abandonLeadership(): void {
    this.droppedReads.push(...this.reads.drain());
    this.progress = new Map();
    this.removedCatchingUp = new Set();
    this.transferee = NONE;
    this.broadcastPending = false;
  }

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.opts.electionTimeoutTicks + this.random.nextInt(this.opts.electionTimeoutTicks);
  }

  private startElection(transfer: boolean): void {
    if (this.opts.preVote && !transfer) {
      this.becomePreCandidate();
      this.solicitVotes('pre-vote', (this.term + 1) as Term, false);
    } else {
      this.becomeCandidate();
      this.solicitVotes('vote', this.term, transfer);
    }
  }

  private solicitVotes(kind: 'pre-vote' | 'vote', t: Term, transfer: boolean): void {
    this.votes.set(this.id, true);
    if (this.tallyVotes()) return;
    for (const id of voters(this.membership)) {
      if (id === this.id) continue;
      const base = { from: this.id, to: id, term: t, lastIndex: this.log.lastIndex(), lastTerm: this.log.lastTerm() };
      if (kind === 'pre-vote') this.send({ type: 'pre-vote', ...base });
      else this.send({ type: 'vote', ...base, transfer });
    }
  }

  /** Acts on the votes so far; returns true when the election ended. */
  private tallyVotes(): boolean {
    const outcome = voteOutcome(voters(this.membership), this.votes);
    switch (outcome) {
      case 'won':
        if (this.role === 'pre-candidate') {
          this.becomeCandidate();
          this.solicitVotes('vote', this.term, false);
        } else {
          this.becomeLeader();
        }
        return true;
      case 'lost':
        this.becomeFollower(this.term, NONE);
        return true;
      case 'pending':
        return false;
      default:
        return assertNever(outcome, 'vote outcome');
    }
  }

  private stepFollower = (m: Message): void => {
    switch (m.type) {
      case 'append':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleHeartbeat(m);
        return;
      case 'install-snapshot':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleSnapshot(m);
        return;
      case 'timeout-now':
        // The leader chose us to succeed it (§3.10): campaign at once, skipping pre-vote and the lease.
        if (this.promotable()) this.startElection(true);
        return;
      case 'pre-vote-response':
      case 'vote-response':
      case 'append-response':
      case 'heartbeat-response':
      case 'pre-vote':
      case 'vote':
        return;
      default:
        assertNever(m, 'message');
    }
  };

  private stepCandidate = (m: Message): void => {
    switch (m.type) {
      case 'append':
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'install-snapshot':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'pre-vote-response':
      case 'vote-response': {
        const expected = this.role === 'pre-candidate' ? 'pre-vote-response' : 'vote-response';
        if (m.type !== expected) return;
        // A pre-vote grant carries term + 1; a refusal with a higher term already made us a follower.
        if (m.type === 'pre-vote-response' && !m.reject && m.term !== this.term + 1) return;
        this.votes.set(m.from, !m.reject);
        this.tallyVotes();
        return;
      }
      case 'timeout-now':
      case 'append-response':
      case 'heartbeat-response':
      case 'pre-vote':
      case 'vote':
        return;
      default:
        assertNever(m, 'message');
    }
  };

  private stepLeader = (m: Message): void => {
    const pr = this.progress.get(m.from);
    switch (m.type) {
      case 'append-response':
        if (pr === undefined) return;
        this.markHeard(pr);
        this.handleAppendResponse(m, pr);
        if (this.removedCatchingUp.has(m.from) && pr.match >= this.membershipIndex) this.stopCatchingUpRemoved(m.from);
        return;
      case 'heartbeat-response':
        if (pr === undefined) return;
        this.markHeard(pr);
        pr.onHeartbeatResponse();
        if (pr.state === 'snapshot' && this.tickCount - pr.snapshotSentTick >= SNAPSHOT_RETRY_ELECTION_TIMEOUTS * this.opts.electionTimeoutTicks) {
          // The snapshot (or its acknowledgement) was lost: offer it again.
          pr.becomeProbe();
        }
        if (m.readRound > pr.readRoundAcked) {
          pr.readRoundAcked = m.readRound;
          this.releaseReads();
        }
        if (pr.match < this.log.lastIndex() || pr.sentCommit < this.log.committed) this.sendAppend(m.from);
        return;
      case 'append':
      case 'heartbeat':
      case 'install-snapshot':
        // Same term, another leader: impossible in Raft (one vote per term per voter).
        assert(false, () => `two leaders in term ${this.term}: ${this.id} and ${m.from}`);
        return;
      case 'timeout-now':
      case 'pre-vote-response':
      case 'vote-response':
      case 'pre-vote':
      case 'vote':
        return;
      default:
        assertNever(m, 'message');
    }
  };

  // ---------------------------------------------------------------- follower handlers

  private handleAppend(m: AppendRequest): void {
    if (!entriesWellFormed(m)) return;
    if (m.prevIndex < this.log.committed) {
      // Everything up to our commit index matches any leader's log (§5.4): say so, skip the rest.
      this.sendAppendResponse(m.from, false, this.log.committed);
      return;
    }
    if (this.log.matchTerm(m.prevIndex, m.prevTerm)) {
      const { lastNew, configChanged } = this.log.appendFromLeader(m.prevIndex, m.entries);
      if (configChanged) this.refreshMembership();
      this.log.commitTo(Math.min(m.commit, lastNew) as LogIndex);
      this.sendAppendResponse(m.from, false, lastNew);
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()) as LogIndex, m.prevTerm);
    this.send({ type: 'append-response', from: this.id, to: m.from, term: this.term, reject: true, index: m.prevIndex, hintIndex: hint.index, hintTerm: hint.term });
  }

  private handleHeartbeat(m: HeartbeatRequest): void {
    // The leader never sends a commit beyond what it knows we hold.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()) as LogIndex);
    this.send({ type: 'heartbeat-response', from: this.id, to: m.from, term: this.term, readRound: m.readRound });
  }

  private handleSnapshot(m: InstallSnapshotRequest): void {
    const s = m.snapshot;
    if (s.index <= this.log.committed) {
      this.sendAppendResponse(m.from, false, this.log.committed);
      return;
    }
    if (this.log.matchTerm(s.index, s.term)) {
      // We already hold the entries: fast-forward the commit index instead of discarding the log.
      this.log.commitTo(s.index);
      this.sendAppendResponse(m.from, false, s.index);
      return;
    }
    this.log.restore(s);
    this.refreshMembership();
    this.sendAppendResponse(m.from, false, s.index);
  }

  private sendAppendResponse(to: NodeId, reject: boolean, idx: LogIndex): void {
    this.send({ type: 'append-response', from: this.id, to, term: this.term, reject, index: idx, hintIndex: 0 as LogIndex, hintTerm: 0 as Term });
  }

  // ---------------------------------------------------------------- leader handlers

  private handleAppendResponse(m: AppendResponse, pr: Progress): void {
    if (m.reject) {
      // Fast backtracking (§5.3): jump to the largest index where the leader's term is <= the
      // follower's term at its hint, instead of one entry per round trip.
      const probeFrom = m.hintTerm > 0 ? this.log.findConflictByTerm(m.hintIndex, m.hintTerm).index + 1 : m.hintIndex + 1;
      if (pr.maybeDecrTo(m.index, probeFrom as LogIndex)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) {
      if (wasPaused && !pr.isPaused()) this.sendAppend(m.from);
      return;
    }
    switch (pr.state) {
      case 'probe':
        pr.becomeReplicate();
        break;
      case 'snapshot':
        if (pr.match >= pr.pendingSnapshot) pr.becomeProbe();
        break;
      case 'replicate':
        break;
      default:
        assertNever(pr.state, 'progress state');
    }
    if (this.maybeCommit()) {
      this.onCommitAdvanced();
    } else {
      this.sendAppendWhileUseful(m.from);
    }
    if (m.from === this.transferee && pr.match === this.log.lastIndex()) {
      this.send({ type: 'timeout-now', from: this.id, to: m.from, term: this.term });
    }
  }

  /** Pipelining: keep sending to a replicating follower while the window and the log allow. */
  private sendAppendWhileUseful(to: NodeId): void {
    const pr = this.progress.get(to);
    if (pr === undefined) return;
    while (!pr.isPaused() && (pr.next <= this.log.lastIndex() || pr.sentCommit < this.log.committed)) {
      const before = pr.next;
      const sentCommitBefore = pr.sentCommit;
      this.sendAppend(to);
      if (pr.next === before && pr.sentCommit === sentCommitBefore) break;
      if (pr.state !== 'replicate') break;
    }
  }

  private maybeCommit(): boolean {
    const vs = voters(this.membership);
    const idx = committedIndex(vs, (id) => (id === this.id ? this.log.lastIndex() : (this.progress.get(id)?.match ?? (0 as LogIndex))));
    // Only entries of the current term are committed by counting replicas (§3.6.2).
    if (idx > this.log.committed && this.log.term(idx) === this.term) {
      const from = this.log.committed;
      this.log.commitTo(idx);
      this.releaseUncommittedBytes(from, idx);
      return true;
    }
    return false;
  }

  private onCommitAdvanced(): void {
    if (this.log.term(this.log.committed) === this.term) {
      for (const c of this.reads.takeHeld()) this.registerRead(c);
    }
    // A leader removed from the configuration steps down once the removal commits (§4.2.2).
    if (this.membershipIndex <= this.log.committed && findMember(this.membership, this.id) === undefined) {
      this.handOverBeforeLeaving();
      this.becomeFollower(this.term, NONE);
      return;
    }
    if (this.membershipIndex <= this.log.committed && this.progress.size >= this.membership.members.length) this.syncProgressWithMembership();
    this.broadcastPending = true;
  }

  /**
   * A leader whose removal committed hands over before it steps down, so that the remaining voters
   * need not wait out an election timeout: every member learns the final commit index (a heartbeat
   * carries it up to what each is known to hold), and the most up-to-date voter that answers is told
   * to campaign at once (TimeoutNow, §3.10). The removal committed on a majority of the remaining
   * voters, so at least one of them holds it; the heartbeat reaches the target before its TimeoutNow.
   */
  private handOverBeforeLeaving(): void {
    for (const [id, pr] of this.progress) {
      const commit = Math.min(pr.match, this.log.committed) as LogIndex;
      this.send({ type: 'heartbeat', from: this.id, to: id, term: this.term, commit, readRound: 0 });
    }
    let target: NodeId | undefined;
    let best = { alive: false, match: -1 };
    for (const id of voters(this.membership)) {
      const pr = this.progress.get(id);
      if (pr === undefined) continue;
      const alive = this.isAlive(id);
      // Prefer a voter that answers; among those, the longest log; ties go to the first id.
      if ((alive && !best.alive) || (alive === best.alive && pr.match > best.match)) {
        target = id;
        best = { alive, match: pr.match };
      }
    }
    if (target !== undefined) this.send({ type: 'timeout-now', from: this.id, to: target, term: this.term });
  }

  private releaseUncommittedBytes(from: LogIndex, to: LogIndex): void {
    for (let i = from + 1; i <= to; i++) {
      const e = this.log.entry(i as LogIndex);
      if (e !== undefined && e.term === this.term) this.uncommittedBytes -= e.data.byteLength;
    }
    if (this.uncommittedBytes < 0) this.uncommittedBytes = 0;
  }

  private sendAppend(to: NodeId): void {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.isPaused()) return;
    const prevIndex = (pr.next - 1) as LogIndex;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) {
      this.sendSnapshot(to, pr);
      return;
    }
    const entries = pr.next <= this.log.lastIndex()
      ? this.log.entries(pr.next, (this.log.lastIndex() + 1) as LogIndex, this.opts.appendEntriesMaxCount, this.opts.appendBytesMax)
      : [];
    const last = (prevIndex + entries.length) as LogIndex;
    const commit = this.log.committed;
    this.send({ type: 'append', from: this.id, to, term: this.term, prevIndex, prevTerm, entries, commit });
    pr.sentEntries(last, entries.length);
    pr.sentCommit = Math.max(pr.sentCommit, Math.min(commit, last)) as LogIndex;
  }

  private sendSnapshot(to: NodeId, pr: Progress): void {
    const s = this.log.snapshot;
    assert(s !== undefined, () => `follower ${to} needs entries before ${this.log.firstIndex()} but there is no snapshot`);
    this.send({ type: 'install-snapshot', from: this.id, to, term: this.term, snapshot: s });
    pr.becomeSnapshot(s.index);
    pr.snapshotSentTick = this.tickCount;
  }

  private broadcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppendWhileUseful(id);
  }

  private broadcastHeartbeat(): void {
    this.reads.broadcastRound = this.reads.round;
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      const commit = Math.min(pr.match, this.log.committed) as LogIndex;
      this.send({ type: 'heartbeat', from: this.id, to: id, term: this.term, commit, readRound: this.reads.round });
    }
  }

  private registerRead(context: string): void {
    const vs = voters(this.membership);
    if (vs.length === 1 && vs[0] === this.id) {
      // A single voter is its own quorum: the commit index is safe to read at once.
      this.readStates.push({ context, index: this.log.committed });
      return;
    }
    this.reads.register(context, this.log.committed);
  }

  private releaseReads(): void {
    if (!this.reads.hasPending()) return;
    const confirmed = confirmedRound(voters(this.membership), (id) => (id === this.id ? this.reads.round : (this.progress.get(id)?.readRoundAcked ?? 0)));
    this.readStates.push(...this.reads.release(confirmed));
  }


  private markHeard(pr: Progress): void {
    pr.recentActive = true;
    pr.lastHeardTick = this.tickCount;
  }

  private isAlive(id: NodeId): boolean {
    if (id === this.id) return true;
    const pr = this.progress.get(id);
    return pr !== undefined && this.tickCount - pr.lastHeardTick < this.opts.electionTimeoutTicks;
  }

  private quorumActive(): boolean {
    const vs = voters(this.membership);
    let active = 0;
    for (const id of vs) {
      if (id === this.id) active++;
      else if (this.progress.get(id)?.recentActive === true) active++;
    }
    for (const pr of this.progress.values()) pr.recentActive = false;
    return active >= quorumSize(vs.length);
  }

  // ---------------------------------------------------------------- membership

  private addProgress(id: NodeId): void {
    if (id === this.id || this.progress.has(id)) return;
    const pr = new Progress((this.log.lastIndex() + 1) as LogIndex, this.opts.inflightAppendsMax);
    // A new follower is presumed alive so that a freshly elected leader may act before hearing back.
    pr.recentActive = true;
    this.progress.set(id, pr);
  }

  /**
   * A node outside the configuration asks for votes: a member removed while it was cut off, which the
   * leader forgot once the removal committed. It campaigns in a configuration that still names it and
   * would go on forever; the log tells it otherwise. Only a node whose term is not ahead of ours is
   * caught up: an append to a node of a higher term would make this leader step down.
   */
  private maybeCatchUpRemoved(m: PreVoteRequest | VoteRequest): void {
    const candidateTerm = m.type === 'pre-vote' ? m.term - 1 : m.term;
    if (candidateTerm > this.term || this.progress.has(m.from) || findMember(this.membership, m.from) !== undefined) return;
    if (this.removedCatchingUp.size >= MEMBERS_MAX_COUNT) return;
    this.removedCatchingUp.add(m.from);
    this.addProgress(m.from);
    const pr = this.progress.get(m.from);
    assert(pr !== undefined, 'catch-up without progress');
    this.markHeard(pr);
    this.sendAppend(m.from);
  }

  private stopCatchingUpRemoved(id: NodeId): void {
    this.removedCatchingUp.delete(id);
    if (findMember(this.membership, id) === undefined) this.progress.delete(id);
  }

  /** Recomputes the configuration in effect after entries were appended, truncated or restored. */
  private refreshMembership(): void {
    const m = this.log.membershipAt(this.log.lastIndex());
    this.membership = m.membership;
    this.membershipIndex = m.index;
    if (this.role === 'leader') this.syncProgressWithMembership();
  }

  private syncProgressWithMembership(): void {
    for (const mem of this.membership.members) this.addProgress(mem.id);
    // A removed member keeps receiving the log until its removal commits, so that it learns of the
    // removal (and stops waiting for a leader) instead of being dropped silently. It never counts
    // toward a quorum: only the configuration's voters do.
    const settled = this.membershipIndex <= this.log.committed;
    for (const id of this.removedCatchingUp) if (findMember(this.membership, id) !== undefined) this.removedCatchingUp.delete(id);
    for (const id of [...this.progress.keys()]) if (settled && findMember(this.membership, id) === undefined && !this.removedCatchingUp.has(id)) this.progress.delete(id);
    if (this.transferee !== NONE && !isVoter(this.membership, this.transferee)) this.transferee = NONE;
  }

  /** A node may campaign only as a voter of its own latest configuration. */
  private promotable(): boolean {
    return isVoter(this.membership, this.id);
  }

  private inLease(): boolean {
    return this.opts.checkQuorum && this.leader !== NONE && this.electionElapsed < this.opts.electionTimeoutTicks;
  }

  // ---------------------------------------------------------------- proposals

  private requireLeader(): void {
    if (this.role !== 'leader')
      throw new RaftError('not-leader', this.leader === NONE ? 'no leader is known; retry shortly' : `this node is not the leader; ask ${this.leader}`, this.leader);
  }

  private proposeEntry(kind: EntryKind, data: Uint8Array): ProposalTicket {
    this.assertNotOutstanding('propose');
    this.requireLeader();
    if (this.transferee !== NONE)
      throw new RaftError('transfer-in-progress', `leadership is being transferred to ${this.transferee}; retry shortly`, this.transferee);
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + data.byteLength > this.opts.uncommittedBytesMax)
      throw new RaftError('too-many-uncommitted', `the leader holds ${this.uncommittedBytes} uncommitted bytes; retry when replication catches up`);
    const e = this.appendOwn(kind, data);
    if (kind === 'config') this.refreshMembership();
    // Single-voter clusters commit by themselves.
    if (this.maybeCommit()) this.onCommitAdvanced();
    this.broadcastPending = true;
    return { index: e.index, term: e.term };
  }

  private appendOwn(kind: EntryKind, data: Uint8Array): Entry {
    const e: Entry = { term: this.term, index: (this.log.lastIndex() + 1) as LogIndex, kind, data };
    this.log.appendOwn([e]);
    this.uncommittedBytes += data.byteLength;
    return e;
  }

  /** The driver could not deliver to `to` (connection down): stop streaming optimistically to it. */
  reportUnreachable(to: NodeId): void {
    this.assertNotOutstanding('reportUnreachable');
    const pr = this.progress.get(to);
    if (this.role === 'leader' && pr !== undefined && pr.state === 'replicate') pr.becomeProbe();
  }

  /** The driver failed to stream a snapshot to `to`: offer it again on the next contact. */
  reportSnapshotFailure(to: NodeId): void {
    this.assertNotOutstanding('reportSnapshotFailure');
    const pr = this.progress.get(to);
    if (this.role === 'leader' && pr !== undefined && pr.state === 'snapshot') pr.becomeProbe();
  }

  // ---------------------------------------------------------------- local snapshots

  /** The metadata for a snapshot of the state machine at `i` (snapshotIndex <= i <= applied). */
  snapshotMetaAt(i: LogIndex): SnapshotMeta {
    if (i === this.log.snapshotIndex() && this.log.snapshot !== undefined) return this.log.snapshot;
    assert(i >= this.log.snapshotIndex() && i <= this.log.applied, () => `snapshot at ${i} outside [${this.log.snapshotIndex()}, ${this.log.applied}]`);
    const t = this.log.term(i);
    assert(t !== undefined, () => `no term for index ${i}`);
    return { index: i, term: t, membership: this.log.membershipAt(i).membership };
  }

  /** Drops log entries up to `i` after the driver durably stored the snapshot made with snapshotMetaAt(i). */
  compact(i: LogIndex): void {
    this.assertNotOutstanding('compact');
    this.log.compact(this.snapshotMetaAt(i));
  }

  /** Entries [lo, hi) of the in-memory log (for checks and tests). */
  entries(lo: LogIndex, hi: LogIndex): Entry[] {
    return this.log.entries(lo, hi);
  }

  // ---------------------------------------------------------------- output

  private send(m: Message): void {
    this.msgs.push(m);
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  hasReady(): boolean {
    assert(this.outstanding === NONE, 'hasReady() while a Ready is outstanding: call advance() first');
    if (this.role === 'leader' && (this.broadcastPending || this.reads.needsBroadcast())) return true;
    const hs = this.hardState();
    return (
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.droppedReads.length > 0 ||
      this.log.pendingSnapshot !== NONE ||
      this.log.stable < this.log.lastIndex() ||
      this.log.applied < this.log.committed ||
      !sameHardState(hs, this.prevHardState)
    );
  }

  ready(): Ready {
    assert(this.outstanding === NONE, 'ready() called twice without advance()');
    if (this.role === 'leader') {
      if (this.broadcastPending) {
        this.broadcastPending = false;
        this.broadcastAppend();
      }
      if (this.reads.needsBroadcast()) this.broadcastHeartbeat();
    }
    const hs = this.hardState();
    // Replication may overtake the fsync only in a term that is already durable (see Ready).
    const termDurable = this.prevHardState.term === this.term;
    const early: Message[] = [];
    const late: Message[] = [];
    for (const m of this.msgs) (termDurable && m.term === this.term && isReplication(m) ? early : late).push(m);
    const rd: Ready = {
      snapshot: this.log.pendingSnapshot,
      entries: this.log.unstableEntries(),
      hardState: sameHardState(hs, this.prevHardState) ? NONE : hs,
      messagesBeforePersist: early,
      messages: late,
      committedEntries: this.log.nextCommitted(COMMITTED_BATCH_BYTES_MAX),
      readStates: this.readStates,
      droppedReads: this.droppedReads,
    };
    this.msgs = [];
    this.readStates = [];
    this.droppedReads = [];
    this.outstanding = rd;
    return rd;
  }

  advance(rd: Ready): void {
    assert(this.outstanding === rd, 'advance() must be given the Ready returned by the last ready()');
    this.outstanding = NONE;
    if (rd.snapshot !== NONE) this.log.pendingSnapshot = NONE;
    const lastEntry = rd.entries[rd.entries.length - 1];
    if (lastEntry !== undefined) this.log.stable = Math.max(this.log.stable, lastEntry.index) as LogIndex;
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied !== undefined) this.log.applied = lastApplied.index;
    if (rd.hardState !== NONE) this.prevHardState = rd.hardState;
  }

  private assertNotOutstanding(what: string): void {
    assert(this.outstanding === NONE, () => `${what}() between ready() and advance(): finish the Ready first`);
  }

  status(): RaftStatus {
    const progress = new Map<NodeId, PeerProgress>();
    for (const [id, pr] of this.progress)
      progress.set(id, { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive, inflight: pr.inflightCount() });
    const snapIndex = this.log.snapshotIndex();
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      firstIndex: this.log.firstIndex(),
      snapshotIndex: snapIndex,
      snapshotTerm: this.log.term(snapIndex) ?? (0 as Term),
      membership: this.membership,
      pendingMembershipIndex: this.membershipIndex > this.log.committed ? this.membershipIndex : (0 as LogIndex),
      transferee: this.transferee,
      progress,
    };
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** Rejects appends whose entries do not follow prevIndex contiguously (they come from the network). */
function entriesWellFormed(m: AppendRequest): boolean {
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i] as Entry;
    if (e.index !== m.prevIndex + 1 + i || e.term > m.term) return false;
  }
  return true;
}
