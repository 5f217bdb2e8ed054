// `kuberaft local`: an N-node cluster on one machine, each node a `kuberaft node` child process on
// loopback with its own data dir. Port layout (base = --port-base, default 7000; i = 1..N):
//   node-i  peer port base+i, API port base+100+i, data dir <data-dir>/node-i
// First start (no node has data): node-1 bootstraps; the others start empty and are joined one at a time
// through the admin API exactly as the operator does (add learner → wait until caught up → promote).
// Later starts resume from the data dirs; the same level-based pass adds any node that is not a voter.
// A child that dies unexpectedly is restarted with exponential backoff; SIGINT/SIGTERM stops every child
// (SIGTERM, then SIGKILL after STOP_GRACE_MS) and exits 0.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { formatHostPort, isUnspecifiedHost, parseHostPort } from '../config/host-port.js';
import type { ClientRole } from '../auth/roles.js';
import { CLIENT_ROLES, isClientRole } from '../auth/roles.js';
import { createLogger, isLogLevel, LOG_LEVELS } from '../log/logger.js';
import type { LogLevel, Logger } from '../log/logger.js';
import { EXIT_FAILURE, EXIT_OK, UsageError } from './errors.js';
import { ApiError, KuberaftClient } from './http-client.js';
import type { NodeStatus } from './http-client.js';
import type { CliIo } from './io.js';
import { onStopSignals } from './signals.js';

export const LOCAL_NODES_MAX = 9;
export const LOCAL_PORT_BASE_DEFAULT = 7000;
/** API port = base + API_PORT_OFFSET + i. */
export const API_PORT_OFFSET = 100;
/** After SIGTERM, how long a child may take to stop before SIGKILL, in milliseconds. */
export const STOP_GRACE_MS = 10_000;
export const RESTART_DELAY_MIN_MS = 500;
export const RESTART_DELAY_MAX_MS = 10_000;
/** A child that ran this long before dying restarts after the minimum delay again. */
export const RESTART_STABLE_MS = 30_000;
/** Consecutive quick failures after which a node is left down. */
export const RESTART_ATTEMPTS_MAX = 10;
/** How long forming the cluster (every node a voter) may take, in milliseconds. */
export const CLUSTER_FORM_TIMEOUT_MS = 120_000;
export const POLL_INTERVAL_MS = 100;
/** Timeout of each admin call the supervisor makes, in milliseconds. */
const ADMIN_CALL_TIMEOUT_MS = 5_000;
const SECRET_BYTES = 32;

export const LOCAL_HELP = `Usage: kuberaft local [--nodes N] [--data-dir DIR] [--port-base P] [--host H] [--log-level L] [--anonymous-role R]

Runs an N-node cluster on this machine: N \`kuberaft node\` processes on loopback.

Flags:
  --nodes N        number of nodes, 1..${LOCAL_NODES_MAX} (default 3)
  --data-dir DIR   parent of the nodes' data dirs (default ./data); node-i uses DIR/node-i
  --port-base P    node-i listens on peer port P+i and API port P+${API_PORT_OFFSET}+i (default ${LOCAL_PORT_BASE_DEFAULT})
  --host H         address every node listens on (default 127.0.0.1)
  --log-level L    the nodes' log level: ${LOG_LEVELS.join(', ')} (default info)
  --anonymous-role R
                   what requests without a token may do: none (default), ${CLIENT_ROLES.join(', ')}
  --help           show this help

The cluster secret and one bearer token per role are generated once into DIR/cluster-secret and
DIR/{admin,write,read}-token (mode 0600) and reused; DIR/tokens.yaml (their SHA-256) is the nodes'
tokens file. \`kuberaft ctl\` finds ./data/admin-token by itself. Starting again with the same DIR
resumes the cluster from its data. Ctrl-C stops every node.
`;

