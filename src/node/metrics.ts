// The node's Prometheus metrics (names from docs/operations.md). Gauges read the live state when
// scraped, so they can never drift from what /v1/status says.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the gauges read at scrape time. */
export interface MetricsSource {
  term(): number;
  commitIndex(): number;
  appliedIndex(): number;
  lastLogIndex(): number;
  snapshotIndex(): number;
  snapshotSizeBytes(): number;
  isLeader(): boolean;
  membersByRole(): { voter: number; learner: number };
  /** Leader only: match index per peer; empty elsewhere. */
  peerMatchIndex(): ReadonlyMap<string, number>;
}

/** fsync latencies on our disks range from ~50 µs (tmpfs, NVMe) to ~50 ms (network disks). */
const FSYNC_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** Commit latency adds a network round trip and a follower's fsync to the leader's. */
const COMMIT_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Default metrics of prom-client that break Prometheus naming rules (gauges named `*_total`). */
const NON_COUNTER_TOTAL_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export type ProposalResult = 'committed' | 'dropped' | 'refused' | 'timeout';

export class NodeMetrics {
  readonly registry = new Registry();
  readonly leaderChanges: Counter;
  readonly proposals: Counter<'result'>;
  readonly fsyncSeconds: Histogram;
  readonly commitSeconds: Histogram;

  constructor(nodeId: string, source: MetricsSource) {
    this.registry.setDefaultLabels({ node: nodeId });
    collectDefaultMetrics({ register: this.registry });
    // prom-client names these three gauges `*_total`, which Prometheus reserves for counters
    // (`promtool check metrics` rejects them). Their per-type breakdowns without the suffix
    // (nodejs_active_handles, nodejs_active_requests, nodejs_active_resources) stay.
    for (const name of NON_COUNTER_TOTAL_METRICS) this.registry.removeSingleMetric(name);
    const r = [this.registry];
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers: r,
        collect() {
          this.set(read());
        },
      });
    };
    gauge('raft_term', 'Current Raft term.', () => source.term());
    gauge('raft_commit_index', 'Highest log index known to be committed.', () => source.commitIndex());
    gauge('raft_applied_index', 'Highest log index applied to the state machine.', () => source.appliedIndex());
    gauge('raft_last_log_index', 'Index of the last entry in the log.', () => source.lastLogIndex());
    gauge('raft_snapshot_index', 'Last log index covered by the newest snapshot.', () => source.snapshotIndex());
    gauge('raft_snapshot_size_bytes', 'Size of the newest snapshot file in bytes.', () => source.snapshotSizeBytes());
    gauge('raft_is_leader', '1 if this node is the leader, else 0.', () => (source.isLeader() ? 1 : 0));
    new Gauge({
      name: 'raft_members',
      help: 'Members of the configuration in effect, by role.',
      labelNames: ['role'],
      registers: r,
      collect() {
        const m = source.membersByRole();
        this.set({ role: 'voter' }, m.voter);
        this.set({ role: 'learner' }, m.learner);
      },
    });
    new Gauge({
      name: 'raft_peer_match_index',
      help: 'Leader only: highest log index known to be replicated on each peer.',
      labelNames: ['peer'],
      registers: r,
      collect() {
        this.reset();
        for (const [peer, match] of source.peerMatchIndex()) this.set({ peer }, match);
      },
    });
    this.leaderChanges = new Counter({ name: 'raft_leader_changes_total', help: 'Times this node saw the leader change.', registers: r });
    this.proposals = new Counter({
      name: 'raft_proposals_total',
      help: 'Proposals made on this node, by result.',
      labelNames: ['result'],
      registers: r,
    });
    this.fsyncSeconds = new Histogram({
      name: 'raft_wal_fsync_duration_seconds',
      help: 'Duration of WAL fdatasync calls.',
      buckets: FSYNC_BUCKETS_SECONDS,
      registers: r,
    });
    this.commitSeconds = new Histogram({
      name: 'raft_commit_latency_seconds',
      help: 'Time from a proposal on the leader to its application.',
      buckets: COMMIT_BUCKETS_SECONDS,
      registers: r,
    });
    // Make every series exist from the start, so dashboards show 0 rather than no data.
    for (const result of ['committed', 'dropped', 'refused', 'timeout'] satisfies ProposalResult[]) this.proposals.inc({ result }, 0);
  }

  proposal(result: ProposalResult): void {
    this.proposals.inc({ result });
  }
}
