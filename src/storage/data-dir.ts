// The identity and exclusive ownership of a data directory.
// - meta.json records the format version, node id and cluster id (written atomically). A data dir
//   of another node or cluster is refused: starting on it would make this node vote and
//   acknowledge with someone else's log.
// - The lock (StorageFs.acquireDirLock; in production an flock on the LOCK file, process-lock.ts)
//   keeps a second process off the directory while this one runs.
import { dirname, join } from 'node:path';
import type { NodeId } from '../raft/types.js';
import { nodeId as toNodeId } from '../raft/types.js';
import { DATA_DIR_FORMAT_VERSION } from './constants.js';
import { DataDirMismatchError, StorageError } from './errors.js';
import type { StorageFs } from './fs.js';
import { isErrnoCode } from './fs.js';
import { mkdirDurable, writeFileAtomic } from './fs-durable.js';
import { nodeFs } from './node-fs.js';
import { LOCK_FILE } from './process-lock.js';

export { LOCK_FILE } from './process-lock.js';
export const META_FILE = 'meta.json';

export interface DataDirIdentity {
  readonly formatVersion: number;
  readonly nodeId: NodeId;
  /** Unknown until the node bootstraps a cluster or joins one. */
  readonly clusterId: string | undefined;
}

export class DataDir {
  private released = false;

  private constructor(
    private readonly fs: StorageFs,
    readonly dir: string,
    private current: DataDirIdentity,
    /** What opening repaired (a stale lock taken over). */
    readonly notes: readonly string[],
  ) {}

  /**
   * Locks `dir` (creating it if needed) and checks or records its identity. `clusterId` may be
   * omitted when not yet known; a stored one is then kept and reported in `identity`.
   */
  static async open(dir: string, expected: { nodeId: NodeId; clusterId?: string }, fs: StorageFs = nodeFs): Promise<DataDir> {
    await mkdirDurable(fs, dir);
    const canonical = await fs.realpath(dir);
    const notes = await fs.acquireDirLock(canonical);
    try {
      const identity = await loadOrCreateIdentity(fs, canonical, expected);
      return new DataDir(fs, canonical, identity, notes);
    } catch (e) {
      await fs.releaseDirLock(canonical);
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
    await writeIdentity(this.fs, this.dir, next);
    this.current = next;
  }

  /** Releases the lock. */
  async close(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.fs.releaseDirLock(this.dir);
  }
}

async function loadOrCreateIdentity(fs: StorageFs, dir: string, expected: { nodeId: NodeId; clusterId?: string }): Promise<DataDirIdentity> {
  let text: string | undefined;
  try {
    text = (await fs.readFile(join(dir, META_FILE))).toString('utf8');
  } catch (e) {
    if (!isErrnoCode(e, 'ENOENT')) throw e;
  }
  if (text === undefined) {
    const foreign = (await fs.readdir(dir)).filter((n) => n !== LOCK_FILE && !n.startsWith(`.${META_FILE}`));
    if (foreign.length > 0) {
      throw new StorageError(
        'data-dir-unsupported',
        `data directory ${dir} holds ${foreign.join(', ')} but no ${META_FILE}, so it is not a kuberaft data directory (or it is damaged). Give the node an empty directory.`,
      );
    }
    const identity: DataDirIdentity = { formatVersion: DATA_DIR_FORMAT_VERSION, nodeId: expected.nodeId, clusterId: expected.clusterId };
    await writeIdentity(fs, dir, identity);
    // A new data dir: its own entry may still be volatile if the process that created it died
    // before mkdirDurable's fsync. Every later write assumes the directory itself is durable.
    await fs.fsyncDir(dirname(dir));
    return identity;
  }
  const stored = parseIdentity(text);
  if (stored === undefined) {
    throw new StorageError('data-dir-unsupported', `${join(dir, META_FILE)} does not parse. Restore it from a backup, or give the node an empty data directory.`);
  }
  if (stored.formatVersion !== DATA_DIR_FORMAT_VERSION) {
    const howTo =
      stored.formatVersion < DATA_DIR_FORMAT_VERSION
        ? `It cannot be upgraded in place: see "Upgrading from data format ${stored.formatVersion}" in docs/operations.md.`
        : 'Run a kuberaft version that reads it.';
    throw new StorageError(
      'data-dir-unsupported',
      `data directory ${dir} has format version ${stored.formatVersion}; this kuberaft reads version ${DATA_DIR_FORMAT_VERSION}. ${howTo}`,
    );
  }
  if (stored.nodeId !== expected.nodeId) throw new DataDirMismatchError(dir, 'nodeId', stored.nodeId, expected.nodeId);
  if (expected.clusterId === undefined || stored.clusterId === expected.clusterId) return stored;
  if (stored.clusterId !== undefined) throw new DataDirMismatchError(dir, 'clusterId', stored.clusterId, expected.clusterId);
  const adopted = { ...stored, clusterId: expected.clusterId };
  await writeIdentity(fs, dir, adopted);
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

async function writeIdentity(fs: StorageFs, dir: string, identity: DataDirIdentity): Promise<void> {
  await writeFileAtomic(fs, join(dir, META_FILE), Buffer.from(`${JSON.stringify(identity, null, 2)}\n`, 'utf8'));
}
