// Raft's safety properties, checked incrementally after every step of a simulated world. Each
// check is fed by the driver at the moment the state it looks at changes (entries persisted, hard
// state persisted, an entry applied, a node observed as leader), so a whole run stays cheap.
import type { Entry, HardState, LogIndex, NodeId, Role, Term } from '../../src/raft/types.js';
import type { Disk } from './disk.js';

export type InvariantName =
  | 'election-safety'
  | 'log-matching'
  | 'leader-completeness'
  | 'committed-never-lost'
  | 'state-machine-safety'
  | 'one-membership-change'
  | 'term-monotonic'
  | 'commit-monotonic'
  | 'snapshot-agreement'
  | 'liveness'
  | 'linearizability'
  | 'driver';

export class InvariantViolation extends Error {
  override readonly name = 'InvariantViolation';
  constructor(
    readonly invariant: InvariantName,
    readonly step: number,
    readonly detail: string,
  ) {
    super(`invariant=${invariant} step=${step}: ${detail}`);
  }
}

interface EntryFingerprint {
  readonly kind: Entry['kind'];
  readonly data: string;
  /** The term of the entry just before it: together with induction this pins the whole prefix. */
  readonly prevTerm: Term;
}

const decoder = new TextDecoder();

function fingerprint(e: Entry, prevTerm: Term): EntryFingerprint {
  return { kind: e.kind, data: decoder.decode(e.data), prevTerm };
}

export class Invariants {
  /** The step being checked; the world sets it before each event. */
  step = 0;
  /** Who led each term. */
  private readonly leaders = new Map<Term, NodeId>();
  /** Every (index, term) ever persisted anywhere, with what it holds. Entries of one (index, term) never change. */
  private readonly logEntries = new Map<string, EntryFingerprint>();
  /** The term of each committed index, as far as known (index 0 unused). */
  private readonly committedTerms: (Term | undefined)[] = [];
  /** The highest commit index any node has made durable. */
  maxCommit = 0;
  /** What was applied at each index, by whoever applied it first. */
  private readonly applied: (EntryFingerprint | undefined)[] = [];
  /** The first snapshot bytes seen at each index. */
  private readonly snapshots = new Map<number, string>();

  fail(invariant: InvariantName, detail: string): never {
    throw new InvariantViolation(invariant, this.step, detail);
  }

  /** Entries just made durable on `node` (the disk already holds them). */
  onEntriesPersisted(node: NodeId, disk: Disk, entries: readonly Entry[]): void {
    for (const e of entries) {
      const prevTerm = disk.termAt(e.index - 1);
      if (prevTerm === undefined) continue; // its predecessor is compacted: checked when it was appended
      const key = `${e.index}:${e.term}`;
      const fp = fingerprint(e, prevTerm);
      const known = this.logEntries.get(key);
      if (known === undefined) this.logEntries.set(key, fp);
      else if (known.prevTerm !== fp.prevTerm || known.kind !== fp.kind || known.data !== fp.data)
        this.fail('log-matching', `${node} persisted entry ${key} (prev term ${fp.prevTerm}, ${fp.kind}) but another log holds ${key} with prev term ${known.prevTerm}, ${known.kind}`);
    }
    this.checkPendingConfigs(node, disk);
  }

  /** At most one config entry beyond the committed prefix: changes go one at a time. */
  private checkPendingConfigs(node: NodeId, disk: Disk): void {
    let pending = 0;
    for (let i = disk.configIndexes.length - 1; i >= 0; i--) {
      if ((disk.configIndexes[i] as number) <= this.maxCommit) break;
      pending++;
    }
    if (pending > 1)
      this.fail('one-membership-change', `${node}'s log holds ${pending} uncommitted config entries (at ${disk.configIndexes.slice(-pending).join(', ')}; max commit ${this.maxCommit})`);
  }

