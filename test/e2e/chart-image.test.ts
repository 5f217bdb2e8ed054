// The container image, without a Docker engine: the Dockerfile's invariants are checked statically
// (stages, base image, non-root user, what the runtime stage copies, .dockerignore), then the runtime
// stage's file layout is assembled from the checkout exactly as its COPY lines say — production
// dependencies only, outside any directory with another node_modules — and run: version, help, and a
// real node serving /metrics and the cluster page.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePortBase } from '../process/local-cluster.js';
import { waitFor } from './lib/wait.js';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const BASE_IMAGE = 'node:20-bookworm-slim';
const NONROOT_UID = 65532;
const ENTRYPOINT = ['node', '/app/bin/kuberaft.js'];
/** What the runtime stage holds, by path under /app. */
const RUNTIME_PATHS = ['bin', 'dist/src', 'node_modules', 'package.json'];
const BUILD_DIR = '/src';
const APP_DIR = '/app';
const NODE_START_TIMEOUT_MS = 20_000;
const NODE_STOP_TIMEOUT_MS = 10_000;
const HTTP_TIMEOUT_MS = 2_000;
const DEV_ONLY_PACKAGES = ['typescript', 'tsx', 'eslint', 'typescript-eslint'];

interface Instruction {
  op: string;
  args: string;
}

interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Instructions of a Dockerfile: continuation lines joined, comments and blank lines dropped. */
function parseDockerfile(text: string): { preamble: Instruction[]; stages: Stage[] } {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(current + line);
    current = '';
  }
  const preamble: Instruction[] = [];
  const stages: Stage[] = [];
  for (const line of logical) {
    const m = /^(\w+)\s+(.*)$/.exec(line);
    assert.ok(m, `unparsable Dockerfile line: ${line}`);
    const op = (m[1] as string).toUpperCase();
    const args = m[2] as string;
    if (op === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      assert.ok(from, `unparsable FROM: ${args}`);
      stages.push({ from: from[1] as string, name: from[2], instructions: [] });
    } else if (stages.length === 0) {
      preamble.push({ op, args });
    } else {
      (stages[stages.length - 1] as Stage).instructions.push({ op, args });
    }
  }
  return { preamble, stages };
}

interface Copy {
  from: string | undefined;
  sources: string[];
  dest: string;
}

function copies(stage: Stage): Copy[] {
  return stage.instructions
    .filter((i) => i.op === 'COPY')
    .map((i) => {
      const words = i.args.split(/\s+/);
      const flags = words.filter((w) => w.startsWith('--'));
      const paths = words.filter((w) => !w.startsWith('--'));
      assert.ok(paths.length >= 2, `COPY needs a source and a destination: ${i.args}`);
      const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
      return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1] as string };
    });
}

/** The build context Docker sends: .dockerignore patterns, last match wins, `!` re-includes. */
function dockerignoreAdmits(patterns: readonly string[], path: string): boolean {
  let admitted = true;
  for (const p of patterns) {
    const negate = p.startsWith('!');
    const body = negate ? p.slice(1) : p;
    const re = new RegExp(
      `^${body
        .split('**')
        .map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))
        .join('.*')}(/.*)?$`,
    );
    if (re.test(path)) admitted = negate;
  }
  return admitted;
}

function filesUnder(dir: string): string[] {
  if (!statSync(dir).isDirectory()) return [dir];
  return readdirSync(dir).flatMap((n) => filesUnder(join(dir, n)));
}

