// The storage layer's public surface. The node imports from here; the files behind it are one
// concern each (see docs/storage.md).
export { openStorage, SNAPSHOT_DIR, WAL_DIR } from './storage.js';
export type { Storage, StorageOptions } from './storage.js';
export type { BootState } from './wal-log.js';
export type { FileStat, OpenFlags, StorageFileHandle, StorageFs } from './fs.js';
export { isErrnoCode } from './fs.js';
export { NodeFs, nodeFs } from './node-fs.js';
export type { DataDir, DataDirIdentity } from './data-dir.js';
export type { IncomingSnapshot, SnapshotAnnouncement, SnapshotInfo, SnapshotReader, SnapshotStore, SnapshotWriter } from './snapshot-store.js';
export { DataDirLockedError, DataDirMismatchError, SnapshotCorruptionError, StorageError, WalCorruptionError } from './errors.js';
export type { StorageErrorCode } from './errors.js';
export { crc32c } from './crc32c.js';
export * from './constants.js';
