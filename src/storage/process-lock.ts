// The data directory's lock in production: a LOCK file holding the owner's pid (and, on Linux,
// the process start time, so a pid reused after a container restart is not mistaken for a live
// owner). A live owner is refused; a dead one's lock is taken over. The takeover is not atomic
// between two processes starting at the same instant on one stale lock; the deployment (one pod
// per data dir, one `kuberaft local` per tree) rules that out, and the lock guards against the
// common mistake of two nodes sharing a directory.
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { DataDirLockedError } from './errors.js';
import { isErrnoCode } from './fs.js';

export const LOCK_FILE = 'LOCK';

interface LockOwner {
  readonly pid: number;
  /** /proc/<pid>/stat start time in clock ticks since boot; undefined where /proc is missing. */
  readonly startTicks: number | undefined;
}

/** Data dirs this process holds: the lock file cannot tell this process from an earlier one with the same pid. */
const heldByThisProcess = new Set<string>();

/** Locks `dir` for this process; returns what it repaired (a stale lock taken over). */
export async function acquireProcessLock(dir: string): Promise<string[]> {
  if (heldByThisProcess.has(dir)) throw new DataDirLockedError(dir, process.pid);
  const path = join(dir, LOCK_FILE);
  const notes: string[] = [];
  const me: LockOwner = { pid: process.pid, startTicks: await processStartTicks(process.pid) };
  // Two rounds: create, or find a stale lock, remove it and create again.
  for (let round = 0; round < 2; round++) {
    try {
      const fh = await open(path, 'wx');
      try {
        await fh.writeFile(`${JSON.stringify(me)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsyncDir(dir);
      heldByThisProcess.add(dir);
      return notes;
    } catch (e) {
      if (!isErrnoCode(e, 'EEXIST')) throw e;
    }
    const owner = await readLockOwner(path);
    if (owner !== undefined && (await isAlive(owner))) throw new DataDirLockedError(dir, owner.pid);
    await unlink(path).catch((e: unknown) => (isErrnoCode(e, 'ENOENT') ? undefined : Promise.reject(e)));
    notes.push(`took over the lock of ${dir} from process ${owner?.pid ?? '(unreadable lock file)'}, which is no longer running`);
  }
  throw new DataDirLockedError(dir, (await readLockOwner(path))?.pid ?? -1);
}

/** Releases the lock of `dir` if this process holds it. */
export async function releaseProcessLock(dir: string): Promise<void> {
  heldByThisProcess.delete(dir);
  const path = join(dir, LOCK_FILE);
  const owner = await readLockOwner(path);
  if (owner?.pid === process.pid) await unlink(path).catch((e: unknown) => (isErrnoCode(e, 'ENOENT') ? undefined : Promise.reject(e)));
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function readLockOwner(path: string): Promise<LockOwner | undefined> {
  try {
    const value: unknown = JSON.parse(await readFile(path, 'utf8'));
    if (typeof value !== 'object' || value === null) return undefined;
    const { pid, startTicks } = value as Record<string, unknown>;
    if (!Number.isSafeInteger(pid) || (pid as number) <= 0) return undefined;
    return { pid: pid as number, startTicks: typeof startTicks === 'number' ? startTicks : undefined };
  } catch {
    return undefined; // missing, half-written or garbage: no live owner can be named
  }
}

async function isAlive(owner: LockOwner): Promise<boolean> {
  // This process holds no lock here (checked before), so a lock naming our pid is an earlier process's.
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    if (!isErrnoCode(e, 'EPERM')) return false; // ESRCH: no such process
  }
  if (owner.startTicks === undefined) return true;
  const current = await processStartTicks(owner.pid);
  return current === undefined || current === owner.startTicks;
}

/** The process's start time from /proc/<pid>/stat (field 22), or undefined where unavailable. */
export async function processStartTicks(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses; fields after it are plain.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const value = Number(fields[19]);
    return Number.isSafeInteger(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
