// Configuration errors: every problem found, each naming the source of the bad value
// (`--tick-ms`, `KUBERAFT_TICK_MS`, `config.yaml: tickMs`), so one run shows all that must be fixed.

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'invalid-config';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}
