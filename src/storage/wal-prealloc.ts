// Preallocated WAL segments: each segment file is written full of zeros and fsynced under a temp
// name, then renamed to its segment name when the log rolls over to it (the way etcd's file
// pipeline prepares the next segment).
//
// Why zeros, written (not a sparse file): recovery tells a torn write by the zeros after it
// (wal-segment.ts), and overwriting allocated, written blocks lets each fdatasync flush data only,
// not the block allocation and file size an append changes.
//
// Why ahead of need: zero-filling 64 MiB and fsyncing it takes a few hundred milliseconds; done at
// rollover it would stall every write behind it. The next file is prepared in the background once
// the open segment is SEGMENT_PREPARE_AHEAD_RATIO full, so a rollover usually only renames.
//
// Why a temp name: a file under a segment name is part of the log. Were the next segment named before
// the open one is complete, a crash would leave a torn write in a segment that is not the last, which
// recovery rightly refuses. The temp file is never read: a leftover is deleted when the WAL opens.
import { join } from 'node:path';
import { assert } from '../raft/assert.js';
import { SEGMENT_PREALLOCATE_WRITE_BYTES } from './constants.js';
import { StorageError } from './errors.js';
import type { StorageFileHandle, StorageFs } from './fs.js';
import { isErrnoCode } from './fs.js';

/** The file the next segment is prepared in, inside the WAL directory. Never matches a segment name. */
export const PREPARED_SEGMENT_FILE = 'next-segment.tmp';

const ZEROS = Buffer.alloc(SEGMENT_PREALLOCATE_WRITE_BYTES);

/** Writes zeros over [fromBytes, toBytes) of `fh`, a bounded buffer at a time; stops early when `stop()` says so. */
export async function writeZeros(fh: StorageFileHandle, fromBytes: number, toBytes: number, stop: () => boolean = () => false): Promise<void> {
  for (let at = fromBytes; at < toBytes && !stop(); at += SEGMENT_PREALLOCATE_WRITE_BYTES) {
    await fh.write(ZEROS.subarray(0, Math.min(SEGMENT_PREALLOCATE_WRITE_BYTES, toBytes - at)), at);
  }
}

export class SegmentPreparer {
  /** Resolves once the prepared file holds sizeBytes of durable zeros. */
  private preparing: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly fs: StorageFs,
    private readonly dir: string,
    /** Size of every segment file, in bytes. */
    private readonly sizeBytes: number,
  ) {}

  get tempPath(): string {
    return join(this.dir, PREPARED_SEGMENT_FILE);
  }

  /** Deletes a prepared file left by an earlier process: it may be incomplete. */
  async removeLeftover(): Promise<void> {
    try {
      await this.fs.unlink(this.tempPath);
    } catch (e) {
      if (!isErrnoCode(e, 'ENOENT')) throw e;
    }
  }

  /** Starts preparing the next segment in the background, unless that is under way or done. */
  prepareAhead(): void {
    if (this.preparing !== undefined || this.closed) return;
    this.preparing = this.preallocate();
    // A failure is reported by take(), which tries again; nothing else waits for it.
    this.preparing.catch(() => undefined);
  }

  /**
   * Makes the prepared file (preparing it now if needed) segment `path`, durably named, and
   * returns it open for positional writes. Its bytes are all zero and durable.
   */
  async take(path: string): Promise<StorageFileHandle> {
    assert(!this.closed, 'no segment is taken after close()');
    this.prepareAhead();
    try {
      await this.preparing;
    } catch {
      // Failed in the background (say, a full disk since freed): one more try, now, in the open.
      this.preparing = this.preallocate();
      await this.preparing;
    } finally {
      this.preparing = undefined;
    }
    await this.fs.rename(this.tempPath, path);
    await this.fs.fsyncDir(this.dir);
    return this.fs.open(path, 'r+');
  }

  /** Stops a preparation under way (its file is left for the next open to delete). */
  async close(): Promise<void> {
    this.closed = true;
    await this.preparing?.catch(() => undefined);
  }

  private async preallocate(): Promise<void> {
    const fh = await this.fs.open(this.tempPath, 'w');
    try {
      await writeZeros(fh, 0, this.sizeBytes, () => this.closed);
      if (this.closed) throw new StorageError('storage-closed', `the WAL in ${this.dir} was closed while a segment was being preallocated.`);
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }
}
