#!/usr/bin/env node
// Runs a test suite with Node's built-in runner (its summary lines `# pass N` / `# fail N` are what CI reads).
// Suites: unit (src/**/*.test.ts), sim (test/sim and the mutation suite), process (test/process),
// browser (test/browser: the cluster page in headless Chromium), e2e (test/e2e), all.
// Node 20's runner does not find .ts files by itself, so this script lists them.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const SUITES = {
  unit: ['src', 'test/unit', 'test/lincheck'],
  sim: ['test/sim'],
  process: ['test/process'],
  browser: ['test/browser'],
  e2e: ['test/e2e'],
};
const ORDER = ['unit', 'sim', 'process', 'browser', 'e2e'];
// Test files outside the suite folders: the simulator's mutation suite (scripts/sim-mutants.ts) runs
// with the sim suite, so CI proves the simulator still catches every planted bug.
const EXTRA_FILES = { sim: ['scripts/sim-mutants.test.ts'] };

function findTests(dir) {
  let out = [];
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (name === 'node_modules' || name === 'dist') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(findTests(p));
    else if (name.endsWith('.test.ts')) out.push(relative(process.cwd(), p));
  }
  return out.sort();
}

const suite = process.argv[2] ?? 'all';
const extra = process.argv.slice(3);
const names = suite === 'all' ? ORDER : [suite];
if (!names.every((n) => n in SUITES)) {
  console.error(`unknown suite "${suite}"; use one of: ${[...ORDER, 'all'].join(', ')}`);
  process.exit(2);
}
const files = names.flatMap((n) => [...SUITES[n].flatMap(findTests), ...(EXTRA_FILES[n] ?? [])]);
if (files.length === 0) {
  console.error(`no test files found for suite "${suite}"`);
  process.exit(1);
}
// Process, browser and e2e suites spawn the compiled CLI (and the page it serves); build it first so
// they never test stale code.
if (names.some((n) => n === 'process' || n === 'browser' || n === 'e2e')) {
  const build = spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
const concurrency = process.env.KUBERAFT_TEST_CONCURRENCY ?? '2';
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--enable-source-maps', '--test', `--test-concurrency=${concurrency}`, ...extra, ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
