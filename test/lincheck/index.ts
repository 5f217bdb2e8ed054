// A linearizability checker in the manner of Porcupine: Wing & Gong's search with Lowe's
// memoization of (set of linearized operations, model state) pairs, run per partition.
//
// Contract for callers:
// - A history is a list of operations, each with the time its call was issued (`call`) and the
//   time its response arrived (`return`), on one clock. Two operations whose intervals overlap
//   (including touching end points) may be linearized in either order.
// - `return: Infinity` marks an operation whose outcome is unknown (the client timed out or lost
//   the connection): it may or may not have taken effect, at any time after `call`. Pair it with
//   an output the model accepts unconditionally (for `kvModel`: `{ unknown: true }`). Because its
//   return lies after every other event, the search may place it after everything else, which is
//   exactly "it never took effect" as far as any observer can tell.
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

function buildEventList<I, O>(ops: readonly Operation<I, O>[]): EventNode {
  type Event = { time: number; isReturn: boolean; op: number };
  const events: Event[] = [];
  for (const [i, op] of ops.entries()) {
    events.push({ time: op.call, isReturn: false, op: i }, { time: op.return, isReturn: true, op: i });
  }
  // At equal times calls come first, so operations that touch are treated as concurrent.
  // (Compared without subtraction: Infinity - Infinity is NaN.)
  events.sort((a, b) => {
    if (a.time === b.time) return Number(a.isReturn) - Number(b.isReturn) || a.op - b.op;
    return a.time < b.time ? -1 : 1;
  });
  const head: EventNode = { op: -1, match: undefined, prev: undefined, next: undefined };
  const returns = new Map<number, EventNode>();
  // Build back to front so that each call can point at its (later) return.
  let next: EventNode | undefined;
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    assert(e !== undefined, 'event index in range');
    const match = e.isReturn ? undefined : returns.get(e.op);
    assert(e.isReturn || match !== undefined, 'a call event follows its return in reverse order');
    const node: EventNode = { op: e.op, match, prev: undefined, next };
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

const BITSET_KEY_CHUNK_WORDS = 4096;

/** A fixed-size bit set whose string form is the memoization key. */
class BitSet {
  private readonly words: Uint16Array;
  constructor(size: number) {
    this.words = new Uint16Array(Math.ceil(size / 16));
  }
  set(i: number): void {
    this.words[i >> 4] = (this.words[i >> 4] ?? 0) | (1 << (i & 15));
  }
  clear(i: number): void {
    this.words[i >> 4] = (this.words[i >> 4] ?? 0) & ~(1 << (i & 15));
  }
  /** The set's contents as a string, with bit i additionally set. */
  keyWith(i: number): string {
    this.set(i);
    let key = '';
    // Chunked: spreading a huge array into one call would overflow the stack.
    for (let at = 0; at < this.words.length; at += BITSET_KEY_CHUNK_WORDS) {
      key += String.fromCharCode(...this.words.subarray(at, at + BITSET_KEY_CHUNK_WORDS));
    }
    this.clear(i);
    return key;
  }
}

function checkPartition<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[], budget: Budget): PartitionResult {
  const describe = (i: number): string => {
    const op = ops[i];
    assert(op !== undefined, 'operation index in range');
    const text = model.describe ? model.describe(op.input, op.output) : JSON.stringify({ input: op.input, output: op.output });
    return `client ${op.clientId} [${op.call}, ${op.return}]: ${text}`;
  };
  const head = buildEventList(ops);
  const linearized = new BitSet(ops.length);
  // Every (linearized set, state) pair already explored: reaching one again cannot succeed.
  const seen = new Set<string>();
  // The search stack: each linearized call event and the state before it.
  const stack: { node: EventNode; stateBefore: S }[] = [];
  let longest: number[] = [];
  let state = model.init();
  let node = head.next;
  while (head.next !== undefined) {
    if (!budget.spend()) return { kind: 'timeout' };
    assert(node !== undefined, 'the list ends with a return event, so the walk stops before its end');
    const op = ops[node.op];
    assert(op !== undefined, 'event refers to an operation of this partition');
    if (node.match !== undefined) {
      // A call event: try to linearize its operation now.
      const result = model.step(state, op.input, op.output);
      if (result.ok) {
        const memo = `${linearized.keyWith(node.op)}\u0000${model.key(result.state)}`;
        if (!seen.has(memo)) {
          seen.add(memo);
          stack.push({ node, stateBefore: state });
          if (stack.length > longest.length) longest = stack.map((s) => s.node.op);
          state = result.state;
          linearized.set(node.op);
          lift(node);
          node = head.next;
          continue;
        }
      }
      node = node.next;
    } else {
      // A return event: some operation must have been linearized before it. Backtrack.
      const top = stack.pop();
      if (top === undefined) return { kind: 'illegal', longestPrefix: longest.map(describe) };
      state = top.stateBefore;
      linearized.clear(top.node.op);
      unlift(top.node);
      node = top.node.next;
    }
  }
  return { kind: 'ok' };
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
