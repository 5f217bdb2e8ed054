// The physical floor of the disk the clusters write to: how long one small write + fdatasync takes
// (what every acknowledged Raft write pays at least once) and how fast large sequential writes go.
import { closeSync, fdatasyncSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Histogram } from './histogram.js';

export const FSYNC_WRITE_BYTES = 4096;
const SEQUENTIAL_CHUNK_BYTES = 1024 * 1024;

export interface DiskFloor {
  readonly fdatasyncP50Ms: number;
  readonly fdatasyncP99Ms: number;
  readonly fdatasyncIterations: number;
  readonly sequentialWriteMBps: number;
  readonly sequentialWriteBytes: number;
}

export function measureDisk(dir: string, iterations: number, sequentialBytes: number): DiskFloor {
  const latency = new Histogram();
  const syncFile = join(dir, 'fdatasync-probe');
  const block = Buffer.alloc(FSYNC_WRITE_BYTES, 0x5a);
  let fd = openSync(syncFile, 'w');
  try {
    for (let i = 0; i < iterations; i++) {
      const t0 = performance.now();
      writeSync(fd, block, 0, block.byteLength, i * FSYNC_WRITE_BYTES);
      fdatasyncSync(fd);
      latency.recordMs(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
    rmSync(syncFile, { force: true });
  }

  const seqFile = join(dir, 'sequential-probe');
  const chunk = Buffer.alloc(SEQUENTIAL_CHUNK_BYTES, 0xa5);
  fd = openSync(seqFile, 'w');
  let seconds;
  try {
    const t0 = performance.now();
    for (let written = 0; written < sequentialBytes; written += chunk.byteLength) writeSync(fd, chunk);
    fsyncSync(fd); // the bytes must be on the disk, not in the page cache
    seconds = (performance.now() - t0) / 1000;
  } finally {
    closeSync(fd);
    rmSync(seqFile, { force: true });
  }
  return {
    fdatasyncP50Ms: latency.percentileMs(50),
    fdatasyncP99Ms: latency.percentileMs(99),
    fdatasyncIterations: iterations,
    sequentialWriteMBps: sequentialBytes / 1e6 / seconds,
    sequentialWriteBytes: sequentialBytes,
  };
}
