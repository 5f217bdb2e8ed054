// Builds etcd, kube-apiserver, kube-controller-manager and helm from their Go modules (the wrapper modules
// in this directory) into a per-version cache, so only the first run on a machine pays for the build.
// Binaries are written to a temporary directory and renamed into place: a half-built cache never exists.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ETCD_VERSION,
  HELM_VERSION,
  K8S_MAJOR,
  K8S_MINOR,
  K8S_VERSION,
  cacheRoot,
  etcdBinDir,
  helmBinDir,
  k8sBinDir,
} from './versions.js';

const MODULE_DIR = dirname(fileURLToPath(import.meta.url));
const BUILD_LOCK_POLL_MS = 2_000;
/** A cold build of all three takes ~20 min on 2 cores; a lock older than this is from a dead builder. */
const BUILD_LOCK_STALE_MS = 90 * 60_000;
const GO_FALLBACK_PATHS = ['/usr/local/go/bin/go', '/usr/lib/go/bin/go'];

export class GoToolchainMissingError extends Error {
  readonly code = 'GO_TOOLCHAIN_MISSING';
  constructor() {
    super(
      'The control-plane tests build etcd and Kubernetes from source but no Go toolchain was found ' +
        '(looked for `go` on PATH and in ' +
        GO_FALLBACK_PATHS.join(', ') +
        '). Install Go >= 1.24 (e.g. `apt-get install golang-go`, or unpack the official tarball into ' +
        '/usr/local/go) and make sure the Go module proxy is reachable.',
    );
  }
}

export class BinaryBuildError extends Error {
  readonly code = 'BINARY_BUILD_FAILED';
  constructor(what: string, detail: string) {
    super(`building ${what} failed; fix the Go build in test/controlplane/ (output below):\n${detail}`);
  }
}

export interface ControlPlaneBinaries {
  readonly etcd: string;
  readonly kubeApiserver: string;
  readonly kubeControllerManager: string;
}

export type Logger = (line: string) => void;

/** The `go` executable, or GoToolchainMissingError. */
export function findGo(candidates: readonly string[] = ['go', ...GO_FALLBACK_PATHS]): string {
  for (const candidate of candidates) {
    const r = spawnSync(candidate, ['version'], { encoding: 'utf8' });
    if (r.status === 0) return candidate;
  }
  throw new GoToolchainMissingError();
}

function versionLdflags(): string {
  const flags = ['-s', '-w'];
  for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
    flags.push(
      `-X ${pkg}.gitVersion=${K8S_VERSION}`,
      `-X ${pkg}.gitMajor=${K8S_MAJOR}`,
      `-X ${pkg}.gitMinor=${K8S_MINOR}`,
      `-X ${pkg}.gitTreeState=clean`,
      `-X ${pkg}.buildDate=1970-01-01T00:00:00Z`,
    );
  }
  return flags.join(' ');
}

async function runGo(go: string, args: string[], cwd: string, what: string, log: Logger): Promise<void> {
  log(`go ${args.join(' ')}  (in ${cwd})`);
  const child = spawn(go, args, {
    cwd,
    env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new BinaryBuildError(what, output.slice(-8_000));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs `build` under a cross-process lock (a directory), so concurrent test files build once. */
async function withBuildLock<T>(name: string, log: Logger, build: () => Promise<T>): Promise<T> {
  mkdirSync(cacheRoot(), { recursive: true });
  const lock = join(cacheRoot(), `${name}.lock`);
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'owner'), JSON.stringify({ pid: process.pid, at: Date.now() }));
      break;
    } catch {
      let stale = false;
      try {
        const owner = JSON.parse(readFileSync(join(lock, 'owner'), 'utf8')) as { pid: number; at: number };
        stale = !pidAlive(owner.pid) || Date.now() - owner.at > BUILD_LOCK_STALE_MS;
      } catch {
        stale = false; // the owner file is being written; wait for it
      }
      if (stale) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      log(`waiting for another process building ${name} (lock ${lock})`);
      await sleep(BUILD_LOCK_POLL_MS);
    }
  }
  try {
    return await build();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

async function buildInto(
  finalDir: string,
  names: readonly string[],
  log: Logger,
  build: (tmpDir: string, go: string) => Promise<void>,
): Promise<void> {
  if (names.every((n) => existsSync(join(finalDir, n)))) return;
  const go = findGo();
  await withBuildLock(finalDir.split('/').pop() ?? 'build', log, async () => {
    if (names.every((n) => existsSync(join(finalDir, n)))) return; // another process finished it
    const tmp = `${finalDir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    const started = Date.now();
    await build(tmp, go);
    rmSync(finalDir, { recursive: true, force: true });
    renameSync(tmp, finalDir);
    log(`built ${names.join(', ')} into ${finalDir} in ${Math.round((Date.now() - started) / 1000)} s`);
  });
}

/** Returns the cached control-plane binaries, building them first if this machine has none. */
export async function ensureControlPlaneBinaries(log: Logger = () => {}): Promise<ControlPlaneBinaries> {
  await buildInto(etcdBinDir(), ['etcd'], log, async (tmp, go) => {
    await runGo(go, ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(tmp, 'etcd'), 'go.etcd.io/etcd/server/v3'], MODULE_DIR, `etcd ${ETCD_VERSION}`, log);
  });
  await buildInto(k8sBinDir(), ['kube-apiserver', 'kube-controller-manager'], log, async (tmp, go) => {
    await runGo(
      go,
      ['build', '-trimpath', '-ldflags', versionLdflags(), '-o', `${tmp}/`, 'k8s.io/kubernetes/cmd/kube-apiserver', 'k8s.io/kubernetes/cmd/kube-controller-manager'],
      MODULE_DIR,
      `Kubernetes ${K8S_VERSION}`,
      log,
    );
  });
  return {
    etcd: join(etcdBinDir(), 'etcd'),
    kubeApiserver: join(k8sBinDir(), 'kube-apiserver'),
    kubeControllerManager: join(k8sBinDir(), 'kube-controller-manager'),
  };
}

/** Returns the path of a cached helm binary, building it from helm.sh/helm/v3 first if needed. */
export async function ensureHelm(log: Logger = () => {}): Promise<string> {
  await buildInto(helmBinDir(), ['helm'], log, async (tmp, go) => {
    const ldflags = `-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} -X helm.sh/helm/v3/internal/version.gitTreeState=clean`;
    await runGo(go, ['build', '-trimpath', '-ldflags', ldflags, '-o', join(tmp, 'helm'), 'helm.sh/helm/v3/cmd/helm'], join(MODULE_DIR, 'helm'), `helm ${HELM_VERSION}`, log);
  });
  return join(helmBinDir(), 'helm');
}
