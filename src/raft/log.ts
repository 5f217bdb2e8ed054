// The replicated log as the core sees it: a compacted prefix described by (baseIndex, baseTerm,
// baseMembership), the entries after it (in memory), and three cursors:
//
//   applied <= committed <= lastIndex,  stable <= lastIndex
//
// `stable` is how far the driver has made entries durable; entries after it are handed out in the
// next Ready. Ranges are half-open: entries(lo, hi) is [lo, hi).
import { assert } from './assert.js';
import { decodeMembership } from './membership.js';
import type { Entry, LogIndex, Membership, SnapshotMeta, Term } from './types.js';

export class RaftLog {
  /** The index covered by the compacted prefix (the latest local snapshot, or 0). */
  private baseIndex: LogIndex;
  private baseTerm: Term;
  /** The configuration in effect at baseIndex. */
  private baseMembership: Membership;
  /** Invariant: entries[i].index === baseIndex + 1 + i. */
  private entriesAfterBase: Entry[];
  committed: LogIndex;
  applied: LogIndex;
  stable: LogIndex;
  /** A snapshot received from the leader, to be handed to the driver in the next Ready. */
  pendingSnapshot: SnapshotMeta | undefined;
  /** Index of the newest local snapshot the driver holds (for install-snapshot messages). */
  snapshot: SnapshotMeta | undefined;

  constructor(snapshot: SnapshotMeta | undefined, baseMembership: Membership, entries: readonly Entry[], committed: LogIndex, applied: LogIndex) {
    this.snapshot = snapshot;
    this.baseIndex = snapshot?.index ?? (0 as LogIndex);
    this.baseTerm = snapshot?.term ?? (0 as Term);
    this.baseMembership = snapshot?.membership ?? baseMembership;
    this.entriesAfterBase = [...entries];
    entries.forEach((e, i) => assert(e.index === this.baseIndex + 1 + i, () => `log: boot entries not contiguous at ${e.index}`));
    this.stable = this.lastIndex();
    assert(committed <= this.lastIndex(), () => `log: commit ${committed} beyond last index ${this.lastIndex()}`);
    this.committed = Math.max(committed, this.baseIndex) as LogIndex;
    this.applied = Math.max(applied, this.baseIndex) as LogIndex;
    assert(this.applied <= this.committed, () => `log: applied ${this.applied} beyond commit ${this.committed}`);
    this.pendingSnapshot = undefined;
  }

  firstIndex(): LogIndex {
    return (this.baseIndex + 1) as LogIndex;
  }

  lastIndex(): LogIndex {
    return (this.baseIndex + this.entriesAfterBase.length) as LogIndex;
  }

  lastTerm(): Term {
    return this.term(this.lastIndex()) as Term;
  }

  snapshotIndex(): LogIndex {
    return this.baseIndex;
  }

  /** The term at index i, or undefined when i is compacted away or beyond the end. */
  term(i: LogIndex): Term | undefined {
    if (i === this.baseIndex) return this.baseTerm;
    if (i < this.baseIndex || i > this.lastIndex()) return undefined;
    return this.entriesAfterBase[i - this.baseIndex - 1]?.term;
  }

  matchTerm(i: LogIndex, t: Term): boolean {
    return this.term(i) === t;
  }

  /** Whether a candidate's log (lastIndex, lastTerm) is at least as up to date as ours (§5.4.1). */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  entry(i: LogIndex): Entry | undefined {
    if (i <= this.baseIndex) return undefined;
    return this.entriesAfterBase[i - this.baseIndex - 1];
  }

  /** Entries [lo, hi), limited to maxCount and about maxBytes (at least one entry when any). */
  entries(lo: LogIndex, hi: LogIndex, maxCount = Number.MAX_SAFE_INTEGER, maxBytes = Number.MAX_SAFE_INTEGER): Entry[] {
    assert(lo > this.baseIndex, () => `log: entries from ${lo} are compacted (first index ${this.firstIndex()})`);
    assert(hi <= this.lastIndex() + 1, () => `log: entries up to ${hi} beyond last index ${this.lastIndex()}`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi && out.length < maxCount; i++) {
      const e = this.entriesAfterBase[i - this.baseIndex - 1];
      assert(e !== undefined, 'log: hole in entries');
      if (out.length > 0 && bytes + e.data.byteLength > maxBytes) break;
      bytes += e.data.byteLength;
      out.push(e);
    }
    return out;
  }

  /** Appends entries that follow the last one (the leader's own proposals). */
  appendOwn(entries: readonly Entry[]): void {
    for (const e of entries) {
      assert(e.index === this.lastIndex() + 1, () => `log: own entry ${e.index} does not follow ${this.lastIndex()}`);
      this.entriesAfterBase.push(e);
    }
  }

