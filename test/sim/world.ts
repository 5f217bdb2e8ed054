// A simulated cluster: N Raft cores, each with a simulated disk and a KV state machine, joined by a
// faulty network, all driven by one seeded PRNG and one event queue. A step pops the earliest event
// (a node's tick, a message delivery or a scheduled action), runs it, drives every affected node
// through the Ready contract and checks the invariants. Same seed and same calls ⇒ same run.
import { assert } from '../../src/raft/assert.js';
import { RaftError } from '../../src/raft/errors.js';
import { Raft, bootstrapState, decodeMembership, emptyBootState } from '../../src/raft/index.js';
import type { RaftBootState, RaftStatus } from '../../src/raft/index.js';
import type { RaftOptions } from '../../src/raft/config.js';
import type { Ready } from '../../src/raft/ready.js';
import type { Entry, Member, Membership, Message, NodeId, ReadState, Role, SnapshotMeta, Term } from '../../src/raft/types.js';
import { nodeId, term } from '../../src/raft/types.js';
import type { KvOutput } from '../lincheck/index.js';
import { liveRivalConfiguration } from './config-rivals.js';
import { Disk } from './disk.js';
import { Invariants, InvariantViolation } from './invariants.js';
import { KvStateMachine } from './kv.js';
import type { Envelope, NetworkFaults } from './network.js';
import { Network, RELIABLE_NETWORK } from './network.js';
import { Prng } from './prng.js';
import { brokenPromise } from './promises.js';
import { EventQueue } from './queue.js';

/** Simulated milliseconds per Raft tick. */
export const TICK_MS = 10;
export const ELECTION_TIMEOUT_TICKS = 10;
export const HEARTBEAT_INTERVAL_TICKS = 2;
/** A Ready loop that never drains means the core keeps producing output on its own: a bug. */
const READY_ROUNDS_MAX = 1000;

/** Where an armed crash hits while the node processes its next Ready. */
export type CrashPoint = 'before-persist' | 'before-send' | 'before-advance';

export interface WorldConfig {
  readonly seed: number;
  /** Founding voters, named n1..nK. */
  readonly nodes: number;
  readonly network?: NetworkFaults;
  /** A node may snapshot once it applied this many entries past its snapshot (undefined: never). */
  readonly snapshotEveryEntries?: number;
  readonly electionTimeoutTicks?: number;
  readonly heartbeatIntervalTicks?: number;
  readonly raft?: Partial<Pick<RaftOptions, 'preVote' | 'checkQuorum' | 'appendEntriesMaxCount' | 'inflightAppendsMax'>>;
  /** Receives one line per event. */
  readonly trace?: (line: string) => void;
  /**
   * A broken disk, to prove the checks catch the loss it causes: on a crash it forgets this many
   * entries from the end of its log, though they were reported durable.
   */
  readonly lyingDiskEntries?: number;
}

type SimEvent =
  | { readonly kind: 'tick'; readonly id: NodeId; readonly incarnation: number }
  | { readonly kind: 'deliver'; readonly envelope: Envelope }
  | { readonly kind: 'action'; readonly label: string; readonly run: () => void };

export type NodeState = 'running' | 'crashed' | 'stopped';

export type ReadResult = { readonly kind: 'ok'; readonly value: string | undefined } | { readonly kind: 'dropped' } | { readonly kind: 'lost' };

interface ReadWaiter {
  readonly key: string;
  readonly done: (r: ReadResult) => void;
  index: number | undefined;
}

export class SimNode {
  readonly disk = new Disk();
  raft: Raft | undefined;
  sm = new KvStateMachine();
  state: NodeState = 'crashed';
  incarnation = 0;
  crashPoint: CrashPoint | undefined;
  role: Role | undefined;
  term: Term = term(0);
  /** Snapshot bytes received with install-snapshot messages, by "index:term" (volatile). */
  readonly incoming = new Map<string, Uint8Array>();
  readonly reads = new Map<string, ReadWaiter>();
  constructor(readonly id: NodeId) {}
}

export function memberOf(id: NodeId, role: Member['role'] = 'voter'): Member {
  return { id, address: `${id}.sim:7000`, role };
}

