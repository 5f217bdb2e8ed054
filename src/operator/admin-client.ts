// The operator's only way to talk to nodes: a typed client of the node's HTTP admin API
// (docs/operator.md). Every call has an explicit timeout. Retry rule: only reads (`GET /v1/status`)
// are retried, on transport failures and 5xx answers, with STATUS_RETRY_BACKOFF_MS between attempts;
// membership calls are never retried here, because the next reconcile pass re-reads the live
// configuration and decides again (a change that did commit is then simply seen as done).

/** Port of every node's HTTP API inside its pod. */
export const NODE_API_PORT = 8001;
/** Port of every node's peer (Raft) transport inside its pod. */
export const NODE_PEER_PORT = 7001;
/** A status read is local to the node: a short timeout keeps one dead pod from stalling a pass. */
export const STATUS_TIMEOUT_MS = 2_000;
/** Membership changes wait for commit, leadership transfer for the new leader's election. */
export const CHANGE_TIMEOUT_MS = 10_000;
/** Delays before the 2nd and 3rd attempts of a status read. */
export const STATUS_RETRY_BACKOFF_MS: readonly number[] = [100, 400];
const ERROR_BODY_MAX_CHARS = 16 * 1024;

export type NodeState = 'joining' | 'member' | 'removed';
export type NodeMemberRole = 'voter' | 'learner';

export interface NodeMember {
  readonly id: string;
  readonly address: string;
  readonly role: NodeMemberRole;
  /** Only the leader knows its followers' match index; null elsewhere. */
  readonly matchIndex: number | null;
}

export interface NodeStatus {
  readonly id: string;
  readonly clusterId: string | null;
  readonly state: NodeState;
  readonly role: string;
  readonly term: number;
  readonly leader: string | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly pendingMembershipIndex: number;
  readonly members: readonly NodeMember[];
}

export interface MembershipResult {
  readonly index: number;
}

/** Failures that produced no answer from a node, besides the node's own error codes (`quorum-would-be-lost`, ...). */
export type TransportErrorCode = 'unreachable' | 'timeout' | 'bad-response';

export class AdminError extends Error {
  override readonly name = 'AdminError';
  constructor(
    /** The node's stable error code, or a TransportErrorCode. */
    readonly code: string,
    message: string,
    /** HTTP status; undefined when no answer arrived. */
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** No answer, or the node could not act now (no leader, shutting down): worth asking again later. */
  get transient(): boolean {
    return this.status === undefined || this.status >= 500;
  }
}

export interface AdminClientOptions {
  /** Bearer token of the admin endpoints; undefined when the nodes run without one. */
  readonly adminToken: string | undefined;
  readonly statusTimeoutMs?: number;
  readonly changeTimeoutMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One client per reconcile pass; `host` is a pod IP (or any host:port for tests via `port`). */
export class AdminClient {
  readonly #token: string | undefined;
  readonly #statusTimeoutMs: number;
  readonly #changeTimeoutMs: number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(options: AdminClientOptions) {
    this.#token = options.adminToken;
    this.#statusTimeoutMs = options.statusTimeoutMs ?? STATUS_TIMEOUT_MS;
    this.#changeTimeoutMs = options.changeTimeoutMs ?? CHANGE_TIMEOUT_MS;
    this.#sleep = options.sleep ?? defaultSleep;
  }

