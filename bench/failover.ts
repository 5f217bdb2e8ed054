// Failover: SIGKILL the leader, then measure the time until a write succeeds again. Writes are started
// every FAILOVER_PROBE_INTERVAL_MS against the surviving members in turn, each left running until its
// own timeout, so the first success is seen within one interval whether a system fails fast while it
// has no leader (kuberaft answers 503) or holds the request until one is elected (etcd).
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { FAILOVER_GIVE_UP_MS, FAILOVER_PROBE_INTERVAL_MS, FAILOVER_PROBE_TIMEOUT_MS, VALUE_SIZE_BYTES } from './config.js';
import { Histogram } from './histogram.js';
import { putCall } from './loadgen/requests.js';
import type { BenchCluster, ClusterMember } from './systems/cluster.js';

export interface FailoverResult {
  readonly kills: number;
  /** Kills after which no write succeeded within FAILOVER_GIVE_UP_MS. */
  readonly failures: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly samplesMs: readonly number[];
}

/** Milliseconds from `since` until the first write to any of `targets` succeeds, or undefined. */
async function firstWrite(cluster: BenchCluster, targets: readonly ClusterMember[], since: number, round: number): Promise<number | undefined> {
  const stop = new AbortController();
  let done: number | undefined;
  const inflight = new Set<Promise<void>>();
  try {
    for (let attempt = 0; done === undefined && performance.now() - since < FAILOVER_GIVE_UP_MS; attempt++) {
      const target = targets[attempt % targets.length] as ClusterMember;
      const call = putCall(cluster.system, `fo${String(round % 1_000_000).padStart(6, '0')}`, Buffer.alloc(VALUE_SIZE_BYTES, 0x61));
      const p = fetch(`${target.clientUrl}${call.path}`, {
        method: call.method,
        body: call.body,
        headers: call.contentType === undefined ? {} : { 'content-type': call.contentType },
        signal: AbortSignal.any([stop.signal, AbortSignal.timeout(FAILOVER_PROBE_TIMEOUT_MS)]),
      }).then(
        async (res) => {
          await res.arrayBuffer();
          if (call.okStatuses.includes(res.status) && done === undefined) done = performance.now() - since;
        },
        () => undefined,
      );
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
      await sleep(FAILOVER_PROBE_INTERVAL_MS);
    }
  } finally {
    stop.abort();
    await Promise.all(inflight);
  }
  return done;
}

export async function measureFailover(cluster: BenchCluster, kills: number, log: (line: string) => void): Promise<FailoverResult> {
  const latency = new Histogram();
  const samplesMs: number[] = [];
  let failures = 0;
  for (let round = 0; round < kills; round++) {
    const leader = await cluster.leader(FAILOVER_GIVE_UP_MS);
    const survivors = cluster.members().filter((m) => m.id !== leader.id);
    const since = performance.now();
    await cluster.kill(leader.id);
    const ms = await firstWrite(cluster, survivors, since, round);
    if (ms === undefined) failures++;
    else {
      latency.recordMs(ms);
      samplesMs.push(Math.round(ms));
    }
    log(`  ${cluster.system} kill ${round + 1}/${kills}: ${leader.id} → first write after ${ms === undefined ? 'NONE' : `${Math.round(ms)} ms`}`);
    await cluster.restart(leader.id);
  }
  return { kills, failures, p50Ms: latency.percentileMs(50), p99Ms: latency.percentileMs(99), maxMs: latency.maxMs(), samplesMs };
}
