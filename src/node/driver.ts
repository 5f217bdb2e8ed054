// Drives the Raft core on a real node: ticks it on a timer, feeds it messages and requests, and
// carries out each Ready in the order the contract demands (snapshot → durable entries and hard
// state → messages → apply → reads). Inputs that arrive while a Ready is being persisted wait in
// an inbox and go into the next Ready together: one fsync covers all of them (group commit).
import { performance } from 'node:perf_hooks';
import type { KvStateMachine} from '../kv/state-machine.js';
import { type ApplyResult } from '../kv/state-machine.js';
import { assert } from '../raft/assert.js';
import type { Raft, RaftStatus } from '../raft/raft.js';
import type { Ready } from '../raft/ready.js';
import type { Entry, LogIndex, Member, MembershipChange, Message, NodeId } from '../raft/types.js';
import type { Logger } from '../log/logger.js';
import { NodeError } from './errors.js';
import type { NodeMetrics } from './metrics.js';
import type { DriverNetwork, DriverStorage } from './ports.js';

/** How long a proposal or read may wait for its outcome before the caller is told "unknown". */
export const REQUEST_TIMEOUT_MS = 10_000;
/** Inputs held while a Ready is persisted; beyond this, new client requests are refused (back-pressure). */
export const INBOX_INPUTS_MAX = 100_000;
/**
 * The entry-count threshold starts a snapshot only once the log since the last one is at least this
 * fraction of the state's size (the newest snapshot's): every snapshot rewrites the whole state, so a
 * fixed entry count would cost O(state) per N small writes. The byte threshold still bounds the log.
 */
export const SNAPSHOT_LOG_TO_STATE_RATIO_MIN = 0.5;
/**
 * Each snapshot's thresholds are scaled by a random factor in [1, 1 + this): members apply the same
 * entries, and without it they would all write their snapshot at the same index, at the same time,
 * slowing the leader and every follower it needs for a quorum at once.
 */
export const SNAPSHOT_THRESHOLD_JITTER = 0.5;
/**
 * While an answering follower has not yet reached the compaction index (it is being sent a snapshot,
 * or catching up after one), compacting would leave it unable to continue from the log: it would be
 * sent the whole state again. Compaction waits for it, but no longer than this (a stuck follower must
 * not let the log grow without bound).
 */
export const COMPACTION_DEFER_MAX_MS = 60_000;
/** A follower that answered within this long counts as alive and catching up, in ms. */
export const SNAPSHOT_PEER_ANSWERED_WITHIN_MS = 5_000;

export interface DriverOptions {
  readonly tickMs: number;
  readonly snapshotThresholdEntries: number;
  readonly snapshotThresholdBytes: number;
}

interface ProposalWaiter {
  readonly term: number;
  readonly startedAt: number;
  readonly resolve: (r: ApplyResult | undefined) => void;
  readonly reject: (e: NodeError) => void;
  readonly timer: NodeJS.Timeout;
}

interface ReadWaiter {
  readonly resolve: () => void;
  readonly reject: (e: NodeError) => void;
  readonly timer: NodeJS.Timeout;
  index?: LogIndex;
}

