// Entry point of the `kuberaft` command (bin/kuberaft.js imports the compiled dist/src/cli/main.js).
import { processIo } from './io.js';
import { runCli } from './run-cli.js';

process.exitCode = await runCli(process.argv.slice(2), processIo());
