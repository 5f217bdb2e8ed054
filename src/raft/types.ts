// The vocabulary of the Raft core: identifiers, log entries, membership, hard state,
// snapshots and messages. Everything here is plain data so that it can be persisted,
// sent over the wire and compared byte for byte by the simulator.

/** A Raft term. Invariant: a non-negative integer; 0 means "no term yet". */
export type Term = number & { readonly __brand: 'Term' };
/** A position in the log. Invariant: a non-negative integer; 0 is the empty prefix. */
export type LogIndex = number & { readonly __brand: 'LogIndex' };
/** A member's stable name (the pod name in Kubernetes), never its address. */
export type NodeId = string & { readonly __brand: 'NodeId' };

export const term = (n: number): Term => n as Term;
export const index = (n: number): LogIndex => n as LogIndex;
export const nodeId = (s: string): NodeId => s as NodeId;

export type EntryKind =
  /** Application data, handed to the state machine. */
  | 'normal'
  /** The empty entry a new leader appends so that it can commit entries of earlier terms. */
  | 'noop'
  /** A whole new membership (`data` is `encodeMembership(m)`); in effect once appended. */
  | 'config';

export interface Entry {
  readonly term: Term;
  readonly index: LogIndex;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

export type MemberRole = 'voter' | 'learner';

export interface Member {
  readonly id: NodeId;
  /** Where peers reach this member (host:port). Updated with an `update-address` change. */
  readonly address: string;
  readonly role: MemberRole;
}

/** A configuration. Invariant: ids are unique and `members` is sorted by id. */
export interface Membership {
  readonly members: readonly Member[];
}

export type MembershipChange =
  | { readonly kind: 'add-learner'; readonly id: NodeId; readonly address: string }
  | { readonly kind: 'promote'; readonly id: NodeId }
  | { readonly kind: 'remove'; readonly id: NodeId }
  | { readonly kind: 'update-address'; readonly id: NodeId; readonly address: string };

/** State that must be on stable storage before any message that depends on it is sent. */
export interface HardState {
  readonly term: Term;
  /** The candidate this node voted for in `term`, if any. */
  readonly vote: NodeId | undefined;
  readonly commit: LogIndex;
}

/** Describes a snapshot; the snapshot's bytes never enter the core (the driver stores and ships them). */
export interface SnapshotMeta {
  /** The last index the snapshot covers. */
  readonly index: LogIndex;
  readonly term: Term;
  /** The configuration in effect at `index`. */
  readonly membership: Membership;
}

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's term (for pre-vote requests: the term it would campaign in). */
  readonly term: Term;
}

export interface PreVoteRequest extends MessageBase {
  readonly type: 'pre-vote';
  readonly lastIndex: LogIndex;
  readonly lastTerm: Term;
}
export interface PreVoteResponse extends MessageBase {
  readonly type: 'pre-vote-response';
  readonly reject: boolean;
}
export interface VoteRequest extends MessageBase {
  readonly type: 'vote';
  readonly lastIndex: LogIndex;
  readonly lastTerm: Term;
  /** Set when a leadership transfer asked for this election: voters skip the leader-lease check. */
  readonly transfer: boolean;
}
export interface VoteResponse extends MessageBase {
  readonly type: 'vote-response';
  readonly reject: boolean;
}
export interface AppendRequest extends MessageBase {
  readonly type: 'append';
  readonly prevIndex: LogIndex;
  readonly prevTerm: Term;
  /** Invariant: contiguous, starting at prevIndex + 1. */
  readonly entries: readonly Entry[];
  readonly commit: LogIndex;
}
export interface AppendResponse extends MessageBase {
  readonly type: 'append-response';
  readonly reject: boolean;
  /** Accepted: the follower's log matches the leader's up to here. Rejected: the prevIndex it refused. */
  readonly index: LogIndex;
  /**
   * Rejected only: a guess at the largest index where the logs may match, with the follower's term
   * there (0 when its log is shorter). Lets the leader skip a whole conflicting term per round trip.
   */
  readonly hintIndex: LogIndex;
  readonly hintTerm: Term;
}
export interface HeartbeatRequest extends MessageBase {
  readonly type: 'heartbeat';
  /** min(leader commit, follower match): never beyond what the follower is known to hold. */
  readonly commit: LogIndex;
  /** The leader's ReadIndex round this heartbeat confirms (0: none). */
  readonly readRound: number;
}
export interface HeartbeatResponse extends MessageBase {
  readonly type: 'heartbeat-response';
  readonly readRound: number;
}
export interface InstallSnapshotRequest extends MessageBase {
  readonly type: 'install-snapshot';
  /** The transport ships the bytes of this snapshot beside the message. */
  readonly snapshot: SnapshotMeta;
}
export interface TimeoutNowRequest extends MessageBase {
  readonly type: 'timeout-now';
}

export type Message =
  | PreVoteRequest
  | PreVoteResponse
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | InstallSnapshotRequest
  | TimeoutNowRequest;

export type MessageType = Message['type'];

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** A ReadIndex result: once the state machine has applied `index`, the read named `context` may run. */
export interface ReadState {
  readonly context: string;
  readonly index: LogIndex;
}

/** Randomness for election timeouts, injected so that runs replay from a seed. */
export interface RandomSource {
  /** A uniformly distributed integer in [0, maxExclusive). */
  nextInt(maxExclusive: number): number;
}