export interface LocalArgs {
  readonly nodes: number;
  readonly dataDir: string;
  readonly portBase: number;
  readonly host: string;
  readonly logLevel: LogLevel;
  /** Passed to every node; undefined: requests need a token. */
  readonly anonymousRole: ClientRole | undefined;
  readonly help: boolean;
}

export function parseLocalArgs(argv: readonly string[]): LocalArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        nodes: { type: 'string', default: '3' },
        'data-dir': { type: 'string', default: './data' },
        'port-base': { type: 'string', default: String(LOCAL_PORT_BASE_DEFAULT) },
        host: { type: 'string', default: '127.0.0.1' },
        'log-level': { type: 'string', default: 'info' },
        'anonymous-role': { type: 'string', default: 'none' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (see kuberaft local --help)`);
  }
  const int = (flag: string, text: string, min: number, max: number): number => {
    const n = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${flag}: must be an integer in ${min}..${max} (got ${JSON.stringify(text)})`);
    return n;
  };
  const nodes = int('nodes', values.nodes, 1, LOCAL_NODES_MAX);
  const portBase = int('port-base', values['port-base'], 1, 65535 - API_PORT_OFFSET - nodes);
  const host = values.host;
  if (!parseHostPort(`${host.includes(':') ? `[${host}]` : host}:1`).ok) throw new UsageError(`--host: not an address (got ${JSON.stringify(host)})`);
  // Nodes advertise the address they listen on; 0.0.0.0 cannot be dialled.
  if (isUnspecifiedHost(host)) throw new UsageError(`--host: must be an address peers can dial, such as 127.0.0.1 (got ${JSON.stringify(host)})`);
  const level = values['log-level'];
  if (!isLogLevel(level)) throw new UsageError(`--log-level: must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(level)})`);
  if (values['data-dir'].trim() === '') throw new UsageError('--data-dir: must not be empty');
  const anonymous = values['anonymous-role'];
  if (anonymous !== 'none' && !isClientRole(anonymous))
    throw new UsageError(`--anonymous-role: must be none or one of ${CLIENT_ROLES.join(', ')} (got ${JSON.stringify(anonymous)})`);
  const anonymousRole = anonymous === 'none' ? undefined : anonymous;
  return { nodes, dataDir: values['data-dir'], portBase, host, logLevel: level, anonymousRole, help: values.help };
}

export interface LocalNode {
  readonly id: string;
  readonly ordinal: number;
  readonly peerAddress: string;
  readonly apiUrl: string;
  readonly apiAddress: string;
  readonly dataDir: string;
}

export function localNode(args: Pick<LocalArgs, 'dataDir' | 'portBase' | 'host'>, ordinal: number): LocalNode {
  const peerAddress = formatHostPort({ host: args.host, port: args.portBase + ordinal });
  const apiAddress = formatHostPort({ host: args.host, port: args.portBase + API_PORT_OFFSET + ordinal });
  return { id: `node-${ordinal}`, ordinal, peerAddress, apiAddress, apiUrl: `http://${apiAddress}`, dataDir: join(args.dataDir, `node-${ordinal}`) };
}

