// Entry point of the test kubelet process: `node --import tsx test/kubelet/main.ts <config.json>`.
// The config names the harness process (ownerPid) and the process groups of the control plane; when the
// owner disappears without stopping us (a test runner killed mid-run), the kubelet kills those groups
// and its pods and exits, so a crashed run leaves nothing behind.
import { readFileSync, rmSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { Kubelet } from './kubelet.js';
import { ClusterNetwork } from './network.js';
import type { KubeletConfig } from './kubelet.js';

const OWNER_CHECK_INTERVAL_MS = 1_000;

export interface KubeletProcessConfig extends KubeletConfig {
  readonly kubeconfigPath: string;
  readonly ownerPid: number;
  /** Process groups (etcd, apiserver, controller-manager) to kill if the owner dies. */
  readonly orphanProcessGroups: readonly number[];
  /** Directories (the run directory) to remove if the owner dies. */
  readonly orphanDirs: readonly string[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const path = process.argv[2];
  if (!path) throw new Error('usage: kubelet/main.ts <config.json>');
  const config = JSON.parse(readFileSync(path, 'utf8')) as KubeletProcessConfig;
  const kc = new KubeConfig();
  kc.loadFromFile(config.kubeconfigPath);
  const log = (line: string): void => {
    process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  };
  const kubelet = new Kubelet(kc, config, log);
  let stopping = false;
  const stop = async (reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(`stopping: ${reason}`);
    await kubelet.stop();
    // The owner removes the bridge on a normal stop; an owner that died cannot, so we do.
    if (!alive(config.ownerPid)) {
      ClusterNetwork.attach(config.networkSlot).destroy();
      for (const dir of config.orphanDirs) rmSync(dir, { recursive: true, force: true });
    }
    process.exit(0);
  };
  // A failed API call must not take the node down: the next pass repairs whatever it left undone.
  process.on('unhandledRejection', (err) => log(`unhandled rejection: ${err instanceof Error ? err.message : String(err)}`));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  setInterval(() => {
    if (alive(config.ownerPid)) return;
    for (const pgid of config.orphanProcessGroups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    void stop(`owner ${config.ownerPid} is gone`);
  }, OWNER_CHECK_INTERVAL_MS);
  await kubelet.start();
  log(`node ${config.nodeName} registered and ready`);
}

main().catch((err: unknown) => {
  process.stderr.write(`kubelet failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
