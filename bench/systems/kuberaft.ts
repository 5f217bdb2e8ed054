// A 3-node kuberaft cluster laid out exactly as `kuberaft local` lays it out (its port layout, data
// dirs, secret files and join procedure are reused from src/cli/local.ts), but with every node process
// supervised here: the benchmark must SIGKILL a node and start it again at moments it chooses, while
// `kuberaft local` would restart a dead node by itself after a back-off that would pollute failover times.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClusterFormer, CLUSTER_FORM_TIMEOUT_MS, ensureSecretFile, localNode } from '../../src/cli/local.js';
import type { LocalNode } from '../../src/cli/local.js';
import { KuberaftClient } from '../../src/cli/http-client.js';
import type { NodeStatus } from '../../src/cli/http-client.js';
import { createLogger } from '../../src/log/logger.js';
import type { BenchCluster, CatchUpTiming, ClusterMember } from './cluster.js';
import { ServerProcess, waitFor } from './process.js';

const KUBERAFT_BIN = fileURLToPath(new URL('../../bin/kuberaft.js', import.meta.url));
/** The node's defaults (src/config/node-config.ts), stated in the report; the benchmark does not change them. */
const ELECTION_TIMEOUT_MS = 1000;
const HEARTBEAT_INTERVAL_MS = 100;
const CALL_TIMEOUT_MS = 10_000;
const START_TIMEOUT_MS = 60_000;
const VOTERS = 3;
const LEARNER_ORDINAL = VOTERS + 1;

export interface KuberaftOptions {
  readonly dataRoot: string;
  readonly portBase: number;
  readonly logDir: string;
}

export class KuberaftCluster implements BenchCluster {
  readonly system = 'kuberaft' as const;
  readonly electionTimeoutMs = ELECTION_TIMEOUT_MS;
  readonly heartbeatIntervalMs = HEARTBEAT_INTERVAL_MS;
  readonly notes = [
    'node defaults: tick 10 ms, election timeout 1000 ms (randomised up to 2x), heartbeat 100 ms, snapshot after 10000 entries once the log since the last one is half the state, or after 64 MiB of log (each threshold × a random 1-1.5 per member)',
    'every WAL append is fsynced before it is acknowledged (group commit); there is no option to turn that off',
  ];
  private readonly layout;
  private readonly nodes: LocalNode[];
  private readonly procs = new Map<string, ServerProcess>();
  private readonly secretFile: string;
  private readonly tokenFile: string;
  private token = '';

  constructor(private readonly options: KuberaftOptions) {
    this.layout = { dataDir: options.dataRoot, portBase: options.portBase, host: '127.0.0.1' };
    this.nodes = Array.from({ length: VOTERS }, (_, i) => localNode(this.layout, i + 1));
    this.secretFile = join(options.dataRoot, 'cluster-secret');
    this.tokenFile = join(options.dataRoot, 'admin-token');
  }

  /** Ports this cluster listens on, including the catch-up learner's. */
  static ports(portBase: number): number[] {
    const layout = { dataDir: '/', portBase, host: '127.0.0.1' };
    return Array.from({ length: LEARNER_ORDINAL }, (_, i) => localNode(layout, i + 1)).flatMap((n) => [n.peerAddress, n.apiAddress].map((a) => Number(a.split(':')[1])));
  }

  private nodeArgs(n: LocalNode, bootstrap: boolean, execArgv: readonly string[] = []): string[] {
    const a = [...execArgv, KUBERAFT_BIN, 'node', '--id', n.id, '--data-dir', n.dataDir, '--listen-peer', n.peerAddress, '--listen-api', n.apiAddress];
    a.push('--cluster-secret-file', this.secretFile, '--admin-token-file', this.tokenFile, '--log-level', 'warn');
    // etcd runs without authentication here, so the load generator sends no token to either system.
    a.push('--anonymous-role', 'write');
    if (bootstrap) a.push('--bootstrap');
    return a;
  }

  private client(id: string, timeoutMs = CALL_TIMEOUT_MS): KuberaftClient {
    const n = this.nodeById(id);
    return new KuberaftClient({ endpoint: n.apiUrl, token: this.token, timeoutMs });
  }

  private nodeById(id: string): LocalNode {
    const m = /^node-(\d+)$/.exec(id);
    if (m === null) throw new Error(`not a kuberaft local node id: ${id}`);
    return localNode(this.layout, Number(m[1]));
  }

