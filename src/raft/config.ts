// Tunables of the core with their units, defaults and cross-field validation.
import type { NodeId, RandomSource } from './types.js';

/** Entries per append message: bounds the work one message causes on a follower. */
export const APPEND_ENTRIES_MAX_COUNT = 512;
/** Bytes of entry data per append message (one oversized entry still goes alone). */
export const APPEND_BYTES_MAX = 1024 * 1024;
/** Append messages in flight per follower while replicating (pipelining window). */
export const INFLIGHT_APPENDS_MAX = 64;
/** Bytes of proposed-but-uncommitted entry data a leader accepts before refusing proposals. */
export const UNCOMMITTED_BYTES_MAX = 64 * 1024 * 1024;
/** How far (entries) a learner's log may trail the leader's last index and still be promoted. */
export const PROMOTE_LAG_ENTRIES_MAX = 1000;
/** Election timeouts after which an unacknowledged snapshot is offered again. */
export const SNAPSHOT_RETRY_ELECTION_TIMEOUTS = 5;
/** A committed-entries batch handed out by one ready(), in bytes (one oversized entry still goes). */
export const COMMITTED_BATCH_BYTES_MAX = 8 * 1024 * 1024;

export interface RaftOptions {
  readonly id: NodeId;
  /** Base election timeout; each node waits a random time in [base, 2 × base). */
  readonly electionTimeoutTicks: number;
  readonly heartbeatIntervalTicks: number;
  readonly random: RandomSource;
  /** Pre-vote (§9.6 of Ongaro's thesis): a partitioned node does not inflate terms. Default true. */
  readonly preVote?: boolean;
  /** A leader that has not heard from a quorum in an election timeout steps down. Default true. */
  readonly checkQuorum?: boolean;
  readonly appendEntriesMaxCount?: number;
  readonly appendBytesMax?: number;
  readonly inflightAppendsMax?: number;
  readonly uncommittedBytesMax?: number;
}

export type ResolvedRaftOptions = Required<RaftOptions>;

/** Fills defaults and checks fields against each other; throws with a message per bad field. */
export function resolveOptions(o: RaftOptions): ResolvedRaftOptions {
  const r: ResolvedRaftOptions = {
    preVote: true,
    checkQuorum: true,
    appendEntriesMaxCount: APPEND_ENTRIES_MAX_COUNT,
    appendBytesMax: APPEND_BYTES_MAX,
    inflightAppendsMax: INFLIGHT_APPENDS_MAX,
    uncommittedBytesMax: UNCOMMITTED_BYTES_MAX,
    ...o,
  };
  const problems: string[] = [];
  if (r.id.length === 0) problems.push('id must not be empty');
  if (!Number.isInteger(r.heartbeatIntervalTicks) || r.heartbeatIntervalTicks < 1)
    problems.push('heartbeatIntervalTicks must be an integer >= 1');
  if (!Number.isInteger(r.electionTimeoutTicks) || r.electionTimeoutTicks <= r.heartbeatIntervalTicks)
    problems.push('electionTimeoutTicks must be an integer greater than heartbeatIntervalTicks');
  if (r.appendEntriesMaxCount < 1) problems.push('appendEntriesMaxCount must be >= 1');
  if (r.appendBytesMax < 1) problems.push('appendBytesMax must be >= 1');
  if (r.inflightAppendsMax < 1) problems.push('inflightAppendsMax must be >= 1');
  if (r.uncommittedBytesMax < 1) problems.push('uncommittedBytesMax must be >= 1');
  if (problems.length > 0) throw new RangeError(`invalid Raft options: ${problems.join('; ')}`);
  return r;
}
