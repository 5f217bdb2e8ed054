// The output contract of the core. The driver loop is:
//
//   raft.tick() / raft.step(m) / raft.propose(...) ...
//   if (raft.hasReady()) {
//     const rd = raft.ready();
//     1. if rd.snapshot: make the received snapshot bytes the current snapshot (durably) and restore
//        the state machine from them;
//     2. durably append rd.entries (an entry at index i replaces any stored entry at >= i) and
//        durably store rd.hardState — in one fsync where possible;
//     0. rd.messagesBeforePersist may be sent at once, in parallel with steps 1–2 (a leader
//        replicating its log while its own fsync runs, §10.2.1 of Ongaro's dissertation);
//     3. only then send rd.messages (votes and acks promise what step 2 made durable);
//     4. apply rd.committedEntries in order, then serve rd.readStates whose index is applied;
//     5. raft.advance(rd).
//   }
//
// Calling ready() twice without advance() in between is a bug and fails an assertion.
import type { Entry, HardState, LogIndex, Message, ReadState, SnapshotMeta, Term } from './types.js';

/**
 * Whether a message is a leader's replication, which promises nothing about the leader's own
 * storage: the leader counts its own entries toward a commit only when it steps the followers'
 * answers, which happens after advance(), i.e. after its fsync.
 */
export function isReplication(m: Message): boolean {
  switch (m.type) {
    case 'append':
    case 'heartbeat':
    case 'install-snapshot':
    case 'timeout-now':
      return true;
    default:
      return false;
  }
}

export interface Ready {
  /** A received snapshot to install BEFORE persisting `entries`; they follow it. */
  readonly snapshot: SnapshotMeta | undefined;
  /** New or overwritten log entries, to be made durable BEFORE any message is sent. */
  readonly entries: readonly Entry[];
  /** Present when term, vote or commit changed; made durable BEFORE any message is sent. */
  readonly hardState: HardState | undefined;
  /**
   * A leader's replication messages, which may be sent BEFORE the above are durable. Only present
   * when the leader's term is already durable: a term that a crash could forget might be reused
   * with other entries, so those messages wait in `messages`.
   */
  readonly messagesBeforePersist: readonly Message[];
  /** To be sent AFTER the above are durable. Order per destination is preserved within each list. */
  readonly messages: readonly Message[];
  /** Committed and not yet handed out; apply in order. Invariant: contiguous, after the last applied. */
  readonly committedEntries: readonly Entry[];
  /** Linearizable reads that may run once their index is applied. */
  readonly readStates: readonly ReadState[];
  /** Reads that can no longer be confirmed (leadership lost); their callers should retry. */
  readonly droppedReads: readonly string[];
}

/** What propose() returns: the entry is committed iff the entry applied at `index` has `term`. */
export interface ProposalTicket {
  readonly index: LogIndex;
  readonly term: Term;
}
