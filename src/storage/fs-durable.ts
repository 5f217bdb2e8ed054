// The few file system steps that make writes durable, in one place so that every caller gets
// the same order: data fsync before rename, directory fsync after create/rename/unlink.
import { basename, dirname, join } from 'node:path';
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
