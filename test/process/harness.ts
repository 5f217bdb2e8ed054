// Real `kuberaft node` processes (bin/kuberaft.js → dist/) on 127.0.0.1 for the process tests:
// start, bootstrap and join through the leader's admin API, kill -9, SIGSTOP/SIGCONT, restart on the
// same data dir, wipe a data dir; read every node's status and digest. Clients and load: workload.ts.
//
// Ownership: every process a ProcessCluster starts is recorded in `spawnedPids` (module-wide), and
// `cluster.destroy()` (call it from `after()`) SIGKILLs them all and removes the temp dir, so a
// failing test never leaves a process behind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientRole, NodeStatus } from '../../src/api/types.js';
import { BIN, pidAlive } from './local-cluster.js';

/**
 * The command under test: the checkout's bin/kuberaft.js (the suite builds dist/ first), or another
 * build of it named by KUBERAFT_TEST_BIN (e.g. a copy that a concurrent rebuild cannot change mid-run).
 */
export const NODE_BIN = process.env.KUBERAFT_TEST_BIN ?? BIN;
/** Small timeouts keep failover quick: 500 ms election timeout = 10 heartbeats of 50 ms. */
export const TICK_MS = 10;
export const HEARTBEAT_INTERVAL_MS = 50;
export const ELECTION_TIMEOUT_MS = 500;
/** Electing a leader on a loaded 2-core machine, including pre-vote rounds after a partition. */
export const LEADER_WAIT_MS = 20_000;
/** A node process from spawn to serving /livez. */
export const START_WAIT_MS = 20_000;
/** A learner catching up and being promoted; applied indexes converging after a fault. */
export const CONVERGE_WAIT_MS = 30_000;
/** One HTTP call; a linearizable read or a write needs a round trip and an fsync. */
export const HTTP_CALL_TIMEOUT_MS = 5_000;
/** How long a client retries one operation before recording it as unknown / giving up. */
export const OPERATION_DEADLINE_MS = 20_000;
/** Waiting for a signalled process to exit. */
export const EXIT_WAIT_MS = 15_000;
const POLL_MS = 50;
export const RETRY_DELAY_MS = 50;
/** Kept per node, so a failure report can show the end of its log. */
const LOG_TAIL_MAX_CHARS = 4 * 1024 * 1024;

/** Every pid any cluster in this test process spawned; `killSpawned()` is the last line of defence. */
export const spawnedPids = new Set<number>();

export function killSpawned(): void {
  for (const pid of spawnedPids) {
    if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
  }
}

/** Every cluster created in this test process, so `destroyAll()` can clean up even after a failed `before()`. */
const clusters = new Set<ProcessCluster>();

/** For `after()`: kills every spawned process, removes every cluster's temp dir, and checks that no pid survives. */
export async function destroyAll(): Promise<void> {
  for (const c of clusters) c.destroy();
  killSpawned();
  await waitUntil('every spawned node process to exit', () => [...spawnedPids].every((p) => !pidAlive(p)), EXIT_WAIT_MS);
}

/** A port the OS says is free right now (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

export async function waitUntil(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await predicate()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : ` (last error: ${String(last)})`}`);
    await sleep(POLL_MS);
  }
}

/** A member as `/v1/status` lists it. */
export type MemberStatus = NodeStatus['members'][number];

export interface HttpResult {
  status: number;
  headers: Headers;
  body: Buffer;
  json<T = unknown>(): T;
}

/** One HTTP call with a timeout; the body is read whole. */
export async function http(url: string, init: RequestInit = {}, timeoutMs = HTTP_CALL_TIMEOUT_MS): Promise<HttpResult> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const body = Buffer.from(await res.arrayBuffer());
  return {
    status: res.status,
    headers: res.headers,
    body,
    json: <T>() => JSON.parse(body.toString('utf8')) as T,
  };
}

export interface NodeOptions {
  /**
   * `tokens` (default): the node takes the cluster's tokens file and serves no request without a
   * token; the harness's calls send the token of the role they need. `anonymous`: no tokens, and
   * requests without one have every role (the plain mode).
   */
  auth?: 'tokens' | 'anonymous';
  /** `--snapshot-threshold-entries`; the node's default when undefined. */
  snapshotThresholdEntries?: number;
  /** A different cluster secret file (the wrong-secret test). */
  clusterSecretFile?: string;
  /** Raft timing other than the suite's quick HEARTBEAT_INTERVAL_MS / ELECTION_TIMEOUT_MS. */
  heartbeatIntervalMs?: number;
  electionTimeoutMs?: number;
}

/** One `kuberaft node` process slot: fixed id, ports and data dir; the process comes and goes. */
export class NodeProcess {
  child: ChildProcess | undefined;
  /** stderr (JSON log lines) of every run of this node, appended. */
  log = '';
  private exitPromise: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({ code: null, signal: null });
  stopped = false;

