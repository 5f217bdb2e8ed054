// Runs the operator process: metrics server, leader election and, while leading, the controller.
// Resolves with the exit code: 0 after SIGINT/SIGTERM, 1 when leadership is lost (the Deployment
// restarts the process, which then waits as a standby: no stale leader keeps acting).
import { KubeConfig } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { createLogger } from '../log/logger.js';
import { Controller } from './controller.js';
import { Kube } from './kube.js';
import { LeaderElector } from './leader-election.js';
import { OperatorMetrics, startMetricsServer } from './metrics.js';
import type { OperatorOptions } from './options.js';
import { Reconciler } from './reconciler.js';

export const EVENT_COMPONENT = 'kuberaft-operator';
const IN_CLUSTER_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const EXIT_OK = 0;
const EXIT_LOST_LEADERSHIP = 1;

export function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file !== undefined) kc.loadFromFile(file);
  else kc.loadFromCluster();
  return kc;
}

function defaultLeaseNamespace(): string {
  try {
    return readFileSync(IN_CLUSTER_NAMESPACE_FILE, 'utf8').trim() || 'default';
  } catch {
    return 'default';
  }
}

export async function runOperatorProcess(o: OperatorOptions, version: string): Promise<number> {
  const identity = o.identity ?? `${hostname()}-${process.pid}`;
  const log = createLogger({ level: o.logLevel, fields: { component: 'operator', identity } });
  const kube = new Kube(loadKubeConfig(o.kubeconfig));
  const metrics = new OperatorMetrics();
  const reconciler = new Reconciler({ kube, log, metrics, defaultImage: o.nodeImage, component: EVENT_COMPONENT });
  let controller: Controller | undefined;

  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((r) => (finish = r));
  const elector = new LeaderElector({
    kube,
    namespace: o.leaderElectionNamespace ?? defaultLeaseNamespace(),
    identity,
    log,
    leaseDurationSeconds: o.leaseDurationSeconds,
    onStartedLeading: () => {
      metrics.isLeader.set(1);
      controller = new Controller({ kube, reconciler, metrics, log, namespace: o.namespace, resyncPeriodMs: o.resyncSeconds * 1000 });
      controller.start().catch((err: unknown) => {
        log.error('the controller could not start', { err: err instanceof Error ? err.message : String(err) });
        finish(EXIT_LOST_LEADERSHIP);
      });
    },
    onStoppedLeading: () => {
      metrics.isLeader.set(0);
      finish(EXIT_LOST_LEADERSHIP);
    },
  });
  const { server, port } = await startMetricsServer(
    metrics,
    { healthy: () => true, ready: () => !elector.leading || (controller?.synced ?? false) },
    o.metricsHost,
    o.metricsPort,
  );
  log.info('operator started', { version, metricsPort: port, watchNamespace: o.namespace ?? '(all)', nodeImage: o.nodeImage });
  metrics.isLeader.set(0);
  elector.start();

  const onSignal = (): void => finish(EXIT_OK);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const code = await finished;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  log.info('operator stopping', { code });
  await controller?.stop();
  await elector.stop();
  await new Promise<void>((r) => server.close(() => r()));
  server.closeAllConnections();
  return code;
}
