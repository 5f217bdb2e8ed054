// The few file system steps that make writes durable, in one place so that every caller gets
// the same order: data fsync before rename, directory fsync after create/rename/unlink.
import { basename, dirname, join, resolve, sep } from 'node:path';
import { assert } from '../raft/assert.js';
import type { StorageFs } from './fs.js';
import { isErrnoCode } from './fs.js';

export { isErrnoCode };

/** Replaces `path` with `data` atomically: temp file → fsync → rename → fsync directory. */
export async function writeFileAtomic(fs: StorageFs, path: string, data: Uint8Array): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.tmp`);
  const fh = await fs.open(temp, 'w');
  try {
    await fh.write(data, 0);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(temp, path);
  await fs.fsyncDir(dirname(path));
}

/** Removes a file and makes the removal durable; a file that is already gone is fine. */
export async function unlinkDurable(fs: StorageFs, path: string): Promise<void> {
  try {
    await fs.unlink(path);
  } catch (e) {
    if (!isErrnoCode(e, 'ENOENT')) throw e;
    return;
  }
  await fs.fsyncDir(dirname(path));
}

/**
 * Creates directory `dir` (and its missing ancestors) and makes every directory it created
 * durable in its parent: without that fsync a crash may take the new directory, and all the
 * synced files in it, away.
 */
export async function mkdirDurable(fs: StorageFs, dir: string): Promise<void> {
  const first = await fs.mkdirp(dir);
  if (first === undefined) return;
  const target = resolve(dir);
  const top = resolve(first);
  assert(target === top || target.startsWith(top.endsWith(sep) ? top : `${top}${sep}`), () => `mkdir of ${dir} reported creating ${first}, which is not on its path`);
  const parents: string[] = [];
  for (let at = target; ; at = dirname(at)) {
    parents.unshift(dirname(at));
    if (at === top) break;
  }
  for (const parent of parents) await fs.fsyncDir(parent);
}
