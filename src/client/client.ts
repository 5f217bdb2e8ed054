// The kuberaft client (docs/client.md): a typed client of a cluster's HTTP API with connection pooling,
// leader routing, retries that keep writes exactly-once, time limits and cancellation, watches that
// resume by themselves, leases with a keepalive helper, and a lock built on them.
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { LEASE_HEADER, REQUEST_ID_HEADER, REVISION_HEADER } from '../api/types.js';
import type { DigestResult, LeaseGrant, LeaseRevokeResult, LeaseStatus, MemberInfo, MembershipResult, MembersView, NodeStatus } from '../api/types.js';
import { backoffMs, scopedSignal, sleep } from './backoff.js';
import type { RetryOptions } from './backoff.js';
import { KuberaftError, isRetryable } from './errors.js';
import { Lease } from './lease.js';
import type { LeaseOptions } from './lease.js';
import { acquireLock } from './lock.js';
import type { Lock, LockOptions } from './lock.js';
import { RequestIds, randomClientId } from './request-ids.js';
import { Router } from './routing.js';
import type { NodeIdentity } from './routing.js';
import { Endpoint, errorOf, maybeSent, servedBy } from './transport.js';
import type { HttpAnswer, RequestSpec, TlsOptions } from './transport.js';
import { Watch } from './watch.js';
import type { WatchOptions } from './watch.js';

/** A call's default time limit, retries included, in ms. */
export const CALL_TIMEOUT_MS_DEFAULT = 10_000;
/** Default connections per endpoint; a request waits for a free one beyond that. */
export const CONNECTIONS_PER_ENDPOINT_DEFAULT = 64;

export interface ClientOptions {
  /** The nodes' API URLs, e.g. ['http://10.0.0.1:8001', ...]: all of them, or a Service that balances over them. */
  readonly endpoints: readonly string[];
  /** A call's time limit, retries included (default 10 s). Each call may set its own. */
  readonly timeoutMs?: number;
  /** Sent as `Authorization: Bearer <token>` on every request; a function is asked before each. */
  readonly token?: string | (() => string);
  /** For https:// endpoints. */
  readonly tls?: TlsOptions;
  /** Keep-alive connections per endpoint (default 64). */
  readonly connectionsPerEndpoint?: number;
  /** Names this client in request ids (exactly-once writes); default: random. */
  readonly clientId?: string;
  /** Attach request ids to writes so that retries are exactly-once (default true). */
  readonly exactlyOnce?: boolean;
  readonly retry?: RetryOptions;
}

export interface CallOptions {
  /** This call's time limit, retries included. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface ReadOptions extends CallOptions {
  /** Read the asked node's own state (fast, possibly stale) instead of a linearizable read. */
  readonly serializable?: boolean;
}

export interface WriteOptions extends CallOptions {
  /** Attach the key to this lease: it is deleted when the lease ends. */
  readonly lease?: number | Lease;
}

export interface KeyValue {
  readonly key: string;
  readonly value: Buffer;
  /** The index of the entry that last changed the key. */
  readonly revision: number;
  readonly lease?: number;
  /** The node that answered. */
  readonly servedBy?: string;
}

export interface ListResult {
  readonly items: readonly { readonly key: string; readonly value: Buffer; readonly revision: number; readonly lease?: number }[];
  readonly more: boolean;
}

/** Where a request goes: the leader (writes, linearizable reads), any endpoint, or one in particular. */
type Route = { readonly to: 'leader' } | { readonly to: 'any' } | { readonly to: 'endpoint'; readonly endpoint: Endpoint };

interface Call {
  readonly spec: RequestSpec;
  readonly route: Route;
  /**
   * Whether the call may be sent again after it may have reached a node: true for reads, for writes with
   * a request id, and for lease calls (a second grant leaves an unused lease that expires); false for
   * admin changes.
   */
  readonly retryUnknown: boolean;
  /** A write's request id: the same on every attempt. */
  readonly requestId?: boolean;
}

const encodePath = (key: string): string => `/v1/kv/${encodeURIComponent(key)}`;

