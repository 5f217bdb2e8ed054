// A lease held by this client, with a keepalive helper. The client's own view of the lease is
// conservative: it counts the TTL from when it *sent* the last acknowledged keepalive (the leader counts
// from when it confirmed it, which is later), so `lost` fires no later than the cluster can end the
// lease — the moment to stop acting on anything the lease protects.
import type { CallOptions } from './client.js';
import { KuberaftError } from './errors.js';

/** Keepalives are sent every TTL × this fraction, so that two may fail before the lease is at risk. */
export const LEASE_KEEPALIVE_FRACTION = 1 / 3;
/** After a failed keepalive, the next try comes this much later, in ms (while time is left). */
export const LEASE_KEEPALIVE_RETRY_MS = 200;

export interface LeaseOptions {
  /** Keepalive period in ms (default TTL × LEASE_KEEPALIVE_FRACTION). */
  readonly keepAliveIntervalMs?: number;
}

/** What a Lease needs of the client. */
export interface LeaseCalls {
  keepAliveOnce(id: number, options?: CallOptions): Promise<{ id: number; ttlMs: number }>;
  revokeLease(id: number, options?: CallOptions): Promise<{ revoked: boolean }>;
}

/** Resolves after `ms` without holding the process open; false if `signal` aborted first. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const done = (ok: boolean): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const onAbort = (): void => done(false);
    const t = setTimeout(() => done(true), ms);
    t.unref();
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export class Lease {
  private readonly lostController = new AbortController();
  /** Stops the keepalive loop (revoke, stop, loss). */
  private readonly stopper = new AbortController();
  /** When the lease surely still lives until, on this process's clock (performance.now()). */
  private deadline: number;
  private running = false;
  private lostWhy: KuberaftError | undefined;

  constructor(
    private readonly calls: LeaseCalls,
    readonly id: number,
    readonly ttlMs: number,
    grantSentAt: number,
    private readonly options: LeaseOptions = {},
  ) {
    this.deadline = grantSentAt + ttlMs;
    const watchdog = setTimeout(() => this.checkDeadline(), Math.max(0, this.deadline - performance.now()));
    watchdog.unref();
  }

  /** Aborted once the lease is lost (expired, revoked, or not kept alive in time); its keys may be gone. */
  get lost(): AbortSignal {
    return this.lostController.signal;
  }

  /** Why the lease was lost, once it was. */
  get lostReason(): KuberaftError | undefined {
    return this.lostWhy;
  }

  /** Milliseconds the lease surely still lives, by this client's reckoning (0 once lost). */
  remainingMs(): number {
    return this.lost.aborted ? 0 : Math.max(0, this.deadline - performance.now());
  }

  /** Keeps the lease alive in the background until revoke(), stop(), or its loss. Returns the lease. */
  keepAlive(): this {
    if (this.running || this.lost.aborted) return this;
    this.running = true;
    void this.loop();
    return this;
  }

  /** Stops the keepalives (the lease then expires on its own after its TTL). */
  stop(): void {
    this.stopper.abort();
  }

  /** Ends the lease now: its keys are deleted. */
  async revoke(options: CallOptions = {}): Promise<void> {
    this.stopper.abort();
    try {
      await this.calls.revokeLease(this.id, options);
    } finally {
      this.lose(new KuberaftError('lease-not-found', `lease ${this.id} was revoked`));
    }
  }

  private async loop(): Promise<void> {
    const interval = this.options.keepAliveIntervalMs ?? Math.max(1, Math.floor(this.ttlMs * LEASE_KEEPALIVE_FRACTION));
    let wait = interval;
    while (await pause(wait, this.stopper.signal)) {
      const sentAt = performance.now();
      const left = this.deadline - sentAt;
      if (left <= 0) return this.lose(new KuberaftError('timeout', `no keepalive of lease ${this.id} was acknowledged within its TTL of ${this.ttlMs} ms`));
      try {
        await this.calls.keepAliveOnce(this.id, { timeoutMs: left, signal: this.stopper.signal });
        this.deadline = Math.max(this.deadline, sentAt + this.ttlMs);
        wait = interval;
      } catch (e) {
        if (this.stopper.signal.aborted) return;
        if (e instanceof KuberaftError && e.code === 'lease-not-found') return this.lose(e);
        wait = LEASE_KEEPALIVE_RETRY_MS;
      }
      this.checkDeadline();
    }
  }

  private checkDeadline(): void {
    if (this.lost.aborted) return;
    const left = this.deadline - performance.now();
    if (left <= 0) {
      this.lose(new KuberaftError('timeout', `no keepalive of lease ${this.id} was acknowledged within its TTL of ${this.ttlMs} ms`));
      return;
    }
    const t = setTimeout(() => this.checkDeadline(), left);
    t.unref();
  }

  private lose(why: KuberaftError): void {
    if (this.lost.aborted) return;
    this.lostWhy = why;
    this.stopper.abort();
    this.lostController.abort(why);
  }
}
