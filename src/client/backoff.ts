// Waiting between retries: exponential, with full jitter so that many clients do not retry in step.

export interface RetryOptions {
  /** First wait, in ms (default 25). */
  readonly initialDelayMs?: number;
  /** Longest wait, in ms (default 1000). */
  readonly maxDelayMs?: number;
}

export const RETRY_INITIAL_DELAY_MS_DEFAULT = 25;
export const RETRY_MAX_DELAY_MS_DEFAULT = 1_000;

/** The wait before retry number `attempt` (1 for the first retry), in ms. */
export function backoffMs(attempt: number, options: RetryOptions = {}): number {
  const initial = options.initialDelayMs ?? RETRY_INITIAL_DELAY_MS_DEFAULT;
  const max = options.maxDelayMs ?? RETRY_MAX_DELAY_MS_DEFAULT;
  const ceiling = Math.min(max, initial * 2 ** Math.min(30, attempt - 1));
  return initial / 2 + Math.random() * (ceiling - initial / 2);
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal.reason as Error);
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A signal that aborts after `timeoutMs` (reason: a TimeoutError) or when any of `parents` aborts, and
 * `dispose()` to release its timer and listeners (AbortSignal.any would keep them for as long as the
 * parents live, and a client's own signal lives as long as the client).
 */
export function scopedSignal(timeoutMs: number, parents: readonly (AbortSignal | undefined)[]): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const abortFrom = (s: AbortSignal): (() => void) => () => controller.abort(s.reason);
  const listeners: [AbortSignal, () => void][] = [];
  for (const p of parents) {
    if (p === undefined) continue;
    if (p.aborted) {
      controller.abort(p.reason);
      break;
    }
    const l = abortFrom(p);
    p.addEventListener('abort', l, { once: true });
    listeners.push([p, l]);
  }
  const timer = setTimeout(() => controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
  timer.unref();
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      for (const [p, l] of listeners) p.removeEventListener('abort', l);
    },
  };
}
