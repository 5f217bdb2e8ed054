// A linearizability checker in the manner of Porcupine: Wing & Gong's search with Lowe's
// memoization of (set of linearized operations, model state) pairs, run per partition.
//
// Operations whose outcome is unknown (pending) are handled apart: a client that times out leaves
// one that overlaps everything after it, and each would double the search space. They are optional
// (a pending operation may never have taken effect), and three rules prune the search:
// - a state is dropped when one already reached had linearized the same completed operations into
//   the same model state with a subset of the pending ones: it can do everything this one can, since
//   what it did not linearize may never have happened. Pending operations are tried only after every
//   completed one that could come next, so that the smaller sets tend to come first;
// - a pending operation that takes the state where the last completed operation left it to the same
//   state by itself is not tried after other pending ones (a blind write after a blind write);
// - pending operations with the same input and output are interchangeable once called, and are taken
//   in call order only.
//
// Contract for callers:
// - A history is a list of operations, each with the time its call was issued (`call`) and the
//   time its response arrived (`return`), on one clock. Two operations whose intervals overlap
//   (including touching end points) may be linearized in either order.
// - `return: Infinity` marks an operation whose outcome is unknown (the client timed out or lost
//   the connection): it may or may not have taken effect, at any time after `call` (a pending
//   operation in Herlihy & Wing's definition, which may be completed or left out). Pair it with an
//   output the model accepts unconditionally (for `kvModel`: `{ unknown: true }`).
// - The search is exponential in the worst case. It stops after `timeoutMs` of wall-clock time or
//   `stepsMax` search steps, whichever comes first, and then answers `{ kind: 'timeout' }`, so a
//   pathological history cannot hang a test run.
import { assert } from '../../src/raft/assert.js';

export interface Operation<I, O> {
  /** Which client issued the operation; used only for reporting. */
  clientId: number;
  input: I;
  /** When the call was issued. Invariant: finite and `call <= return`. */
  call: number;
  output: O;
  /** When the response arrived, or `Infinity` when the outcome is unknown. */
  return: number;
}

export interface Model<S, I, O> {
  init(): S;
  /** Applies `input` to `state`; `ok` says whether `output` is a legal response. Must not mutate `state`. */
  step(state: S, input: I, output: O): { ok: boolean; state: S };
  /** Splits a history into independent parts checked separately (for a KV store: one per key). */
  partition?(history: readonly Operation<I, O>[]): Operation<I, O>[][];
  /** A canonical encoding of a state: equal states must give equal keys (used for memoization). */
  key(state: S): string;
  describe?(input: I, output: O): string;
}

export type CheckResult =
  | { kind: 'ok' }
  /** `partition` is the index of a failing partition; `longestPrefix` the longest legal order found there. */
  | { kind: 'illegal'; partition: number; longestPrefix: string[] }
  | { kind: 'timeout' };

export interface CheckOptions {
  /** Wall-clock budget for the whole history, in milliseconds. */
  timeoutMs?: number;
  /** Search-step budget for the whole history: deterministic, unlike the time budget. */
  stepsMax?: number;
}

export const CHECK_TIMEOUT_DEFAULT_MS = 10_000;
export const CHECK_STEPS_DEFAULT_MAX = 50_000_000;
/** How many search steps run between two looks at the clock. */
const CLOCK_CHECK_INTERVAL_STEPS = 1024;

/** A node of the doubly linked list of call and return events, in time order. */
interface EventNode {
  /** The operation's position in its partition. */
  readonly op: number;
  readonly time: number;
  /** For a call event: its return event. For a return event: undefined. */
  readonly match: EventNode | undefined;
  prev: EventNode | undefined;
  next: EventNode | undefined;
}

class Budget {
  private steps = 0;
  private readonly deadline: number;
  constructor(
    timeoutMs: number,
    private readonly stepsMax: number,
  ) {
    this.deadline = performance.now() + timeoutMs;
  }
  /** Counts one step; false once the budget is spent. */
  spend(): boolean {
    this.steps += 1;
    if (this.steps > this.stepsMax) return false;
    return this.steps % CLOCK_CHECK_INTERVAL_STEPS !== 0 || performance.now() < this.deadline;
  }
}

