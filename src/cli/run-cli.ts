// The `kuberaft` command: dispatches to a subcommand and turns its outcome into an exit code.
// 0 ok; 2 usage or configuration error (message on stderr, no stack); 1 runtime failure.
import { ConfigError } from '../config/errors.js';
import { serializeError } from '../log/logger.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import type { CliIo } from './io.js';
import { packageVersion } from '../version.js';

export const MAIN_HELP = `Usage: kuberaft <command> [flags]

A Raft-replicated key-value service and the Kubernetes operator that runs it.

Commands:
  node       run one node (kuberaft node --help lists every flag, env variable and default)
  local      run an N-node cluster on this machine as separate processes (kuberaft local --help)
  ctl        a client: put, get, del, list, cas, watch, lease, lock, members, status, transfer, digest
             (kuberaft ctl --help)
  operator   run the Kubernetes operator (kuberaft operator --help)

Flags:
  --help     show this help
  --version  print the version

Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
`;

/** The operator lives in its own module, loaded only for this command. Its contract: */
export interface OperatorModule {
  /** Runs the operator with the arguments after `operator`; resolves to the exit code. */
  runOperator(argv: readonly string[]): Promise<number>;
}
const OPERATOR_MODULE = './operator.js';

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
        io.err(MAIN_HELP);
        return EXIT_USAGE;
      case '--help':
      case '-h':
      case 'help':
        io.out(MAIN_HELP);
        return EXIT_OK;
      case '--version':
        io.out(`${packageVersion()}\n`);
        return EXIT_OK;
      case 'node': {
        const { runNodeCommand } = await import('./node-command.js');
        return await runNodeCommand(rest, io);
      }
      case 'local': {
        const { runLocalCommand } = await import('./local.js');
        return await runLocalCommand(rest, io);
      }
      case 'ctl': {
        const { runCtlCommand } = await import('./ctl.js');
        return await runCtlCommand(rest, io);
      }
      case 'operator':
        return await runOperatorCommand(rest, io);
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}; commands are node, local, ctl, operator (see kuberaft --help)`);
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      io.err(`kuberaft${command === undefined ? '' : ` ${command}`}: ${err.message}\n`);
      return EXIT_USAGE;
    }
    const e = err instanceof Error ? serializeError(err) : { message: String(err) };
    io.err(`kuberaft${command === undefined ? '' : ` ${command}`}: ${e.message}\n`);
    if (io.env['KUBERAFT_DEBUG'] === '1' && 'stack' in e) io.err(`${String(e.stack)}\n`);
    return EXIT_FAILURE;
  }
}

async function runOperatorCommand(argv: readonly string[], io: CliIo): Promise<number> {
  let mod: Partial<OperatorModule>;
  try {
    mod = (await import(OPERATOR_MODULE)) as Partial<OperatorModule>;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    // Only operator.js itself missing means "not in this build"; a missing dependency of it is a real failure.
    const missing = code === 'ERR_MODULE_NOT_FOUND' && /Cannot find module '[^']*[\\/]cli[\\/]operator\.(js|ts)'/.test(String((err as Error).message));
    if (!missing) throw err;
    io.err('kuberaft operator: not available in this build\n');
    return EXIT_USAGE;
  }
  if (typeof mod.runOperator !== 'function') {
    io.err('kuberaft operator: not available in this build\n');
    return EXIT_USAGE;
  }
  return mod.runOperator(argv);
}
