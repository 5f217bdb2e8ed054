// Leader election through a coordination.k8s.io Lease, as client-go does it: the holder renews the
// lease every RENEW_INTERVAL_MS; another replica takes it over only when it has seen no renewal for a
// whole lease duration by its own clock (clocks are never compared across machines). A leader that
// cannot renew within the lease duration stops leading (the process exits and is restarted idle).
import { V1MicroTime } from '@kubernetes/client-node';
import type { V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import { HTTP_CONFLICT, statusOf } from './kube.js';
import type { Kube } from './kube.js';

export const LEASE_NAME = 'kuberaft-operator';
export const LEASE_DURATION_SECONDS_DEFAULT = 15;
/** How often the leader renews and a standby retries: well inside the lease duration. */
export const RENEW_INTERVAL_MS_DEFAULT = 2_000;

/** The Lease calls election needs (Kube has them). */
export type LeaseApi = Pick<Kube, 'getLease' | 'createLease' | 'replaceLease'>;

export interface LeaderElectionOptions {
  readonly kube: LeaseApi;
  readonly namespace: string;
  readonly identity: string;
  readonly log: Logger;
  readonly leaseName?: string;
  readonly leaseDurationSeconds?: number;
  readonly renewIntervalMs?: number;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
}

export class LeaderElector {
  readonly #o: LeaderElectionOptions;
  readonly #leaseName: string;
  readonly #durationMs: number;
  readonly #renewMs: number;
  #leading = false;
  /** Last lease record seen (holder and renew time) and when, by our clock. */
  #observed: { key: string; atMs: number } | undefined;
  #lastRenewMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(o: LeaderElectionOptions) {
    this.#o = o;
    this.#leaseName = o.leaseName ?? LEASE_NAME;
    this.#durationMs = (o.leaseDurationSeconds ?? LEASE_DURATION_SECONDS_DEFAULT) * 1000;
    this.#renewMs = o.renewIntervalMs ?? RENEW_INTERVAL_MS_DEFAULT;
    if (this.#renewMs * 2 > this.#durationMs) throw new RangeError('the renew interval must be at most half the lease duration');
  }

  get leading(): boolean {
    return this.#leading;
  }

  start(): void {
    this.#inFlight = this.#tick();
  }

  /**
   * Stops; a holder gives the lease up so that a standby takes over at once. A round in flight is
   * awaited first: it may have just taken the lease, and must neither start leading nor keep it.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#inFlight;
    this.#leading = false;
    try {
      const lease = await this.#o.kube.getLease(this.#o.namespace, this.#leaseName);
      if (lease?.spec?.holderIdentity === this.#o.identity) {
        lease.spec.holderIdentity = '';
        lease.spec.leaseDurationSeconds = 1;
        await this.#o.kube.replaceLease(lease);
      }
    } catch (err) {
      this.#o.log.warn('could not release the leader lease', { err: err instanceof Error ? err.message : String(err) });
    }
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    try {
      const acquired = await this.#tryAcquireOrRenew();
      if (acquired) this.#lastRenewMs = Date.now();
      if (acquired && !this.#leading && !this.#stopped) {
        this.#leading = true;
        this.#o.log.info('became the operator leader', { identity: this.#o.identity, lease: `${this.#o.namespace}/${this.#leaseName}` });
        this.#o.onStartedLeading();
      }
    } catch (err) {
      this.#o.log.warn('leader election round failed', { err: err instanceof Error ? err.message : String(err) });
    }
    if (this.#leading && Date.now() - this.#lastRenewMs > this.#durationMs) {
      this.#leading = false;
      this.#o.log.error('lost the operator lease (not renewed within its duration)', { identity: this.#o.identity });
      this.#o.onStoppedLeading();
      return;
    }
    if (!this.#stopped)
      this.#timer = setTimeout(() => {
        this.#inFlight = this.#tick();
      }, this.#renewMs);
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { kube, namespace, identity } = this.#o;
    const now = new V1MicroTime();
    const durationSeconds = Math.round(this.#durationMs / 1000);
    const lease = await kube.getLease(namespace, this.#leaseName);
    if (lease === undefined) {
      const body: V1Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.#leaseName, namespace },
        spec: { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
      };
      return this.#write(() => kube.createLease(body));
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const key = `${holder}@${String(spec.renewTime)}`;
    if (this.#observed?.key !== key) this.#observed = { key, atMs: Date.now() };
    const theirDurationMs = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    const expired = holder === '' || Date.now() - this.#observed.atMs > theirDurationMs;
    if (holder !== identity && !expired) return false;
    const next: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        renewTime: now,
        ...(holder === identity ? {} : { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
      },
    };
    return this.#write(() => kube.replaceLease(next));
  }

  /** A conflict means another replica wrote first: not an error, just not ours this round. */
  async #write(op: () => Promise<V1Lease>): Promise<boolean> {
    try {
      await op();
      return true;
    } catch (err) {
      if (statusOf(err) === HTTP_CONFLICT) return false;
      throw err;
    }
  }
}