export class World {
  readonly rng: Prng;
  readonly network: Network;
  readonly invariants: Invariants = new Invariants();
  readonly nodes = new Map<NodeId, SimNode>();
  private readonly queue = new EventQueue<SimEvent>();
  now = 0;
  steps = 0;
  private readonly electionTimeoutTicks: number;
  private readonly heartbeatIntervalTicks: number;
  /** Called once per index, when the first node applies it. */
  onCommit: ((e: Entry, output: KvOutput | undefined) => void) | undefined;
  /** The newest configuration applied anywhere, and its index. */
  committedMembership: { index: number; membership: Membership } = { index: 0, membership: { members: [] } };
  /** Snapshots taken (locally) and installed (from a leader), for scenario assertions. */
  snapshotsTaken = 0;
  snapshotsInstalled = 0;

  constructor(readonly config: WorldConfig) {
    this.rng = new Prng(config.seed);
    this.network = new Network(this.rng.fork(), (at, d) => this.queue.push(at, { kind: 'deliver', envelope: d.envelope }), { ...(config.network ?? RELIABLE_NETWORK) });
    this.electionTimeoutTicks = config.electionTimeoutTicks ?? ELECTION_TIMEOUT_TICKS;
    this.heartbeatIntervalTicks = config.heartbeatIntervalTicks ?? HEARTBEAT_INTERVAL_TICKS;
    const founders = Array.from({ length: config.nodes }, (_, i) => memberOf(nodeId(`n${i + 1}`)));
    for (const m of founders) this.create(m.id, bootstrapState(founders));
  }

  // ------------------------------------------------------------------ node lifecycle

  /** A new node whose disk holds `boot`; it starts at once. */
  create(id: NodeId, boot: RaftBootState = emptyBootState()): SimNode {
    assert(!this.nodes.has(id), `node ${id} exists`);
    const node = new SimNode(id);
    node.disk.hardState = boot.hardState;
    node.disk.append(boot.entries);
    this.nodes.set(id, node);
    this.start(node);
    return node;
  }

  node(id: NodeId | string): SimNode {
    const n = this.nodes.get(id as NodeId);
    assert(n !== undefined, `no node ${id}`);
    return n;
  }

  private start(node: SimNode): void {
    const d = node.disk;
    node.sm = new KvStateMachine();
    if (d.snapshot !== undefined) node.sm.restore(d.snapshot.bytes);
    const boot: RaftBootState = { hardState: d.hardState, snapshot: d.snapshot?.meta, entries: [...d.entries], applied: d.snapshotIndex };
    node.raft = new Raft(
      {
        id: node.id,
        electionTimeoutTicks: this.electionTimeoutTicks,
        heartbeatIntervalTicks: this.heartbeatIntervalTicks,
        random: this.rng.fork(),
        ...this.config.raft,
      },
      boot,
    );
    node.state = 'running';
    node.incarnation++;
    node.crashPoint = undefined;
    node.role = undefined;
    this.queue.push(this.now + this.rng.between(1, TICK_MS), { kind: 'tick', id: node.id, incarnation: node.incarnation });
    this.observe(node);
  }

  /** Loses everything but the disk. */
  crash(id: NodeId | string, why = 'crash'): void {
    const node = this.node(id);
    if (node.state !== 'running') return;
    this.trace(`${why} ${node.id}`);
    this.halt(node, 'crashed');
  }

  /** Removed from the cluster: never restarted. */
  stop(id: NodeId | string): void {
    const node = this.node(id);
    if (node.state === 'stopped') return;
    this.trace(`stop ${node.id}`);
    this.halt(node, 'stopped');
  }

  private halt(node: SimNode, state: NodeState): void {
    const lost = this.config.lyingDiskEntries ?? 0;
    if (lost > 0 && state === 'crashed') node.disk.forgetTail(lost);
    node.raft = undefined;
    node.state = state;
    node.incarnation++;
    node.incoming.clear();
    const waiters = [...node.reads.values()];
    node.reads.clear();
    for (const w of waiters) this.later(0, 'read-lost', () => w.done({ kind: 'lost' }));
    node.role = undefined;
  }

  restart(id: NodeId | string): void {
    const node = this.node(id);
    if (node.state !== 'crashed') return;
    this.trace(`restart ${node.id} term=${node.disk.hardState.term} commit=${node.disk.hardState.commit} snapshot=${node.disk.snapshotIndex} last=${node.disk.lastIndex}`);
    this.start(node);
  }

