// Operating errors of the storage layer. Each has a stable `code` that callers switch on
// (the node maps them to exit messages and metrics); the message says what to do.

export type StorageErrorCode =
  /** The WAL holds damage that no crash leaves (not a torn tail): see WalCorruptionError. */
  | 'wal-corrupt'
  /** The WAL's records are individually valid but describe an impossible log (a gap, a missing segment). */
  | 'wal-inconsistent'
  /** A write or fsync of the WAL failed; the WAL refuses further writes until the process restarts. */
  | 'wal-failed'
  /** The storage (or one of its parts) was used after close(). */
  | 'storage-closed'
  /** A snapshot file fails its header or body checksum, or its size is wrong: see SnapshotCorruptionError. */
  | 'snapshot-corrupt'
  /** The WAL names an installed snapshot whose file is not in the snapshot directory. */
  | 'snapshot-missing'
  /** A received snapshot chunk does not continue where the previous one ended. */
  | 'snapshot-offset-mismatch'
  /** A received snapshot was committed before all of its bytes arrived, or got more bytes than announced. */
  | 'snapshot-incomplete'
  /** A received snapshot's bytes do not match the checksum its sender announced. */
  | 'snapshot-checksum-mismatch'
  /** The data directory belongs to another node or cluster: see DataDirMismatchError. */
  | 'data-dir-mismatch'
  /** The data directory was written by an unknown format version, or its meta.json is unreadable. */
  | 'data-dir-unsupported'
  /** Another live process holds the data directory's lock: see DataDirLockedError. */
  | 'data-dir-locked'
  /** The C library's flock could not be loaded (an unsupported platform). */
  | 'data-dir-lock-unavailable'
  /** flock failed for another reason than a conflicting lock (a file system without locks). */
  | 'data-dir-lock-failed';

export class StorageError extends Error {
  override readonly name: string = 'StorageError';
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Damage in the WAL that no crash leaves: a record that fails a check but was completely written
 * (its end mark is there), a torn record in a segment that is not the last, bytes after the last
 * record. Never skipped or repaired: the node stops.
 */
export class WalCorruptionError extends StorageError {
  override readonly name = 'WalCorruptionError';
  constructor(
    /** Path of the segment file. */
    readonly file: string,
    /** Byte offset of the damage (the damaged record's header) in that file. */
    readonly offsetBytes: number,
    reason: string,
  ) {
    super(
      'wal-corrupt',
      `WAL segment ${file} is corrupt at byte offset ${offsetBytes} (${reason}). This is not the torn tail a crash ` +
        'leaves (that is repaired at start), so acknowledged data may be damaged, and the node will not start on it. ' +
        "Restore this node's data directory from a backup, or remove it and re-add the node so it catches up from " +
        'the leader: see "Recovering from a damaged WAL" in docs/operations.md.',
    );
  }
}

/** A snapshot file whose header or body does not match its checksums. */
export class SnapshotCorruptionError extends StorageError {
  override readonly name = 'SnapshotCorruptionError';
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(
      'snapshot-corrupt',
      `snapshot file ${file} is corrupt (${reason}). Remove this node's data directory and re-add the ` +
        'node so that it receives a fresh snapshot from the leader.',
    );
  }
}

export class DataDirMismatchError extends StorageError {
  override readonly name = 'DataDirMismatchError';
  constructor(
    readonly dir: string,
    readonly field: 'nodeId' | 'clusterId',
    readonly stored: string,
    readonly expected: string,
  ) {
    super(
      'data-dir-mismatch',
      `data directory ${dir} belongs to ${field} "${stored}", not "${expected}". Point this node at its own ` +
        'data directory, or give it an empty one to join as a new member.',
    );
  }
}

export class DataDirLockedError extends StorageError {
  override readonly name = 'DataDirLockedError';
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      'data-dir-locked',
      `data directory ${dir} is in use by ${pid > 0 ? `process ${pid}` : 'another process'} (it holds the lock of ${dir}/LOCK). Stop that process first; two processes must ` +
        'never share one data directory.',
    );
  }
}
