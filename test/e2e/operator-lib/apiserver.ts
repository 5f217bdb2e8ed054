// Restarts the kube-apiserver of a test cluster, the way a control-plane upgrade or crash does: the
// running process (found by its certificate directory, which is unique to the cluster's run directory) is
// SIGKILLed and started again with the same arguments and environment. Every client's connections drop;
// the new apiserver's watch cache starts at the current etcd revision, so a watch resumed from an older
// resourceVersion is answered 410 Gone.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestCluster } from '../../controlplane/cluster.js';
import { waitFor } from '../lib/wait.js';

const APISERVER_READY_TIMEOUT_MS = 120_000;
const APISERVER_STOP_GRACE_MS = 10_000;

export interface RestartedApiserver {
  readonly pid: number;
  /** Stops the restarted process group (the cluster's own stop() no longer knows it). */
  stop(): Promise<void>;
}

function procArgs(pid: number, file: 'cmdline' | 'environ'): string[] {
  return readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\0').filter(Boolean);
}

/** The pid of the cluster's kube-apiserver: the one whose --cert-dir lies in the cluster's run directory. */
function apiserverPid(cluster: TestCluster): number {
  const certDir = `--cert-dir=${join(cluster.runDir, 'pki')}`;
  const pids = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      try {
        const args = procArgs(pid, 'cmdline');
        return (args[0] ?? '').endsWith('/kube-apiserver') && args.includes(certDir);
      } catch {
        return false; // gone meanwhile, or not ours to read
      }
    });
  if (pids.length !== 1) throw new Error(`expected one kube-apiserver with ${certDir}, found ${pids.length}`);
  return pids[0] ?? 0;
}

/** Where the restarted apiserver logs; with `extraArgs` such as `--v=3` its request log shows who lists what. */
export const restartedApiserverLog = (cluster: TestCluster): string => join(cluster.runDir, 'logs', 'kube-apiserver-restarted.log');

export async function restartApiserver(cluster: TestCluster, extraArgs: readonly string[] = []): Promise<RestartedApiserver> {
  const pid = apiserverPid(cluster);
  const [bin = '', ...oldArgs] = procArgs(pid, 'cmdline');
  const args = [...oldArgs, ...extraArgs];
  const env = Object.fromEntries(procArgs(pid, 'environ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  process.kill(pid, 'SIGKILL');
  await waitFor('the old kube-apiserver to exit', APISERVER_READY_TIMEOUT_MS, async () => {
    try {
      process.kill(pid, 0);
      return undefined;
    } catch {
      return true;
    }
  });
  const fd = openSync(restartedApiserverLog(cluster), 'a');
  const child: ChildProcess = spawn(bin, args, { cwd: cluster.runDir, env, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const newPid = child.pid ?? 0;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    process.kill(-newPid, 'SIGTERM');
    const timer = setTimeout(() => process.kill(-newPid, 'SIGKILL'), APISERVER_STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitFor('the restarted kube-apiserver to be ready', APISERVER_READY_TIMEOUT_MS, async () =>
      (await cluster.kubectl(['get', '--raw', '/readyz'])).stdout.trim() === 'ok' ? true : undefined,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { pid: newPid, stop };
}
