// The package's version, read once from package.json (found upwards from this module, which runs
// from src/cli under tsx and from dist/src/cli when built).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Directories walked up from this module looking for package.json. */
const PACKAGE_SEARCH_DEPTH_MAX = 5;
let cached: string | undefined;

export function packageVersion(): string {
  if (cached !== undefined) return cached;
  cached = 'unknown';
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < PACKAGE_SEARCH_DEPTH_MAX; i += 1) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'kuberaft' && typeof pkg.version === 'string') {
        cached = pkg.version;
        break;
      }
    }
    dir = dirname(dir);
  }
  return cached;
}
