// A leader's pending linearizable reads (ReadIndex, §6.4 of Ongaro's dissertation). Reads are grouped
// into numbered rounds: each read registers in a new round, heartbeats carry the newest round, and a
// quorum of answers for round r confirms every read registered in a round <= r.
import type { LogIndex, ReadState } from './types.js';

interface PendingRead {
  readonly context: string;
  readonly index: LogIndex;
  readonly round: number;
}

export class ReadIndexQueue {
  /** The newest round a read registered in. */
  round = 0;
  /** The newest round heartbeats were sent for. Invariant: broadcastRound <= round. */
  broadcastRound = 0;
  /** Registered reads, oldest (lowest round) first. */
  private pending: PendingRead[] = [];
  /** Reads that arrived before the leader committed an entry of its term (§6.4 step 1). */
  private awaitingCommit: string[] = [];

  /** Whether a heartbeat round must go out for reads registered since the last one. */
  needsBroadcast(): boolean {
    return this.round > this.broadcastRound;
  }

  /** Holds a read until the leader has committed an entry of its own term. */
  hold(context: string): void {
    this.awaitingCommit.push(context);
  }

  /** The held reads, now that an own-term entry is committed. */
  takeHeld(): string[] {
    const held = this.awaitingCommit;
    this.awaitingCommit = [];
    return held;
  }

  /** Registers a read at `index` in a new round. */
  register(context: string, index: LogIndex): void {
    this.round++;
    this.pending.push({ context, index, round: this.round });
  }

  /** Reads confirmed by a quorum answering round `confirmed`, in registration order. */
  release(confirmed: number): ReadState[] {
    let k = 0;
    while (k < this.pending.length && (this.pending[k] as PendingRead).round <= confirmed) k++;
    if (k === 0) return [];
    const released = this.pending.slice(0, k).map((r) => ({ context: r.context, index: r.index }));
    this.pending = this.pending.slice(k);
    return released;
  }

  hasPending(): boolean {
    return this.pending.length > 0;
  }

  /** Every read not yet released (leadership lost): their callers must retry. */
  drain(): string[] {
    const dropped = [...this.pending.map((r) => r.context), ...this.awaitingCommit];
    this.pending = [];
    this.awaitingCommit = [];
    return dropped;
  }
}
