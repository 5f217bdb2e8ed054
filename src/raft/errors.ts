// Operating errors of the core: expected outcomes that callers handle (map to HTTP status,
// retry elsewhere, report to a user). Each has a stable `code`; the message says what to do.
import type { NodeId } from './types.js';

export type RaftErrorCode =
  /** This node is not the leader; `leader` names the one it knows of, if any. */
  | 'not-leader'
  /** A leadership transfer is under way; proposals wait until it ends. */
  | 'transfer-in-progress'
  /** A membership change is appended but not yet committed; only one may be in flight. */
  | 'membership-change-pending'
  /** The change names a member that is not in the configuration. */
  | 'unknown-member'
  /** The change adds a member that is already in the configuration. */
  | 'member-exists'
  /** The change does not apply to the member's role (promote a voter, transfer to a learner...). */
  | 'wrong-role'
  /** Promotion refused: the learner's log is too far behind the leader's. */
  | 'learner-not-caught-up'
  /** Removal refused: the remaining voters that are known to be alive could not form a quorum. */
  | 'quorum-would-be-lost'
  /** The leader holds the maximum of uncommitted bytes; retry when replication catches up. */
  | 'too-many-uncommitted'
  /** The request itself is malformed (empty id, transfer to self...). */
  | 'invalid-argument';

export class RaftError extends Error {
  override readonly name = 'RaftError';
  constructor(
    readonly code: RaftErrorCode,
    message: string,
    readonly leader?: NodeId,
  ) {
    super(message);
  }
}