export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  opts: CheckOptions = {},
): CheckResult {
  for (const op of history) {
    assert(Number.isFinite(op.call), () => `operation call time must be finite, got ${op.call}`);
    assert(op.call <= op.return, () => `operation returns (${op.return}) before its call (${op.call})`);
  }
  const budget = new Budget(opts.timeoutMs ?? CHECK_TIMEOUT_DEFAULT_MS, opts.stepsMax ?? CHECK_STEPS_DEFAULT_MAX);
  const partitions = model.partition ? model.partition(history) : [history.slice()];
  let timedOut = false;
  // Small partitions first: they are cheap, and one illegal partition decides the answer even
  // when a large one would exhaust the shared budget.
  const order = partitions.map((part, i) => ({ part, i })).sort((a, b) => a.part.length - b.part.length || a.i - b.i);
  for (const { part, i } of order) {
    const result = checkPartition(model, part, budget);
    if (result.kind === 'illegal') return { kind: 'illegal', partition: i, longestPrefix: result.longestPrefix };
    // A later partition may still prove the history illegal, which is the more useful answer.
    if (result.kind === 'timeout') timedOut = true;
  }
  return timedOut ? { kind: 'timeout' } : { kind: 'ok' };
}

type PartitionResult = { kind: 'ok' } | { kind: 'illegal'; longestPrefix: string[] } | { kind: 'timeout' };

/** The call and return events of the operations at `indexes` (completed ones), as a linked list. */
function buildEventList<I, O>(ops: readonly Operation<I, O>[], indexes: readonly number[]): EventNode {
  type Event = { time: number; isReturn: boolean; op: number };
  const events: Event[] = [];
  for (const i of indexes) {
    const op = ops[i];
    assert(op !== undefined, 'operation index in range');
    events.push({ time: op.call, isReturn: false, op: i }, { time: op.return, isReturn: true, op: i });
  }
  // At equal times calls come first, so operations that touch are treated as concurrent.
  // (Compared without subtraction: Infinity - Infinity is NaN.)
  events.sort((a, b) => {
    if (a.time === b.time) return Number(a.isReturn) - Number(b.isReturn) || a.op - b.op;
    return a.time < b.time ? -1 : 1;
  });
  const head: EventNode = { op: -1, time: -Infinity, match: undefined, prev: undefined, next: undefined };
  const returns = new Map<number, EventNode>();
  // Build back to front so that each call can point at its (later) return.
  let next: EventNode | undefined;
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    assert(e !== undefined, 'event index in range');
    const match = e.isReturn ? undefined : returns.get(e.op);
    assert(e.isReturn || match !== undefined, 'a call event follows its return in reverse order');
    const node: EventNode = { op: e.op, time: e.time, match, prev: undefined, next };
    if (next) next.prev = node;
    if (e.isReturn) returns.set(e.op, node);
    next = node;
  }
  head.next = next;
  if (next) next.prev = head;
  return head;
}