/** Generates a secret file once (mode 0600); later starts reuse it. */
export function ensureSecretFile(path: string): void {
  if (existsSync(path)) return;
  writeFileSync(path, `${randomBytes(SECRET_BYTES).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600); // the umask may have removed bits; make it exact
}

/** The token file of each role under the local data dir. */
export function localTokenFile(dataDir: string, role: ClientRole): string {
  return join(dataDir, `${role}-token`);
}

/**
 * One token per role (generated once, reused), and the nodes' tokens file listing their SHA-256,
 * rewritten at every start so that it always matches the token files (delete one to rotate it).
 */
export function ensureLocalTokens(dataDir: string): string {
  const entries = CLIENT_ROLES.map((role) => {
    const file = localTokenFile(dataDir, role);
    ensureSecretFile(file);
    const sha256 = createHash('sha256').update(readToken(file), 'utf8').digest('hex');
    return `  - name: local-${role}\n    role: ${role}\n    sha256: ${sha256}\n`;
  });
  const tokensFile = join(dataDir, 'tokens.yaml');
  writeFileSync(tokensFile, `# Written by kuberaft local from ${CLIENT_ROLES.map((r) => `${r}-token`).join(', ')}.\ntokens:\n${entries.join('')}`, { mode: 0o600 });
  chmodSync(tokensFile, 0o600);
  return tokensFile;
}

function hasData(dir: string): boolean {
  try {
    return readdirSync(dir).length > 0;
  } catch {
    return false;
  }
}

/** How to start `kuberaft node`: the same Node binary and the script that is running now. */
export interface NodeCommand {
  readonly execPath: string;
  readonly args: readonly string[];
}

export function defaultNodeCommand(): NodeCommand {
  const script = process.argv[1];
  if (script === undefined) throw new Error('cannot tell which script is running to start the nodes with');
  return { execPath: process.execPath, args: [...process.execArgv, script] };
}

/** One supervised child process: relays its output, restarts it with backoff when it dies unexpectedly. */
class Child {
  private process: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stopping = false;
  private attempts = 0;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly node: LocalNode,
    private readonly argsFor: () => string[],
    private readonly command: NodeCommand,
    private readonly io: CliIo,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  get pid(): number | undefined {
    return this.process?.pid;
  }

  start(): void {
    const startedAt = Date.now();
    // Own process group: a terminal's Ctrl-C reaches only the supervisor, which stops children in order.
    const child = spawn(this.command.execPath, [...this.command.args, 'node', ...this.argsFor()], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: this.env,
      detached: true,
    });
    this.process = child;
    const prefix = `${this.node.id} | `;
    const relay = (stream: NodeJS.ReadableStream | null, write: (s: string) => void): void => {
      if (stream === null) return;
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => write(`${prefix}${line}\n`));
    };
    relay(child.stdout, (s) => this.io.out(s));
    relay(child.stderr, (s) => this.io.err(s));
    this.exited = new Promise<void>((resolveExit) => {
      child.once('error', (err) => {
        this.io.out(`local | ${this.node.id} could not be started: ${err.message}\n`);
      });
      child.once('close', (code, signal) => {
        resolveExit();
        if (this.stopping) return;
        const how = signal === null ? `code ${String(code)}` : `signal ${signal}`;
        if (Date.now() - startedAt >= RESTART_STABLE_MS) this.attempts = 0;
        this.attempts += 1;
        if (code === 2 || this.attempts > RESTART_ATTEMPTS_MAX) {
          const why = code === 2 ? 'its configuration was refused' : `it failed ${RESTART_ATTEMPTS_MAX} times in a row`;
          this.io.out(`local | ${this.node.id} exited unexpectedly (${how}); not restarting: ${why}\n`);
          return;
        }
        const delay = Math.min(RESTART_DELAY_MAX_MS, RESTART_DELAY_MIN_MS * 2 ** (this.attempts - 1));
        this.io.out(`local | ${this.node.id} exited unexpectedly (${how}); restarting in ${delay} ms\n`);
        this.restartTimer = setTimeout(() => {
          this.restartTimer = undefined;
          if (!this.stopping) this.start();
        }, delay);
      });
    });
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves when the process is gone. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
    const child = this.process;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return this.exited;
    child.kill('SIGTERM');
    const killer = setTimeout(() => {
      this.io.out(`local | ${this.node.id} did not stop within ${graceMs} ms; killing it\n`);
      child.kill('SIGKILL');
    }, graceMs);
    await this.exited;
    clearTimeout(killer);
  }

  kill(): void {
    this.stopping = true;
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
    this.process?.kill('SIGKILL');
  }
}

const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  'unreachable',
  'timeout',
  'not-leader',
  'leader-unreachable',
  'membership-change-pending',
  'learner-not-caught-up',
  'transfer-in-progress',
  'proposal-dropped',
  'maybe-committed',
  'not-initialized',
  'shutting-down',
]);

