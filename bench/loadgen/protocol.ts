// What the orchestrator asks a load worker to do, and what the worker answers (over the IPC channel).
import type { HistogramData } from '../histogram.js';

export type SystemName = 'kuberaft' | 'etcd';

/**
 * One kind of request mix. `put` writes, `read` is a linearizable read (kuberaft ReadIndex, etcd's
 * default range), `mixed` is `readPercent` reads and the rest writes, `ping` is a request that touches
 * no Raft state (kuberaft `/livez`, etcd `/version`): one HTTP round trip on loopback.
 */
export type Operation = { readonly kind: 'put' } | { readonly kind: 'read' } | { readonly kind: 'mixed'; readonly readPercent: number } | { readonly kind: 'ping' };

export interface LoadJob {
  readonly system: SystemName;
  /** Base URL of the node every client of this job talks to. */
  readonly endpoint: string;
  readonly operation: Operation;
  /** Concurrent clients in this worker; each waits for its answer before sending again. */
  readonly clients: number;
  /** Time before measuring starts (connections open, caches warm), in ms; its requests are not counted. */
  readonly warmupMs: number;
  /** How long to measure, in ms; ignored when `opsTotal` is set. */
  readonly durationMs: number;
  /** Measure exactly this many requests (spread over the clients) instead of a duration. */
  readonly opsTotal?: number;
  readonly keySizeBytes: number;
  /** Keys are `keyPrefix` + a zero-padded number below `keySpace`, padded to keySizeBytes. */
  readonly keyPrefix: string;
  readonly keySpace: number;
  /** Keys in order 0, 1, 2, ... across the clients instead of at random (to load a known key set). */
  readonly sequentialKeys: boolean;
  /** With sequentialKeys: the first key number of this worker (workers take disjoint ranges). */
  readonly keyFirst: number;
  readonly valueSizeBytes: number;
}

export interface ErrorSample {
  readonly status: number | null;
  readonly detail: string;
}

export interface LoadResult {
  readonly ops: number;
  readonly errors: number;
  readonly errorSamples: readonly ErrorSample[];
  /** Length of the measured window, in ms. */
  readonly elapsedMs: number;
  readonly latency: HistogramData;
}

export type WorkerRequest = { readonly type: 'run'; readonly job: LoadJob } | { readonly type: 'exit' };
export type WorkerReply = { readonly type: 'ready' } | { readonly type: 'result'; readonly result: LoadResult } | { readonly type: 'failed'; readonly message: string };
