// A description of the machine a run happened on, so numbers are never read without their context.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, freemem, loadavg, release, totalmem } from 'node:os';

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cpus: number;
  readonly memTotalGiB: number;
  readonly memFreeGiB: number;
  readonly loadAverage1m: number;
  readonly kernel: string;
  readonly node: string;
  /** `df -P` of the data directory: device, size and mount point. */
  readonly disk: string;
  /** From /sys/block/<dev>/queue/rotational where it can be read. */
  readonly diskRotational: boolean | null;
}

function run(cmd: string, args: readonly string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

export function describeMachine(dataDir: string): MachineInfo {
  const df = run('df', ['-P', '-h', dataDir]).split('\n')[1] ?? '';
  const [device = '', size = '', , avail = '', , mount = ''] = df.split(/\s+/);
  const dev = device.replace('/dev/', '').replace(/\d+$/, '');
  let rotational: boolean | null = null;
  try {
    rotational = readFileSync(`/sys/block/${dev}/queue/rotational`, 'utf8').trim() === '1';
  } catch {
    rotational = null;
  }
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    memTotalGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    memFreeGiB: Math.round((freemem() / 1024 ** 3) * 10) / 10,
    loadAverage1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    kernel: release(),
    node: process.version,
    disk: `${device} ${size} (${avail} free) mounted on ${mount}`,
    diskRotational: rotational,
  };
}
