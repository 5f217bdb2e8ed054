// The few file system steps that make writes durable, in one place so that every caller gets
// the same order: data fsync before rename, directory fsync after create/rename/unlink.
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Makes the directory's entries (files created, renamed or removed in it) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces `path` with `data` atomically: temp file → fsync → rename → fsync directory. */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.tmp`);
  const fh = await open(temp, 'w');
  try {
    let written = 0;
    while (written < data.length) written += (await fh.write(data, written, data.length - written)).bytesWritten;
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(temp, path);
  await fsyncDir(dirname(path));
}

/** Removes a file and makes the removal durable; a file that is already gone is fine. */
export async function unlinkDurable(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if (!isErrnoCode(e, 'ENOENT')) throw e;
    return;
  }
  await fsyncDir(dirname(path));
}

export function isErrnoCode(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}
