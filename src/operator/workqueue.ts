// A keyed work queue: a key is handled by at most one worker at a time; adding a key that is queued
// does nothing, adding one that is running marks it to run again when done. The handler returns when to
// look at the key again (requeue-after); a throw requeues it with a per-key exponential backoff.

/** First retry after a failed pass, doubled per consecutive failure up to the maximum. */
export const ERROR_BACKOFF_BASE_MS = 500;
export const ERROR_BACKOFF_MAX_MS = 30_000;
/** Keys handled at once (different keys only). */
export const WORKERS_DEFAULT = 4;

export type Handler = (key: string) => Promise<number | undefined>;

export class WorkQueue {
  readonly #handler: Handler;
  readonly #onError: (key: string, err: unknown) => void;
  readonly #workers: number;
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  readonly #running = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #failures = new Map<string, number>();
  readonly #idle = new Set<() => void>();
  #stopped = false;

  constructor(handler: Handler, options: { workers?: number; onError?: (key: string, err: unknown) => void } = {}) {
    this.#handler = handler;
    this.#workers = options.workers ?? WORKERS_DEFAULT;
    this.#onError = options.onError ?? (() => {});
  }

  /** Handle `key` now, or after `delayMs` (an earlier pending time wins). */
  add(key: string, delayMs = 0): void {
    if (this.#stopped) return;
    if (delayMs > 0) {
      const at = Date.now() + delayMs;
      const existing = this.#timers.get(key);
      if (existing !== undefined && existing.at <= at) return;
      if (existing !== undefined) clearTimeout(existing.timer);
      const timer = setTimeout(() => {
        this.#timers.delete(key);
        this.add(key);
      }, delayMs);
      this.#timers.set(key, { at, timer });
      return;
    }
    if (this.#running.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#queue.push(key);
    this.#pump();
  }

  get size(): number {
    return this.#queue.length + this.#running.size;
  }

  /** Stops taking work; resolves when running handlers have finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const { timer } of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#queue.length = 0;
    this.#queued.clear();
    if (this.#running.size > 0) await new Promise<void>((resolve) => this.#idle.add(resolve));
  }

  #pump(): void {
    while (!this.#stopped && this.#running.size < this.#workers && this.#queue.length > 0) {
      const key = this.#queue.shift() as string;
      this.#queued.delete(key);
      this.#running.add(key);
      void this.#run(key);
    }
  }

  async #run(key: string): Promise<void> {
    let requeueMs: number | undefined;
    try {
      requeueMs = await this.#handler(key);
      this.#failures.delete(key);
    } catch (err) {
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      requeueMs = Math.min(ERROR_BACKOFF_MAX_MS, ERROR_BACKOFF_BASE_MS * 2 ** (n - 1));
      this.#onError(key, err);
    }
    this.#running.delete(key);
    if (this.#dirty.delete(key)) this.add(key);
    else if (requeueMs !== undefined) this.add(key, requeueMs);
    if (this.#running.size === 0) {
      for (const r of this.#idle) r();
      this.#idle.clear();
    }
    this.#pump();
  }
}
