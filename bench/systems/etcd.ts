// A 3-member etcd cluster on loopback, driven through its JSON gRPC gateway (the client URL serves it).
// The binary is the one the control-plane tests build from etcd's Go module and cache
// (test/controlplane/binaries.ts), so both test suites and the benchmark run the same etcd.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureControlPlaneBinaries } from '../../test/controlplane/binaries.js';
import { ETCD_VERSION, etcdBinDir } from '../../test/controlplane/versions.js';
import type { BenchCluster, CatchUpTiming, ClusterMember } from './cluster.js';
import { ServerProcess, fetchJson, waitFor } from './process.js';

/** etcd's defaults, stated in the report; the benchmark passes them explicitly so they cannot drift. */
const ELECTION_TIMEOUT_MS = 1000;
const HEARTBEAT_INTERVAL_MS = 100;
/** Raised from the 2 GiB default so the catch-up state never trips the space alarm (it does not affect speed). */
const QUOTA_BACKEND_BYTES = 8 * 1024 ** 3;
const CALL_TIMEOUT_MS = 10_000;
const START_TIMEOUT_MS = 60_000;
const VOTERS = 3;
const CLUSTER_TOKEN = 'kuberaft-bench';

interface EtcdStatus {
  readonly header: { readonly member_id: string };
  readonly leader: string;
  readonly raftIndex: string;
  readonly raftAppliedIndex?: string;
  readonly dbSize: string;
  readonly isLearner?: boolean;
}

interface EtcdMemberDesc {
  readonly name: string;
  readonly peerUrl: string;
  readonly clientUrl: string;
  /** Metrics only, served from the start (the client URL waits until the member has joined). */
  readonly metricsUrl: string;
  readonly dataDir: string;
}

export interface EtcdOptions {
  readonly dataRoot: string;
  readonly portBase: number;
  readonly logDir: string;
}

/** The etcd binary: the control-plane cache if it is there, else built from the Go module (minutes). */
export async function etcdBinary(log: (line: string) => void): Promise<string> {
  const cached = join(etcdBinDir(), 'etcd');
  if (existsSync(cached)) return cached;
  log(`etcd ${ETCD_VERSION} is not cached in ${etcdBinDir()}; building it from its Go module (this takes minutes once)`);
  return (await ensureControlPlaneBinaries(log)).etcd;
}

export class EtcdCluster implements BenchCluster {
  readonly system = 'etcd' as const;
  readonly electionTimeoutMs = ELECTION_TIMEOUT_MS;
  readonly heartbeatIntervalMs = HEARTBEAT_INTERVAL_MS;
  readonly notes: readonly string[];
  private readonly descs: EtcdMemberDesc[];
  private readonly procs = new Map<string, ServerProcess>();

  constructor(
    private readonly binary: string,
    private readonly options: EtcdOptions,
  ) {
    this.descs = Array.from({ length: VOTERS + 1 }, (_, i) => this.desc(i + 1));
    this.notes = [
      `etcd ${ETCD_VERSION} built from its Go module; election timeout ${ELECTION_TIMEOUT_MS} ms, heartbeat ${HEARTBEAT_INTERVAL_MS} ms (its defaults); ` +
        `default fsync and snapshot-count; --quota-backend-bytes ${QUOTA_BACKEND_BYTES} (space alarm only)`,
    ];
  }

  /**
   * Client port base+200+i, peer port base+300+i, metrics port base+400+i for member i (1-based;
   * member 4 is the catch-up learner).
   */
  static ports(portBase: number): number[] {
    return Array.from({ length: VOTERS + 1 }, (_, i) => [portBase + 200 + i + 1, portBase + 300 + i + 1, portBase + 400 + i + 1]).flat();
  }

  private desc(i: number): EtcdMemberDesc {
    return {
      name: `etcd-${i}`,
      clientUrl: `http://127.0.0.1:${this.options.portBase + 200 + i}`,
      peerUrl: `http://127.0.0.1:${this.options.portBase + 300 + i}`,
      metricsUrl: `http://127.0.0.1:${this.options.portBase + 400 + i}`,
      dataDir: join(this.options.dataRoot, `etcd-${i}`),
    };
  }

  private args(d: EtcdMemberDesc, initialCluster: readonly EtcdMemberDesc[], state: 'new' | 'existing'): string[] {
    return [
      '--name', d.name,
      '--data-dir', d.dataDir,
      '--listen-client-urls', d.clientUrl,
      '--advertise-client-urls', d.clientUrl,
      '--listen-peer-urls', d.peerUrl,
      '--listen-metrics-urls', d.metricsUrl,
      '--initial-advertise-peer-urls', d.peerUrl,
      '--initial-cluster', initialCluster.map((m) => `${m.name}=${m.peerUrl}`).join(','),
      '--initial-cluster-state', state,
      '--initial-cluster-token', CLUSTER_TOKEN,
      '--election-timeout', String(ELECTION_TIMEOUT_MS),
      '--heartbeat-interval', String(HEARTBEAT_INTERVAL_MS),
      '--quota-backend-bytes', String(QUOTA_BACKEND_BYTES),
      '--log-level', 'warn',
    ];
  }

