// A load worker: a separate process (forked by the pool) so that generating load does not share an
// event loop with the orchestrator. Each client is a loop that sends one request over a keep-alive
// connection, waits for the whole answer, records its latency and sends the next.
import { Agent, request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Histogram } from '../histogram.js';
import type { ErrorSample, LoadJob, LoadResult, WorkerReply, WorkerRequest } from './protocol.js';
import { callFor, keyOf } from './requests.js';
import type { HttpCall } from './requests.js';

/** A request that takes longer counts as an error (both systems time out writes themselves well before). */
const REQUEST_TIMEOUT_MS = 15_000;
/** Error answers kept for the report; the rest are only counted. */
const ERROR_SAMPLES_MAX = 3;
/** Pause after a connection failure, so a down node is not hammered in a tight loop. */
const CONNECT_RETRY_DELAY_MS = 10;
const ERROR_DETAIL_MAX_CHARS = 200;

interface Answer {
  readonly status: number | null;
  readonly body: string;
}

function send(agent: Agent, base: URL, call: HttpCall): Promise<Answer> {
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
      res.on('end', () => resolve({ status: res.statusCode ?? null, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => resolve({ status: null, body: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (e) => resolve({ status: null, body: e.message }));
    req.end(call.body);
  });
}

async function runJob(job: LoadJob): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: job.clients, maxFreeSockets: job.clients });
  const base = new URL(job.endpoint);
  const value = randomBytes(job.valueSizeBytes);
  const latency = new Histogram();
  const errorSamples: ErrorSample[] = [];
  let ops = 0;
  let errors = 0;
  let nextSequential = job.keyFirst;
  const sequentialEnd = job.keyFirst + (job.opsTotal ?? Number.MAX_SAFE_INTEGER);

  const started = performance.now();
  const measureFrom = started + (job.opsTotal === undefined ? job.warmupMs : 0);
  const measureUntil = job.opsTotal === undefined ? measureFrom + job.durationMs : Infinity;
  let issued = 0;
  const more = (): boolean => (job.opsTotal === undefined ? performance.now() < measureUntil : issued < job.opsTotal);

  const client = async (): Promise<void> => {
    while (more()) {
      issued++;
      const n = job.sequentialKeys ? nextSequential++ : Math.floor(Math.random() * job.keySpace);
      if (job.sequentialKeys && n >= sequentialEnd) return;
      const call = callFor(job.system, job.operation, keyOf(job.keyPrefix, n, job.keySizeBytes), value, Math.random());
      const t0 = performance.now();
      const answer = await send(agent, base, call);
      const t1 = performance.now();
      const counted = t0 >= measureFrom && t1 <= measureUntil;
      if (answer.status !== null && call.okStatuses.includes(answer.status)) {
        if (counted) {
          ops++;
          latency.recordMs(t1 - t0);
        }
        continue;
      }
      if (counted) errors++;
      if (errorSamples.length < ERROR_SAMPLES_MAX) errorSamples.push({ status: answer.status, detail: answer.body.slice(0, ERROR_DETAIL_MAX_CHARS) });
      if (answer.status === null) await new Promise((r) => setTimeout(r, CONNECT_RETRY_DELAY_MS));
    }
  };
  await Promise.all(Array.from({ length: job.clients }, client));
  const ended = Math.min(performance.now(), measureUntil);
  agent.destroy();
  return { ops, errors, errorSamples, elapsedMs: ended - measureFrom, latency: latency.toData() };
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
