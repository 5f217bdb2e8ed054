// The operator's Prometheus metrics and its small HTTP server (/metrics, /healthz, /readyz).
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type ReconcileOutcome = 'stable' | 'progressing' | 'degraded' | 'paused' | 'gone' | 'error';
export type MembershipChangeKind = 'bootstrap' | 'add-learner' | 'promote' | 'remove' | 'replace-lost' | 'transfer-leadership';

export const RECONCILE_DURATION_BUCKETS_SECONDS: readonly number[] = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconcileTotal: Counter<'result'>;
  readonly reconcileSeconds: Histogram;
  readonly membershipChanges: Counter<'kind'>;
  readonly isLeader: Gauge;
  readonly desiredReplicas: Gauge<'namespace' | 'cluster'>;
  readonly voters: Gauge<'namespace' | 'cluster'>;
  readonly readyVoters: Gauge<'namespace' | 'cluster'>;
  readonly term: Gauge<'namespace' | 'cluster'>;
  readonly commitIndex: Gauge<'namespace' | 'cluster'>;
  readonly conditionTrue: Gauge<'namespace' | 'cluster' | 'condition'>;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.reconcileTotal = new Counter({ name: 'kuberaft_reconcile_total', help: 'Reconcile passes by result.', labelNames: ['result'], registers });
    this.reconcileSeconds = new Histogram({
      name: 'kuberaft_reconcile_duration_seconds',
      help: 'Time one reconcile pass took.',
      buckets: [...RECONCILE_DURATION_BUCKETS_SECONDS],
      registers,
    });
    this.membershipChanges = new Counter({
      name: 'kuberaft_membership_changes_total',
      help: 'Membership steps the operator made, by kind.',
      labelNames: ['kind'],
      registers,
    });
    this.isLeader = new Gauge({ name: 'kuberaft_operator_leader', help: '1 when this operator replica holds the leader lease.', registers });
    const perCluster = (name: string, help: string): Gauge<'namespace' | 'cluster'> =>
      new Gauge({ name, help, labelNames: ['namespace', 'cluster'], registers });
    this.desiredReplicas = perCluster('kuberaft_cluster_desired_replicas', 'spec.replicas of the RaftCluster.');
    this.voters = perCluster('kuberaft_cluster_voters', 'Voters in the live Raft configuration.');
    this.readyVoters = perCluster('kuberaft_cluster_ready_voters', 'Healthy voters in the live Raft configuration.');
    this.term = perCluster('kuberaft_cluster_term', "The leader's term.");
    this.commitIndex = perCluster('kuberaft_cluster_commit_index', "The leader's commit index.");
    this.conditionTrue = new Gauge({
      name: 'kuberaft_cluster_condition',
      help: '1 when the RaftCluster condition is True.',
      labelNames: ['namespace', 'cluster', 'condition'],
      registers,
    });
    for (const result of ['stable', 'progressing', 'degraded', 'paused', 'gone', 'error'] satisfies ReconcileOutcome[]) this.reconcileTotal.inc({ result }, 0);
    for (const kind of ['bootstrap', 'add-learner', 'promote', 'remove', 'replace-lost', 'transfer-leadership'] satisfies MembershipChangeKind[])
      this.membershipChanges.inc({ kind }, 0);
  }

  forgetCluster(namespace: string, cluster: string): void {
    for (const g of [this.desiredReplicas, this.voters, this.readyVoters, this.term, this.commitIndex]) g.remove({ namespace, cluster });
    for (const condition of ['Available', 'Progressing', 'Degraded']) this.conditionTrue.remove({ namespace, cluster, condition });
  }
}

export interface HealthSource {
  /** The process works (its loops run). */
  healthy(): boolean;
  /** Ready to act: the watches have synced (a standby replica is ready too: it serves metrics and waits). */
  ready(): boolean;
}

/** Serves /metrics, /healthz, /readyz on `port` (0 = any free port); resolves once listening. */
export async function startMetricsServer(metrics: OperatorMetrics, health: HealthSource, host: string, port: number): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else if (path === '/healthz') {
      const ok = health.healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'unhealthy\n');
    } else if (path === '/readyz') {
      const ok = health.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}
