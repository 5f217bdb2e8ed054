// `npm run cluster:down`: stops the cluster started by `npm run cluster:up` and waits until it is gone.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { CLUSTER_STATE_FILE, processAlive } from './cluster-state.js';
import type { ClusterState } from './cluster-state.js';

const STOP_TIMEOUT_MS = 60_000;
const POLL_INTERVAL_MS = 250;

if (!existsSync(CLUSTER_STATE_FILE)) {
  console.log('no test cluster is running');
  process.exit(0);
}
const state = JSON.parse(readFileSync(CLUSTER_STATE_FILE, 'utf8')) as ClusterState;
if (!processAlive(state.pid)) {
  rmSync(CLUSTER_STATE_FILE, { force: true });
  console.log(`the cluster process ${state.pid} is already gone (its kubelet cleans up after it)`);
  process.exit(0);
}
process.kill(state.pid, 'SIGTERM');
const deadline = Date.now() + STOP_TIMEOUT_MS;
while (processAlive(state.pid)) {
  if (Date.now() > deadline) {
    console.error(`the cluster process ${state.pid} did not stop within ${STOP_TIMEOUT_MS / 1000}s; killing it`);
    process.kill(state.pid, 'SIGKILL');
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
}
console.log('test cluster stopped');
