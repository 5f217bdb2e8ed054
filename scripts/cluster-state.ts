// Where `npm run cluster:up` keeps the state of the cluster it started (inside the checkout, gitignored).
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '..');
export const CLUSTER_STATE_DIR = join(REPO_ROOT, '.cache', 'cluster');
export const CLUSTER_STATE_FILE = join(CLUSTER_STATE_DIR, 'state.json');
export const CLUSTER_KUBECONFIG = join(CLUSTER_STATE_DIR, 'kubeconfig');
export const CLUSTER_LOG = join(CLUSTER_STATE_DIR, 'cluster.log');

export interface ClusterState {
  readonly pid: number;
  readonly kubeconfigPath: string;
  readonly apiUrl: string;
  readonly runDir: string;
  readonly helmPath: string;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