function field(o: unknown, name: string): unknown {
  return typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[name] : undefined;
}
function num(o: unknown, name: string): number {
  const v = field(o, name);
  if (typeof v !== 'number') throw new KuberaftError('bad-response', `unexpected answer from the node: ${name} is not a number`);
  return v;
}
function str(o: unknown, name: string): string {
  const v = field(o, name);
  if (typeof v !== 'string') throw new KuberaftError('bad-response', `unexpected answer from the node: ${name} is not a string`);
  return v;
}
function bool(o: unknown, name: string): boolean {
  const v = field(o, name);
  if (typeof v !== 'boolean') throw new KuberaftError('bad-response', `unexpected answer from the node: ${name} is not a boolean`);
  return v;
}
function list(o: unknown, name: string): unknown[] {
  const v = field(o, name);
  if (!Array.isArray(v)) throw new KuberaftError('bad-response', `unexpected answer from the node: ${name} is not a list`);
  return v;
}
function json(a: HttpAnswer): unknown {
  try {
    return JSON.parse(a.body.toString('utf8')) as unknown;
  } catch {
    throw new KuberaftError('bad-response', `the node answered ${a.status} with a body that is not JSON`, { status: a.status });
  }
}

export class Client {
  readonly clientId: string;
  private readonly endpointList: Endpoint[];
  private readonly router: Router;
  private readonly ids: RequestIds | undefined;
  private readonly timeoutMs: number;
  private readonly token: (() => string) | undefined;
  private readonly retry: RetryOptions;
  /** Aborted by close(): every call and watch ends. */
  private readonly lifetime = new AbortController();

  constructor(options: ClientOptions) {
    const connections = options.connectionsPerEndpoint ?? CONNECTIONS_PER_ENDPOINT_DEFAULT;
    if (!Number.isInteger(connections) || connections < 1) throw new TypeError('connectionsPerEndpoint must be a positive integer');
    this.endpointList = options.endpoints.map((e) => new Endpoint(e, connections, options.tls));
    this.router = new Router(this.endpointList, (e, signal) => this.identify(e, signal));
    this.clientId = options.clientId ?? `${hostname().slice(0, 40)}-${randomClientId()}`;
    this.ids = options.exactlyOnce === false ? undefined : new RequestIds(this.clientId);
    this.timeoutMs = options.timeoutMs ?? CALL_TIMEOUT_MS_DEFAULT;
    const token = options.token;
    this.token = token === undefined ? undefined : typeof token === 'string' ? () => token : token;
    this.retry = options.retry ?? {};
    // Every call and watch in flight listens to it: as many listeners as the client has calls.
    setMaxListeners(0, this.lifetime.signal);
  }

  /** The endpoints as given, normalized (their origin). */
  get endpoints(): readonly string[] {
    return this.endpointList.map((e) => e.base);
  }

  // ------------------------------------------------------------------ key-value

  /** Writes `value` (bytes, or a string as UTF-8) under `key`. Exactly-once across retries. */
  async put(key: string, value: Uint8Array | string, options: WriteOptions = {}): Promise<{ revision: number }> {
    const lease = leaseIdOf(options.lease);
    const body = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    const a = await this.call({ spec: { method: 'PUT', path: encodePath(key) + (lease === undefined ? '' : `?lease=${lease}`), body }, route: { to: 'leader' }, retryUnknown: true, requestId: true }, options);
    return { revision: num(json(a), 'revision') };
  }

  /** The key's value, or undefined when absent. Linearizable unless `serializable`. */
  async get(key: string, options: ReadOptions = {}): Promise<KeyValue | undefined> {
    const serializable = options.serializable === true;
    const a = await this.call(
      { spec: { method: 'GET', path: encodePath(key) + (serializable ? '?consistency=serializable' : '') }, route: serializable ? { to: 'any' } : { to: 'leader' }, retryUnknown: true },
      options,
      [404],
    );
    if (a.status === 404) {
      const err = errorOf(a);
      // A 404 from something that is not a node's key answer is an error, not an absent key.
      if (err.code === 'not-found') return undefined;
      throw err;
    }
    const revision = Number(a.headers[REVISION_HEADER.toLowerCase()]);
    const leaseHeader = a.headers[LEASE_HEADER.toLowerCase()];
    const by = servedBy(a.headers);
    return {
      key,
      value: a.body,
      revision: Number.isFinite(revision) ? revision : 0,
      ...(typeof leaseHeader === 'string' ? { lease: Number(leaseHeader) } : {}),
      ...(by === undefined ? {} : { servedBy: by }),
    };
  }

