// `npm run cluster:up`: starts a test cluster (etcd, kube-apiserver, kube-controller-manager and the test
// kubelet) in the background and prints how to reach it. The first run on a machine builds the binaries.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLUSTER_LOG, CLUSTER_STATE_DIR, CLUSTER_STATE_FILE, REPO_ROOT, processAlive } from './cluster-state.js';
import type { ClusterState } from './cluster-state.js';

const START_TIMEOUT_MS = 30 * 60_000; // includes a cold build of the binaries
const POLL_INTERVAL_MS = 500;

function readState(): ClusterState | undefined {
  if (!existsSync(CLUSTER_STATE_FILE)) return undefined;
  const state = JSON.parse(readFileSync(CLUSTER_STATE_FILE, 'utf8')) as ClusterState;
  return processAlive(state.pid) ? state : undefined;
}

function report(state: ClusterState): void {
  console.log(`cluster running (pid ${state.pid}), API ${state.apiUrl}`);
  console.log(`admin kubeconfig: ${state.kubeconfigPath}`);
  console.log(`helm: ${state.helmPath}`);
  console.log(`\n  export KUBECONFIG=${state.kubeconfigPath}\n\nstop it with: npm run cluster:down`);
}

const running = readState();
if (running) {
  report(running);
  process.exit(0);
}
mkdirSync(CLUSTER_STATE_DIR, { recursive: true });
const out = openSync(CLUSTER_LOG, 'w');
const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts', 'cluster-serve.ts')], {
  cwd: REPO_ROOT,
  detached: true,
  stdio: ['ignore', out, out],
});
closeSync(out);
child.unref();
console.log(`starting the test cluster (log: ${CLUSTER_LOG}); the first run on a machine builds Kubernetes first`);
const deadline = Date.now() + START_TIMEOUT_MS;
for (;;) {
  const state = readState();
  if (state && state.pid === child.pid) {
    report(state);
    process.exit(0);
  }
  if (child.pid === undefined || !processAlive(child.pid) || Date.now() > deadline) {
    console.error(`the cluster did not start; ${CLUSTER_LOG} ends with:\n${readFileSync(CLUSTER_LOG, 'utf8').slice(-4000)}`);
    if (child.pid !== undefined && processAlive(child.pid)) process.kill(child.pid, 'SIGTERM');
    process.exit(1);
  }
  await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
}
