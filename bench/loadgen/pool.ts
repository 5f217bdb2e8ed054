// Forks the load workers once and splits each job's clients over them. Results are merged: operations
// add up, latency histograms merge, and throughput is operations over the longest measured window.
// Jobs for etcd's native client run in its own (multi-threaded Go) generator instead, one process a job.
import { fork, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Histogram } from '../histogram.js';
import type { ErrorSample, LoadJob, LoadResult, WorkerReply, WorkerRequest } from './protocol.js';

const WORKER_PATH = fileURLToPath(new URL('./worker.ts', import.meta.url));
/** How long a worker may take to start (tsx compiles it on the way), in ms. */
const WORKER_START_TIMEOUT_MS = 30_000;

export interface MergedResult {
  readonly ops: number;
  readonly errors: number;
  readonly errorSamples: readonly ErrorSample[];
  readonly elapsedMs: number;
  readonly opsPerSecond: number;
  readonly latency: Histogram;
}

class Worker {
  private waiting: ((m: WorkerReply) => void) | undefined;
  private exited = false;
  readonly ready: Promise<void>;

  constructor(private readonly child: ChildProcess) {
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load worker ${child.pid} did not start within ${WORKER_START_TIMEOUT_MS} ms`)), WORKER_START_TIMEOUT_MS);
      this.waiting = (m) => {
        clearTimeout(timer);
        if (m.type === 'ready') resolve();
        else reject(new Error(`load worker sent ${m.type} before ready`));
      };
    });
    child.on('message', (m: WorkerReply) => {
      const w = this.waiting;
      this.waiting = undefined;
      w?.(m);
    });
    child.on('exit', (code) => {
      this.exited = true;
      this.waiting?.({ type: 'failed', message: `load worker exited with code ${String(code)}` });
    });
  }

  run(job: LoadJob): Promise<LoadResult> {
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new Error('load worker has exited'));
      this.waiting = (m) => {
        if (m.type === 'result') resolve(m.result);
        else reject(new Error(m.type === 'failed' ? m.message : `unexpected ${m.type} from load worker`));
      };
      this.child.send({ type: 'run', job } satisfies WorkerRequest);
    });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.send({ type: 'exit' } satisfies WorkerRequest);
    await gone;
  }
}

/** Runs one job in etcd's native generator: the job as JSON on stdin, the result as JSON on stdout. */
function runNative(binary: string, job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`etcd's native load generator exited with ${String(code)}: ${err.trim().slice(-2000)}`));
      try {
        resolve(JSON.parse(out) as LoadResult);
      } catch {
        reject(new Error(`etcd's native load generator wrote no result: ${out.slice(0, 500)} ${err.slice(-500)}`));
      }
    });
    child.stdin.end(JSON.stringify(job));
  });
}

export class LoadPool {
  private constructor(
    private readonly workers: readonly Worker[],
    private readonly nativeBinary: string | undefined,
  ) {}

  /** `nativeBinary`: etcd's native load generator (bench/etcd-native), for `etcd-native` jobs. */
  static async start(count: number, nativeBinary?: string): Promise<LoadPool> {
    const workers = Array.from({ length: count }, () => new Worker(fork(WORKER_PATH, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })));
    await Promise.all(workers.map((w) => w.ready));
    return new LoadPool(workers, nativeBinary);
  }

  /** Runs `job` with its clients (and, for a fixed count, its operations and keys) split over the workers. */
  async run(job: LoadJob): Promise<MergedResult> {
    let results: LoadResult[];
    if (job.target === 'etcd-native') {
      if (this.nativeBinary === undefined) throw new Error('no native etcd load generator was given to the pool');
      results = [await runNative(this.nativeBinary, job)];
    } else {
      const op = job.operation;
      const parallel = op.kind === 'watch-fanout' ? Math.min(op.watchers, op.writers) : job.clients;
      const used = this.workers.slice(0, Math.min(this.workers.length, parallel));
      let keyFirst = job.keyFirst;
      const jobs = used.map((_, i) => {
        const share = (total: number): number => Math.floor(total / used.length) + (i < total % used.length ? 1 : 0);
        const opsTotal = job.opsTotal === undefined ? undefined : share(job.opsTotal);
        const operation = op.kind === 'watch-fanout' ? { ...op, watchers: share(op.watchers), writers: share(op.writers) } : op;
        const part: LoadJob = { ...job, operation, clients: share(job.clients), conns: share(job.conns), opsTotal, keyFirst };
        keyFirst += opsTotal ?? 0;
        return part;
      });
      results = await Promise.all(used.map((w, i) => w.run(jobs[i] as LoadJob)));
    }
    const latency = new Histogram();
    for (const r of results) latency.merge(r.latency);
    const ops = results.reduce((n, r) => n + r.ops, 0);
    const elapsedMs = Math.max(...results.map((r) => r.elapsedMs));
    return {
      ops,
      errors: results.reduce((n, r) => n + r.errors, 0),
      errorSamples: results.flatMap((r) => r.errorSamples),
      elapsedMs,
      opsPerSecond: elapsedMs > 0 ? (ops * 1000) / elapsedMs : 0,
      latency,
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
