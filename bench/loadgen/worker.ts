// A load worker: a separate process (forked by the pool) so that generating load does not share an
// event loop with the orchestrator. Each client is a closed loop: one request, wait for the whole
// answer, record its latency, send the next. kuberaft is driven through its client library (src/client:
// pooled keep-alive connections, leader routing, request ids), etcd's JSON gateway over raw keep-alive
// HTTP; `ping` is a raw request for both (it measures the loopback floor, not a client).
import { Agent, request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Client, KuberaftError } from '../../src/client/index.js';
import type { Watch } from '../../src/client/index.js';
import { Histogram } from '../histogram.js';
import { epochMs, stampOf, stampedValue } from './protocol.js';
import type { ErrorSample, LoadJob, LoadResult, WorkerReply, WorkerRequest } from './protocol.js';
import { callFor, keyOf, pingCall } from './requests.js';
import type { HttpCall } from './requests.js';

/** A request that takes longer counts as an error (both systems time out writes themselves well before). */
const REQUEST_TIMEOUT_MS = 15_000;
/** Error answers kept for the report; the rest are only counted. */
const ERROR_SAMPLES_MAX = 3;
/** Pause after a failure, so a down node is not hammered in a tight loop. */
const FAILURE_RETRY_DELAY_MS = 10;
const ERROR_DETAIL_MAX_CHARS = 200;
/** Watch fan-out: deliveries in flight when the writers stop are waited for this long (and not counted if late). */
const FANOUT_DRAIN_MS = 500;

interface Outcome {
  readonly ok: boolean;
  readonly status: number | null;
  readonly detail: string;
}