function isRetryable(err: unknown): boolean {
  return err instanceof ApiError && (RETRYABLE_CODES.has(err.code) || (err.status !== undefined && err.status >= 500));
}

/** Makes every node a voter, one step at a time, through the leader's admin API. Level-based: safe to rerun. */
export class ClusterFormer {
  private readonly clients = new Map<string, KuberaftClient>();

  constructor(
    private readonly layout: Pick<LocalArgs, 'dataDir' | 'portBase' | 'host'>,
    private readonly nodes: readonly LocalNode[],
    private readonly token: string,
    private readonly logger: Logger,
    private readonly signal: AbortSignal,
  ) {}

  /** Any member's client; a member from an earlier, larger run follows the same port layout. */
  private clientFor(id: string): KuberaftClient {
    let client = this.clients.get(id);
    if (client === undefined) {
      const m = /^node-(\d+)$/.exec(id);
      if (m === null) throw new Error(`the cluster names member ${id}, which kuberaft local did not start`);
      const node = localNode(this.layout, Number(m[1]));
      client = new KuberaftClient({ endpoint: node.apiUrl, token: this.token, timeoutMs: ADMIN_CALL_TIMEOUT_MS });
      this.clients.set(id, client);
    }
    return client;
  }

  /** The leader's own status, found by asking each node who leads. */
  async leaderStatus(): Promise<{ client: KuberaftClient; status: NodeStatus }> {
    for (const n of this.nodes) {
      try {
        const s = await this.clientFor(n.id).status();
        if (s.leader === null) continue;
        const client = this.clientFor(s.leader);
        const status = s.leader === s.id ? s : await client.status();
        if (status.role === 'leader') return { client, status };
      } catch (err) {
        if (!isRetryable(err)) throw err;
      }
    }
    throw new ApiError('not-leader', 'no leader yet', undefined);
  }

  /** Until `node` is a voter: remove a stale record of it, add it as a learner, wait for it to catch up, promote it. */
  async ensureVoter(node: LocalNode, deadline: number): Promise<void> {
    for (;;) {
      this.signal.throwIfAborted();
      try {
        const { client, status } = await this.leaderStatus();
        const member = status.members.find((m) => m.id === node.id);
        if (member?.role === 'voter') return;
        if (member === undefined) {
          this.logger.info('adding learner', { member: node.id, address: node.peerAddress });
          await client.addLearner(node.id, node.peerAddress);
        } else if ((member.matchIndex ?? -1) >= status.commitIndex) {
          this.logger.info('promoting caught-up learner', { member: node.id, matchIndex: member.matchIndex });
          await client.promote(node.id);
        }
      } catch (err) {
        if (!isRetryable(err) && !(err instanceof ApiError && (err.code === 'member-exists' || err.code === 'wrong-role'))) throw err;
        this.logger.debug('membership step will be retried', { member: node.id, err });
      }
      if (Date.now() > deadline) throw new Error(`${node.id} did not become a voter within ${CLUSTER_FORM_TIMEOUT_MS} ms; see its log lines above`);
      await sleep(POLL_INTERVAL_MS, undefined, { signal: this.signal });
    }
  }
}