  constructor(
    readonly id: string,
    readonly peerPort: number,
    readonly apiPort: number,
    readonly dataDir: string,
    private readonly cluster: ProcessCluster,
    readonly options: NodeOptions = {},
  ) {}

  get peerAddress(): string {
    return `127.0.0.1:${this.peerPort}`;
  }

  get url(): string {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Spawns the process; resolves once /livez answers (or rejects if it exited first). */
  async start(opts: { bootstrap?: boolean; waitLive?: boolean } = {}): Promise<void> {
    assert.ok(!this.running, `${this.id} is already running`);
    const args = [
      NODE_BIN,
      'node',
      '--id',
      this.id,
      '--data-dir',
      this.dataDir,
      '--listen-peer',
      this.peerAddress,
      '--listen-api',
      `127.0.0.1:${this.apiPort}`,
      '--cluster-secret-file',
      this.options.clusterSecretFile ?? this.cluster.secretFile,
      ...(this.options.auth === 'anonymous' ? ['--anonymous-role', 'admin'] : ['--tokens-file', this.cluster.tokensFile]),
      '--tick-ms',
      String(TICK_MS),
      '--heartbeat-interval-ms',
      String(this.options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS),
      '--election-timeout-ms',
      String(this.options.electionTimeoutMs ?? ELECTION_TIMEOUT_MS),
    ];
    if (this.options.snapshotThresholdEntries !== undefined) args.push('--snapshot-threshold-entries', String(this.options.snapshotThresholdEntries));
    if (opts.bootstrap === true) args.push('--bootstrap');
    // KUBERAFT_* of the test environment must not configure the node.
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KUBERAFT_')) env[k] = v;
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    assert.ok(child.pid !== undefined, `${this.id} could not be spawned`);
    spawnedPids.add(child.pid);
    this.child = child;
    this.stopped = false;
    const append = (s: string): void => {
      this.log += s;
      if (this.log.length > LOG_TAIL_MAX_CHARS) this.log = this.log.slice(-LOG_TAIL_MAX_CHARS);
    };
    child.stdout?.setEncoding('utf8').on('data', append);
    child.stderr?.setEncoding('utf8').on('data', append);
    this.exitPromise = once(child, 'close').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
    if (opts.waitLive === false) return;
    let exited = false;
    void this.exitPromise.then(() => (exited = true));
    await waitUntil(
      `${this.id} to serve /livez`,
      async () => {
        if (exited) throw new Error(`${this.id} exited during start:\n${this.logTail()}`);
        return (await http(`${this.url}/livez`, {}, 1000)).status === 200;
      },
      START_WAIT_MS,
    ).catch((err: unknown) => {
      if (exited) throw new Error(`${this.id} exited during start:\n${this.logTail()}`);
      throw err;
    });
  }

  /** Resolves with the exit of the current run. */
  async exited(timeoutMs = EXIT_WAIT_MS): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const timer = new AbortController();
    try {
      return await Promise.race([
        this.exitPromise,
        sleep(timeoutMs, undefined, { signal: timer.signal }).then(() => {
          throw new Error(`${this.id} did not exit within ${timeoutMs} ms`);
        }),
      ]);
    } finally {
      timer.abort();
    }
  }

  signal(sig: NodeJS.Signals): void {
    assert.ok(this.child?.pid !== undefined && this.running, `${this.id} is not running`);
    process.kill(this.child.pid, sig);
    if (sig === 'SIGSTOP') this.stopped = true;
    if (sig === 'SIGCONT') this.stopped = false;
  }

