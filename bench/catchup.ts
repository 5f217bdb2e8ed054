// Catch-up: load a known amount of state, add a fresh learner, and time until it has applied
// everything that was committed when it was added (snapshot transfer + the log after it).
import { CATCH_UP_LOAD_CLIENTS, CATCH_UP_RATE_MIN_BYTES_PER_S, CATCH_UP_TIMEOUT_MIN_MS, CATCH_UP_VALUE_BYTES, KEY_SIZE_BYTES } from './config.js';
import type { LoadPool } from './loadgen/pool.js';
import type { BenchCluster } from './systems/cluster.js';

export interface CatchUpResult {
  /** Bytes of values loaded for this measurement (the state also holds the earlier rows' small keys). */
  readonly stateBytes: number;
  readonly loadSeconds: number;
  readonly loadErrors: number;
  readonly catchUpMs: number;
  /** stateBytes / catch-up time, in MB/s (1 MB = 10^6 bytes). */
  readonly mbPerSecond: number;
  readonly path: string;
  /** Why the learner did not catch up, when it did not (then catchUpMs and mbPerSecond are NaN). */
  readonly failure: string | null;
}

export async function measureCatchUp(cluster: BenchCluster, pool: LoadPool, stateBytes: number, log: (line: string) => void): Promise<CatchUpResult> {
  const puts = Math.ceil(stateBytes / CATCH_UP_VALUE_BYTES);
  const leader = await cluster.leader(30_000);
  log(`  ${cluster.system}: loading ${puts} values of ${CATCH_UP_VALUE_BYTES} bytes (${(stateBytes / 1e6).toFixed(0)} MB)`);
  const load = await pool.run({
    target: cluster.system === 'kuberaft' ? 'kuberaft' : 'etcd-gateway',
    endpoints: [leader.clientUrl],
    operation: { kind: 'put' },
    clients: CATCH_UP_LOAD_CLIENTS,
    conns: CATCH_UP_LOAD_CLIENTS,
    warmupMs: 0,
    durationMs: 0,
    opsTotal: puts,
    keySizeBytes: KEY_SIZE_BYTES,
    keyPrefix: 'c',
    keySpace: puts,
    sequentialKeys: true,
    keyFirst: 0,
    valueSizeBytes: CATCH_UP_VALUE_BYTES,
  });
  if (load.errors > 0) log(`  ${cluster.system}: ${load.errors} load errors, e.g. ${JSON.stringify(load.errorSamples[0])}`);
  log(`  ${cluster.system}: loaded in ${(load.elapsedMs / 1000).toFixed(1)} s; adding a learner`);
  const loadedBytes = load.ops * CATCH_UP_VALUE_BYTES;
  let t;
  try {
    t = await cluster.measureLearnerCatchUp(Math.max(CATCH_UP_TIMEOUT_MIN_MS, (loadedBytes / CATCH_UP_RATE_MIN_BYTES_PER_S) * 1000));
  } catch (e) {
    const failure = e instanceof Error ? e.message : String(e);
    log(`  ${cluster.system}: the learner did not catch up: ${failure}`);
    return { stateBytes: loadedBytes, loadSeconds: load.elapsedMs / 1000, loadErrors: load.errors, catchUpMs: NaN, mbPerSecond: NaN, path: '', failure };
  }
  return {
    stateBytes: loadedBytes,
    loadSeconds: load.elapsedMs / 1000,
    loadErrors: load.errors,
    catchUpMs: t.catchUpMs,
    mbPerSecond: loadedBytes / 1e6 / (t.catchUpMs / 1000),
    path: t.path,
    failure: null,
  };
}
