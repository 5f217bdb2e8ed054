// What a leader knows about one follower's log, and how it paces messages to it.
//
//   probe:     the leader does not know where the logs match; one append per heartbeat interval
//              until an acceptance reveals the match.
//   replicate: the logs match up to `match`; appends stream optimistically (pipelining) within a
//              bounded window of in-flight messages.
//   snapshot:  the follower needs entries the leader compacted; nothing else is sent until the
//              snapshot is acknowledged.
import { assert } from './assert.js';
import type { LogIndex } from './types.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  /** Invariant: match < next. */
  match: LogIndex = 0 as LogIndex;
  next: LogIndex;
  state: ProgressState = 'probe';
  /** Probe only: an append is outstanding; cleared by a heartbeat response or a reply. */
  probeSent = false;
  /** Snapshot only: the index of the snapshot being sent. */
  pendingSnapshot: LogIndex = 0 as LogIndex;
  /** The last index of each append in flight, oldest first (replicate only). */
  private readonly inflight: LogIndex[] = [];
  /** The commit index last sent, so that a commit can be announced without duplicate messages. */
  sentCommit: LogIndex = 0 as LogIndex;
  /** The leader's tick count when this follower last answered (never: far in the past). */
  lastHeardTick = Number.NEGATIVE_INFINITY;
  /** Snapshot only: the leader's tick count when the snapshot was offered. */
  snapshotSentTick = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** The latest ReadIndex round this follower confirmed. */
  readRoundAcked = 0;

  constructor(
    next: LogIndex,
    private readonly inflightMax: number,
  ) {
    this.next = next;
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.reset('probe');
      this.next = Math.max(this.match + 1, pending + 1) as LogIndex;
    } else {
      this.reset('probe');
      this.next = (this.match + 1) as LogIndex;
    }
  }

  becomeReplicate(): void {
    this.reset('replicate');
    this.next = (this.match + 1) as LogIndex;
  }

  becomeSnapshot(snapshotIndex: LogIndex): void {
    this.reset('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0 as LogIndex;
    this.inflight.length = 0;
  }

  /** An acceptance up to `n` arrived. Returns false when it told nothing new (a stale reply). */
  maybeUpdate(n: LogIndex): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < n + 1) this.next = (n + 1) as LogIndex;
    // Acknowledged messages leave the window.
    while (this.inflight.length > 0 && (this.inflight[0] as LogIndex) <= n) this.inflight.shift();
    return updated;
  }

  /**
   * A rejection of the append at `rejected` arrived, with the follower's hint that the logs may match
   * at `probeFrom - 1` or earlier. Returns false when the rejection is stale.
   */
  maybeDecrTo(rejected: LogIndex, probeFrom: LogIndex): boolean {
    if (this.state === 'replicate') {
      // Replication never sends below match: a rejection there is of an older message.
      if (rejected < this.match) return false;
      if (rejected === this.match) this.forgetLostEntries(rejected, probeFrom);
      this.next = (this.match + 1) as LogIndex;
      return true;
    }
    // In probe there is one message at a time: anything but a reply to it is stale.
    if (this.next - 1 !== rejected) return false;
    if (rejected <= this.match) this.forgetLostEntries(rejected, probeFrom);
    this.next = Math.max(Math.min(rejected, probeFrom), this.match + 1, 1) as LogIndex;
    this.probeSent = false;
    return true;
  }

  /**
   * The follower refused an append at or below what it acknowledged: its disk lost entries, which is
   * outside Raft's fault model (a lying fsync). Replicate them again from its hint instead of probing
   * the same index forever. (A late duplicate of an old refusal lands here too; it only costs a resend.)
   */
  private forgetLostEntries(rejected: LogIndex, probeFrom: LogIndex): void {
    this.match = Math.max(0, Math.min(probeFrom - 1, rejected - 1)) as LogIndex;
  }

  /** Records that an append ending at `last` was sent. */
  sentEntries(last: LogIndex, count: number): void {
    switch (this.state) {
      case 'replicate':
        if (count > 0) {
          this.next = (last + 1) as LogIndex;
          this.inflight.push(last);
          assert(this.inflight.length <= this.inflightMax, 'progress: in-flight window overflow');
        }
        break;
      case 'probe':
        this.probeSent = true;
        break;
      case 'snapshot':
        assert(false, 'progress: append sent to a follower in snapshot state');
    }
  }

  /** A heartbeat reply proves the follower is alive: allow one more message so a lost append is retried. */
  onHeartbeatResponse(): void {
    this.probeSent = false;
    if (this.state === 'replicate' && this.inflight.length >= this.inflightMax) this.inflight.shift();
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflight.length >= this.inflightMax;
      case 'snapshot':
        return true;
    }
  }

  inflightCount(): number {
    return this.inflight.length;
  }
}
