// The data directory's lock in production: an exclusive flock(2) on the file LOCK, held through an
// open descriptor for as long as the node runs.
//
// The kernel owns the lock: it is released when the descriptor closes, including when the process
// dies in any way, so there is no stale lock to detect and no pid to trust. A pid file could not
// tell two containers apart (each node is pid 1 in its own pid namespace, and a restarted one reuses
// its pid); a flock on the shared file conflicts across pid namespaces and containers on one kernel.
// The pid written into LOCK only names the owner in the refusal message.
//
// Node has no flock: it is called in libc through koffi (a foreign function interface shipped with
// prebuilt binaries, so nothing is compiled at install; docs/decisions.md). LOCK_EX, LOCK_NB and
// LOCK_UN have the same values on Linux, the BSDs and macOS.
import { constants } from 'node:os';
import { open, readFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DataDirLockedError, StorageError } from './errors.js';
import { isErrnoCode } from './fs.js';

export const LOCK_FILE = 'LOCK';
/** Mode of the LOCK file: the node's files are its user's only. */
const LOCK_FILE_MODE = 0o600;

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
/** Where flock lives, by platform: glibc, musl (Alpine), macOS. */
const LIBC_NAMES = ['libc.so.6', 'libc.musl-x86_64.so.1', 'libc.musl-aarch64.so.1', 'libc.so', '/usr/lib/libSystem.B.dylib'];

type Flock = (fd: number, operation: number) => { result: number; errno: number };

let flockFn: Promise<Flock> | undefined;

/** flock(2) from libc, loaded once and only by a process that locks a data dir. */
function loadFlock(): Promise<Flock> {
  flockFn ??= (async () => {
    const koffi = (await import('koffi')).default;
    let lastError: unknown;
    for (const name of LIBC_NAMES) {
      try {
        const flock = koffi.load(name).func('int flock(int fd, int operation)') as (fd: number, operation: number) => number;
        return (fd: number, operation: number) => {
          const result = flock(fd, operation);
          return { result, errno: result === 0 ? 0 : koffi.errno() };
        };
      } catch (e) {
        lastError = e;
      }
    }
    throw new StorageError('data-dir-lock-unavailable', `cannot load flock from the C library (${String(lastError)}); kuberaft runs on Linux, the BSDs and macOS`);
  })();
  return flockFn;
}

/** The LOCK files this process holds open (and locked), by data dir. */
const held = new Map<string, FileHandle>();

/** Locks `dir` for this process, or throws DataDirLockedError naming the owner. Nothing is ever stale. */
export async function acquireProcessLock(dir: string): Promise<string[]> {
  if (held.has(dir)) throw new DataDirLockedError(dir, process.pid);
  const flock = await loadFlock();
  const path = join(dir, LOCK_FILE);
  // 'a': create if missing, never truncate before the lock is ours (the owner's pid is in there).
  const fh = await open(path, 'a', LOCK_FILE_MODE);
  try {
    const { result, errno } = flock(fh.fd, LOCK_EX | LOCK_NB);
    if (result !== 0) {
      if (errno === constants.errno.EWOULDBLOCK || errno === constants.errno.EAGAIN) throw new DataDirLockedError(dir, await lockOwnerPid(path));
      throw new StorageError('data-dir-lock-failed', `cannot lock ${path}: flock failed with errno ${errno}; check the file system supports locks`);
    }
    await fh.truncate(0);
    await fh.write(`${JSON.stringify({ pid: process.pid })}\n`);
  } catch (e) {
    await fh.close();
    throw e;
  }
  held.set(dir, fh);
  return [];
}

/** Releases the lock of `dir` if this process holds it. The file stays: removing it would race with a process opening it. */
export async function releaseProcessLock(dir: string): Promise<void> {
  const fh = held.get(dir);
  if (fh === undefined) return;
  held.delete(dir);
  const flock = await loadFlock();
  flock(fh.fd, LOCK_UN);
  await fh.close();
}

/** The pid the owner wrote, or -1 when the file does not name one (it is being written). */
async function lockOwnerPid(path: string): Promise<number> {
  try {
    const value: unknown = JSON.parse(await readFile(path, 'utf8'));
    const pid = typeof value === 'object' && value !== null ? (value as Record<string, unknown>).pid : undefined;
    return Number.isSafeInteger(pid) && (pid as number) > 0 ? (pid as number) : -1;
  } catch (e) {
    if (isErrnoCode(e, 'ENOENT') || e instanceof SyntaxError) return -1;
    throw e;
  }
}
