// Pinned versions of the control-plane components and where their binaries are cached.
// The versions here must match the `require`/`replace` lines of go.mod and helm/go.mod beside this file.
import { homedir } from 'node:os';
import { join } from 'node:path';

export const K8S_VERSION = 'v1.34.4';
export const K8S_MAJOR = '1';
export const K8S_MINOR = '34';
/** etcd as required by k8s.io/kubernetes at K8S_VERSION (go.mod selects it). */
export const ETCD_VERSION = 'v3.6.4';
export const HELM_VERSION = 'v3.19.5';

/** Root of every cached artefact; override with KUBERAFT_CACHE_DIR (e.g. to share a cache between checkouts). */
export function cacheRoot(): string {
  return process.env.KUBERAFT_CACHE_DIR ?? join(homedir(), '.cache', 'kuberaft');
}

export function k8sBinDir(): string {
  return join(cacheRoot(), `k8s-${K8S_VERSION}`);
}

export function etcdBinDir(): string {
  return join(cacheRoot(), `etcd-${ETCD_VERSION}`);
}

export function helmBinDir(): string {
  return join(cacheRoot(), `helm-${HELM_VERSION}`);
}
