// What the orchestrator asks a load generator to do, and what it answers: a Node load worker (over the
// IPC channel) or etcd's native generator (bench/etcd-native, JSON on stdin/stdout).
import type { HistogramData } from '../histogram.js';

/** A benchmarked cluster. */
export type SystemName = 'kuberaft' | 'etcd';

/**
 * How load reaches a cluster: kuberaft through its client library (src/client), etcd through its own Go
 * client (clientv3, gRPC) or through its JSON gateway (HTTP/1.1 + JSON, an in-process proxy in front of
 * its gRPC server).
 */
export type LoadTarget = 'kuberaft' | 'etcd-native' | 'etcd-gateway';

export const LOAD_TARGETS: readonly LoadTarget[] = ['kuberaft', 'etcd-native', 'etcd-gateway'];

export function systemOf(target: LoadTarget): SystemName {
  return target === 'kuberaft' ? 'kuberaft' : 'etcd';
}

/**
 * One kind of request mix. `put` writes, `read` is a linearizable read (kuberaft ReadIndex, etcd's
 * default range), `mixed` is `readPercent` reads and the rest writes, `ping` is a request that touches
 * no Raft state (kuberaft `/livez`, etcd `/version`): one HTTP round trip on loopback. `lease` grants a
 * lease and keeps it alive once (one operation is the pair). `watch-fanout`: `watchers` watch the key
 * prefix while `writers` closed-loop clients put to it; an operation is one change delivered to one
 * watcher, its latency the time from the put being sent.
 */
export type Operation =
  | { readonly kind: 'put' }
  | { readonly kind: 'read' }
  | { readonly kind: 'mixed'; readonly readPercent: number }
  | { readonly kind: 'ping' }
  | { readonly kind: 'lease'; readonly ttlMs: number }
  | { readonly kind: 'watch-fanout'; readonly watchers: number; readonly writers: number };

export interface LoadJob {
  readonly target: LoadTarget;
  /**
   * The cluster members the load may use (base URLs): the kuberaft client routes itself among them;
   * etcd's clients use them as given (the leader alone for leader rows).
   */
  readonly endpoints: readonly string[];
  /** For watch-fanout: where the writers send (default: `endpoints`). */
  readonly writerEndpoints?: readonly string[];
  readonly operation: Operation;
  /** Concurrent clients in this generator; each waits for its answer before sending again. */
  readonly clients: number;
  /** Connections the clients share: one per client for every target (HTTP/1.1 has one request in flight per connection). */
  readonly conns: number;
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

/** Milliseconds since the epoch with sub-millisecond precision, comparable between processes of one machine. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** A value of `size` bytes that starts with the time it was made (for watch delivery latency). */
export function stampedValue(size: number): Buffer {
  const stamp = `${epochMs().toFixed(3)}|`;
  return Buffer.from(stamp.length >= size ? stamp : stamp + 'v'.repeat(size - stamp.length));
}

/** The time a stampedValue was made, or undefined. */
export function stampOf(value: Buffer): number | undefined {
  const bar = value.indexOf(0x7c);
  if (bar < 0) return undefined;
  const t = Number(value.subarray(0, bar).toString());
  return Number.isFinite(t) ? t : undefined;
}
