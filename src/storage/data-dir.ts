// The identity and exclusive ownership of a data directory.
// - meta.json records the format version, node id and cluster id (written atomically). A data dir
//   of another node or cluster is refused: starting on it would make this node vote and
//   acknowledge with someone else's log.
// - LOCK holds the owner's pid (and, on Linux, the process start time, so a pid reused after a
//   container restart is not mistaken for a live owner). A live owner is refused; a dead one's lock
//   is taken over. The takeover is not atomic between two processes starting at the same instant
//   on one stale lock; the deployment (one pod per data dir, one `kuberaft local` per tree) rules
//   that out, and the lock guards against the common mistake of two nodes sharing a directory.
import { mkdir, open, readdir, readFile, realpath, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeId } from '../raft/types.js';
import { nodeId as toNodeId } from '../raft/types.js';
import { DATA_DIR_FORMAT_VERSION } from './constants.js';
import { DataDirLockedError, DataDirMismatchError, StorageError } from './errors.js';
import { fsyncDir, isErrnoCode, writeFileAtomic } from './fs-durable.js';

export const META_FILE = 'meta.json';
export const LOCK_FILE = 'LOCK';

export interface DataDirIdentity {
  readonly formatVersion: number;
  readonly nodeId: NodeId;
  /** Unknown until the node bootstraps a cluster or joins one. */
  readonly clusterId: string | undefined;
}

interface LockOwner {
  readonly pid: number;
  /** /proc/<pid>/stat start time in clock ticks since boot; undefined where /proc is missing. */
  readonly startTicks: number | undefined;
}

/** Data dirs this process holds: the lock file cannot tell this process from an earlier one with the same pid. */
const heldByThisProcess = new Set<string>();

export class DataDir {
  private released = false;

  private constructor(
    readonly dir: string,
    private current: DataDirIdentity,
    /** What opening repaired (a stale lock taken over). */
    readonly notes: readonly string[],
  ) {}

  /**
   * Locks `dir` (creating it if needed) and checks or records its identity. `clusterId` may be
   * omitted when not yet known; a stored one is then kept and reported in `identity`.
   */
  static async open(dir: string, expected: { nodeId: NodeId; clusterId?: string }): Promise<DataDir> {
    await mkdir(dir, { recursive: true });
    const canonical = await realpath(dir);
    const notes = await acquireLock(canonical);
    try {
      const identity = await loadOrCreateIdentity(canonical, expected);
      return new DataDir(canonical, identity, notes);
    } catch (e) {
      await releaseLock(canonical);
      throw e;
    }
  }

  get identity(): DataDirIdentity {
    return this.current;
  }

  /** Records the cluster this node belongs to; refuses to change one already recorded. */
  async setClusterId(clusterId: string): Promise<void> {
    const stored = this.current.clusterId;
    if (stored === clusterId) return;
    if (stored !== undefined) throw new DataDirMismatchError(this.dir, 'clusterId', stored, clusterId);
    const next = { ...this.current, clusterId };
    await writeIdentity(this.dir, next);
    this.current = next;
  }

  /** Releases the lock. */
  async close(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await releaseLock(this.dir);
  }
}

async function loadOrCreateIdentity(dir: string, expected: { nodeId: NodeId; clusterId?: string }): Promise<DataDirIdentity> {
  let text: string | undefined;
  try {
    text = await readFile(join(dir, META_FILE), 'utf8');
  } catch (e) {
    if (!isErrnoCode(e, 'ENOENT')) throw e;
  }
  if (text === undefined) {
    const foreign = (await readdir(dir)).filter((n) => n !== LOCK_FILE && !n.startsWith(`.${META_FILE}`));
    if (foreign.length > 0) {
      throw new StorageError(
        'data-dir-unsupported',
        `data directory ${dir} holds ${foreign.join(', ')} but no ${META_FILE}, so it is not a kuberaft data directory (or it is damaged). Give the node an empty directory.`,
      );
    }
    const identity: DataDirIdentity = { formatVersion: DATA_DIR_FORMAT_VERSION, nodeId: expected.nodeId, clusterId: expected.clusterId };
    await writeIdentity(dir, identity);
    return identity;
  }
  const stored = parseIdentity(text);
  if (stored === undefined) {
    throw new StorageError('data-dir-unsupported', `${join(dir, META_FILE)} does not parse. Restore it from a backup, or give the node an empty data directory.`);
  }
  if (stored.formatVersion !== DATA_DIR_FORMAT_VERSION) {
    throw new StorageError(
      'data-dir-unsupported',
      `data directory ${dir} has format version ${stored.formatVersion}; this kuberaft reads version ${DATA_DIR_FORMAT_VERSION}. Run a kuberaft version that matches the data.`,
    );
  }
  if (stored.nodeId !== expected.nodeId) throw new DataDirMismatchError(dir, 'nodeId', stored.nodeId, expected.nodeId);
  if (expected.clusterId === undefined || stored.clusterId === expected.clusterId) return stored;
  if (stored.clusterId !== undefined) throw new DataDirMismatchError(dir, 'clusterId', stored.clusterId, expected.clusterId);
  const adopted = { ...stored, clusterId: expected.clusterId };
  await writeIdentity(dir, adopted);
  return adopted;
}

function parseIdentity(text: string): DataDirIdentity | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { formatVersion, nodeId, clusterId } = value as Record<string, unknown>;
  if (!Number.isInteger(formatVersion) || typeof nodeId !== 'string' || (clusterId !== undefined && typeof clusterId !== 'string')) return undefined;
  return { formatVersion: formatVersion as number, nodeId: toNodeId(nodeId), clusterId };
}

async function writeIdentity(dir: string, identity: DataDirIdentity): Promise<void> {
  await writeFileAtomic(join(dir, META_FILE), Buffer.from(`${JSON.stringify(identity, null, 2)}\n`, 'utf8'));
}

async function acquireLock(dir: string): Promise<string[]> {
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

async function releaseLock(dir: string): Promise<void> {
  heldByThisProcess.delete(dir);
  const path = join(dir, LOCK_FILE);
  const owner = await readLockOwner(path);
  if (owner?.pid === process.pid) await unlink(path).catch((e: unknown) => (isErrnoCode(e, 'ENOENT') ? undefined : Promise.reject(e)));
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
