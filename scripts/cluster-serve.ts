// Runs a test cluster in the foreground until SIGTERM/SIGINT; started in the background by cluster-up.ts.
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { startTestCluster } from '../test/controlplane/cluster.js';
import { CLUSTER_KUBECONFIG, CLUSTER_STATE_DIR, CLUSTER_STATE_FILE, REPO_ROOT } from './cluster-state.js';
import type { ClusterState } from './cluster-state.js';

const KEEPALIVE_INTERVAL_MS = 60_000;

mkdirSync(CLUSTER_STATE_DIR, { recursive: true });
const log = (line: string): void => console.log(`${new Date().toISOString()} ${line}`);
const cluster = await startTestCluster({ repoRoot: REPO_ROOT, log });
copyFileSync(cluster.kubeconfigPath, CLUSTER_KUBECONFIG);
const state: ClusterState = { pid: process.pid, kubeconfigPath: CLUSTER_KUBECONFIG, apiUrl: cluster.apiUrl, runDir: cluster.runDir, helmPath: cluster.helmPath };
writeFileSync(CLUSTER_STATE_FILE, JSON.stringify(state, null, 2));
log(`cluster ready; state in ${CLUSTER_STATE_FILE}`);
const keepalive = setInterval(() => {}, KEEPALIVE_INTERVAL_MS);
let stopping = false;
const stop = async (signal: string): Promise<void> => {
  if (stopping) return;
  stopping = true;
  log(`${signal}: stopping the cluster`);
  clearInterval(keepalive);
  await cluster.stop();
  rmSync(CLUSTER_STATE_FILE, { force: true });
  rmSync(CLUSTER_KUBECONFIG, { force: true });
  log('stopped');
  process.exit(0);
};
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
