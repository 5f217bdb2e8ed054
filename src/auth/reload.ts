// Keeps a TokenSet current with its files: rotating or revoking a token needs no restart.
//
// The files are polled (stat every TOKENS_RELOAD_INTERVAL_MS) rather than watched: a Kubernetes
// Secret volume replaces its files by swapping a symlink, which inotify watches on the file miss,
// and stat follows the link. A file that changed is read again whole; if it does not parse, the
// tokens in force stay and the problem is logged (never a token).
import { statSync } from 'node:fs';
import type { TokenSet, TokenSources } from './tokens.js';
import { readTokens } from './tokens.js';

/** How often the token files are checked for changes. */
export const TOKENS_RELOAD_INTERVAL_MS = 1_000;

export type ReloadLog = (level: 'info' | 'error', msg: string, fields: Record<string, unknown>) => void;

function signature(path: string | undefined): string {
  if (path === undefined) return '';
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch (err) {
    return `missing:${String((err as { code?: unknown }).code)}`;
  }
}

export class ReloadingTokens {
  private tokens: TokenSet;
  private seen: string;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sources: TokenSources,
    initial: TokenSet,
    private readonly log: ReloadLog,
    private readonly intervalMs = TOKENS_RELOAD_INTERVAL_MS,
  ) {
    this.tokens = initial;
    this.seen = this.signatures();
  }

  /** The tokens in force. */
  current(): TokenSet {
    return this.tokens;
  }

  start(): void {
    if (this.timer !== undefined || (this.sources.tokensFile === undefined && this.sources.adminTokenFile === undefined)) return;
    this.timer = setInterval(() => this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the files again if they changed since the last look. */
  check(): void {
    const now = this.signatures();
    if (now === this.seen) return;
    this.seen = now;
    const r = readTokens(this.sources);
    if (!r.ok) {
      this.log('error', 'token files changed but cannot be used; the previous tokens stay in force', { problems: r.problems });
      return;
    }
    this.tokens = r.value;
    this.log('info', 'tokens reloaded', { tokens: r.value.describe() });
  }

  private signatures(): string {
    return `${signature(this.sources.tokensFile)}|${signature(this.sources.adminTokenFile)}`;
  }
}
