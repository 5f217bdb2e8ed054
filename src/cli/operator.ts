// `kuberaft operator`: parses the flags and runs the operator (src/operator/run.ts).
import { OperatorUsageError, operatorHelp, parseOperatorArgs } from '../operator/options.js';
import { runOperatorProcess } from '../operator/run.js';
import { packageVersion } from '../version.js';
import { EXIT_OK } from './errors.js';
import { UsageError } from './errors.js';

export async function runOperator(argv: readonly string[]): Promise<number> {
  const version = packageVersion();
  let options;
  try {
    options = parseOperatorArgs(argv, process.env, version);
  } catch (err) {
    if (err instanceof OperatorUsageError) throw new UsageError(err.message);
    throw err;
  }
  if (options.help) {
    process.stdout.write(operatorHelp(version));
    return EXIT_OK;
  }
  return runOperatorProcess(options, version);
}