export class RaftDriver {
  private inbox: (() => void)[] = [];
  private pumping = false;
  private pumpScheduled = false;
  private ticker: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly proposals = new Map<number, ProposalWaiter>();
  private readonly reads = new Map<string, ReadWaiter>();
  /** Released reads waiting for the state machine to reach their index, in index order. */
  private readsAwaitingApply: { context: string; index: LogIndex }[] = [];
  private readSeq = 0;
  private lastLeader: NodeId | undefined;
  private appliedSinceSnapshotEntries = 0;
  private appliedSinceSnapshotBytes = 0;
  /** This snapshot interval's threshold factor, in [1, 1 + SNAPSHOT_THRESHOLD_JITTER). */
  private snapshotJitter = 1 + Math.random() * SNAPSHOT_THRESHOLD_JITTER;
  private statusCache: RaftStatus;
  private readonly changeListeners = new Set<() => void>();
  /** A local snapshot is durable at this index: compact the core and the WAL up to it. */
  private compactionDue: LogIndex | undefined;
  /** When compaction started waiting for a snapshot transfer (see COMPACTION_DEFER_MAX_MS). */
  private compactionDeferredSince: number | undefined;
  /** When each follower was last seen answering (the core's flag is cleared every election timeout). */
  private readonly peerAnsweredAt = new Map<NodeId, number>();
  /** The background snapshot being written, if any. */
  private snapshotInFlight: Promise<void> | undefined;
  /** Term and vote as last made durable: only their changes (and entries) need an fsync. */
  private durableTerm: number;
  private durableVote: string | undefined;
  /** A fatal error (storage failure): the node stops serving rather than risk acting on lost writes. */
  private failure: Error | undefined;

  constructor(
    private readonly raft: Raft,
    private readonly storage: DriverStorage,
    private readonly network: DriverNetwork,
    readonly sm: KvStateMachine,
    private readonly log: Logger,
    private metrics: NodeMetrics | undefined,
    private readonly options: DriverOptions,
    private readonly onFatal: (e: Error) => void,
  ) {
    this.statusCache = raft.status();
    this.lastLeader = this.statusCache.leader;
    this.durableTerm = this.statusCache.term;
    this.durableVote = this.statusCache.vote;
    network.onMessage((m) => this.enqueue(() => this.raft.step(m)));
  }

  /** Metrics read the driver's status, so they are attached after construction. */
  attachMetrics(m: NodeMetrics): void {
    this.metrics = m;
  }

  start(): void {
    this.ticker = setInterval(() => this.enqueue(() => this.raft.tick()), this.options.tickMs);
    this.schedulePump();
  }

  async stop(): Promise<void> {
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    const err = new NodeError('shutting-down', 'the node is shutting down; retry on another node');
    for (const w of this.proposals.values()) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.proposals.clear();
    for (const w of this.reads.values()) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.reads.clear();
    // Let an in-flight Ready finish its fsync, and a snapshot its write, before the storage closes.
    while (this.pumping) await new Promise((r) => setTimeout(r, 5));
    await this.snapshotInFlight;
  }

  /** The latest status, refreshed after every Ready. */
  status(): RaftStatus {
    return this.statusCache;
  }

  /** Called after every processed Ready (membership and leadership watchers). */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  fatalError(): Error | undefined {
    return this.failure;
  }

  // ------------------------------------------------------------------ inputs

  private enqueue(fn: () => void): void {
    if (this.closed || this.failure) return;
    this.inbox.push(fn);
    this.schedulePump();
  }

