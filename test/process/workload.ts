// Clients for the process tests: a client that records every operation for the linearizability
// checker (test/lincheck), concurrent load, faults run under load, and the end-of-scenario check that
// every acknowledged write survived, replicas agree and the history is linearizable.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkOperations, kvModel } from '../lincheck/index.js';
import type { KvInput, KvOutput, Operation } from '../lincheck/index.js';
import { OPERATION_DEADLINE_MS, RETRY_DELAY_MS, http } from './harness.js';
import type { NodeProcess, ProcessCluster } from './harness.js';

export type KvOperation = Operation<KvInput, KvOutput>;

/** One history shared by several clients; times from performance.now() in this process. */
export class History {
  readonly ops: KvOperation[] = [];
  /** Acknowledged puts: key → value, for the "every acknowledged write is present" check. */
  readonly acknowledged = new Map<string, string>();

  record(op: KvOperation): void {
    this.ops.push(op);
  }

  /** Asserts the history is linearizable (a timeout of the checker counts as failure too). */
  assertLinearizable(): void {
    const result = checkOperations(kvModel, this.ops, { timeoutMs: 20_000 });
    assert.deepEqual(result, { kind: 'ok' }, `history of ${this.ops.length} operations is not linearizable: ${JSON.stringify(result)}`);
  }
}

/** Why a call did not produce a definite answer. */
type Attempt = { kind: 'done'; status: number; body: Buffer; servedBy: string | null } | { kind: 'retry'; sent: boolean; why: string };

/**
 * A client with its own id and sequence numbers. Each operation picks a node (round robin over the
 * cluster's live nodes, or a fixed one), retries on 503/504/connection errors until
 * OPERATION_DEADLINE_MS, and records the operation: a put that may have been sent but got no
 * definite answer is recorded with `return: Infinity` and `{unknown: true}`; a read without answer is
 * left out (it had no effect).
 */
export class KvClient {
  private seq = 0;
  private next = 0;
  /** Node that served each answered request, for the "served by the leader" check. */
  readonly servedBy: string[] = [];
  /** Why the last operation that gave up failed (for assertion messages). */
  lastFailure = '';

  constructor(
    readonly clientId: number,
    private readonly cluster: ProcessCluster,
    private readonly history: History,
    private readonly fixedNode?: NodeProcess,
    private readonly deadlineMs = OPERATION_DEADLINE_MS,
  ) {}

  private pick(): NodeProcess {
    if (this.fixedNode !== undefined) return this.fixedNode;
    const live = this.cluster.live();
    const any = live.length > 0 ? live : [...this.cluster.nodes.values()];
    const n = any[this.next++ % any.length];
    assert.ok(n !== undefined);
    return n;
  }

  private async attempt(path: string, init: RequestInit & { headers?: Record<string, string> }): Promise<Attempt> {
    const node = this.pick();
    const role = init.method === 'GET' || init.method === undefined ? 'read' : 'write';
    try {
      const r = await http(`${node.url}${path}`, { ...init, headers: this.cluster.headers(role, init.headers ?? {}) });
      // 503/504/429 are the documented "retry" answers; anything else (a 500 included) is final.
      if (r.status === 503 || r.status === 504 || r.status === 429) return { kind: 'retry', sent: true, why: `${r.status} ${r.body.toString()}` };
      return { kind: 'done', status: r.status, body: r.body, servedBy: r.headers.get('x-kuberaft-served-by') };
    } catch (err) {
      const code = (err as { cause?: { code?: unknown } }).cause?.code;
      // Refused: nothing was sent. Anything else (timeout, reset) may have reached the node.
      return { kind: 'retry', sent: code !== 'ECONNREFUSED', why: String(err) };
    }
  }

  /** PUT with an X-Kuberaft-Request-Id, retried with the same id (exactly-once). */
  async put(key: string, value: string): Promise<'ok' | 'unknown'> {
    this.seq += 1;
    const requestId = `c${this.clientId}-${process.pid}:${this.seq}`;
    const call = performance.now();
    const deadline = Date.now() + this.deadlineMs;
    let maybeSent = false;
    for (;;) {
      const a = await this.attempt(`/v1/kv/${encodeURIComponent(key)}`, { method: 'PUT', body: value, headers: { 'x-kuberaft-request-id': requestId } });
      if (a.kind === 'done') {
        assert.equal(a.status, 200, `put ${key}: ${a.status} ${a.body.toString()}`);
        this.history.record({ clientId: this.clientId, call, return: performance.now(), input: { op: 'put', key, value }, output: {} });
        this.history.acknowledged.set(key, value);
        if (a.servedBy !== null) this.servedBy.push(a.servedBy);
        return 'ok';
      }
      maybeSent ||= a.sent;
      if (Date.now() > deadline) {
        if (maybeSent) this.history.record({ clientId: this.clientId, call, return: Infinity, input: { op: 'put', key, value }, output: { unknown: true } });
        return 'unknown';
      }
      await sleep(RETRY_DELAY_MS);
    }
  }