/** Removes a call event and its return event from the list. */
function lift(call: EventNode): void {
  const ret = call.match;
  assert(ret !== undefined && call.prev !== undefined, 'lift takes a linked call event');
  call.prev.next = call.next;
  if (call.next) call.next.prev = call.prev;
  assert(ret.prev !== undefined, 'a linked return event has a predecessor');
  ret.prev.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

/** Puts back what `lift` removed; undoes lifts in reverse order. */
function unlift(call: EventNode): void {
  const ret = call.match;
  assert(ret !== undefined && ret.prev !== undefined && call.prev !== undefined, 'unlift takes a lifted call event');
  ret.prev.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev.next = call;
  if (call.next) call.next.prev = call;
}

/**
 * The set of completed operations linearized so far. It keeps a 64-bit Zobrist hash of its members
 * (the XOR of a random code per operation), so that a memo key costs O(1) instead of O(n).
 */
class LinearizedSet {
  private readonly words: Uint32Array;
  private readonly codes: Uint32Array;
  private lo = 0;
  private hi = 0;
  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
    // Fixed seed: the same history is always searched the same way.
    let seed = 0x9e3779b9;
    this.codes = new Uint32Array(2 * size).map(() => {
      seed = (seed + 0x6d2b79f5) >>> 0;
      let t = seed;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return (t ^ (t >>> 14)) >>> 0;
    });
  }
  private flip(i: number): void {
    this.words[i >>> 5] = (this.words[i >>> 5] as number) ^ (1 << (i & 31));
    this.lo = (this.lo ^ (this.codes[2 * i] as number)) >>> 0;
    this.hi = (this.hi ^ (this.codes[2 * i + 1] as number)) >>> 0;
  }
  add(i: number): void {
    this.flip(i);
  }
  remove(i: number): void {
    this.flip(i);
  }
  /** The hash of the set with operation `extra` added (-1: as it is). */
  hashWith(extra: number): string {
    if (extra < 0) return `${this.lo}.${this.hi}`;
    return `${(this.lo ^ (this.codes[2 * extra] as number)) >>> 0}.${(this.hi ^ (this.codes[2 * extra + 1] as number)) >>> 0}`;
  }
  /** A copy of the members with `extra` added (-1: as it is). */
  copyWith(extra: number): Uint32Array {
    const copy = this.words.slice();
    if (extra >= 0) copy[extra >>> 5] = (copy[extra >>> 5] as number) | (1 << (extra & 31));
    return copy;
  }
  /** Whether the set with `extra` added (-1: as it is) has exactly the members of `copy`. */
  equalsWith(copy: Uint32Array, extra: number): boolean {
    for (let w = 0; w < this.words.length; w++) {
      let word = this.words[w] as number;
      if (extra >= 0 && extra >>> 5 === w) word = (word | (1 << (extra & 31))) >>> 0;
      if (word !== copy[w]) return false;
    }
    return true;
  }
}

/** A search state reached: its completed operations and the sets of pending ones it was reached with. */
interface MemoEntry {
  readonly members: Uint32Array;
  readonly pendingSets: bigint[];
}

/** Whether some set in `explored` is a subset of `set` (sets of optional operations as bit masks). */
function coveredBy(explored: readonly bigint[], set: bigint): boolean {
  for (const e of explored) if ((e & set) === e) return true;
  return false;
}

/** A choice the search made, with what it must restore when it backtracks. */
type SearchFrame<S> =
  | { readonly kind: 'completed'; readonly node: EventNode; readonly stateBefore: S; readonly pendingBefore: bigint; readonly runStartBefore: S }
  | { readonly kind: 'pending'; readonly at: number; readonly stateBefore: S; readonly pendingBefore: bigint; readonly runStartBefore: S };

