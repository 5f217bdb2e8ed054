// Errors of the command line. A UsageError (bad arguments) exits 2 with its message and no stack;
// so does a ConfigError. Anything else that escapes a command is a runtime failure: exit 1.

export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'usage';
}

/** Exit codes of every `kuberaft` command. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