  async delete(key: string, options: CallOptions = {}): Promise<{ deleted: boolean; revision: number }> {
    const a = await this.call({ spec: { method: 'DELETE', path: encodePath(key) }, route: { to: 'leader' }, retryUnknown: true, requestId: true }, options);
    const r = json(a);
    return { deleted: bool(r, 'deleted'), revision: num(r, 'revision') };
  }

  /**
   * Sets `key` to `value` only if it holds `expected` (UTF-8 text), or, for `expected === null`, only if
   * it is absent. `ok` says whether it swapped.
   */
  async cas(key: string, expected: string | null, value: string, options: WriteOptions = {}): Promise<{ ok: boolean; revision: number }> {
    const lease = leaseIdOf(options.lease);
    const body = JSON.stringify({ expected, value, ...(lease === undefined ? {} : { lease }) });
    const a = await this.call(
      { spec: { method: 'POST', path: `${encodePath(key)}/cas`, body, contentType: 'application/json' }, route: { to: 'leader' }, retryUnknown: true, requestId: true },
      options,
    );
    const r = json(a);
    return { ok: bool(r, 'ok'), revision: num(r, 'revision') };
  }

  /** Up to `limit` keys and their values (any bytes) starting with `prefix`, in key order. */
  async list(prefix: string, options: ReadOptions & { readonly limit?: number } = {}): Promise<ListResult> {
    // Values travel as base64, so binary values arrive intact.
    const q = new URLSearchParams({ prefix, encoding: 'base64' });
    if (options.limit !== undefined) q.set('limit', String(options.limit));
    if (options.serializable === true) q.set('consistency', 'serializable');
    const a = await this.call({ spec: { method: 'GET', path: `/v1/kv?${q.toString()}` }, route: options.serializable === true ? { to: 'any' } : { to: 'leader' }, retryUnknown: true }, options);
    const r = json(a);
    return {
      items: list(r, 'items').map((i) => {
        const lease = field(i, 'lease');
        return { key: str(i, 'key'), value: Buffer.from(str(i, 'value'), 'base64'), revision: num(i, 'revision'), ...(typeof lease === 'number' ? { lease } : {}) };
      }),
      more: bool(r, 'more'),
    };
  }

  // ------------------------------------------------------------------ watch

  /**
   * The changes under `prefix`, as an async iterator of events in commit order: from `fromRevision`, or
   * from now. It resumes by itself on another node after a disconnect, a node's end or a leader change,
   * with no gap and no duplicate; it throws CompactedError if the history no longer holds what it needs.
   */
  watch(prefix: string, options: WatchOptions = {}): Watch {
    return new Watch(
      {
        endpoints: this.endpointList,
        authorization: () => this.authorization(),
        lifetime: this.lifetime.signal,
        retry: this.retry,
      },
      prefix,
      options,
    );
  }

  // ------------------------------------------------------------------ leases

  /** Grants a lease of `ttlMs` (1 s .. 30 days). Call `keepAlive()` on it to keep it. */
  async grantLease(ttlMs: number, options: CallOptions & LeaseOptions = {}): Promise<Lease> {
    const sentAt = performance.now();
    const a = await this.call(
      { spec: { method: 'POST', path: '/v1/leases', body: JSON.stringify({ ttlMs }), contentType: 'application/json' }, route: { to: 'leader' }, retryUnknown: true },
      options,
    );
    const r = json(a);
    return new Lease(this, num(r, 'id'), num(r, 'ttlMs'), sentAt, options);
  }

  /** Extends a lease by its TTL from now. Throws KuberaftError `lease-not-found` once it ended. */
  async keepAliveOnce(id: number, options: CallOptions = {}): Promise<LeaseGrant> {
    const a = await this.call({ spec: { method: 'POST', path: `/v1/leases/${id}/keepalive` }, route: { to: 'leader' }, retryUnknown: true }, options);
    const r = json(a);
    return { id: num(r, 'id'), ttlMs: num(r, 'ttlMs') };
  }

  /** Ends a lease now: its keys are deleted. */
  async revokeLease(id: number, options: CallOptions = {}): Promise<LeaseRevokeResult> {
    const a = await this.call({ spec: { method: 'DELETE', path: `/v1/leases/${id}` }, route: { to: 'leader' }, retryUnknown: true }, options);
    const r = json(a);
    return { revoked: bool(r, 'revoked'), keysDeleted: num(r, 'keysDeleted'), revision: num(r, 'revision') };
  }

