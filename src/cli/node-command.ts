// `kuberaft node`: one node. Parses the configuration, starts the node server (src/node/run.ts),
// and stops it gracefully on SIGTERM/SIGINT (exit 0). A second signal, or a stop that takes longer
// than NODE_STOP_TIMEOUT_MS, exits 1 at once.
import type { NodeConfig } from '../config/node-config.js';
import { describeNodeConfig, nodeConfigHelp, parseNodeConfig } from '../config/node-config.js';
import { createLogger } from '../log/logger.js';
import type { Logger } from '../log/logger.js';
import { EXIT_FAILURE, EXIT_OK } from './errors.js';
import type { CliIo } from './io.js';
import { onStopSignals } from './signals.js';
import type { StopSignal } from './signals.js';
import { packageVersion } from '../version.js';

/** Longest graceful stop, in milliseconds, before the process exits anyway. */
export const NODE_STOP_TIMEOUT_MS = 30_000;

/** What `src/node/run.ts` returns: the running node. */
export interface RunningNode {
  stop(): Promise<void>;
  /** If present: settles when the node ends by itself; a rejection is a fatal runtime failure. */
  readonly closed?: Promise<unknown>;
}

export type RunNode = (config: NodeConfig, logger: Logger) => Promise<RunningNode>;

export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

// Loaded only by this command, so `ctl` and `local` start without loading express and the storage engine.
async function loadRunNode(): Promise<RunNode> {
  const { runNode } = await import('../node/run.js');
  return runNode;
}

export async function runNodeCommand(argv: readonly string[], io: CliIo, loader: () => Promise<RunNode> = loadRunNode): Promise<number> {
  if (wantsHelp(argv)) {
    io.out(nodeConfigHelp());
    return EXIT_OK;
  }
  const config = parseNodeConfig(argv, io.env); // ConfigError: exit 2, handled by the caller
  const logger = createLogger({ level: config.logLevel, fields: { node: config.id } });
  logger.info('starting node', { version: packageVersion(), pid: process.pid, config: describeNodeConfig(config) });

  const fatal = (what: string, err: unknown): number => {
    logger.error(what, { err });
    return EXIT_FAILURE;
  };
  const onUncaught = (err: unknown): void => {
    logger.error('uncaught exception; exiting', { err });
    process.exit(EXIT_FAILURE);
  };
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);

  let stopRequested!: (signal: StopSignal) => void;
  const stopSignal = new Promise<StopSignal>((resolve) => (stopRequested = resolve));
  const removeSignals = onStopSignals(stopRequested, (signal) => {
    logger.warn('second stop signal; exiting without waiting', { signal });
    process.exit(EXIT_FAILURE);
  });
  try {
    let node: RunningNode;
    try {
      const runNode = await loader();
      node = await runNode(config, logger);
    } catch (err) {
      return fatal('node failed to start', err);
    }
    const ended = node.closed === undefined ? new Promise<never>(() => undefined) : node.closed;
    const outcome = await Promise.race([
      stopSignal.then((signal) => ({ kind: 'signal' as const, signal })),
      ended.then(
        () => ({ kind: 'ended' as const }),
        (err: unknown) => ({ kind: 'failed' as const, err }),
      ),
    ]);
    if (outcome.kind === 'failed') return fatal('node failed', outcome.err);
    if (outcome.kind === 'ended') {
      logger.info('node stopped by itself');
      return EXIT_OK;
    }
    logger.info('stopping node', { signal: outcome.signal });
    const timer = setTimeout(() => {
      logger.error('graceful stop took too long; exiting', { timeoutMs: NODE_STOP_TIMEOUT_MS });
      process.exit(EXIT_FAILURE);
    }, NODE_STOP_TIMEOUT_MS);
    try {
      await node.stop();
    } catch (err) {
      return fatal('node did not stop cleanly', err);
    } finally {
      clearTimeout(timer);
    }
    logger.info('exiting', { exitCode: EXIT_OK });
    return EXIT_OK;
  } finally {
    removeSignals();
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  }
}