  /** Runs `fn` against the core when it is free; resolves with its result. */
  private call<T>(fn: () => T): Promise<T> {
    if (this.failure) return Promise.reject(new NodeError('internal', `the node stopped after a storage failure: ${this.failure.message}`));
    if (this.closed) return Promise.reject(new NodeError('shutting-down', 'the node is shutting down; retry on another node'));
    if (this.inbox.length >= INBOX_INPUTS_MAX) return Promise.reject(new NodeError('too-many-uncommitted', 'the node is overloaded; retry shortly'));
    return new Promise<T>((resolve, reject) => {
      this.enqueue(() => {
        try {
          resolve(fn());
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  /** Proposes a state machine command on this node (which must lead); resolves with its result once applied. */
  async propose(data: Uint8Array): Promise<{ result: ApplyResult | undefined; index: LogIndex }> {
    const startedAt = performance.now();
    let ticket;
    try {
      ticket = await this.call(() => this.raft.propose(data));
    } catch (e) {
      this.metrics?.proposal('refused');
      throw e;
    }
    const result = await this.awaitEntry(ticket.index, ticket.term, startedAt);
    return { result, index: ticket.index };
  }

  async proposeMembership(change: MembershipChange): Promise<LogIndex> {
    const startedAt = performance.now();
    const ticket = await this.call(() => this.raft.proposeMembership(change));
    await this.awaitEntry(ticket.index, ticket.term, startedAt);
    return ticket.index;
  }

  transferLeadership(to: NodeId): Promise<void> {
    return this.call(() => this.raft.transferLeadership(to));
  }

  bootstrap(members: readonly Member[]): Promise<void> {
    return this.call(() => {
      this.raft.bootstrap(members);
      // Found the cluster at once instead of waiting for an election timeout.
      this.raft.campaign();
    });
  }

  /** Resolves once a linearizable read may be served from the local state machine. */
  async readBarrier(): Promise<void> {
    const context = `r${++this.readSeq}`;
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reads.delete(context);
        reject(new NodeError('timeout', 'the read could not be confirmed in time (no quorum?); retry'));
      }, REQUEST_TIMEOUT_MS);
      this.reads.set(context, { resolve, reject, timer });
    });
    try {
      await this.call(() => this.raft.readIndex(context));
    } catch (e) {
      const w = this.reads.get(context);
      if (w) {
        clearTimeout(w.timer);
        this.reads.delete(context);
      }
      throw e;
    }
    return done;
  }

  private awaitEntry(index: LogIndex, term: number, startedAt: number): Promise<ApplyResult | undefined> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.proposals.delete(index);
        this.metrics?.proposal('timeout');
        reject(new NodeError('maybe-committed', `the write at index ${index} did not complete in ${REQUEST_TIMEOUT_MS} ms; it may or may not have been committed`));
      }, REQUEST_TIMEOUT_MS);
      this.proposals.set(index, { term, startedAt, resolve, reject, timer });
    });
  }

  // ------------------------------------------------------------------ the Ready loop

  private schedulePump(): void {
    if (this.pumping || this.pumpScheduled) return;
    this.pumpScheduled = true;
    // setImmediate lets every input of the current I/O round join the same Ready.
    setImmediate(() => {
      this.pumpScheduled = false;
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping || this.failure) return;
    this.pumping = true;
    try {
      for (;;) {
        await this.compactIfDue();
        const inputs = this.inbox;
        this.inbox = [];
        for (const fn of inputs) fn();
        if (!this.raft.hasReady()) {
          if (this.inbox.length === 0) break;
          continue;
        }
        const rd = this.raft.ready();
        // Refreshed before sending: the transport resolves addresses from the configuration in effect,
        // which may have just gained the member these messages are for.
        this.statusCache = this.raft.status();
        await this.handleReady(rd);
        this.raft.advance(rd);
        this.afterReady();
        this.maybeSnapshot();
        if (this.closed) break;
      }
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      this.failure = err;
      this.log.error('raft driver stopped: storage or state machine failure', { err });
      this.onFatal(err);
    } finally {
      this.pumping = false;
    }
    if (this.inbox.length > 0 && !this.failure) this.schedulePump();
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.snapshot !== undefined) {
      const body = await this.storage.installReceivedSnapshot(rd.snapshot);
      await this.sm.restore(body);
      assert(this.sm.appliedIndex === rd.snapshot.index, () => `restored state is at ${this.sm.appliedIndex}, the snapshot at ${rd.snapshot?.index}`);
      this.appliedSinceSnapshotEntries = 0;
      this.appliedSinceSnapshotBytes = 0;
      // Writes whose index the snapshot covers: their outcome is not known here.
      for (const [index, w] of this.proposals) {
        if (index <= rd.snapshot.index) {
          clearTimeout(w.timer);
          this.proposals.delete(index);
          w.reject(new NodeError('maybe-committed', 'a snapshot replaced the log before the write was seen applied; it may have been committed'));
        }
      }
      this.log.info('installed snapshot from leader', { index: rd.snapshot.index, snapshotTerm: rd.snapshot.term });
    }
    // A leader's replication goes out while its own fsync runs; votes and acks wait for it.
    for (const m of rd.messagesBeforePersist) this.network.send(m);
    // Committed entries that are already durable here are applied (and their clients answered) while
    // the fsync runs: a quorum holds them durably, and the leader stepped the acknowledgements that
    // committed them only after its own fsync of them. Entries of this Ready wait for its fsync, which
    // also covers a single voter, whose own copy is its whole quorum.
    const firstNew = rd.entries[0]?.index ?? Number.POSITIVE_INFINITY;
    let applied = 0;
    while (applied < rd.committedEntries.length && (rd.committedEntries[applied] as Entry).index < firstNew) {
      this.apply(rd.committedEntries[applied] as Entry);
      applied++;
    }
    this.serveReads(rd);
    // A commit index alone needs no fsync (Raft recovers it from the leader); it is written with the
    // next entries or term change. Entries, term and vote must be durable before messages go out.
    const hs = rd.hardState;
    const termOrVote = hs !== undefined && (hs.term !== this.durableTerm || hs.vote !== this.durableVote);
    if (rd.entries.length > 0 || termOrVote) {
      await this.storage.append(rd.entries, hs);
      if (hs !== undefined) {
        this.durableTerm = hs.term;
        this.durableVote = hs.vote;
      }
    }
    for (const m of rd.messages) this.network.send(m);
    for (let i = applied; i < rd.committedEntries.length; i++) this.apply(rd.committedEntries[i] as Entry);
    this.releaseAppliedReads();
  }

  /** Confirmed reads run once the state machine has applied their index; dropped ones fail. */
  private serveReads(rd: Ready): void {
    for (const r of rd.readStates) {
      const w = this.reads.get(r.context);
      if (w === undefined) continue;
      if (this.sm.appliedIndex >= r.index) this.finishRead(r.context);
      else this.readsAwaitingApply.push({ context: r.context, index: r.index });
    }
    for (const c of rd.droppedReads) {
      const w = this.reads.get(c);
      if (w === undefined) continue;
      clearTimeout(w.timer);
      this.reads.delete(c);
      w.reject(new NodeError('read-dropped', 'leadership changed before the read was confirmed; retry'));
    }
    this.releaseAppliedReads();
  }

  private releaseAppliedReads(): void {
    if (this.readsAwaitingApply.length > 0) {
      const still: { context: string; index: LogIndex }[] = [];
      for (const r of this.readsAwaitingApply) {
        if (this.sm.appliedIndex >= r.index) this.finishRead(r.context);
        else still.push(r);
      }
      this.readsAwaitingApply = still;
    }
  }

  private finishRead(context: string): void {
    const w = this.reads.get(context);
    if (w === undefined) return;
    clearTimeout(w.timer);
    this.reads.delete(context);
    w.resolve();
  }

  private apply(e: Entry): void {
    let result: ApplyResult | undefined;
    if (e.kind === 'normal') {
      result = this.sm.apply(e.index, e.data);
      this.appliedSinceSnapshotBytes += e.data.byteLength;
    } else {
      this.sm.markApplied(e.index);
    }
    this.appliedSinceSnapshotEntries++;
    const w = this.proposals.get(e.index);
    if (w === undefined) return;
    this.proposals.delete(e.index);
    clearTimeout(w.timer);
    if (e.term === w.term) {
      this.metrics?.proposal('committed');
      this.metrics?.commitSeconds.observe((performance.now() - w.startedAt) / 1000);
      w.resolve(result);
    } else {
      this.metrics?.proposal('dropped');
      w.reject(new NodeError('proposal-dropped', 'a new leader replaced the write before it was committed; it was not applied, retry'));
    }
  }

  private afterReady(): void {
    this.statusCache = this.raft.status();
    const now = performance.now();
    for (const [id, p] of this.statusCache.progress) if (p.recentActive) this.peerAnsweredAt.set(id, now);
    const leader = this.statusCache.leader;
    if (leader !== this.lastLeader) {
      if (leader !== undefined) this.metrics?.leaderChanges.inc();
      this.log.info('leader changed', { leader: leader ?? null, previous: this.lastLeader ?? null });
      this.lastLeader = leader;
    }
    for (const l of this.changeListeners) l();
  }

  private async compactIfDue(): Promise<void> {
    const index = this.compactionDue;
    if (index === undefined) return;
    if (this.followerNeedsLogTo(index)) {
      this.compactionDeferredSince ??= performance.now();
      if (performance.now() - this.compactionDeferredSince < COMPACTION_DEFER_MAX_MS) return;
      this.log.warn('compacting the log although a follower has not caught up to it', { index, waitedMs: COMPACTION_DEFER_MAX_MS });
    }
    this.compactionDeferredSince = undefined;
    this.compactionDue = undefined;
    // A snapshot received from the leader meanwhile may already cover this one.
    if (this.raft.status().snapshotIndex >= index) return;
    this.raft.compact(index);
    this.statusCache = this.raft.status();
    await this.storage.compact(index);
    this.log.info('log compacted', { index });
  }

  private followerNeedsLogTo(index: LogIndex): boolean {
    // Only for a follower that answers: one that is down or cut off will need a newer snapshot anyway.
    const now = performance.now();
    for (const [id, p] of this.statusCache.progress) {
      if (id !== this.raft.id && p.match < index && now - (this.peerAnsweredAt.get(id) ?? -Infinity) < SNAPSHOT_PEER_ANSWERED_WITHIN_MS) return true;
    }
    return false;
  }

  /**
   * Starts a snapshot of the state machine when the thresholds are passed. The state is captured at
   * once and written in the background, so the Ready loop keeps serving; once the snapshot is durable,
   * the core and the WAL are compacted through the inbox. One snapshot at a time.
   */
  private maybeSnapshot(): void {
    if (this.snapshotInFlight !== undefined) return;
    const logBytes = this.appliedSinceSnapshotBytes;
    const f = this.snapshotJitter;
    const dueByEntries =
      this.appliedSinceSnapshotEntries >= this.options.snapshotThresholdEntries * f && logBytes >= this.storage.snapshotSizeBytes() * SNAPSHOT_LOG_TO_STATE_RATIO_MIN * f;
    if (!dueByEntries && logBytes < this.options.snapshotThresholdBytes * f) return;
    this.snapshotJitter = 1 + Math.random() * SNAPSHOT_THRESHOLD_JITTER;
    const index = this.sm.appliedIndex;
    const meta = this.raft.snapshotMetaAt(index);
    this.appliedSinceSnapshotEntries = 0;
    this.appliedSinceSnapshotBytes = 0;
    const started = performance.now();
    const writerReady = this.storage.createSnapshot(meta);
    // writeSnapshot captures the state synchronously, before its first await: it is the state at `index`.
    let bytes = 0;
    // The state machine's writer yields to the event loop between short slices of encoding.
    const written = this.sm.writeSnapshot(async (chunk) => {
      bytes += chunk.byteLength;
      return (await writerReady).write(chunk);
    });
    this.snapshotInFlight = (async () => {
      const writer = await writerReady;
      try {
        await written;
        await writer.commit();
      } catch (e) {
        await writer.abort();
        throw e;
      }
      // Compaction runs in the Ready loop, between two Readys, so that it is ordered with the
      // installation of snapshots received from the leader.
      this.compactionDue = index;
      this.log.info('snapshot written', { index, bytes, ms: Math.round(performance.now() - started) });
      this.schedulePump();
    })()
      .catch((e: unknown) => {
        if (this.closed) return;
        const err = e instanceof Error ? e : new Error(String(e));
        this.failure = err;
        this.log.error('raft driver stopped: the snapshot could not be written', { err });
        this.onFatal(err);
      })
      .finally(() => {
        this.snapshotInFlight = undefined;
      });
  }

  /** For messages that must reach the core from outside the network port (tests). */
  step(m: Message): void {
    this.enqueue(() => this.raft.step(m));
  }
}