  /**
   * A leader's entries following prevIndex, whose term matched. Skips what we already have, truncates
   * a conflicting suffix, appends the rest. Returns the last index now known to match the leader's,
   * and whether any configuration entry was removed or added (the membership must be recomputed).
   */
  appendFromLeader(prevIndex: LogIndex, entries: readonly Entry[]): { lastNew: LogIndex; configChanged: boolean } {
    let configChanged = false;
    let k = 0;
    // Entries already compacted into our snapshot are committed and hence identical: skip them.
    while (k < entries.length && (entries[k] as Entry).index <= this.baseIndex) k++;
    for (; k < entries.length; k++) {
      const e = entries[k] as Entry;
      const mine = this.term(e.index);
      if (mine === e.term) continue;
      if (mine !== undefined) {
        assert(e.index > this.committed, () => `log: leader entry ${e.index}@${e.term} conflicts with committed entry @${mine}`);
        const dropped = this.entriesAfterBase.splice(e.index - this.baseIndex - 1);
        if (dropped.some((d) => d.kind === 'config')) configChanged = true;
        if (this.stable >= e.index) this.stable = (e.index - 1) as LogIndex;
      }
      for (; k < entries.length; k++) {
        const n = entries[k] as Entry;
        assert(n.index === this.lastIndex() + 1, 'log: leader entries not contiguous');
        this.entriesAfterBase.push(n);
        if (n.kind === 'config') configChanged = true;
      }
      break;
    }
    return { lastNew: (prevIndex + entries.length) as LogIndex, configChanged };
  }

  /**
   * Fast backtracking: the largest index <= i whose term is <= t, with its term. A leader uses it on a
   * follower's hint (and a follower on a leader's prevTerm) to skip a whole term of conflicts at once.
   */
  findConflictByTerm(i: LogIndex, t: Term): { index: LogIndex; term: Term } {
    let idx = Math.min(i, this.lastIndex());
    for (; idx > this.baseIndex; idx--) {
      const et = this.term(idx as LogIndex) as Term;
      if (et <= t) return { index: idx as LogIndex, term: et };
    }
    if (idx === this.baseIndex && this.baseTerm <= t) return { index: this.baseIndex, term: this.baseTerm };
    return { index: this.baseIndex, term: 0 as Term };
  }

  commitTo(i: LogIndex): boolean {
    if (i <= this.committed) return false;
    assert(i <= this.lastIndex(), () => `log: commit ${i} beyond last index ${this.lastIndex()}`);
    this.committed = i;
    return true;
  }

  /** Entries not yet durable, to be handed out in a Ready. */
  unstableEntries(): Entry[] {
    if (this.stable >= this.lastIndex()) return [];
    return this.entriesAfterBase.slice(this.stable - this.baseIndex);
  }

  /** Committed entries not yet handed out, about maxBytes at most (at least one when any). */
  nextCommitted(maxBytes: number): Entry[] {
    if (this.applied >= this.committed) return [];
    return this.entries((this.applied + 1) as LogIndex, (this.committed + 1) as LogIndex, Number.MAX_SAFE_INTEGER, maxBytes);
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  restore(s: SnapshotMeta): void {
    this.baseIndex = s.index;
    this.baseTerm = s.term;
    this.baseMembership = s.membership;
    this.entriesAfterBase = [];
    this.committed = s.index;
    this.applied = s.index;
    this.stable = s.index;
    this.pendingSnapshot = s;
    this.snapshot = s;
  }

  /** Drops entries up to i (inclusive) after the driver stored a snapshot at i. */
  compact(s: SnapshotMeta): void {
    const i = s.index;
    assert(i <= this.applied, () => `log: compact at ${i} beyond applied ${this.applied}`);
    assert(i <= this.stable, () => `log: compact at ${i} beyond stable ${this.stable}`);
    this.snapshot = s;
    if (i <= this.baseIndex) return;
    assert(this.term(i) === s.term, () => `log: snapshot term ${s.term} at ${i} disagrees with log`);
    this.entriesAfterBase = this.entriesAfterBase.slice(i - this.baseIndex);
    this.baseIndex = i;
    this.baseTerm = s.term;
    this.baseMembership = s.membership;
  }

  /** The configuration in effect after index i: the newest config entry at or before i, else the base. */
  membershipAt(i: LogIndex): { membership: Membership; index: LogIndex } {
    assert(i >= this.baseIndex, () => `log: membership at ${i} is compacted`);
    for (let j = Math.min(i, this.lastIndex()); j > this.baseIndex; j--) {
      const e = this.entriesAfterBase[j - this.baseIndex - 1] as Entry;
      if (e.kind === 'config') return { membership: decodeMembership(e.data), index: e.index };
    }
    return { membership: this.baseMembership, index: this.baseIndex };
  }
}
