// Runs the real `kuberaft local` (bin/kuberaft.js → dist/) for process tests, and the real `kuberaft ctl`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/kuberaft.js', import.meta.url));
/** Forming a 3-node cluster on a loaded 2-core machine: elections, joins, catch-up. */
export const READY_TIMEOUT_MS = 60_000;
/** `kuberaft local` stops children with SIGTERM and SIGKILLs after 10 s: allow that plus margin. */
export const STOP_TIMEOUT_MS = 20_000;
const PORT_BASE_MIN = 20_000;
const PORT_BASE_MAX = 60_000;
const PORT_PROBE_ATTEMPTS_MAX = 50;
const API_PORT_OFFSET = 100;

async function portFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port base whose peer ports (base+i) and API ports (base+100+i) are all free right now. */
export async function freePortBase(nodes: number): Promise<number> {
  for (let attempt = 0; attempt < PORT_PROBE_ATTEMPTS_MAX; attempt += 1) {
    const base = PORT_BASE_MIN + Math.floor(Math.random() * (PORT_BASE_MAX - PORT_BASE_MIN));
    const ports = Array.from({ length: nodes }, (_, i) => [base + 1 + i, base + API_PORT_OFFSET + 1 + i]).flat();
    let free = true;
    for (const p of ports) if (!(await portFree(p))) free = false;
    if (free) return base;
  }
  throw new Error('no free port range found');
}

export function apiUrl(portBase: number, ordinal: number): string {
  return `http://127.0.0.1:${portBase + API_PORT_OFFSET + ordinal}`;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: unknown }).code === 'EPERM';
  }
}

export async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface StatusView {
  id: string;
  pid: number;
  state: string;
  role: string;
  leader: string | null;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  members: { id: string; role: string; address: string; matchIndex: number | null }[];
}

/** A token `kuberaft local` generated under `dataDir` (`<role>-token`). */
export function localToken(dataDir: string, role: 'read' | 'write' | 'admin'): string {
  return readFileSync(join(dataDir, `${role}-token`), 'utf8').trim();
}

export async function status(url: string, token: string): Promise<StatusView> {
  const res = await fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(5000), headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  return (await res.json()) as StatusView;
}

/** A running `kuberaft local`. */
export class LocalCluster {
  stdout = '';
  stderr = '';
  private readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly process: ChildProcess,
    readonly portBase: number,
    readonly nodes: number,
    readonly dataDir: string,
  ) {
    process.stdout?.setEncoding('utf8').on('data', (s: string) => (this.stdout += s));
    process.stderr?.setEncoding('utf8').on('data', (s: string) => (this.stderr += s));
    this.exit = once(process, 'close').then(([code, signal]) => ({
      code: code as number | null,
      signal: signal as NodeJS.Signals | null,
    }));
  }

  static async start(opts: { nodes: number; dataDir: string; portBase: number }): Promise<LocalCluster> {
    const child = spawn(
      process.execPath,
      [BIN, 'local', '--nodes', String(opts.nodes), '--data-dir', opts.dataDir, '--port-base', String(opts.portBase)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const cluster = new LocalCluster(child, opts.portBase, opts.nodes, opts.dataDir);
    let exited = false;
    void cluster.exit.then(() => (exited = true));
    try {
      await waitFor('the ready line', () => exited || /^local \| ready: /m.test(cluster.stdout), READY_TIMEOUT_MS);
      assert.ok(!exited, 'kuberaft local exited before it was ready');
    } catch (err) {
      cluster.kill();
      throw new Error(`${(err as Error).message}\n--- stdout\n${cluster.stdout}\n--- stderr (tail)\n${cluster.stderr.slice(-4000)}`);
    }
    return cluster;
  }

  url(ordinal: number): string {
    return apiUrl(this.portBase, ordinal);
  }

  /** Node `ordinal`'s status, asked with the read token. */
  status(ordinal: number): Promise<StatusView> {
    return status(this.url(ordinal), localToken(this.dataDir, 'read'));
  }

  /** Pids of every node, as the nodes report them. */
  async nodePids(): Promise<number[]> {
    const pids: number[] = [];
    for (let i = 1; i <= this.nodes; i += 1) pids.push((await this.status(i)).pid);
    return pids;
  }

  async stop(signal: NodeJS.Signals = 'SIGINT'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.process.kill(signal);
    const timer = setTimeout(() => this.kill(), STOP_TIMEOUT_MS);
    try {
      return await this.exit;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Cleanup after a failed test: the supervisor and, through the API, any node it left. */
  kill(): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL');
  }
}

/** Kills node processes a failed test may have left behind. */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
}

export interface CtlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `kuberaft ctl`. */
export async function ctl(args: readonly string[], env: Record<string, string> = {}, cwd?: string): Promise<CtlResult> {
  const child = spawn(process.execPath, [BIN, 'ctl', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, ...(cwd === undefined ? {} : { cwd }) });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}