  /** Linearizable GET; returns the value (undefined when absent), or 'unknown' when no answer came. */
  async get(key: string): Promise<string | undefined | 'unknown'> {
    const call = performance.now();
    const deadline = Date.now() + this.deadlineMs;
    for (;;) {
      const a = await this.attempt(`/v1/kv/${encodeURIComponent(key)}`, { method: 'GET' });
      if (a.kind === 'done') {
        assert.ok(a.status === 200 || a.status === 404, `get ${key}: ${a.status} ${a.body.toString()}`);
        const value = a.status === 200 ? a.body.toString('utf8') : undefined;
        // A retried read is one read issued at the first call: its interval covers every attempt.
        this.history.record({ clientId: this.clientId, call, return: performance.now(), input: { op: 'get', key }, output: value === undefined ? {} : { value } });
        if (a.servedBy !== null) this.servedBy.push(a.servedBy);
        return value;
      }
      if (Date.now() > deadline) {
        this.lastFailure = a.why;
        return 'unknown';
      }
      await sleep(RETRY_DELAY_MS);
    }
  }
}

/**
 * Several clients writing and reading concurrently until `stop` resolves: each client puts unique
 * keys (`<prefix>-c<client>-<n>`) and also puts and reads a few shared keys, so the history has
 * contention for the checker. Resolves with the number of operations issued.
 */
export async function runLoad(
  cluster: ProcessCluster,
  history: History,
  opts: { clients: number; prefix: string; stop: Promise<unknown>; sharedKeys?: number; firstClientId?: number },
): Promise<number> {
  let stopped = false;
  void opts.stop.then(() => (stopped = true));
  const shared = opts.sharedKeys ?? 3;
  let count = 0;
  await Promise.all(
    Array.from({ length: opts.clients }, async (_, i) => {
      const clientId = (opts.firstClientId ?? 0) + i;
      const client = new KvClient(clientId, cluster, history);
      for (let n = 0; !stopped; n += 1) {
        count += 1;
        const r = n % 4;
        if (r === 0 || r === 1) await client.put(`${opts.prefix}-c${clientId}-${n}`, `v${clientId}.${n}`);
        else if (r === 2) await client.put(`${opts.prefix}-shared-${n % shared}`, `c${clientId}.${n}`);
        else await client.get(`${opts.prefix}-shared-${(n + clientId) % shared}`);
      }
    }),
  );
  return count;
}

/**
 * The checks after every scenario: each acknowledged write reads back (linearizably, recorded in the
 * history), the members' digests converge, and the history is linearizable.
 */
export async function assertClusterSound(cluster: ProcessCluster, history: History): Promise<{ index: number; digest: string }> {
  const reader = new KvClient(10_000, cluster, history);
  const latest = new Map<string, string>();
  // Shared keys were written by several clients: their final value is whatever linearized last,
  // so only the unique keys have one expected value; shared keys are checked by the history.
  for (const [key, value] of history.acknowledged) if (!key.includes('-shared-')) latest.set(key, value);
  const shared = new Set([...history.acknowledged.keys()].filter((k) => k.includes('-shared-')));
  for (const key of shared) await reader.get(key);
  for (const [key, value] of latest) {
    const got = await reader.get(key);
    assert.equal(got, value, `acknowledged write ${key}=${value} reads back as ${String(got)} ${got === 'unknown' ? reader.lastFailure : ''}`);
  }
  const converged = await cluster.waitConverged();
  history.assertLinearizable();
  return converged;
}

/** Load before and after a fault: how long each phase lasts, and how many clients write. */
export const LOAD_PHASE_MS = 1_500;
export const LOAD_CLIENTS = 4;

/**
 * One test file's clients: unique client ids, one shared history, and faults run under load (a phase of
 * load before and after the fault) so that the history records what clients saw through it.
 */
export class Workload {
  private nextClientId = 0;
  readonly history = new History();

  constructor(private readonly cluster: () => ProcessCluster) {}

  client(node?: NodeProcess): KvClient {
    return new KvClient(this.nextClientId++, this.cluster(), this.history, node);
  }

  async underLoad(prefix: string, fault: () => Promise<void>): Promise<void> {
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const load = runLoad(this.cluster(), this.history, { clients: LOAD_CLIENTS, prefix, stop: stopped, firstClientId: this.nextClientId });
    this.nextClientId += LOAD_CLIENTS;
    try {
      await sleep(LOAD_PHASE_MS);
      await fault();
      await sleep(LOAD_PHASE_MS);
    } finally {
      stop();
    }
    const ops = await load;
    assert.ok(ops > 20, `only ${ops} operations ran`);
  }
}
