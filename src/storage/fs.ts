// The file system port: every file system operation the storage layer performs, and nothing
// else. Production uses NodeFs (node-fs.ts, on node:fs/promises); the deterministic simulator
// runs the same WAL, snapshot store and data directory code on a simulated disk through it.
//
// The durability contract every implementation keeps, and the storage code relies on:
// - Bytes written to a file are volatile until a datasync() or sync() of a handle of that file
//   completes; then every byte written before the call (and the file's size) is durable.
// - A directory entry (a file or directory created, renamed or removed) is volatile until an
//   fsyncDir() of the directory that holds it completes. A file whose data is durable but whose
//   entry is not may vanish in a crash; a rename that was not followed by fsyncDir() may be undone.
// - A crash keeps only what is durable, plus an unspecified part of what is not: a file's unsynced
//   bytes may be partly present (even torn within a sector), an unsynced entry may be present or
//   not. Code that needs an outcome syncs before it relies on it.
//
// Errors are thrown as Node's file system errors are: an Error with an errno `code` ('ENOENT',
// 'EEXIST', ...); isErrnoCode() tests for one. Paths are absolute or relative to the process's
// working directory, as node:fs takes them.

/**
 * How a file is opened, with node:fs's flag names:
 * - 'r'  read an existing file;
 * - 'r+' read and write an existing file (positional writes);
 * - 'w'  create or truncate to empty, then write (positional writes);
 * - 'a'  create if missing, every write appends;
 * - 'ax' create a new file ('EEXIST' if it exists), every write appends.
 */
export type OpenFlags = 'r' | 'r+' | 'w' | 'a' | 'ax';

/** What the storage layer needs to know about a file. */
export interface FileStat {
  readonly sizeBytes: number;
  /**
   * Changes whenever the file may have been replaced, rewritten or resized (production: device,
   * inode, size and modification time). Equal identities mean the bytes were not touched since.
   */
  readonly identity: string;
}

/** An open file. Using a handle after close() (or, in the simulator, after a crash) fails. */
export interface StorageFileHandle {
  /** Reads up to `length` bytes at file position `position` into `buffer` at `offset`; returns bytes read (0 at the end of the file). */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** Writes all of `data` at file position `position` (extending the file as needed). Not for 'a'/'ax' handles. */
  write(data: Uint8Array, position: number): Promise<void>;
  /** Writes all of `data` at the end of the file. */
  append(data: Uint8Array): Promise<void>;
  /** fdatasync: every byte written to this file before the call, and its size, are durable when it resolves. */
  datasync(): Promise<void>;
  /** fsync: as datasync(), and the file's other metadata (times) too. */
  sync(): Promise<void>;
  /** Sets the file's size to `lengthBytes` (volatile until a datasync). */
  truncate(lengthBytes: number): Promise<void>;
  stat(): Promise<FileStat>;
  close(): Promise<void>;
}

export interface StorageFs {
  /** Opens `path` with `flags` (see OpenFlags). The new file's directory entry is volatile until fsyncDir() of its directory. */
  open(path: string, flags: OpenFlags): Promise<StorageFileHandle>;
  /** The whole content of a file. */
  readFile(path: string): Promise<Buffer>;
  /** Names of the entries of directory `dir`, in no particular order. */
  readdir(dir: string): Promise<string[]>;
  /**
   * Creates directory `dir` and any missing ancestors; returns the first directory it created
   * (the one nearest the root), or undefined when `dir` existed. New entries are volatile until
   * fsyncDir() of their parent (mkdirDurable() in fs-durable.ts does that).
   */
  mkdirp(dir: string): Promise<string | undefined>;
  /** Renames `from` to `to` within one directory, replacing `to`. Volatile until fsyncDir() of the directory. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file ('ENOENT' when missing). Volatile until fsyncDir() of its directory. */
  unlink(path: string): Promise<void>;
  /** Makes the entries of directory `dir` (files created, renamed or removed in it) durable. */
  fsyncDir(dir: string): Promise<void>;
  /** Size and identity of the file at `path` ('ENOENT' when missing). */
  stat(path: string): Promise<FileStat>;
  /** The canonical absolute path of an existing `path`. */
  realpath(path: string): Promise<string>;
  /**
   * Takes the exclusive lock of data directory `dir` (an existing, canonical path) for this
   * process: another owner that is still running makes it throw DataDirLockedError; a lock left by
   * an owner that is gone is taken over. Returns what it repaired, one sentence each. A crash
   * releases every lock.
   */
  acquireDirLock(dir: string): Promise<string[]>;
  /** Releases the lock acquireDirLock() took; a lock this process does not hold is left alone. */
  releaseDirLock(dir: string): Promise<void>;
}

/** Whether `e` is a file system error with errno code `code` (e.g. 'ENOENT'). */
export function isErrnoCode(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}
