// The node's durable storage: one data directory holding the identity (meta.json), the lock, the
// WAL (wal/) and the snapshot files (snap/). See docs/storage.md.
//
// How the driver uses it, per Ready (src/raft/ready.ts):
//   1. rd.snapshot: its bytes were received into `snapshots.incoming(...)` and committed; then
//      `installSnapshot(rd.snapshot)` (the log is replaced; rd.entries follow it).
//   2. `append(rd.entries, rd.hardState)`; await it (with 1) before sending rd.messages.
// Calls are queued in call order and group-committed, so 1 and 2 may be issued back to back
// and share one fsync. A local snapshot: write it through `snapshots.create(meta)`, commit, then
// `compact(meta.index)`.
//
// Invariant after open: the WAL's snapshot marker names a committed, verified snapshot file, and
// no snapshot file is newer than the marker (a crash between the two steps leaves one, deleted here).
import { join } from 'node:path';
import { assert } from '../raft/assert.js';
import type { Entry, HardState, LogIndex, NodeId, SnapshotMeta } from '../raft/types.js';
import { DataDir } from './data-dir.js';
import { SnapshotCorruptionError, StorageError } from './errors.js';
import type { StorageFs } from './fs.js';
import { nodeFs } from './node-fs.js';
import { SnapshotStore } from './snapshot-store.js';
import type { BootState } from './wal-log.js';
import { openWal } from './wal.js';
import type { Wal } from './wal.js';

export const WAL_DIR = 'wal';
export const SNAPSHOT_DIR = 'snap';

export interface StorageOptions {
  readonly nodeId: NodeId;
  /** Checked against the stored one when both are known; recorded when only this one is. */
  readonly clusterId?: string;
  /** Duration of each WAL fdatasync in seconds (raft_wal_fsync_duration_seconds). */
  readonly onFsync?: (seconds: number) => void;
  /** What recovery repaired, one sentence each, as it happens (the node logs these as warnings). */
  readonly onNote?: (note: string) => void;
  /** Defaults to SEGMENT_SIZE_MAX_BYTES; tests lower it. */
  readonly segmentSizeMaxBytes?: number;
  /** The file system every file of the data directory is reached through; defaults to the process's (NodeFs). */
  readonly fs?: StorageFs;
}

export interface Storage {
  /** The canonical path of the data directory. */
  readonly dir: string;
  /** What the core starts from. */
  readonly boot: BootState;
  /** Everything recovery repaired on open (also passed to onNote). */
  readonly notes: readonly string[];
  /** Identity (node id, cluster id) and setClusterId(). */
  readonly dataDir: DataDir;
  /** Snapshot files: create() local snapshots, incoming() received ones, openLatest() to send or restore. */
  readonly snapshots: SnapshotStore;
  /** Durably appends entries (an entry at index i replaces stored entries from i on), then the hard state. */
  append(entries: readonly Entry[], hardState?: HardState): Promise<void>;
  /** Makes a received snapshot, already committed in `snapshots`, the node's snapshot; the log restarts after it. */
  installSnapshot(meta: SnapshotMeta): Promise<void>;
  /** After a local snapshot at `index` was committed in `snapshots`: records it, deletes WAL segments and snapshots no longer needed. */
  compact(index: LogIndex): Promise<void>;
  /** The index of the last entry appended (or of the snapshot when no entry follows it). */
  readonly lastIndex: LogIndex;
  /** Waits for pending appends, then releases the data directory. */
  close(): Promise<void>;
}

/** Opens (creating if empty) the data directory `dir` of node `options.nodeId` and recovers it. */
export async function openStorage(dir: string, options: StorageOptions): Promise<Storage> {
  const fs = options.fs ?? nodeFs;
  const dataDir = await DataDir.open(dir, { nodeId: options.nodeId, ...(options.clusterId === undefined ? {} : { clusterId: options.clusterId }) }, fs);
  const notes: string[] = [];
  const note = (text: string): void => {
    notes.push(text);
    options.onNote?.(text);
  };
  dataDir.notes.forEach(note);
  let wal: Wal | undefined;
  try {
    const opened = await SnapshotStore.open(join(dataDir.dir, SNAPSHOT_DIR), fs);
    const snapshots = opened.store;
    opened.notes.forEach(note);
    const recovered = await openWal(join(dataDir.dir, WAL_DIR), {
      fs,
      onNote: note,
      ...(options.onFsync === undefined ? {} : { onFsync: options.onFsync }),
      ...(options.segmentSizeMaxBytes === undefined ? {} : { segmentSizeMaxBytes: options.segmentSizeMaxBytes }),
    });
    wal = recovered.wal;
    // snap/ and wal/ may have been created by a process that died before fsyncing their entries.
    await fs.fsyncDir(dataDir.dir);
    await reconcileSnapshots(snapshots, recovered.boot.snapshot, note);
    return new DurableStorage(dataDir, snapshots, recovered.wal, recovered.boot, notes);
  } catch (e) {
    await wal?.close();
    await dataDir.close();
    throw e;
  }
}

async function reconcileSnapshots(snapshots: SnapshotStore, marker: SnapshotMeta | undefined, note: (text: string) => void): Promise<void> {
  for (const file of await snapshots.list()) {
    const newer = marker === undefined || file.index > marker.index || (file.index === marker.index && file.term !== marker.term);
    if (!newer) continue;
    await snapshots.remove(file);
    note(`deleted snapshot ${file.file}: it was written but a crash came before the WAL recorded it`);
  }
  if (marker === undefined) return;
  const reader = await snapshots.open(marker.index, marker.term);
  if (reader === undefined) {
    throw new StorageError(
      'snapshot-missing',
      `the WAL in this data directory records a snapshot at index ${marker.index} (term ${marker.term}), but its file is missing from ${snapshots.dir}. Remove the data directory and re-add the node.`,
    );
  }
  if (JSON.stringify(reader.meta.membership) !== JSON.stringify(marker.membership)) {
    throw new SnapshotCorruptionError(reader.file, 'its membership differs from the one the WAL recorded for it');
  }
}

class DurableStorage implements Storage {
  constructor(
    readonly dataDir: DataDir,
    readonly snapshots: SnapshotStore,
    private readonly wal: Wal,
    readonly boot: BootState,
    readonly notes: readonly string[],
  ) {}

  get dir(): string {
    return this.dataDir.dir;
  }

  get lastIndex(): LogIndex {
    return this.wal.lastIndex;
  }

  append(entries: readonly Entry[], hardState?: HardState): Promise<void> {
    return this.wal.append(entries, hardState);
  }

  installSnapshot(meta: SnapshotMeta): Promise<void> {
    // Queued synchronously, so an append() issued right after lands behind it.
    const recorded = this.wal.recordSnapshot(meta, false);
    return recorded.then(async () => {
      assert((await this.snapshots.open(meta.index, meta.term, { verifyBody: false })) !== undefined, () => `install a snapshot only after committing it: none at index ${meta.index}, term ${meta.term}`);
      await this.snapshots.prune(meta);
    });
  }

  async compact(index: LogIndex): Promise<void> {
    const file = (await this.snapshots.list()).find((s) => s.index === index);
    assert(file !== undefined, () => `compact(${index}) needs a committed snapshot at that index`);
    const reader = await this.snapshots.open(file.index, file.term, { verifyBody: false });
    assert(reader !== undefined, () => `snapshot ${file.file} vanished while compacting`);
    await this.wal.recordSnapshot(reader.meta, true);
    await this.wal.compact(index);
    await this.snapshots.prune(reader.meta);
  }

  async close(): Promise<void> {
    await this.wal.close();
    await this.dataDir.close();
  }
}