  async start(): Promise<void> {
    mkdirSync(this.options.dataRoot, { recursive: true });
    ensureSecretFile(this.secretFile);
    ensureSecretFile(this.tokenFile);
    this.token = readFileSync(this.tokenFile, 'utf8').trim();
    for (const n of this.nodes) {
      const p = new ServerProcess(n.id, process.execPath, this.nodeArgs(n, n.ordinal === 1), join(this.options.logDir, `kuberaft-${n.id}.log`));
      this.procs.set(n.id, p);
      p.start();
      // Later starts must not carry --bootstrap: the data dir decides.
      p.setArgs(this.nodeArgs(n, false));
    }
    const logger = createLogger({ level: 'warn', fields: { node: 'bench' } });
    const former = new ClusterFormer(this.layout, this.nodes, this.token, logger, AbortSignal.timeout(START_TIMEOUT_MS));
    const deadline = Date.now() + CLUSTER_FORM_TIMEOUT_MS;
    for (const n of this.nodes) await former.ensureVoter(n, deadline);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.procs.values()].map((p) => p.stop()));
  }

  members(): readonly ClusterMember[] {
    return this.nodes.map((n) => ({ id: n.id, clientUrl: n.apiUrl }));
  }

  private async leaderStatus(timeoutMs: number): Promise<NodeStatus> {
    return waitFor('a kuberaft leader', timeoutMs, async () => {
      for (const n of this.nodes) {
        if (this.procs.get(n.id)?.running !== true) continue;
        try {
          const s = await this.client(n.id, 1000).status();
          if (s.role === 'leader') return s;
        } catch {
          // down or starting: ask the next
        }
      }
      return undefined;
    });
  }

  async leader(timeoutMs: number): Promise<ClusterMember> {
    const s = await this.leaderStatus(timeoutMs);
    return { id: s.id, clientUrl: this.nodeById(s.id).apiUrl };
  }

  async kill(id: string): Promise<void> {
    await this.procOf(id).kill();
  }

  private procOf(id: string): ServerProcess {
    const p = this.procs.get(id);
    if (p === undefined) throw new Error(`no kuberaft process ${id}`);
    return p;
  }

  async restart(id: string): Promise<void> {
    this.procOf(id).start();
    await this.waitCaughtUp(id, START_TIMEOUT_MS);
  }

  /** Until `id` has applied everything the leader had committed when this was called. */
  private async waitCaughtUp(id: string, timeoutMs: number, target?: number): Promise<void> {
    const index = target ?? (await this.leaderStatus(timeoutMs)).commitIndex;
    await waitFor(`${id} to apply index ${index}`, timeoutMs, async () => ((await this.client(id, 1000).status()).appliedIndex >= index ? true : undefined));
  }

  /**
   * Restarts `id` with extra Node flags (the CPU profiler) and makes it the leader again.
   * Stopping it cleanly later (restartPlain) makes Node write the profile.
   */
  async restartWith(id: string, execArgv: readonly string[]): Promise<void> {
    const p = this.procOf(id);
    await p.stop();
    p.setArgs(this.nodeArgs(this.nodeById(id), false, execArgv));
    await this.restart(id);
    p.setArgs(this.nodeArgs(this.nodeById(id), false));
    const leader = await this.leaderStatus(START_TIMEOUT_MS);
    if (leader.id !== id) await this.client(leader.id).transferLeadership(id);
    await waitFor(`${id} to lead`, START_TIMEOUT_MS, async () => ((await this.client(id, 1000).status()).role === 'leader' ? true : undefined));
  }

  /** Stops `id` cleanly and starts it with its normal flags. */
  async restartPlain(id: string): Promise<void> {
    await this.procOf(id).stop();
    await this.restart(id);
  }

  async measureLearnerCatchUp(timeoutMs: number): Promise<CatchUpTiming> {
    const n = localNode(this.layout, LEARNER_ORDINAL);
    rmSync(n.dataDir, { recursive: true, force: true });
    const p = new ServerProcess(n.id, process.execPath, this.nodeArgs(n, false), join(this.options.logDir, `kuberaft-${n.id}.log`));
    p.start(); // an empty node without --bootstrap waits to be added
    try {
      await waitFor(`${n.id} to start`, START_TIMEOUT_MS, async () => ((await this.client(n.id, 1000).status()).state === 'joining' ? true : undefined));
      const leader = await this.leaderStatus(START_TIMEOUT_MS);
      const started = performance.now();
      await this.client(leader.id).addLearner(n.id, n.peerAddress);
      const target = (await this.client(leader.id).status()).commitIndex;
      await this.waitCaughtUp(n.id, timeoutMs, target);
      const catchUpMs = performance.now() - started;
      const s = await this.client(n.id).status();
      const path = s.snapshotIndex > 0 ? `snapshot at index ${s.snapshotIndex} (${s.snapshotSizeBytes} bytes) + log to ${target}` : `log only, ${target} entries`;
      await this.client(leader.id).removeMember(n.id);
      return { catchUpMs, targetIndex: target, path };
    } finally {
      await p.stop();
      rmSync(n.dataDir, { recursive: true, force: true });
    }
  }
}
