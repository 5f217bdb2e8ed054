// The operator's command line: flags (with env fallbacks) and their validation.
import { parseArgs } from 'node:util';
import { LEASE_DURATION_SECONDS_DEFAULT } from './leader-election.js';
import { isLogLevel } from '../log/logger.js';
import type { LogLevel } from '../log/logger.js';

export const METRICS_PORT_DEFAULT = 8080;
export const RESYNC_SECONDS_DEFAULT = 30;
export const NODE_IMAGE_REPOSITORY = 'ghcr.io/kuberaft/kuberaft';

export class OperatorUsageError extends Error {
  readonly code = 'OPERATOR_USAGE';
}

export interface OperatorOptions {
  readonly help: boolean;
  readonly kubeconfig: string | undefined;
  readonly metricsHost: string;
  readonly metricsPort: number;
  readonly namespace: string | undefined;
  readonly leaderElectionNamespace: string | undefined;
  readonly leaseDurationSeconds: number;
  readonly nodeImage: string;
  readonly identity: string | undefined;
  readonly resyncSeconds: number;
  readonly logLevel: LogLevel;
}

export function operatorHelp(version: string): string {
  return `Usage: kuberaft operator [flags]

Runs the RaftCluster operator: watches RaftClusters (kuberaft.io/v1alpha1) and the StatefulSets and
Pods they own, and changes Raft membership one step at a time (docs/operator.md).

Flags (each also read from the environment variable shown):
  --kubeconfig FILE                   KUBECONFIG        cluster credentials; in-cluster config by default
  --namespace NS                      KUBERAFT_WATCH_NAMESPACE   watch only this namespace (default: all)
  --leader-election-namespace NS      POD_NAMESPACE     namespace of the leader Lease (default: the pod's
                                                        namespace in-cluster, else "default")
  --leader-election-lease-seconds N   (default ${LEASE_DURATION_SECONDS_DEFAULT}) how long a silent leader keeps the lease
  --identity ID                       POD_NAME          this replica's name in the Lease (default host-pid)
  --metrics-port N                    (default ${METRICS_PORT_DEFAULT}; 0 = any) /metrics, /healthz, /readyz
  --metrics-host HOST                 (default 0.0.0.0)
  --node-image IMG                    KUBERAFT_NODE_IMAGE  image of nodes whose RaftCluster names none
                                                        (default ${NODE_IMAGE_REPOSITORY}:${version})
  --resync-seconds N                  (default ${RESYNC_SECONDS_DEFAULT}) every RaftCluster is reconciled at least this often
  --log-level LEVEL                   KUBERAFT_LOG_LEVEL  debug, info (default), warn, error
  --help
`;
}

function intFlag(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new OperatorUsageError(`--${name} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}`);
  return n;
}

export function parseOperatorArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, version: string): OperatorOptions {
  let values;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        help: { type: 'boolean' },
        kubeconfig: { type: 'string' },
        'metrics-host': { type: 'string' },
        'metrics-port': { type: 'string' },
        namespace: { type: 'string' },
        'leader-election-namespace': { type: 'string' },
        'leader-election-lease-seconds': { type: 'string' },
        identity: { type: 'string' },
        'node-image': { type: 'string' },
        'resync-seconds': { type: 'string' },
        'log-level': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new OperatorUsageError(`${err instanceof Error ? err.message : String(err)} (see kuberaft operator --help)`);
  }
  const logLevel = values['log-level'] ?? env.KUBERAFT_LOG_LEVEL ?? 'info';
  if (!isLogLevel(logLevel)) throw new OperatorUsageError(`--log-level must be one of debug, info, warn, error, got ${JSON.stringify(logLevel)}`);
  return {
    help: values.help ?? false,
    kubeconfig: values.kubeconfig ?? env.KUBECONFIG,
    metricsHost: values['metrics-host'] ?? '0.0.0.0',
    metricsPort: intFlag('metrics-port', values['metrics-port'], METRICS_PORT_DEFAULT, 0, 65535),
    namespace: values.namespace ?? env.KUBERAFT_WATCH_NAMESPACE,
    leaderElectionNamespace: values['leader-election-namespace'] ?? env.POD_NAMESPACE,
    leaseDurationSeconds: intFlag('leader-election-lease-seconds', values['leader-election-lease-seconds'], LEASE_DURATION_SECONDS_DEFAULT, 2, 300),
    identity: values.identity ?? env.POD_NAME,
    nodeImage: values['node-image'] ?? env.KUBERAFT_NODE_IMAGE ?? `${NODE_IMAGE_REPOSITORY}:${version}`,
    resyncSeconds: intFlag('resync-seconds', values['resync-seconds'], RESYNC_SECONDS_DEFAULT, 1, 3600),
    logLevel,
  };
}