function sendRaw(agent: Agent, base: URL, call: HttpCall): Promise<Outcome> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = {};
    if (call.body !== undefined) {
      headers['content-length'] = call.body.byteLength;
      if (call.contentType !== undefined) headers['content-type'] = call.contentType;
    }
    const req = request({ host: base.hostname, port: base.port, method: call.method, path: call.path, agent, headers, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      const ok = res.statusCode !== undefined && call.okStatuses.includes(res.statusCode);
      res.on('data', (c: Buffer) => {
        if (!ok) chunks.push(c); // a success body is read (to free the connection) but not kept
      });
      res.on('end', () => resolve({ ok, status: res.statusCode ?? null, detail: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => resolve({ ok: false, status: null, detail: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (e) => resolve({ ok: false, status: null, detail: e.message }));
    req.end(call.body);
  });
}

function failure(e: unknown): Outcome {
  if (e instanceof KuberaftError) return { ok: false, status: e.status ?? null, detail: `${e.code}: ${e.message}` };
  return { ok: false, status: null, detail: String(e) };
}

/** The measured window of one job and what it counted. */
class Tally {
  readonly latency = new Histogram();
  readonly errorSamples: ErrorSample[] = [];
  ops = 0;
  errors = 0;
  readonly measureFrom: number;
  readonly measureUntil: number;

  constructor(job: LoadJob, started = performance.now()) {
    this.measureFrom = started + (job.opsTotal === undefined ? job.warmupMs : 0);
    this.measureUntil = job.opsTotal === undefined ? this.measureFrom + job.durationMs : Infinity;
  }

  record(t0: number, t1: number, outcome: Outcome): void {
    const counted = t0 >= this.measureFrom && t1 <= this.measureUntil;
    if (outcome.ok) {
      if (counted) {
        this.ops++;
        this.latency.recordMs(t1 - t0);
      }
      return;
    }
    if (counted) this.errors++;
    if (this.errorSamples.length < ERROR_SAMPLES_MAX) this.errorSamples.push({ status: outcome.status, detail: outcome.detail.slice(0, ERROR_DETAIL_MAX_CHARS) });
  }

  result(): LoadResult {
    const ended = Math.min(performance.now(), this.measureUntil);
    return { ops: this.ops, errors: this.errors, errorSamples: this.errorSamples, elapsedMs: ended - this.measureFrom, latency: this.latency.toData() };
  }
}

function kuberaftClient(job: LoadJob, endpoints: readonly string[] = job.endpoints): Client {
  return new Client({ endpoints, connectionsPerEndpoint: Math.max(1, job.conns), timeoutMs: REQUEST_TIMEOUT_MS });
}

type OperationFn = (key: string, value: Buffer, roll: number) => Promise<Outcome>;

/** One operation of a job (not watch-fanout), as a function of the key and a dice roll, and what closes its connections. */
function operationOf(job: LoadJob): { run: OperationFn; close: () => void } {
  const op = job.operation;
  if (op.kind === 'ping' || job.target === 'etcd-gateway') {
    const agent = new Agent({ keepAlive: true, maxSockets: job.clients, maxFreeSockets: job.clients });
    const base = new URL(job.endpoints[0] ?? '');
    const close = (): void => agent.destroy();
    if (op.kind === 'ping') {
      const call = pingCall(job.target === 'kuberaft' ? 'kuberaft' : 'etcd');
      return { run: () => sendRaw(agent, base, call), close };
    }
    return { run: (key, value, roll) => sendRaw(agent, base, callFor('etcd', op, key, value, roll)), close };
  }
  if (job.target !== 'kuberaft') throw new Error(`the Node worker does not drive ${job.target}`);
  const client = kuberaftClient(job);
  const close = (): void => client.close();
  const ok: Outcome = { ok: true, status: 200, detail: '' };
  const put = (key: string, value: Buffer): Promise<Outcome> => client.put(key, value).then(() => ok, failure);
  // A read of an absent key is still a served read.
  const read = (key: string): Promise<Outcome> => client.get(key).then(() => ok, failure);
  switch (op.kind) {
    case 'put':
      return { run: (key, value) => put(key, value), close };
    case 'read':
      return { run: (key) => read(key), close };
    case 'mixed':
      return { run: (key, value, roll) => (roll * 100 < op.readPercent ? read(key) : put(key, value)), close };
    case 'lease':
      return {
        run: async () => {
          try {
            const lease = await client.grantLease(op.ttlMs);
            await client.keepAliveOnce(lease.id);
            return ok;
          } catch (e) {
            return failure(e);
          }
        },
        close,
      };
    case 'watch-fanout':
      throw new Error('watch-fanout is run by runFanout');
  }
}

async function runJob(job: LoadJob): Promise<LoadResult> {
  if (job.operation.kind === 'watch-fanout') return runFanout(job, job.operation.watchers, job.operation.writers);
  const { run: operation, close } = operationOf(job);
  const value = randomBytes(job.valueSizeBytes);
  let nextSequential = job.keyFirst;
  const sequentialEnd = job.keyFirst + (job.opsTotal ?? Number.MAX_SAFE_INTEGER);
  const tally = new Tally(job);
  let issued = 0;
  const more = (): boolean => (job.opsTotal === undefined ? performance.now() < tally.measureUntil : issued < job.opsTotal);

  const client = async (): Promise<void> => {
    while (more()) {
      issued++;
      const n = job.sequentialKeys ? nextSequential++ : Math.floor(Math.random() * job.keySpace);
      if (job.sequentialKeys && n >= sequentialEnd) return;
      const key = keyOf(job.keyPrefix, n, job.keySizeBytes);
      const t0 = performance.now();
      const outcome = await operation(key, value, Math.random());
      tally.record(t0, performance.now(), outcome);
      if (!outcome.ok) await new Promise((r) => setTimeout(r, FAILURE_RETRY_DELAY_MS));
    }
  };
  await Promise.all(Array.from({ length: job.clients }, client));
  close();
  return tally.result();
}

/**
 * Watch fan-out on kuberaft: `watchers` watches of the prefix count the changes delivered to them and
 * each one's delay from its put; `writers` closed loops put stamped values to the prefix. The window
 * starts once every watch is established.
 */
async function runFanout(job: LoadJob, watchers: number, writers: number): Promise<LoadResult> {
  const watchClient = kuberaftClient(job);
  const writeClient = kuberaftClient(job, job.writerEndpoints ?? job.endpoints);
  // Set once every watch is established; deliveries before that are not counted.
  const measuring: { tally?: Tally } = {};
  const watches: Watch[] = Array.from({ length: watchers }, () => watchClient.watch(job.keyPrefix, {}));
  const running = watches.map(async (w) => {
    for await (const e of w) {
      const now = performance.now();
      const tally = measuring.tally;
      if (tally === undefined || e.type !== 'put' || now < tally.measureFrom || now > tally.measureUntil) continue;
      const sent = stampOf(e.value);
      if (sent === undefined) continue;
      tally.ops++;
      tally.latency.recordMs(epochMs() - sent);
    }
  });
  while (!watches.every((w) => w.node !== undefined)) await new Promise((r) => setTimeout(r, 20));
  const t = new Tally(job);
  measuring.tally = t;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (performance.now() < t.measureUntil) {
        const key = keyOf(job.keyPrefix, Math.floor(Math.random() * job.keySpace), job.keySizeBytes);
        const t0 = performance.now();
        try {
          await writeClient.put(key, stampedValue(job.valueSizeBytes));
        } catch (e) {
          t.record(t0, performance.now(), failure(e));
          await new Promise((r) => setTimeout(r, FAILURE_RETRY_DELAY_MS));
        }
      }
    }),
  );
  await new Promise((r) => setTimeout(r, FANOUT_DRAIN_MS));
  for (const w of watches) w.close();
  await Promise.all(running);
  watchClient.close();
  writeClient.close();
  return t.result();
}

function reply(m: WorkerReply): void {
  process.send?.(m);
}

process.on('message', (m: WorkerRequest) => {
  switch (m.type) {
    case 'run':
      runJob(m.job).then(
        (result) => reply({ type: 'result', result }),
        (e: unknown) => reply({ type: 'failed', message: e instanceof Error ? e.stack ?? e.message : String(e) }),
      );
      return;
    case 'exit':
      process.disconnect();
      return;
  }
});
reply({ type: 'ready' });