const dockerfile = parseDockerfile(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

function stage(name: string): Stage {
  const s = dockerfile.stages.find((x) => x.name === name);
  assert.ok(s, `a stage named ${name}`);
  return s;
}

describe('Dockerfile', () => {
  test(`two stages, build then runtime, both on ${BASE_IMAGE}`, () => {
    assert.deepEqual(dockerfile.preamble, [{ op: 'ARG', args: `NODE_IMAGE=${BASE_IMAGE}` }]);
    assert.deepEqual(
      dockerfile.stages.map((s) => [s.from, s.name]),
      [
        ['${NODE_IMAGE}', 'build'],
        ['${NODE_IMAGE}', 'runtime'],
      ],
    );
  });

  test('the build stage installs from the lock file, builds, then prunes dev dependencies', () => {
    const runs = stage('build').instructions.filter((i) => i.op === 'RUN').map((i) => i.args).join(' && ');
    const order = ['npm ci', 'npm run build', 'npm prune --omit=dev'].map((cmd) => runs.indexOf(cmd));
    assert.ok(order.every((i) => i >= 0), `RUN lines: ${runs}`);
    assert.deepEqual([...order].sort((a, b) => a - b), order, 'in that order');
    assert.deepEqual(stage('build').instructions.find((i) => i.op === 'WORKDIR')?.args, BUILD_DIR);
  });

  test('everything the build stage copies exists and is in the build context; what must not be is not', () => {
    const sources = copies(stage('build')).flatMap((c) => {
      assert.equal(c.from, undefined, 'the build stage copies from the context only');
      return c.sources;
    });
    for (const src of sources) {
      assert.ok(existsSync(join(REPO_ROOT, src)), `${src} exists`);
      for (const file of filesUnder(join(REPO_ROOT, src))) {
        const rel = relative(REPO_ROOT, file);
        if (rel.endsWith('.test.ts')) assert.ok(!dockerignoreAdmits(ignore, rel), `${rel} stays out of the image`);
        else assert.ok(dockerignoreAdmits(ignore, rel), `.dockerignore admits ${rel}`);
      }
    }
    // The compiler's inputs are all copied.
    for (const input of ['tsconfig.json', 'tsconfig.build.json', 'src', 'bin', 'package.json', 'package-lock.json']) {
      assert.ok(sources.includes(input), `COPY ${input}`);
    }
    for (const kept of ['node_modules/express/package.json', 'dist/src/cli/main.js', '.git/HEAD', 'data/node-1/x', 'test/e2e/chart.test.ts', '.cache/x']) {
      assert.ok(!dockerignoreAdmits(ignore, kept), `${kept} is not sent to the builder`);
    }
  });

  test('the runtime stage copies only the compiled code, production node_modules, bin and package.json from the build stage', () => {
    const runtime = stage('runtime');
    assert.equal(dockerfile.stages[dockerfile.stages.length - 1], runtime, 'runtime is the final stage');
    assert.ok(!runtime.instructions.some((i) => i.op === 'RUN'), 'nothing is installed or built in the runtime stage');
    assert.equal(runtime.instructions.find((i) => i.op === 'WORKDIR')?.args, APP_DIR);
    const cs = copies(runtime);
    for (const c of cs) {
      assert.equal(c.from, 'build');
      assert.equal(c.sources.length, 1);
    }
    assert.deepEqual(cs.map((c) => relative(BUILD_DIR, c.sources[0] as string)).sort(), RUNTIME_PATHS);
    for (const c of cs) assert.equal(resolve(APP_DIR, c.dest), resolve(APP_DIR, relative(BUILD_DIR, c.sources[0] as string)));
  });

  test(`the runtime runs as uid ${NONROOT_UID}, never root, with the kuberaft CLI as entrypoint`, () => {
    const runtime = stage('runtime');
    const users = runtime.instructions.filter((i) => i.op === 'USER');
    assert.equal(users.length, 1);
    assert.equal(users[0]?.args, `${NONROOT_UID}:${NONROOT_UID}`, 'numeric, so Kubernetes runAsNonRoot can verify it');
    const entry = runtime.instructions.filter((i) => i.op === 'ENTRYPOINT');
    assert.equal(entry.length, 1);
    assert.deepEqual(JSON.parse(entry[0]?.args ?? ''), ENTRYPOINT, 'exec form: signals reach node directly');
    assert.ok(runtime.instructions.indexOf(users[0] as Instruction) < runtime.instructions.indexOf(entry[0] as Instruction));
  });
});

describe('the runtime stage, assembled from the checkout', () => {
  let app = '';
  let dataDir = '';

  before(() => {
    assert.ok(existsSync(join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js')), 'dist/ is missing: run `npm run build` first');
    // Outside the repository, so no parent directory's node_modules can satisfy an import.
    const root = mkdtempSync(join(tmpdir(), 'kuberaft-image-'));
    app = join(root, 'app');
    dataDir = join(root, 'data');
    for (const c of copies(stage('runtime'))) {
      const rel = relative(BUILD_DIR, c.sources[0] as string);
      const dest = resolve(app, relative(APP_DIR, resolve(APP_DIR, c.dest)));
      if (rel === 'node_modules') {
        // What `npm prune --omit=dev` keeps: the production dependency tree, top-level packages.
        const ls = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: REPO_ROOT, encoding: 'utf8' });
        const top = new Set<string>();
        for (const line of ls.stdout.split('\n').slice(1)) {
          const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(relative(REPO_ROOT, line.trim()));
          if (m) top.add(m[1] as string);
        }
        assert.ok(top.size > 0, `npm ls listed no production packages: ${ls.stderr}`);
        for (const pkg of top) cpSync(join(REPO_ROOT, 'node_modules', pkg), join(dest, pkg), { recursive: true });
        // Some dev dependencies of ours (@types/*) are also production dependencies of a dependency; tools are not.
        for (const tool of DEV_ONLY_PACKAGES) assert.ok(!top.has(tool), `${tool} is a dev dependency only`);
      } else {
        mkdirSync(resolve(dest, '..'), { recursive: true });
        cpSync(join(REPO_ROOT, rel), dest, { recursive: true });
      }
    }
  });

  after(() => {
    if (app) rmSync(resolve(app, '..'), { recursive: true, force: true });
  });

  function cli(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [join(app, 'bin', 'kuberaft.js'), ...args], { cwd: app, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  test('prints its version and the help of each subcommand', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const version = cli(['--version']);
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, new RegExp(pkg.version.replace(/\./g, '\\.')));
    for (const sub of ['node', 'local', 'ctl', 'operator']) {
      const help = cli([sub, '--help']);
      assert.equal(help.status, 0, `${sub} --help: ${help.stderr}`);
      assert.match(help.stdout, new RegExp(`Usage: kuberaft ${sub}`));
    }
  });

  test('runs a real node that serves /metrics and the cluster page with its charting library', async () => {
    const base = await freePortBase(1);
    const peer = `127.0.0.1:${base + 1}`;
    const api = `127.0.0.1:${base + 101}`;
    const child = spawn(
      process.execPath,
      [join(app, 'bin', 'kuberaft.js'), 'node', '--id', 'n1', '--data-dir', dataDir, '--bootstrap', '--listen-peer', peer, '--listen-api', api, '--anonymous-role', 'read'],
      { cwd: app, stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '' } },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const body = await waitFor('the node to serve raft_is_leader 1', NODE_START_TIMEOUT_MS, async () => {
        assert.equal(child.exitCode, null, `the node exited: ${stderr}`);
        const res = await fetch(`http://${api}/metrics`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
        const text = await res.text();
        return /^raft_is_leader\{node="n1"\} 1$/m.test(text) ? text : undefined;
      });
      assert.match(body, /^raft_term\{node="n1"\} [1-9]/m);
      for (const [path, type] of [['/', 'text/html'], ['/ui/page.js', 'text/javascript'], ['/ui/vendor/uPlot.iife.min.js', 'text/javascript']] as const) {
        const res = await fetch(`http://${api}${path}`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
        assert.equal(res.status, 200, `GET ${path}`);
        assert.match(res.headers.get('content-type') ?? '', new RegExp(`^${type}`), `GET ${path}`);
      }
    } finally {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), NODE_STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
  });
});