  /** The lease's TTL, the leader's time left and its number of keys. */
  async leaseStatus(id: number, options: CallOptions = {}): Promise<LeaseStatus> {
    const a = await this.call({ spec: { method: 'GET', path: `/v1/leases/${id}` }, route: { to: 'leader' }, retryUnknown: true }, options);
    const r = json(a);
    return { id: num(r, 'id'), ttlMs: num(r, 'ttlMs'), remainingMs: num(r, 'remainingMs'), keys: num(r, 'keys') };
  }

  /**
   * Takes the lock named by `key` (a key of its own), waiting while someone else holds it: the lock is
   * the key, created only if absent, on a lease kept alive while held. See lock.ts for the guarantees.
   */
  lock(key: string, options: LockOptions = {}): Promise<Lock> {
    return acquireLock(this, key, options);
  }

  // ------------------------------------------------------------------ status and admin

  /** The status of one node: the given endpoint, or the first. */
  async status(options: CallOptions & { readonly endpoint?: string } = {}): Promise<NodeStatus> {
    const a = await this.call({ spec: { method: 'GET', path: '/v1/status' }, route: this.route(options.endpoint), retryUnknown: true }, options);
    const r = json(a);
    num(r, 'term');
    num(r, 'commitIndex');
    str(r, 'id');
    list(r, 'members');
    return r as NodeStatus;
  }

  async digest(options: CallOptions & { readonly endpoint?: string } = {}): Promise<DigestResult> {
    const a = await this.call({ spec: { method: 'GET', path: '/v1/digest' }, route: this.route(options.endpoint), retryUnknown: true }, options);
    const r = json(a);
    return { index: num(r, 'index'), digest: str(r, 'digest') };
  }

  async members(options: CallOptions = {}): Promise<MembersView> {
    const a = await this.call({ spec: { method: 'GET', path: '/v1/members' }, route: { to: 'any' }, retryUnknown: true }, options);
    const r = json(a);
    list(r, 'members');
    return r as MembersView;
  }

  addLearner(id: string, address: string, options: CallOptions = {}): Promise<MembershipResult> {
    return this.membership('POST', '/v1/members', { id, address, role: 'learner' }, options);
  }

  promote(id: string, options: CallOptions = {}): Promise<MembershipResult> {
    return this.membership('POST', `/v1/members/${encodeURIComponent(id)}/promote`, undefined, options);
  }

  removeMember(id: string, options: CallOptions = {}): Promise<MembershipResult> {
    return this.membership('DELETE', `/v1/members/${encodeURIComponent(id)}`, undefined, options);
  }

  async transferLeadership(to: string, options: CallOptions = {}): Promise<{ leader: string }> {
    const a = await this.call(
      { spec: { method: 'POST', path: '/v1/leader/transfer', body: JSON.stringify({ to }), contentType: 'application/json' }, route: { to: 'leader' }, retryUnknown: false },
      options,
    );
    return { leader: str(json(a), 'leader') };
  }

  /** Founds a one-node cluster on an empty, waiting node (the given endpoint, or the first). */
  async bootstrap(options: CallOptions & { readonly endpoint?: string } = {}): Promise<{ clusterId: string }> {
    const a = await this.call({ spec: { method: 'POST', path: '/v1/bootstrap' }, route: this.route(options.endpoint), retryUnknown: false }, options);
    return { clusterId: str(json(a), 'clusterId') };
  }

  /** Ends every call and watch, keepalives included, and closes the connections. */
  close(): void {
    this.lifetime.abort(new KuberaftError('closed', 'the client was closed'));
    for (const e of this.endpointList) e.close();
  }

  // ------------------------------------------------------------------ plumbing

  private route(endpoint: string | undefined): Route {
    if (endpoint === undefined) return { to: 'endpoint', endpoint: this.endpointList[0] as Endpoint };
    const origin = new URL(endpoint).origin;
    const e = this.endpointList.find((x) => x.base === origin);
    if (e === undefined) throw new TypeError(`${endpoint} is not one of this client's endpoints`);
    return { to: 'endpoint', endpoint: e };
  }

