// What a sequence of WAL records means: the pure replay rules shared by recovery (which rebuilds
// the whole log) and the writer (which tracks only the log's tip to check its callers).
import { assert, assertNever } from '../raft/assert.js';
import type { Entry, HardState, LogIndex, SnapshotMeta } from '../raft/types.js';
import { index as toIndex, term as toTerm } from '../raft/types.js';
import type { WalRecord } from './wal-record.js';

export const INITIAL_HARD_STATE: HardState = { term: toTerm(0), vote: undefined, commit: toIndex(0) };

/** What the driver hands the core at start. */
export interface BootState {
  readonly hardState: HardState;
  /** The installed snapshot, if any. */
  readonly snapshot: SnapshotMeta | undefined;
  /** Invariant: contiguous, starting at snapshot.index + 1 (or 1 without a snapshot). */
  readonly entries: readonly Entry[];
}

/**
 * Rebuilds the log from records in the order they were written. `apply` returns a reason when
 * a record cannot follow the ones before it (the log would have a gap); the caller turns that
 * into an error naming the file and offset.
 *
 * Replay may start at a segment whose predecessors compaction deleted, so the first entry seen
 * may lie after the latest snapshot marker seen so far; `finish()` checks that the log is
 * contiguous with the final snapshot.
 */
export class LogReplay {
  private hardState: HardState = INITIAL_HARD_STATE;
  private snapshot: SnapshotMeta | undefined;
  // Invariant: contiguous indexes.
  private entries: Entry[] = [];

  apply(record: WalRecord): string | undefined {
    switch (record.type) {
      case 'hard-state':
        this.hardState = record.hardState;
        return undefined;
      case 'snapshot': {
        const { snapshot, retainsLog } = record;
        if (this.snapshot !== undefined && snapshot.index < this.snapshot.index) {
          return `snapshot marker at index ${snapshot.index} follows one at ${this.snapshot.index}`;
        }
        this.snapshot = snapshot;
        this.entries = retainsLog ? this.entries.filter((e) => e.index > snapshot.index) : [];
        return undefined;
      }
      case 'entry': {
        const { entry } = record;
        // Obsolete: covered by the snapshot. The writer never produces these; tolerated as they change nothing.
        if (this.snapshot !== undefined && entry.index <= this.snapshot.index) return undefined;
        const first = this.entries[0];
        if (first === undefined || entry.index < first.index) {
          this.entries = [entry];
          return undefined;
        }
        const last = first.index + this.entries.length - 1;
        if (entry.index > last + 1) return `entry ${entry.index} follows entry ${last}: entries ${last + 1}..${entry.index - 1} are missing`;
        this.entries.length = entry.index - first.index; // suffix replacement
        this.entries.push(entry);
        return undefined;
      }
      default:
        return assertNever(record, 'WAL record');
    }
  }

  /** The boot state, or a reason why the replayed log is not contiguous with its snapshot. */
  finish(): BootState | string {
    const expectedFirst = (this.snapshot?.index ?? 0) + 1;
    const first = this.entries[0];
    if (first !== undefined && first.index !== expectedFirst) {
      return `the log starts at entry ${first.index} but the snapshot ends at ${expectedFirst - 1}: entries ${expectedFirst}..${first.index - 1} are missing`;
    }
    return { hardState: this.hardState, snapshot: this.snapshot, entries: this.entries };
  }
}

/**
 * The tip of the log as the writer sees it: enough to name segments, write segment headers and
 * check that callers append what Raft allows. Holds no entries.
 */
export class LogTip {
  hardState: HardState = INITIAL_HARD_STATE;
  snapshot: SnapshotMeta | undefined;
  /** The index of the last entry, or of the snapshot when no entry follows it. */
  lastIndex: LogIndex = toIndex(0);

  static fromBoot(boot: BootState): LogTip {
    const tip = new LogTip();
    tip.hardState = boot.hardState;
    tip.snapshot = boot.snapshot;
    tip.lastIndex = toIndex(boot.entries.at(-1)?.index ?? boot.snapshot?.index ?? 0);
    return tip;
  }

  /** Asserts that `record` may follow the records so far (programmer errors), then applies it. */
  apply(record: WalRecord): void {
    switch (record.type) {
      case 'hard-state':
        assert(record.hardState.term >= this.hardState.term, () => `hard state term went back from ${this.hardState.term} to ${record.hardState.term}`);
        this.hardState = record.hardState;
        return;
      case 'snapshot': {
        const { snapshot, retainsLog } = record;
        assert(
          this.snapshot === undefined || snapshot.index >= this.snapshot.index,
          () => `snapshot at ${snapshot.index} is older than the installed one at ${this.snapshot?.index}`,
        );
        if (retainsLog) {
          assert(snapshot.index <= this.lastIndex, () => `a local snapshot at ${snapshot.index} lies beyond the last entry ${this.lastIndex}`);
        } else {
          this.lastIndex = snapshot.index;
        }
        this.snapshot = snapshot;
        return;
      }
      case 'entry': {
        const i = record.entry.index;
        assert(i <= this.lastIndex + 1, () => `entry ${i} would leave a gap after the last entry ${this.lastIndex}`);
        assert(i > (this.snapshot?.index ?? 0), () => `entry ${i} lies inside the snapshot ending at ${this.snapshot?.index}`);
        assert(i > this.hardState.commit || i > this.lastIndex, () => `entry ${i} would replace a committed entry (commit ${this.hardState.commit})`);
        this.lastIndex = i;
        return;
      }
      default:
        assertNever(record, 'WAL record');
    }
  }

  /** Records that bring a replay starting at a new segment up to this tip (segment header). */
  headerRecords(): WalRecord[] {
    const out: WalRecord[] = [{ type: 'hard-state', hardState: this.hardState }];
    // retainsLog: replayed after earlier segments, the marker is already applied and this is a no-op;
    // replayed first, there are no entries yet to keep or drop.
    if (this.snapshot !== undefined) out.push({ type: 'snapshot', snapshot: this.snapshot, retainsLog: true });
    return out;
  }
}
