// A node's simulated stable storage: hard state, a log that starts after the snapshot, and the
// snapshot with its bytes. It survives crashes; everything else about a node does not.
import { assert } from '../../src/raft/assert.js';
import type { Entry, HardState, LogIndex, SnapshotMeta, Term } from '../../src/raft/types.js';
import { index, term } from '../../src/raft/types.js';

export interface StoredSnapshot {
  readonly meta: SnapshotMeta;
  readonly bytes: Uint8Array;
}

export class Disk {
  hardState: HardState = { term: term(0), vote: undefined, commit: index(0) };
  snapshot: StoredSnapshot | undefined;
  /** Invariant: contiguous, the first at snapshotIndex + 1. */
  private log: Entry[] = [];
  /** Indexes of config entries in `log`, ascending. */
  configIndexes: LogIndex[] = [];

  get snapshotIndex(): LogIndex {
    return this.snapshot?.meta.index ?? index(0);
  }

  get lastIndex(): LogIndex {
    return index(this.snapshotIndex + this.log.length);
  }

  get entries(): readonly Entry[] {
    return this.log;
  }

  /** The term at i, or undefined when i is compacted away (below the snapshot) or beyond the log. */
  termAt(i: number): Term | undefined {
    if (i === 0) return term(0);
    if (i === this.snapshotIndex) return this.snapshot?.meta.term;
    return this.log[i - this.snapshotIndex - 1]?.term;
  }

  entryAt(i: number): Entry | undefined {
    return this.log[i - this.snapshotIndex - 1];
  }

  /** Durably appends; an entry at index i replaces every stored entry at >= i. */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index > this.snapshotIndex, () => `append at ${first.index} is inside the snapshot (${this.snapshotIndex})`);
    assert(first.index <= this.lastIndex + 1, () => `append at ${first.index} leaves a gap after ${this.lastIndex}`);
    this.log.length = first.index - this.snapshotIndex - 1;
    this.configIndexes = this.configIndexes.filter((i) => i < first.index);
    for (const e of entries) {
      assert(e.index === this.lastIndex + 1, () => `entries to persist are not contiguous at ${e.index}`);
      this.log.push(e);
      if (e.kind === 'config') this.configIndexes.push(e.index);
    }
  }

  /**
   * Makes `s` the current snapshot. Entries after it survive only if the log agrees with the
   * snapshot at its index (then they are the same history); otherwise the log is discarded.
   */
  installSnapshot(s: StoredSnapshot): void {
    const keep = this.termAt(s.meta.index) === s.meta.term && s.meta.index <= this.lastIndex;
    const rest = keep ? this.log.slice(s.meta.index - this.snapshotIndex) : [];
    this.snapshot = s;
    this.log = rest;
    this.configIndexes = keep ? this.configIndexes.filter((i) => i > s.meta.index) : [];
  }

  /** Models a disk that lied about fsync: the last `n` entries vanish (never below the snapshot). */
  forgetTail(n: number): void {
    const keep = Math.max(0, this.log.length - n);
    this.log.length = keep;
    this.configIndexes = this.configIndexes.filter((i) => i <= this.lastIndex);
    if (this.hardState.commit > this.lastIndex) this.hardState = { ...this.hardState, commit: this.lastIndex };
  }

  /** A local snapshot at an index this node applied: drop the log up to it. */
  compactTo(s: StoredSnapshot): void {
    assert(s.meta.index >= this.snapshotIndex && s.meta.index <= this.lastIndex, () => `compaction to ${s.meta.index} outside [${this.snapshotIndex}, ${this.lastIndex}]`);
    assert(this.termAt(s.meta.index) === s.meta.term, () => `snapshot term ${s.meta.term} differs from the log's at ${s.meta.index}`);
    this.installSnapshot(s);
  }
}