  private async membership(method: 'POST' | 'DELETE', path: string, body: unknown, options: CallOptions): Promise<MembershipResult> {
    const a = await this.call(
      { spec: { method, path, ...(body === undefined ? {} : { body: JSON.stringify(body), contentType: 'application/json' }) }, route: { to: 'leader' }, retryUnknown: false },
      options,
    );
    const r = json(a);
    return { index: num(r, 'index'), members: list(r, 'members') as MemberInfo[] };
  }

  private authorization(): string | undefined {
    return this.token === undefined ? undefined : `Bearer ${this.token()}`;
  }

  private async identify(e: Endpoint, signal: AbortSignal): Promise<NodeIdentity> {
    const a = await e.send({ method: 'GET', path: '/v1/status' }, signal, this.authorization());
    if (a.status !== 200) throw errorOf(a);
    const r = json(a);
    const leader = field(r, 'leader');
    return { id: str(r, 'id'), role: str(r, 'role'), leader: typeof leader === 'string' ? leader : null };
  }

  /**
   * Sends a call, retrying (with backoff, on the leader or another node) while the failure says a retry
   * may succeed and time remains. A write keeps one request id across its attempts, so it is applied at
   * most once. Answers with a status in `pass` are returned as they are; other errors throw KuberaftError.
   */
  private async call(call: Call, options: CallOptions, pass: readonly number[] = []): Promise<HttpAnswer> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const scope = scopedSignal(timeoutMs, [this.lifetime.signal, options.signal]);
    const signal = scope.signal;
    const id = call.requestId === true ? this.ids?.acquire() : undefined;
    const spec: RequestSpec = id === undefined ? call.spec : { ...call.spec, headers: { ...call.spec.headers, [REQUEST_ID_HEADER]: id.header } };
    try {
      await this.router.ready(signal).catch(() => undefined);
      let lastError: KuberaftError | undefined;
      for (let attempt = 1; ; attempt++) {
        const endpoint = call.route.to === 'leader' ? this.router.forLeader() : call.route.to === 'any' ? this.router.any() : call.route.endpoint;
        let error: KuberaftError;
        try {
          const a = await endpoint.send(spec, signal, this.authorization());
          if (a.status < 400 || pass.includes(a.status)) {
            if (call.route.to === 'leader' && a.status < 400) this.router.leaderServed(servedBy(a.headers));
            return a;
          }
          error = errorOf(a);
        } catch (e) {
          if (!(e instanceof KuberaftError)) throw e;
          if (signal.aborted) throw this.finalError(e, lastError, options.signal);
          error = e;
          this.router.failed(endpoint);
          if (maybeSent(e) && !call.retryUnknown) throw e;
        }
        if (!isRetryable(error.code)) throw error;
        lastError = error;
        if (error.code === 'not-leader' && error.leader !== undefined) {
          this.router.leaderIs(error.leader);
          // Straight to the named leader, once per attempt budget: no wait.
          if (this.router.knownLeader !== undefined && this.router.knownLeader !== endpoint && attempt % 2 === 1) continue;
        } else if (call.route.to === 'leader') {
          this.router.failed(endpoint);
        }
        try {
          await sleep(backoffMs(attempt, this.retry), signal);
        } catch {
          throw this.finalError(error, lastError, options.signal);
        }
      }
    } finally {
      scope.dispose();
      if (id !== undefined) this.ids?.release(id.lane);
    }
  }

  /** The error to report when time ran out or the caller gave up: say why, and what the last attempt saw. */
  private finalError(e: KuberaftError, last: KuberaftError | undefined, own: AbortSignal | undefined): KuberaftError {
    if (this.lifetime.signal.aborted) return new KuberaftError('closed', 'the client was closed');
    if (own?.aborted === true) return new KuberaftError('aborted', 'the call was aborted', { cause: own.reason });
    const seen = last ?? e;
    return new KuberaftError('timeout', `no answer within the call's time limit; the last attempt: ${seen.message}`, {
      cause: seen,
      ...(seen.status === undefined ? {} : { status: seen.status }),
      ...(seen.leader === undefined ? {} : { leader: seen.leader }),
    });
  }
}

function leaseIdOf(lease: number | Lease | undefined): number | undefined {
  if (lease === undefined) return undefined;
  return typeof lease === 'number' ? lease : lease.id;
}