  /** kill -9 and wait for the exit. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.signal('SIGKILL');
    await this.exited();
  }

  async status(timeoutMs = HTTP_CALL_TIMEOUT_MS): Promise<NodeStatus> {
    const r = await http(`${this.url}/v1/status`, { headers: this.cluster.headers('read') }, timeoutMs);
    assert.equal(r.status, 200, `${this.id} /v1/status`);
    return r.json<NodeStatus>();
  }

  async digest(): Promise<{ index: number; digest: string }> {
    const r = await http(`${this.url}/v1/digest`, { headers: this.cluster.headers('read') });
    assert.equal(r.status, 200, `${this.id} /v1/digest`);
    return r.json<{ index: number; digest: string }>();
  }

  logTail(chars = 3000): string {
    return this.log.slice(-chars);
  }

  /** Parsed JSON log lines (non-JSON lines are skipped). */
  logLines(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const line of this.log.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a line cut by the tail limit
      }
    }
    return out;
  }

  wipe(): void {
    assert.ok(!this.running, `wipe ${this.id} only while it is down`);
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export interface ClusterOptions extends NodeOptions {
  nodes: number;
}

/** A cluster of `kuberaft node` processes named node-1..node-N, formed like the operator forms one. */
export class ProcessCluster {
  readonly dir: string;
  readonly secretFile: string;
  /** The nodes' tokens file: one token per role, named `test-<role>`. */
  readonly tokensFile: string;
  /** A file holding the admin token (for `kuberaft ctl --token-file`). */
  readonly tokenFile: string;
  readonly tokens: Readonly<Record<ClientRole, string>>;
  /** The admin token. */
  readonly token: string;
  readonly nodes = new Map<string, NodeProcess>();

  private constructor(private readonly options: NodeOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'kuberaft-proc-'));
    this.secretFile = join(this.dir, 'cluster-secret');
    this.tokensFile = join(this.dir, 'tokens.yaml');
    this.tokenFile = join(this.dir, 'admin-token');
    this.tokens = { read: randomBytes(16).toString('hex'), write: randomBytes(16).toString('hex'), admin: randomBytes(16).toString('hex') };
    this.token = this.tokens.admin;
    writeFileSync(this.secretFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const entries = (Object.keys(this.tokens) as ClientRole[]).map((role) => `  - {name: test-${role}, role: ${role}, token: ${this.tokens[role]}}\n`);
    writeFileSync(this.tokensFile, `tokens:\n${entries.join('')}`, { mode: 0o600 });
    writeFileSync(this.tokenFile, `${this.token}\n`, { mode: 0o600 });
    clusters.add(this);
  }

  /** An empty cluster directory (no node yet): for tests that form the cluster themselves. */
  static create(options: NodeOptions = {}): ProcessCluster {
    return new ProcessCluster(options);
  }

  /** Bootstraps node-1, then joins node-2..node-N one at a time through the leader. */
  static async start(options: ClusterOptions): Promise<ProcessCluster> {
    const cluster = new ProcessCluster(options);
    try {
      const first = await cluster.addSlot('node-1');
      await first.start({ bootstrap: true });
      await cluster.waitForLeader();
      for (let i = 2; i <= options.nodes; i += 1) {
        const n = await cluster.addSlot(`node-${i}`);
        await n.start();
        await cluster.join(n.id);
      }
      return cluster;
    } catch (err) {
      cluster.destroy();
      throw err;
    }
  }

  /** A node slot with fresh ports and a data dir under the cluster's temp dir (not started). */
  async addSlot(id: string, options: NodeOptions = {}): Promise<NodeProcess> {
    assert.ok(!this.nodes.has(id), `${id} exists`);
    const n = new NodeProcess(id, await freePort(), await freePort(), join(this.dir, id), this, { ...this.options, ...options });
    this.nodes.set(id, n);
    return n;
  }

  node(id: string): NodeProcess {
    const n = this.nodes.get(id);
    assert.ok(n !== undefined, `no node ${id}`);
    return n;
  }

  /** Nodes whose process runs and is not SIGSTOPped. */
  live(): NodeProcess[] {
    return [...this.nodes.values()].filter((n) => n.running && !n.stopped);
  }

  /** Headers of a call that needs `role`: its token (none in the anonymous mode), then `extra`. */
  headers(role: ClientRole, extra: Record<string, string> = {}): Record<string, string> {
    return this.options.auth === 'anonymous' ? { ...extra } : { authorization: `Bearer ${this.tokens[role]}`, ...extra };
  }

  adminHeaders(extra: Record<string, string> = {}): Record<string, string> {
    return this.headers('admin', extra);
  }

  /** The leader, as the leader itself says (its own status: role leader), among the given nodes. */
  async findLeader(among: NodeProcess[] = this.live()): Promise<NodeProcess | undefined> {
    for (const n of among) {
      try {
        const s = await n.status(2000);
        if (s.role === 'leader' && among.some((m) => m.id === s.id)) return n;
      } catch {
        // down or busy: ask the next
      }
    }
    return undefined;
  }

  /** Waits until one of `among` leads and every other one of them names it leader. */
  async waitForLeader(among: NodeProcess[] = this.live(), timeoutMs = LEADER_WAIT_MS): Promise<NodeProcess> {
    let leader: NodeProcess | undefined;
    await waitUntil(
      'a leader that every live node agrees on',
      async () => {
        leader = await this.findLeader(among);
        if (leader === undefined) return false;
        const id = leader.id;
        // Only the leader's voters must agree: a removed node may never learn of its removal, and a
        // learner may be unable to reach the cluster at all.
        const members = new Set((await leader.status(2000)).members.filter((m) => m.role === 'voter').map((m) => m.id));
        const statuses = await Promise.all(among.filter((n) => members.has(n.id)).map((n) => n.status(2000)));
        return statuses.every((s) => s.leader === id);
      },
      timeoutMs,
    );
    assert.ok(leader !== undefined);
    return leader;
  }

  /** An admin call to the current leader, retried while leadership moves or a change is pending. */
  async admin(method: string, path: string, body?: unknown): Promise<HttpResult> {
    const deadline = Date.now() + CONVERGE_WAIT_MS;
    for (;;) {
      const leader = await this.waitForLeader();
      let r: HttpResult | undefined;
      try {
        r = await http(`${leader.url}${path}`, {
          method,
          headers: this.adminHeaders(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        }, 15_000);
      } catch {
        r = undefined;
      }
      const retry =
        r === undefined ||
        r.status === 503 ||
        r.status === 504 ||
        (r.status === 409 && r.json<{ error: { code: string } }>().error.code === 'membership-change-pending');
      if (r !== undefined && !retry) return r;
      if (Date.now() > deadline) throw new Error(`${method} ${path} kept failing: ${r === undefined ? 'no answer' : `${r.status} ${r.body.toString()}`}`);
      await sleep(RETRY_DELAY_MS * 4);
    }
  }

  /** The operator's join: add `id` as a learner, wait until its match index reaches the commit index, promote. */
  async join(id: string): Promise<void> {
    const n = this.node(id);
    const add = await this.admin('POST', '/v1/members', { id, address: n.peerAddress, role: 'learner' });
    assert.equal(add.status, 200, `add learner ${id}: ${add.body.toString()}`);
    await waitUntil(
      `${id} to catch up as a learner`,
      async () => {
        const leader = await this.findLeader();
        if (leader === undefined) return false;
        const s = await leader.status();
        const m = s.members.find((x) => x.id === id);
        return m !== undefined && m.matchIndex !== null && m.matchIndex >= s.commitIndex;
      },
      CONVERGE_WAIT_MS,
    );
    const promote = await this.admin('POST', `/v1/members/${id}/promote`);
    assert.equal(promote.status, 200, `promote ${id}: ${promote.body.toString()}`);
  }

  async remove(id: string): Promise<void> {
    const r = await this.admin('DELETE', `/v1/members/${id}`);
    assert.equal(r.status, 200, `remove ${id}: ${r.body.toString()}`);
  }

  /** The voters and learners in the leader's configuration. */
  async members(): Promise<readonly MemberStatus[]> {
    const leader = await this.waitForLeader();
    return (await leader.status()).members;
  }

  /**
   * Waits until every live member has applied the same index with the same digest, that index is the
   * leader's commit index, and the leader knows every member holds its whole log; returns the digest.
   * Call it when no client is writing.
   */
  async waitConverged(timeoutMs = CONVERGE_WAIT_MS): Promise<{ index: number; digest: string }> {
    let result: { index: number; digest: string } | undefined;
    let seen = '';
    await waitUntil(
      'applied indexes and digests to converge',
      async () => {
        const leader = await this.findLeader();
        if (leader === undefined) return false;
        const ids = new Set((await leader.status()).members.map((m) => m.id));
        const members = this.live().filter((n) => ids.has(n.id));
        const [ls, digests] = await Promise.all([leader.status(), Promise.all(members.map((n) => n.digest()))]);
        seen = members.map((n, i) => `${n.id}@${digests[i]?.index}:${digests[i]?.digest.slice(0, 8)}`).join(' ');
        const first = digests[0];
        if (first === undefined || members.length !== ids.size) return false;
        if (!digests.every((d) => d.index === first.index && d.digest === first.digest)) return false;
        if (first.index !== ls.commitIndex) return false;
        // The leader has heard every member acknowledge its whole log (not only a quorum).
        if (!ls.members.every((m) => m.matchIndex === ls.lastIndex)) return false;
        result = first;
        return true;
      },
      timeoutMs,
    ).catch(async (err: unknown) => {
      const statuses = await Promise.all(this.live().map((n) => n.status(2000).then((st) => JSON.stringify(st), (e: unknown) => `${n.id}: ${String(e)}`)));
      throw new Error(`${(err as Error).message}; last seen ${seen}\n${statuses.join('\n')}\n${this.logs()}`);
    });
    assert.ok(result !== undefined);
    return result;
  }

  /** Kills every process and removes the temp dir. Safe to call twice. */
  destroy(): void {
    for (const n of this.nodes.values()) {
      const pid = n.child?.pid;
      if (pid !== undefined && n.running) process.kill(pid, 'SIGKILL');
    }
    killSpawned();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The end of every node's log, for failure messages. */
  logs(chars = 1500): string {
    return [...this.nodes.values()].map((n) => `--- ${n.id}\n${n.logTail(chars)}`).join('\n');
  }
}

// ---------------------------------------------------------------------------------------------------
// Clients that record a history.