  async status(host: string, port = NODE_API_PORT): Promise<NodeStatus> {
    for (let attempt = 0; ; attempt++) {
      try {
        return parseStatus(await this.#call('GET', host, port, '/v1/status', undefined, this.#statusTimeoutMs));
      } catch (err) {
        const delay = STATUS_RETRY_BACKOFF_MS[attempt];
        if (!(err instanceof AdminError) || !err.transient || delay === undefined) throw err;
        await this.#sleep(delay);
      }
    }
  }

  async bootstrap(host: string, port = NODE_API_PORT): Promise<{ clusterId: string }> {
    const body = await this.#call('POST', host, port, '/v1/bootstrap', {}, this.#changeTimeoutMs);
    const clusterId = (body as { clusterId?: unknown }).clusterId;
    if (typeof clusterId !== 'string' || clusterId === '') throw badResponse('/v1/bootstrap', 'no clusterId');
    return { clusterId };
  }

  addLearner(host: string, id: string, address: string, port = NODE_API_PORT): Promise<MembershipResult> {
    return this.#membership('POST', host, port, '/v1/members', { id, address, role: 'learner' });
  }

  promote(host: string, id: string, port = NODE_API_PORT): Promise<MembershipResult> {
    return this.#membership('POST', host, port, `/v1/members/${encodeURIComponent(id)}/promote`, {});
  }

  remove(host: string, id: string, port = NODE_API_PORT): Promise<MembershipResult> {
    return this.#membership('DELETE', host, port, `/v1/members/${encodeURIComponent(id)}`, undefined);
  }

  async transferLeadership(host: string, to: string, port = NODE_API_PORT): Promise<{ leader: string }> {
    const body = await this.#call('POST', host, port, '/v1/leader/transfer', { to }, this.#changeTimeoutMs);
    const leader = (body as { leader?: unknown }).leader;
    if (typeof leader !== 'string') throw badResponse('/v1/leader/transfer', 'no leader');
    return { leader };
  }

  async #membership(method: string, host: string, port: number, path: string, body: unknown): Promise<MembershipResult> {
    const r = await this.#call(method, host, port, path, body, this.#changeTimeoutMs);
    const index = (r as { index?: unknown }).index;
    if (typeof index !== 'number') throw badResponse(path, 'no index');
    return { index };
  }

  async #call(method: string, host: string, port: number, path: string, body: unknown, timeoutMs: number): Promise<unknown> {
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
    const headers: Record<string, string> = {};
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const name = (err as { name?: unknown }).name;
      if (name === 'TimeoutError' || name === 'AbortError')
        throw new AdminError('timeout', `${method} ${url}: no answer within ${timeoutMs} ms`, undefined, { cause: err });
      const cause = (err as { cause?: { code?: unknown } }).cause;
      const detail = typeof cause?.code === 'string' ? cause.code : String(err);
      throw new AdminError('unreachable', `${method} ${url}: ${detail}`, undefined, { cause: err });
    }
    const text = await res.text();
    if (res.ok) {
      try {
        return JSON.parse(text) as unknown;
      } catch (err) {
        throw new AdminError('bad-response', `${method} ${url}: the answer is not JSON`, res.status, { cause: err });
      }
    }
    let code = `http-${res.status}`;
    let message = text.slice(0, ERROR_BODY_MAX_CHARS);
    try {
      const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
      if (typeof e?.code === 'string') code = e.code;
      if (typeof e?.message === 'string') message = e.message;
    } catch {
      // Not a JSON error body: keep the status-derived code and the raw text.
    }
    throw new AdminError(code, `${method} ${url}: ${message}`, res.status);
  }
}

function badResponse(path: string, what: string): AdminError {
  return new AdminError('bad-response', `${path}: unexpected answer (${what})`, 200);
}

function num(o: Record<string, unknown>, k: string): number {
  const v = o[k];
  if (typeof v !== 'number') throw badResponse('/v1/status', `field ${k}`);
  return v;
}

export function parseStatus(raw: unknown): NodeStatus {
  if (raw === null || typeof raw !== 'object') throw badResponse('/v1/status', 'not an object');
  const o = raw as Record<string, unknown>;
  const state = o.state;
  if (state !== 'joining' && state !== 'member' && state !== 'removed') throw badResponse('/v1/status', 'field state');
  if (typeof o.id !== 'string' || !Array.isArray(o.members)) throw badResponse('/v1/status', 'fields id, members');
  const members = (o.members as unknown[]).map((m): NodeMember => {
    const r = m as Record<string, unknown>;
    if (typeof r.id !== 'string' || typeof r.address !== 'string' || (r.role !== 'voter' && r.role !== 'learner'))
      throw badResponse('/v1/status', 'a member');
    return { id: r.id, address: r.address, role: r.role, matchIndex: typeof r.matchIndex === 'number' ? r.matchIndex : null };
  });
  return {
    id: o.id,
    clusterId: typeof o.clusterId === 'string' ? o.clusterId : null,
    state,
    role: typeof o.role === 'string' ? o.role : 'unknown',
    term: num(o, 'term'),
    leader: typeof o.leader === 'string' ? o.leader : null,
    commitIndex: num(o, 'commitIndex'),
    appliedIndex: num(o, 'appliedIndex'),
    lastIndex: num(o, 'lastIndex'),
    pendingMembershipIndex: num(o, 'pendingMembershipIndex'),
    members,
  };
}