  /** The node crashes at `point` while processing its next Ready. */
  armCrash(id: NodeId | string, point: CrashPoint): void {
    const node = this.node(id);
    if (node.state === 'running') node.crashPoint = point;
  }

  running(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.state === 'running');
  }

  // ------------------------------------------------------------------ the event loop

  /** Runs `run` at now + delayMs as one step. */
  later(delayMs: number, label: string, run: () => void): void {
    this.queue.push(this.now + delayMs, { kind: 'action', label, run });
  }

  /** Processes one event; false when nothing is left to do. */
  step(): boolean {
    const next = this.queue.pop();
    if (next === undefined) return false;
    this.now = next.time;
    this.steps++;
    this.invariants.step = this.steps;
    const ev = next.event;
    switch (ev.kind) {
      case 'tick': {
        const node = this.nodes.get(ev.id);
        if (node?.raft === undefined || node.incarnation !== ev.incarnation) break;
        this.trace(`tick ${node.id}`);
        node.raft.tick();
        this.queue.push(this.now + TICK_MS, ev);
        this.settle(node);
        break;
      }
      case 'deliver':
        this.deliver(ev.envelope);
        break;
      case 'action':
        ev.run();
        this.settleAll();
        break;
    }
    return true;
  }

  /** Runs until simulated time reaches now + ms. */
  runFor(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const t = this.queue.peekTime();
      if (t === undefined || t > end) break;
      this.step();
    }
    this.now = Math.max(this.now, end);
  }

  /** Runs until `done()` holds (checked after each step) or `ms` pass; returns whether it held. */
  runUntil(done: () => boolean, ms: number): boolean {
    const end = this.now + ms;
    while (!done()) {
      const t = this.queue.peekTime();
      if (t === undefined || t > end) {
        this.now = Math.max(this.now, end);
        return done();
      }
      this.step();
    }
    return true;
  }

  private settle(node: SimNode): void {
    this.drain(node);
    this.observe(node);
  }

  private settleAll(): void {
    for (const n of this.nodes.values()) if (n.state === 'running') this.settle(n);
  }

  private observe(node: SimNode): void {
    if (node.raft === undefined) return;
    const st = node.raft.status();
    if (st.role === node.role && st.term === node.term) return;
    node.role = st.role;
    node.term = st.term;
    this.trace(`role ${node.id} ${st.role} term=${st.term} last=${st.lastIndex} commit=${st.commit}`);
    this.invariants.onRole(node.id, st.role, st.term, node.disk);
  }

  private deliver(env: Envelope): void {
    const m = env.message;
    const lost = this.network.blocked(m.from, m.to);
    if (!this.network.arrive(env)) {
      this.trace(`lose ${describeMessage(m)} (${lost ?? 'blocked'})`);
      return;
    }
    const node = this.nodes.get(m.to);
    if (node?.raft === undefined) {
      this.trace(`lose ${describeMessage(m)} (${m.to} down)`);
      return;
    }
    this.trace(`deliver ${describeMessage(m)}`);
    if (m.type === 'install-snapshot') {
      assert(env.snapshotBytes !== undefined, 'install-snapshot without bytes');
      node.incoming.set(snapshotKey(m.snapshot), env.snapshotBytes);
    }
    node.raft.step(m);
    this.settle(node);
  }

  // ------------------------------------------------------------------ the Ready contract

  private drain(node: SimNode): void {
    for (let rounds = 0; node.raft !== undefined && node.raft.hasReady(); rounds++) {
      if (rounds >= READY_ROUNDS_MAX) this.invariants.fail('driver', `${node.id} still has a Ready after ${READY_ROUNDS_MAX} rounds`);
      const raft = node.raft;
      const rd = raft.ready();
      // As the node does: a leader's replication goes out in parallel with its own fsync.
      for (const m of rd.messagesBeforePersist) this.send(node, m);
      if (node.crashPoint === 'before-persist') return this.crash(node.id, 'crash(before-persist)');
      this.persist(node, rd);
      if (node.crashPoint === 'before-send') return this.crash(node.id, 'crash(before-send)');
      for (const m of rd.messages) this.send(node, m);
      for (const e of rd.committedEntries) this.apply(node, e);
      for (const rs of rd.readStates) this.readState(node, rs);
      for (const ctx of rd.droppedReads) this.readDone(node, ctx, { kind: 'dropped' });
      if (node.crashPoint === 'before-advance') return this.crash(node.id, 'crash(before-advance)');
      raft.advance(rd);
      this.maybeSnapshot(node, raft);
    }
  }

  private persist(node: SimNode, rd: Ready): void {
    const d = node.disk;
    if (rd.snapshot !== undefined) {
      const bytes = node.incoming.get(snapshotKey(rd.snapshot));
      if (bytes === undefined) this.invariants.fail('driver', `${node.id} was told to install snapshot ${snapshotKey(rd.snapshot)} it never received`);
      d.installSnapshot({ meta: rd.snapshot, bytes });
      const at = node.sm.restore(bytes);
      if (at !== rd.snapshot.index) this.invariants.fail('driver', `snapshot ${snapshotKey(rd.snapshot)} holds state at ${at}`);
      this.snapshotsInstalled++;
      this.trace(`install-snapshot ${node.id} at=${rd.snapshot.index} term=${rd.snapshot.term}`);
      this.invariants.onSnapshotInstalled(node.id, rd.snapshot.index, rd.snapshot.term, bytes);
    }
    if (rd.entries.length > 0) {
      d.append(rd.entries);
      this.invariants.onEntriesPersisted(node.id, d, rd.entries);
      const st = rd.entries.some((e) => e.kind === 'config') ? node.raft?.status() : undefined;
      const rival = st?.role === 'leader' ? liveRivalConfiguration(node.id, st.term, rd.entries, this.nodes) : undefined;
      if (rival !== undefined) this.invariants.fail('one-membership-change', rival);
    }
    if (rd.hardState !== undefined) {
      this.invariants.onHardStatePersisted(node.id, d.hardState, rd.hardState, d);
      d.hardState = rd.hardState;
    }
  }

  private send(node: SimNode, m: Message): void {
    const broken = brokenPromise(m, node.disk);
    if (broken !== undefined) this.invariants.fail('driver', `a message left before what it promises was durable: ${broken}`);
    let bytes: Uint8Array | undefined;
    if (m.type === 'install-snapshot') {
      const s = node.disk.snapshot;
      if (s === undefined || s.meta.index !== m.snapshot.index || s.meta.term !== m.snapshot.term)
        this.invariants.fail('driver', `${node.id} sends snapshot ${snapshotKey(m.snapshot)} but its disk holds ${s === undefined ? 'none' : snapshotKey(s.meta)}`);
      bytes = s.bytes;
    }
    const { copies } = this.network.send(this.now, { message: m, snapshotBytes: bytes });
    if (copies === 0) this.trace(`drop ${describeMessage(m)}`);
    else if (copies > 1) this.trace(`duplicate ${describeMessage(m)}`);
  }

  private apply(node: SimNode, e: Entry): void {
    const first = this.invariants.appliedTerm(e.index) === undefined;
    this.invariants.onApply(node.id, e);
    const output = node.sm.apply(e);
    if (e.kind === 'config' && e.index > this.committedMembership.index) {
      this.committedMembership = { index: e.index, membership: decodeMembership(e.data) };
    }
    if (first) {
      this.trace(`commit ${e.index} term=${e.term} ${e.kind}${e.kind === 'normal' ? ` ${new TextDecoder().decode(e.data)}` : ''}`);
      this.onCommit?.(e, output);
    }
    for (const [ctx, w] of node.reads) if (w.index !== undefined && w.index <= node.sm.applied) this.readDone(node, ctx, { kind: 'ok', value: node.sm.get(w.key) });
  }

  private readState(node: SimNode, rs: ReadState): void {
    const w = node.reads.get(rs.context);
    if (w === undefined) return;
    w.index = rs.index;
    if (rs.index <= node.sm.applied) this.readDone(node, rs.context, { kind: 'ok', value: node.sm.get(w.key) });
  }

  private readDone(node: SimNode, ctx: string, r: ReadResult): void {
    const w = node.reads.get(ctx);
    if (w === undefined) return;
    node.reads.delete(ctx);
    // Callers react in a later step: a callback must not re-enter a core mid-Ready.
    this.later(0, 'read-done', () => w.done(r));
  }

  private maybeSnapshot(node: SimNode, raft: Raft): void {
    const every = this.config.snapshotEveryEntries;
    if (every === undefined || node.sm.applied - node.disk.snapshotIndex < every) return;
    const meta = raft.snapshotMetaAt(node.sm.applied);
    const bytes = node.sm.snapshot();
    this.invariants.onSnapshotBytes(node.id, meta.index, bytes);
    node.disk.compactTo({ meta, bytes });
    raft.compact(meta.index);
    this.snapshotsTaken++;
    this.trace(`snapshot ${node.id} at=${meta.index} term=${meta.term}`);
  }

  // ------------------------------------------------------------------ client-facing operations

  /** Proposes on `id` (which must be running); throws the core's RaftError. */
  propose(id: NodeId | string, data: Uint8Array): { index: number; term: Term } {
    const node = this.node(id);
    assert(node.raft !== undefined, `propose on ${id}, which is ${node.state}`);
    const t = node.raft.propose(data);
    this.trace(`propose ${id} index=${t.index} term=${t.term}`);
    this.settle(node);
    return t;
  }

  /** Starts a ReadIndex read of `key` on `id`; `done` runs in a later step. Throws the core's RaftError. */
  read(id: NodeId | string, ctx: string, key: string, done: (r: ReadResult) => void): void {
    const node = this.node(id);
    assert(node.raft !== undefined, `read on ${id}, which is ${node.state}`);
    assert(!node.reads.has(ctx), `read context ${ctx} reused`);
    node.raft.readIndex(ctx);
    node.reads.set(ctx, { key, done, index: undefined });
    this.trace(`read ${id} ${ctx} key=${key}`);
    this.settle(node);
  }

  /** Runs `fn` against a running node's core and settles it; RaftErrors are returned, not thrown. */
  withCore<T>(id: NodeId | string, what: string, fn: (raft: Raft) => T): T | RaftError {
    const node = this.node(id);
    assert(node.raft !== undefined, `${what} on ${id}, which is ${node.state}`);
    try {
      const r = fn(node.raft);
      this.trace(`${what} ${id}`);
      return r;
    } catch (err) {
      if (err instanceof RaftError) {
        this.trace(`${what} ${id} refused: ${err.code}`);
        return err;
      }
      throw err;
    } finally {
      this.settle(node);
    }
  }

  status(id: NodeId | string): RaftStatus | undefined {
    return this.nodes.get(id as NodeId)?.raft?.status();
  }

  /** The running leaders, highest term first. */
  leaders(): SimNode[] {
    return this.running()
      .filter((n) => n.role === 'leader')
      .sort((a, b) => b.term - a.term);
  }

  /** The leader of the highest term among running nodes, if any. */
  leader(): SimNode | undefined {
    return this.leaders()[0];
  }

  // ------------------------------------------------------------------ tracing

  trace(line: string): void {
    this.config.trace?.(`${this.steps} t=${this.now} ${line}`);
  }

  /** Tags an error thrown by a step with where it happened. */
  violationFrom(err: unknown): InvariantViolation {
    if (err instanceof InvariantViolation) return err;
    const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return new InvariantViolation('driver', this.steps, msg);
  }
}

export function snapshotKey(s: SnapshotMeta): string {
  return `${s.index}:${s.term}`;
}

/** A short, stable description of a message for traces. */
export function describeMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'pre-vote':
    case 'vote':
      return `${head} last=${m.lastIndex}/${m.lastTerm}`;
    case 'pre-vote-response':
    case 'vote-response':
      return `${head}${m.reject ? ' reject' : ' grant'}`;
    case 'append':
      return `${head} prev=${m.prevIndex}/${m.prevTerm} n=${m.entries.length} commit=${m.commit}`;
    case 'append-response':
      return `${head}${m.reject ? ` reject=${m.index} hint=${m.hintIndex}/${m.hintTerm}` : ` ok=${m.index}`}`;
    case 'heartbeat':
      return `${head} commit=${m.commit} round=${m.readRound}`;
    case 'heartbeat-response':
      return `${head} round=${m.readRound}`;
    case 'install-snapshot':
      return `${head} snap=${m.snapshot.index}/${m.snapshot.term}`;
    case 'timeout-now':
      return head;
  }
}


