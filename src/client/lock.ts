// A lock (and leader election) on a key: CAS + lease + watch.
//
// To take the lock, a client grants itself a lease, keeps it alive, and creates the key only if it is
// absent (cas with expected null), attached to the lease. If the key exists, it reads it and watches for
// its deletion from the next revision (so no release can be missed), then tries again. The holder
// releases by revoking its lease, which deletes the key; if the holder dies or is cut off, its lease
// expires and the key goes the same way. Every acquisition has its own lease, so releasing can never
// delete a key that another holder created.
//
// Guarantees: at most one client's cas can create the key while it exists, so the key names one holder
// at a time. A holder must stop acting as one when `lost` fires (the lease could not be kept alive: the
// key may be gone and someone else may hold it). For work outside kuberaft, pass `revision` (strictly
// increasing across holders) as a fencing token to whatever the lock protects.
//
// Leader election: every candidate calls lock(electionKey, {value: itsName}); the one that returns is
// the leader until `lost` or release(); anyone can read or watch the key to learn who leads.
import type { CallOptions } from './client.js';
import type { Client } from './client.js';
import { KuberaftError } from './errors.js';
import type { Lease } from './lease.js';

/** A lock's lease TTL unless given: how long a dead holder keeps the lock. */
export const LOCK_TTL_MS_DEFAULT = 10_000;

export interface LockOptions {
  readonly ttlMs?: number;
  /** What the key holds while locked (default: this client's id and the lease id): who holds it. */
  readonly value?: string;
  /** Stops waiting for the lock (the call throws KuberaftError `aborted`). */
  readonly signal?: AbortSignal;
}

export interface Lock {
  readonly key: string;
  /** The revision at which this holder created the key: increases with every acquisition (a fencing token). */
  readonly revision: number;
  readonly lease: Lease;
  /** Aborted when the lock is lost: stop acting as its holder. */
  readonly lost: AbortSignal;
  /** Releases the lock (revokes its lease, which deletes the key). */
  release(options?: CallOptions): Promise<void>;
}

export async function acquireLock(client: Client, key: string, options: LockOptions): Promise<Lock> {
  const signal = options.signal;
  const ttlMs = options.ttlMs ?? LOCK_TTL_MS_DEFAULT;
  let lease: Lease | undefined;
  try {
    for (;;) {
      if (signal?.aborted === true) throw new KuberaftError('aborted', `gave up waiting for the lock ${JSON.stringify(key)}`, { cause: signal.reason });
      if (lease === undefined || lease.lost.aborted) lease = (await client.grantLease(ttlMs, signal === undefined ? {} : { signal })).keepAlive();
      const value = options.value ?? `${client.clientId}/${lease.id}`;
      const call = signal === undefined ? {} : { signal };
      const r = await client.cas(key, null, value, { ...call, lease });
      if (r.ok) {
        const held = lease;
        return { key, revision: r.revision, lease: held, lost: held.lost, release: (o) => held.revoke(o) };
      }
      const current = await client.get(key, call);
      if (current === undefined) continue;
      // Wait for the holder's key to go; the watch starts right after the revision just read.
      const gone = AbortSignal.any([lease.lost, ...(signal === undefined ? [] : [signal])]);
      const watch = client.watch(key, { fromRevision: current.revision + 1, signal: gone });
      try {
        for await (const e of watch) if (e.key === key && e.type === 'delete') break;
      } catch (e) {
        // Our own lease was lost while waiting: a new one is granted above. The caller's abort is rethrown there.
        if (!(e instanceof KuberaftError && e.code === 'aborted')) throw e;
      } finally {
        watch.close();
      }
    }
  } catch (e) {
    if (lease !== undefined) await lease.revoke().catch(() => undefined);
    throw e;
  }
}
