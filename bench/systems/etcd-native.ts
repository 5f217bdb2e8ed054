// etcd's native load generator (bench/etcd-native: clientv3 over gRPC), built from its Go module at the
// etcd client version that matches the benchmarked server, and cached like the server binary (under the
// kuberaft cache, keyed by that version and a hash of the generator's source).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findGo } from '../../test/controlplane/binaries.js';
import { ETCD_VERSION, cacheRoot } from '../../test/controlplane/versions.js';

const SOURCE_DIR = fileURLToPath(new URL('../etcd-native', import.meta.url));
const SOURCE_FILES = ['main.go', 'go.mod', 'go.sum'];
const BINARY = 'etcd-load';

/** The cached generator, building it first (a minute or so with warm Go caches) if needed. */
export async function etcdLoadBinary(log: (line: string) => void): Promise<string> {
  const goMod = readFileSync(join(SOURCE_DIR, 'go.mod'), 'utf8');
  // The client and the server are of one release, as an etcd user would run them.
  if (!goMod.includes(`go.etcd.io/etcd/client/v3 ${ETCD_VERSION}`)) {
    throw new Error(`bench/etcd-native/go.mod must require go.etcd.io/etcd/client/v3 ${ETCD_VERSION}, the benchmarked server's version`);
  }
  const hash = createHash('sha256');
  for (const f of SOURCE_FILES) hash.update(readFileSync(join(SOURCE_DIR, f)));
  const dir = join(cacheRoot(), `etcd-load-${ETCD_VERSION}-${hash.digest('hex').slice(0, 12)}`);
  const binary = join(dir, BINARY);
  if (existsSync(binary)) return binary;
  log(`building etcd's native load generator (clientv3 ${ETCD_VERSION}) into ${dir}`);
  const go = findGo();
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(go, ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(tmp, BINARY), '.'], {
      cwd: SOURCE_DIR,
      env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`building bench/etcd-native failed (go build exited ${String(code)}); the Go module proxy must be reachable on the first build`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return binary;
}
