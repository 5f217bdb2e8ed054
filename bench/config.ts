// Every knob of a benchmark run, per mode, in one place. Full mode must finish within 15 minutes on a
// 2-core machine and quick mode within 3, etcd and kuberaft together.

export type ModeName = 'quick' | 'full';

export interface BenchMode {
  readonly name: ModeName;
  /** Per timed load row: unmeasured warm-up, then the measured window, in ms. */
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Requests in the sequential single-client row (a fixed count, not a duration). */
  readonly sequentialOps: number;
  /** SIGKILLs of the leader per system. */
  readonly failoverKills: number;
  /** State loaded before a learner is added, in bytes of values. */
  readonly catchUpStateBytes: number;
  /** How long the 64-client put load runs against the profiled leader, in ms. */
  readonly profileMs: number;
  readonly fsyncIterations: number;
  readonly sequentialWriteBytes: number;
}

const MIB = 1024 * 1024;

export const MODES: Readonly<Record<ModeName, BenchMode>> = {
  quick: {
    name: 'quick',
    warmupMs: 500,
    durationMs: 2_500,
    sequentialOps: 300,
    failoverKills: 5,
    catchUpStateBytes: 50 * MIB,
    profileMs: 5_000,
    fsyncIterations: 500,
    sequentialWriteBytes: 256 * MIB,
  },
  full: {
    name: 'full',
    warmupMs: 1_000,
    durationMs: 10_000,
    sequentialOps: 2_000,
    failoverKills: 20,
    catchUpStateBytes: 1024 * MIB,
    profileMs: 15_000,
    fsyncIterations: 2_000,
    sequentialWriteBytes: 1024 * MIB,
  },
};

/** As in etcd's published benchmark (8-byte keys, 256-byte values). */
export const KEY_SIZE_BYTES = 8;
export const VALUE_SIZE_BYTES = 256;
/** Keys of the put rows are drawn from this many (so most puts are inserts early and updates later). */
export const PUT_KEY_SPACE = 100_000;
/** Keys loaded before the read rows, which then read only existing keys. */
export const READ_KEY_SPACE = 1_000;
/** Values of the catch-up state: large enough that loading 1 GiB takes minutes, not hours. */
export const CATCH_UP_VALUE_BYTES = 64 * 1024;
export const CATCH_UP_LOAD_CLIENTS = 16;
/** A learner slower than this (or than CATCH_UP_TIMEOUT_MIN_MS) is reported as not caught up. */
export const CATCH_UP_RATE_MIN_BYTES_PER_S = 5e6;
export const CATCH_UP_TIMEOUT_MIN_MS = 60_000;
/** Load worker processes (the machine has 2 cores; more would only compete with the servers). */
export const LOAD_WORKERS = 2;
export const PUT_CLIENT_COUNTS: readonly number[] = [1, 16, 64, 256];
export const READ_CLIENTS = 64;
export const MIXED_READ_PERCENT = 90;
/** Failover: a new write attempt is started this often until one succeeds, in ms (the resolution). */
export const FAILOVER_PROBE_INTERVAL_MS = 10;
export const FAILOVER_PROBE_TIMEOUT_MS = 5_000;
/** Give up on one failover after this long, in ms (counted as a failure in the report). */
export const FAILOVER_GIVE_UP_MS = 30_000;
/** Where the clusters listen: kuberaft base+1.. and base+101.., etcd base+201.., base+301.. and base+401... */
export const PORT_BASE_CANDIDATES: readonly number[] = [27000, 28000, 29000, 31000, 32000];
/** Watch fan-out: watchers of one prefix, and the closed-loop writers whose changes they receive. */
export const FANOUT_WATCHERS = 100;
export const FANOUT_WRITERS = 16;
/** Lease grant + keepalive: concurrent clients, and each lease's TTL (long enough to outlive the run's end). */
export const LEASE_CLIENTS = 64;
export const LEASE_TTL_MS = 60_000;
