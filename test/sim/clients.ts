// Simulated KV clients. Each runs one operation at a time against the node it believes leads,
// follows not-leader hints, and records a history (simulated call/return times) for the
// linearizability checker. A write whose fate is still unknown at its deadline is recorded with
// return = Infinity; a read that never returned is left out (it changed nothing).
import { RaftError } from '../../src/raft/errors.js';
import type { NodeId, Term } from '../../src/raft/types.js';
import type { KvInput, KvOutput, Operation } from '../lincheck/index.js';
import type { KvWrite } from './kv.js';
import { encodeCommand } from './kv.js';
import type { Prng } from './prng.js';
import type { ReadResult, World } from './world.js';

/** How long a client waits for an operation before giving up on knowing its outcome. */
export const CLIENT_TIMEOUT_MS = 1500;
/** Pause before retrying elsewhere after a refusal. */
export const CLIENT_RETRY_MS = 20;
/** Pause between two operations of one client (upper bound; the actual pause is random). */
export const CLIENT_THINK_MAX_MS = 60;
export const CLIENT_KEYS = ['a', 'b', 'c'] as const;
/**
 * Operations all clients of one world start, at most: bounds the history the linearizability checker
 * gets (whose search grows with the operations on one key and exponentially with the timed-out ones).
 * Far above what the default worlds record (at most ~430 with 7 nodes and 5 s of faults).
 */
export const CLIENT_OPERATIONS_PER_WORLD_MAX = 1500;

export type KvOperation = Operation<KvInput, KvOutput>;

interface InFlight {
  readonly seq: number;
  readonly input: KvInput;
  readonly call: number;
  attempt: number;
  /** Writes: the entry proposed by the current attempt. */
  ticket: { index: number; term: Term } | undefined;
}

interface Client {
  readonly id: number;
  leaderGuess: NodeId | undefined;
  seq: number;
  op: InFlight | undefined;
}

export class Clients {
  readonly history: KvOperation[] = [];
  private readonly clients: Client[];
  /** Writes waiting for their index to be applied somewhere. */
  private readonly byIndex = new Map<number, Client[]>();
  private running = false;
  private started = 0;
  completed = 0;
  unknown = 0;

  constructor(
    private readonly world: World,
    private readonly rng: Prng,
    count: number,
  ) {
    this.clients = Array.from({ length: count }, (_, id) => ({ id, leaderGuess: undefined, seq: 0, op: undefined }));
    world.onCommit = (e, output) => this.committed(e.index, e.term, output);
  }

  start(): void {
    this.running = true;
    for (const c of this.clients) this.world.later(this.rng.between(1, CLIENT_THINK_MAX_MS), `client ${c.id}`, () => this.next(c));
  }

  /** No new operations; those in flight still finish or time out. */
  stop(): void {
    this.running = false;
  }

  get idle(): boolean {
    return this.clients.every((c) => c.op === undefined);
  }

  private next(c: Client): void {
    if (!this.running || c.op !== undefined || this.started >= CLIENT_OPERATIONS_PER_WORLD_MAX) return;
    this.started++;
    c.seq++;
    const input = this.randomInput(c);
    const op: InFlight = { seq: c.seq, input, call: this.world.now, attempt: 0, ticket: undefined };
    c.op = op;
    this.world.later(CLIENT_TIMEOUT_MS, `client ${c.id} timeout`, () => this.timeout(c, op));
    this.attempt(c);
  }

  private randomInput(c: Client): KvInput {
    const key = this.rng.pick(CLIENT_KEYS);
    const value = `${c.id}.${c.seq}`;
    const r = this.rng.nextInt(10);
    if (r < 4) return { op: 'get', key };
    if (r < 7) return { op: 'put', key, value };
    if (r < 9) return { op: 'cas', key, expected: this.rng.chance(0.3) ? undefined : `${this.rng.nextInt(this.clients.length)}.${Math.max(1, c.seq - this.rng.nextInt(3))}`, value };
    return { op: 'delete', key };
  }

  private target(c: Client): NodeId | undefined {
    const up = this.world.running();
    const guess = up.find((n) => n.id === c.leaderGuess);
    if (guess !== undefined) return guess.id;
    return up.length === 0 ? undefined : this.rng.pick(up).id;
  }

  private attempt(c: Client): void {
    const op = c.op;
    if (op === undefined) return;
    op.attempt++;
    op.ticket = undefined;
    const id = this.target(c);
    if (id === undefined) return this.retry(c, op);
    try {
      if (op.input.op === 'get') {
        const ctx = `c${c.id}.${op.seq}.${op.attempt}`;
        const attempt = op.attempt;
        this.world.read(id, ctx, op.input.key, (r) => this.readDone(c, op, attempt, r));
      } else {
        const input: KvWrite = op.input;
        const t = this.world.propose(id, encodeCommand({ clientId: c.id, input }));
        op.ticket = t;
        this.byIndex.set(t.index, [...(this.byIndex.get(t.index) ?? []), c]);
      }
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      c.leaderGuess = err.code === 'not-leader' && err.leader !== undefined && err.leader !== id ? err.leader : undefined;
      this.retry(c, op);
    }
  }

  private retry(c: Client, op: InFlight): void {
    this.world.later(CLIENT_RETRY_MS, `client ${c.id} retry`, () => {
      if (c.op === op) this.attempt(c);
    });
  }

  private readDone(c: Client, op: InFlight, attempt: number, r: ReadResult): void {
    if (c.op !== op || op.attempt !== attempt) return;
    if (r.kind === 'ok') this.finish(c, op, { value: r.value });
    else {
      c.leaderGuess = undefined;
      this.retry(c, op);
    }
  }

  /** The first application of `index` anywhere decides the fate of the write proposed there. */
  private committed(index: number, t: Term, output: KvOutput | undefined): void {
    const waiting = this.byIndex.get(index) ?? [];
    this.byIndex.delete(index);
    for (const c of waiting) this.decide(c, index, t, output);
  }

  private decide(c: Client, index: number, t: Term, output: KvOutput | undefined): void {
    const op = c.op;
    if (op?.ticket === undefined || op.ticket.index !== index) return;
    if (op.ticket.term === t) {
      this.world.later(0, `client ${c.id} done`, () => {
        if (c.op === op) this.finish(c, op, output ?? {});
      });
    } else {
      // Another entry took the index: this attempt can never commit, so trying again is safe.
      c.leaderGuess = undefined;
      op.ticket = undefined;
      this.retry(c, op);
    }
  }

  private timeout(c: Client, op: InFlight): void {
    if (c.op !== op) return;
    if (op.input.op !== 'get' && op.ticket !== undefined) {
      // Earlier attempts were refused or lost their index for good; this one may still commit.
      this.history.push({ clientId: c.id, input: op.input, call: op.call, output: { unknown: true }, return: Infinity });
      this.unknown++;
    }
    this.done(c);
  }

  private finish(c: Client, op: InFlight, output: KvOutput): void {
    this.history.push({ clientId: c.id, input: op.input, call: op.call, output, return: this.world.now });
    this.completed++;
    this.done(c);
  }

  private done(c: Client): void {
    c.op = undefined;
    if (this.running) this.world.later(this.rng.between(1, CLIENT_THINK_MAX_MS), `client ${c.id}`, () => this.next(c));
  }
}