  /** A hard state about to replace `prev` on `node`'s disk (whose entries are already durable). */
  onHardStatePersisted(node: NodeId, prev: HardState, next: HardState, disk: Disk): void {
    if (next.term < prev.term) this.fail('term-monotonic', `${node} persisted term ${next.term} after ${prev.term}`);
    if (next.commit < prev.commit) this.fail('commit-monotonic', `${node} persisted commit ${next.commit} after ${prev.commit}`);
    if (next.commit > disk.lastIndex) this.fail('committed-never-lost', `${node} persisted commit ${next.commit} beyond its last durable index ${disk.lastIndex}`);
    for (let i = this.maxCommit + 1; i <= next.commit; i++) this.recordCommitted(node, i, disk.termAt(i));
    if (next.commit > this.maxCommit) this.maxCommit = next.commit;
  }

  /** A snapshot installed from a leader carries a committed index too. */
  onSnapshotInstalled(node: NodeId, at: LogIndex, atTerm: Term, bytes: Uint8Array): void {
    this.recordCommitted(node, at, atTerm);
    this.onSnapshotBytes(node, at, bytes);
  }

  private recordCommitted(node: NodeId, i: number, t: Term | undefined): void {
    if (t === undefined) return;
    const known = this.committedTerms[i];
    if (known === undefined) this.committedTerms[i] = t;
    else if (known !== t) this.fail('state-machine-safety', `${node} committed index ${i} with term ${t}, but term ${known} was committed there before`);
  }

  /** Replicas at one index must hold byte-identical state. */
  onSnapshotBytes(node: NodeId, at: LogIndex, bytes: Uint8Array): void {
    const text = decoder.decode(bytes);
    const known = this.snapshots.get(at);
    if (known === undefined) this.snapshots.set(at, text);
    else if (known !== text) this.fail('snapshot-agreement', `${node}'s state at ${at} differs from another replica's: ${text} vs ${known}`);
  }

  /** `node`'s state machine applies `e`. */
  onApply(node: NodeId, e: Entry): void {
    const fp = fingerprint(e, e.term); // prevTerm is not known here; compare on term in its place
    const known = this.applied[e.index];
    if (known === undefined) this.applied[e.index] = fp;
    else if (known.prevTerm !== fp.prevTerm || known.kind !== fp.kind || known.data !== fp.data)
      this.fail('state-machine-safety', `${node} applied ${e.kind} entry ${e.index} of term ${e.term}; another node applied term ${known.prevTerm} (${known.kind}) there`);
    const committed = this.committedTerms[e.index];
    if (committed !== undefined && committed !== e.term)
      this.fail('state-machine-safety', `${node} applied entry ${e.index} of term ${e.term}, but term ${committed} is committed there`);
  }

  /** The term applied at index i (first seen), for clients deciding a proposal's outcome. */
  appliedTerm(i: number): Term | undefined {
    return this.applied[i]?.prevTerm;
  }

  /** Called for every node whose role or term changed in this step. */
  onRole(node: NodeId, role: Role, t: Term, disk: Disk): void {
    if (role !== 'leader') return;
    const known = this.leaders.get(t);
    if (known !== undefined && known !== node) this.fail('election-safety', `${node} and ${known} both lead term ${t}`);
    if (known === node) return;
    this.leaders.set(t, node);
    // Leader completeness and durability of commits: the new leader's durable log holds every
    // entry ever committed (checked against the durable log, not the in-memory one).
    if (disk.lastIndex < this.maxCommit)
      this.fail('committed-never-lost', `${node} leads term ${t} with last durable index ${disk.lastIndex} < max commit ${this.maxCommit}`);
    for (let i = Math.max(disk.snapshotIndex, 1); i <= this.maxCommit; i++) {
      const want = this.committedTerms[i];
      const have = disk.termAt(i);
      if (want !== undefined && have !== want)
        this.fail('leader-completeness', `${node} leads term ${t} but holds term ${have} at committed index ${i} (committed term ${want})`);
    }
  }

  leaderOf(t: Term): NodeId | undefined {
    return this.leaders.get(t);
  }

  get termsWithLeader(): number {
    return this.leaders.size;
  }
}