export async function runLocalCommand(argv: readonly string[], io: CliIo, command: NodeCommand = defaultNodeCommand()): Promise<number> {
  const args = parseLocalArgs(argv);
  if (args.help) {
    io.out(LOCAL_HELP);
    return EXIT_OK;
  }
  const logger = createLogger({ level: args.logLevel, fields: { node: 'local' } });
  const dataDir = resolve(args.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const secretFile = join(dataDir, 'cluster-secret');
  const tokenFile = localTokenFile(dataDir, 'admin');
  ensureSecretFile(secretFile);
  const tokensFile = ensureLocalTokens(dataDir);
  const layout = { ...args, dataDir };
  const nodes = Array.from({ length: args.nodes }, (_, i) => localNode(layout, i + 1));
  const firstStart = nodes.every((n) => !hasData(n.dataDir));

  // The nodes' settings come from flags only: KUBERAFT_* variables meant for other commands must not leak in.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(io.env)) if (!k.startsWith('KUBERAFT_')) env[k] = v;

  const children = nodes.map(
    (n) =>
      new Child(
        n,
        () => {
          const a = ['--id', n.id, '--data-dir', n.dataDir, '--listen-peer', n.peerAddress, '--listen-api', n.apiAddress];
          a.push('--cluster-secret-file', secretFile, '--tokens-file', tokensFile, '--log-level', args.logLevel);
          if (args.anonymousRole !== undefined) a.push('--anonymous-role', args.anonymousRole);
          // Bootstrap only a brand-new cluster, and only node-1: never found a second cluster beside existing data.
          if (n.ordinal === 1 && nodes.every((m) => !hasData(m.dataDir))) a.push('--bootstrap');
          return a;
        },
        command,
        io,
        env,
      ),
  );

  const abort = new AbortController();
  let stopSignal: string | undefined;
  let forced = false;
  let resolveStop!: () => void;
  const stopped = new Promise<void>((r) => (resolveStop = r));
  const removeSignals = onStopSignals(
    (signal) => {
      stopSignal = signal;
      abort.abort();
      resolveStop();
    },
    () => {
      forced = true;
      io.out('local | second signal: killing every node\n');
      for (const c of children) c.kill();
    },
  );

  let exitCode = EXIT_OK;
  try {
    io.out(`local | ${firstStart ? 'starting a new' : 'resuming the'} ${args.nodes}-node cluster in ${dataDir}\n`);
    for (const n of nodes) io.out(`local | ${n.id}  api ${n.apiUrl}  peer ${n.peerAddress}  data ${n.dataDir}\n`);
    for (const c of children) c.start();
    try {
      const former = new ClusterFormer(layout, nodes, readToken(tokenFile), logger, abort.signal);
      const deadline = Date.now() + CLUSTER_FORM_TIMEOUT_MS;
      for (const n of nodes) await former.ensureVoter(n, deadline);
      const { status } = await former.leaderStatus();
      io.out(`local | ready: ${nodes.length} voters, leader ${status.leader ?? '?'}, term ${status.term}\n`);
      io.out(`local | cluster page: ${nodes[0]?.apiUrl ?? ''}/ (every node serves it, e.g. ${nodes[nodes.length - 1]?.apiUrl ?? ''}/)\n`);
      const first = nodes[0]?.apiUrl ?? '';
      io.out(`local | try: KUBERAFT_ENDPOINT=${first} KUBERAFT_TOKEN_FILE=${tokenFile} kuberaft ctl status\n`);
      io.out(`local |      curl -H "Authorization: Bearer $(cat ${localTokenFile(dataDir, 'write')})" -X PUT --data-binary hello ${first}/v1/kv/greeting\n`);
      if (args.anonymousRole !== undefined) io.out(`local | requests without a token have the ${args.anonymousRole} role (--anonymous-role)\n`);
      await stopped;
    } catch (err) {
      if (!abort.signal.aborted) {
        io.err(`kuberaft local: ${(err as Error).message}\n`);
        exitCode = EXIT_FAILURE;
      }
    }
    io.out(`local | stopping ${children.length} nodes${stopSignal === undefined ? '' : ` (${stopSignal})`}\n`);
    await Promise.all(children.map((c) => c.stop(STOP_GRACE_MS)));
    io.out(`local | stopped${forced ? ' (forced)' : ''}\n`);
  } finally {
    removeSignals();
  }
  return exitCode;
}

/** Same trimming as the node's secret reader, so both sides hold the same token. */
function readToken(path: string): string {
  return readFileSync(path, 'utf8').replace(/[\r\n]+$/, '');
}
