// The production file system: StorageFs on node:fs/promises, behaving exactly as the storage code
// did when it called node:fs directly. The data-dir lock is process-lock.ts.
import { mkdir, open, readdir, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import type { FileStat, OpenFlags, StorageFileHandle, StorageFs } from './fs.js';
import { acquireProcessLock, releaseProcessLock } from './process-lock.js';

/** Files the storage creates: its user's only (the log and snapshots hold every value). */
export const STORAGE_FILE_MODE = 0o600;
/** Directories the storage creates. */
export const STORAGE_DIR_MODE = 0o700;

export class NodeFs implements StorageFs {
  async open(path: string, flags: OpenFlags): Promise<StorageFileHandle> {
    return new NodeFileHandle(await open(path, flags, STORAGE_FILE_MODE));
  }

  readFile(path: string): Promise<Buffer> {
    return readFile(path);
  }

  readdir(dir: string): Promise<string[]> {
    return readdir(dir);
  }

  mkdirp(dir: string): Promise<string | undefined> {
    return mkdir(dir, { recursive: true, mode: STORAGE_DIR_MODE });
  }

  rename(from: string, to: string): Promise<void> {
    return rename(from, to);
  }

  unlink(path: string): Promise<void> {
    return unlink(path);
  }

  async fsyncDir(dir: string): Promise<void> {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async stat(path: string): Promise<FileStat> {
    return toFileStat(await stat(path, { bigint: true }));
  }

  realpath(path: string): Promise<string> {
    return realpath(path);
  }

  acquireDirLock(dir: string): Promise<string[]> {
    return acquireProcessLock(dir);
  }

  releaseDirLock(dir: string): Promise<void> {
    return releaseProcessLock(dir);
  }
}

/** The file system of this process: the default of every storage entry point. */
export const nodeFs: StorageFs = new NodeFs();

class NodeFileHandle implements StorageFileHandle {
  constructor(private readonly fh: FileHandle) {}

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return (await this.fh.read(buffer, offset, length, position)).bytesRead;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < data.length) done += (await this.fh.write(data, done, data.length - done, position + done)).bytesWritten;
  }

  async append(data: Uint8Array): Promise<void> {
    let done = 0;
    while (done < data.length) done += (await this.fh.write(data, done, data.length - done)).bytesWritten;
  }

  datasync(): Promise<void> {
    return this.fh.datasync();
  }

  sync(): Promise<void> {
    return this.fh.sync();
  }

  truncate(lengthBytes: number): Promise<void> {
    return this.fh.truncate(lengthBytes);
  }

  async stat(): Promise<FileStat> {
    return toFileStat(await this.fh.stat({ bigint: true }));
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

function toFileStat(st: BigIntStats): FileStat {
  return { sizeBytes: Number(st.size), identity: `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}` };
}