function checkPartition<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[], budget: Budget): PartitionResult {
  const describe = (i: number): string => {
    const op = ops[i];
    assert(op !== undefined, 'operation index in range');
    const text = model.describe ? model.describe(op.input, op.output) : JSON.stringify({ input: op.input, output: op.output });
    return `client ${op.clientId} [${op.call}, ${op.return}]: ${text}`;
  };
  const completed: number[] = [];
  const pending: number[] = [];
  for (const [i, op] of ops.entries()) (op.return === Infinity ? pending : completed).push(i);
  // Pending operations in call order: the search may linearize one once its call precedes the
  // first return event still in the list.
  pending.sort((a, b) => (ops[a] as Operation<I, O>).call - (ops[b] as Operation<I, O>).call || a - b);
  const pendingCall = pending.map((i) => (ops[i] as Operation<I, O>).call);
  // Pending operations with the same input and output are interchangeable once called (say, two
  // timed-out deletes): the search takes them in call order only, so that it never explores the
  // same choices under other names. previousTwin[k] is the pending operation of k's kind just before it.
  const lastOfKind = new Map<string, number>();
  const previousTwin = pending.map((i, k) => {
    const op = ops[i] as Operation<I, O>;
    const kind = JSON.stringify([op.input, op.output]);
    const previous = lastOfKind.get(kind);
    lastOfKind.set(kind, k);
    return previous;
  });
  const head = buildEventList(ops, completed);
  let completedLeft = completed.length;
  // The completed operations linearized so far, and the pending ones (bit k: pending[k]).
  const linearized = new LinearizedSet(ops.length);
  let pendingDone = 0n;
  // For each (completed operations linearized, state) already reached, the sets of pending operations
  // it was reached with. Reaching it again with a superset of one of them cannot succeed.
  // Keyed by the members' hash and the state's key; entries tell colliding sets apart exactly.
  const seen = new Map<string, MemoEntry[]>();
  const stack: SearchFrame<S>[] = [];
  let longest: number[] = [];
  let state = model.init();
  /**
   * The state after the last completed operation linearized: pending operations linearized since
   * then form a run. A pending operation that would bring the run's start to the same state by
   * itself is not tried at the end of the run: the shorter path covers it.
   */
  let runStart = state;
  /**
   * The next event to look at: the call event of a completed operation is a candidate; the first
   * return event ends those candidates, and then the pending operations from `nextPending` on are.
   */
  let node = head.next;
  let nextPending = 0;

  /**
   * Moves to a new search state (the linearized completed operations plus `extra`, -1 for none)
   * unless one already reached covers it; false when it is covered.
   */
  const enter = (frame: SearchFrame<S>, extra: number, next: S, nextPendingDone: bigint): boolean => {
    const key = `${linearized.hashWith(extra)}\u0000${model.key(next)}`;
    let bucket = seen.get(key);
    let entry = bucket?.find((e) => linearized.equalsWith(e.members, extra));
    if (entry !== undefined && coveredBy(entry.pendingSets, nextPendingDone)) return false;
    if (entry === undefined) {
      entry = { members: linearized.copyWith(extra), pendingSets: [] };
      if (bucket === undefined) seen.set(key, (bucket = [entry]));
      else bucket.push(entry);
    }
    entry.pendingSets.push(nextPendingDone);
    stack.push(frame);
    if (stack.length > longest.length) longest = stack.map((f) => (f.kind === 'completed' ? f.node.op : (pending[f.at] as number)));
    state = next;
    pendingDone = nextPendingDone;
    node = head.next;
    nextPending = 0;
    return true;
  };

  while (completedLeft > 0) {
    if (!budget.spend()) return { kind: 'timeout' };
    if (node !== undefined && node.match !== undefined) {
      // The call event of a completed operation: try to linearize it now.
      const op = ops[node.op] as Operation<I, O>;
      const result = model.step(state, op.input, op.output);
      const call = node;
      if (result.ok && enter({ kind: 'completed', node: call, stateBefore: state, pendingBefore: pendingDone, runStartBefore: runStart }, call.op, result.state, pendingDone)) {
        runStart = state;
        linearized.add(call.op);
        completedLeft -= 1;
        lift(call);
        node = head.next;
        continue;
      }
      node = call.next;
      continue;
    }
    // Every completed operation that could come next was tried: now the pending ones whose call
    // precedes the first return event still in the list.
    if (node !== undefined) {
      const frontier = node.time;
      let tried = false;
      for (let k = nextPending; k < pending.length && (pendingCall[k] as number) <= frontier; k++) {
        const bit = 1n << BigInt(k);
        if ((pendingDone & bit) !== 0n) continue;
        const twin = previousTwin[k];
        if (twin !== undefined && (pendingDone & (1n << BigInt(twin))) === 0n) continue;
        const op = ops[pending[k] as number] as Operation<I, O>;
        const result = model.step(state, op.input, op.output);
        if (!result.ok) continue;
        if (runStart !== state) {
          const alone = model.step(runStart, op.input, op.output);
          if (alone.ok && model.key(alone.state) === model.key(result.state)) continue;
        }
        if (enter({ kind: 'pending', at: k, stateBefore: state, pendingBefore: pendingDone, runStartBefore: runStart }, -1, result.state, pendingDone | bit)) {
          tried = true;
          break;
        }
      }
      if (tried) continue;
    }
    // Nothing can come next here: undo the last choice and try its next alternative.
    const top = stack.pop();
    if (top === undefined) return { kind: 'illegal', longestPrefix: longest.map(describe) };
    state = top.stateBefore;
    pendingDone = top.pendingBefore;
    runStart = top.runStartBefore;
    if (top.kind === 'completed') {
      linearized.remove(top.node.op);
      completedLeft += 1;
      unlift(top.node);
      node = top.node.next;
      nextPending = 0;
    } else {
      node = firstReturn(head);
      nextPending = top.at + 1;
    }
  }
  return { kind: 'ok' };
}