  private voters(): EtcdMemberDesc[] {
    return this.descs.slice(0, VOTERS);
  }

  async start(): Promise<void> {
    mkdirSync(this.options.dataRoot, { recursive: true });
    for (const d of this.voters()) {
      const p = new ServerProcess(d.name, this.binary, this.args(d, this.voters(), 'new'), join(this.options.logDir, `${d.name}.log`));
      this.procs.set(d.name, p);
      p.start();
    }
    await this.leader(START_TIMEOUT_MS);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.procs.values()].map((p) => p.stop()));
  }

  members(): readonly ClusterMember[] {
    return this.voters().map((d) => ({ id: d.name, clientUrl: d.clientUrl }));
  }

  private status(d: EtcdMemberDesc, timeoutMs = 1000): Promise<EtcdStatus> {
    return fetchJson<EtcdStatus>(`${d.clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', timeoutMs });
  }

  private async leaderStatus(timeoutMs: number): Promise<{ desc: EtcdMemberDesc; status: EtcdStatus }> {
    return waitFor('an etcd leader', timeoutMs, async () => {
      for (const d of this.voters()) {
        if (this.procs.get(d.name)?.running !== true) continue;
        try {
          const s = await this.status(d);
          if (s.leader !== '0' && s.leader === s.header.member_id) return { desc: d, status: s };
        } catch {
          // down or starting: ask the next
        }
      }
      return undefined;
    });
  }

  async leader(timeoutMs: number): Promise<ClusterMember> {
    const { desc } = await this.leaderStatus(timeoutMs);
    return { id: desc.name, clientUrl: desc.clientUrl };
  }

  private procOf(id: string): ServerProcess {
    const p = this.procs.get(id);
    if (p === undefined) throw new Error(`no etcd process ${id}`);
    return p;
  }

  private descOf(id: string): EtcdMemberDesc {
    const d = this.descs.find((m) => m.name === id);
    if (d === undefined) throw new Error(`no etcd member ${id}`);
    return d;
  }

  async kill(id: string): Promise<void> {
    await this.procOf(id).kill();
  }

  async restart(id: string): Promise<void> {
    this.procOf(id).start();
    const target = Number((await this.leaderStatus(START_TIMEOUT_MS)).status.raftIndex);
    await this.waitApplied(this.descOf(id), target, START_TIMEOUT_MS);
  }

  private async waitApplied(d: EtcdMemberDesc, index: number, timeoutMs: number): Promise<void> {
    await waitFor(`${d.name} to apply index ${index}`, timeoutMs, async () => {
      const s = await this.status(d);
      return Number(s.raftAppliedIndex ?? s.raftIndex) >= index ? true : undefined;
    });
  }

  /** The member's applied index, from its metrics port; undefined while that does not answer. */
  private async appliedFromMetrics(d: EtcdMemberDesc): Promise<number | undefined> {
    try {
      const res = await fetch(`${d.metricsUrl}/metrics`, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
      const m = /^etcd_server_proposals_applied_total (\S+)$/m.exec(await res.text());
      return m?.[1] === undefined ? undefined : Number(m[1]);
    } catch {
      return undefined;
    }
  }

  async measureLearnerCatchUp(timeoutMs: number): Promise<CatchUpTiming> {
    const d = this.descs[VOTERS] as EtcdMemberDesc;
    rmSync(d.dataDir, { recursive: true, force: true });
    const { desc: leader } = await this.leaderStatus(START_TIMEOUT_MS);
    const started = performance.now();
    // etcd refuses a member change ("unhealthy cluster") until every member has been connected for a
    // few seconds, e.g. shortly after the failover restarts: retry until it accepts.
    const added = await waitFor('etcd to accept the learner', START_TIMEOUT_MS, () =>
      fetchJson<{ member: { ID: string } }>(`${leader.clientUrl}/v3/cluster/member/add`, {
        method: 'POST',
        body: JSON.stringify({ peerURLs: [d.peerUrl], isLearner: true }),
        timeoutMs: CALL_TIMEOUT_MS,
      }),
    );
    const target = Number((await this.status(leader, CALL_TIMEOUT_MS)).raftIndex);
    const p = new ServerProcess(d.name, this.binary, this.args(d, this.descs, 'existing'), join(this.options.logDir, `${d.name}.log`));
    p.start();
    try {
      // Progress comes from the learner's metrics port: its client API answers only once it has
      // published itself through Raft, which etcd refuses ("too many requests") while its apply lags
      // far behind its commit index, i.e. during most of a large catch-up.
      const applied = await waitFor(`${d.name} to apply index ${target}`, timeoutMs, async () => {
        const n = await this.appliedFromMetrics(d);
        return n !== undefined && n >= target ? n : undefined;
      });
      const catchUpMs = performance.now() - started;
      const path = `learner applied index ${applied} (target ${target})`;
      await fetchJson(`${leader.clientUrl}/v3/cluster/member/remove`, { method: 'POST', body: JSON.stringify({ ID: added.member.ID }), timeoutMs: CALL_TIMEOUT_MS });
      return { catchUpMs, targetIndex: target, path };
    } finally {
      await p.stop();
      rmSync(d.dataDir, { recursive: true, force: true });
    }
  }
}