/** The first return event of the list: every operation still in it must linearize before this one. */
function firstReturn(head: EventNode): EventNode | undefined {
  let n = head.next;
  while (n !== undefined && n.match !== undefined) n = n.next;
  return n;
}

// ---------------------------------------------------------------------------------------------
// The KV model used by the simulator and the process tests.

export type KvInput =
  | { op: 'put'; key: string; value: string }
  | { op: 'get'; key: string }
  | { op: 'delete'; key: string }
  /** `expected: undefined` means "only if the key is absent". */
  | { op: 'cas'; key: string; expected: string | undefined; value: string };

/**
 * The observed response. get → `value` (undefined when absent); cas → `ok`; delete → optionally
 * `ok` (whether the key existed; omit it if the API does not say); put → `{}`.
 * `{ unknown: true }` when the outcome is not known; use it with `return: Infinity`.
 */
export type KvOutput = { value?: string; ok?: boolean } | { unknown: true };

/** The state of one partition: the value of its single key. */
export type KvState = string | undefined;

function isUnknown(output: KvOutput): output is { unknown: true } {
  return 'unknown' in output && output.unknown;
}

function kvStep(state: KvState, input: KvInput, output: KvOutput): { ok: boolean; state: KvState } {
  const unknown = isUnknown(output);
  const known = unknown ? {} : (output as { value?: string; ok?: boolean });
  switch (input.op) {
    case 'put':
      return { ok: true, state: input.value };
    case 'get':
      return { ok: unknown || known.value === state, state };
    case 'delete':
      return { ok: unknown || known.ok === undefined || known.ok === (state !== undefined), state: undefined };
    case 'cas': {
      // Whether a cas succeeds is decided by the state at its linearization point, so an unknown
      // outcome needs no guess: it took effect exactly if the expectation held.
      const matches = state === input.expected;
      const next = matches ? input.value : state;
      return { ok: unknown || known.ok === matches, state: next };
    }
  }
}

function describeKv(input: KvInput, output: KvOutput): string {
  const out = isUnknown(output) ? '?' : JSON.stringify(output);
  switch (input.op) {
    case 'put':
      return `put(${JSON.stringify(input.key)}, ${JSON.stringify(input.value)}) -> ${out}`;
    case 'get':
      return `get(${JSON.stringify(input.key)}) -> ${out}`;
    case 'delete':
      return `delete(${JSON.stringify(input.key)}) -> ${out}`;
    case 'cas':
      return `cas(${JSON.stringify(input.key)}, ${JSON.stringify(input.expected)} => ${JSON.stringify(input.value)}) -> ${out}`;
  }
}

/** Linearizability of a KV store, checked per key (operations on distinct keys commute). */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => undefined,
  step: kvStep,
  partition(history) {
    const byKey = new Map<string, Operation<KvInput, KvOutput>[]>();
    for (const op of history) {
      const list = byKey.get(op.input.key);
      if (list) list.push(op);
      else byKey.set(op.input.key, [op]);
    }
    return [...byKey.values()];
  },
  // JSON distinguishes undefined (absent) from every string.
  key: (state) => (state === undefined ? 'absent' : JSON.stringify(state)),
  describe: describeKv,
};
