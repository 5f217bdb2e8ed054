// A typed client of one node's HTTP API (docs/cli.md, the node API reference), shared by `kuberaft ctl`
// and `kuberaft local`. Every call has a timeout; a JSON error body becomes an ApiError carrying the
// server's code, message and leader hint; transport failures become ApiErrors with codes of their own.

/** Default time a call may take, in milliseconds (a linearizable read or a membership change commits). */
export const REQUEST_TIMEOUT_MS_DEFAULT = 10_000;
/** Largest error body read, in bytes: an error is a short JSON document. */
const ERROR_BODY_MAX_CHARS = 64 * 1024;

export { SERVED_BY_HEADER, REVISION_HEADER, REQUEST_ID_HEADER } from '../api/types.js';

/**
 * Codes of failures that never reached a server answer, besides the server's own codes
 * (`not-leader`, `maybe-committed`, `membership-change-pending`, ...).
 */
export type ClientErrorCode =
  /** Connection refused, reset, DNS failure: the node is down or the endpoint is wrong. */
  | 'unreachable'
  /** No answer within the timeout: for writes the outcome is unknown. */
  | 'timeout'
  /** The server answered something this client does not understand. */
  | 'bad-response';

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    /** The server's stable error code, or a ClientErrorCode. */
    readonly code: string,
    message: string,
    /** HTTP status, undefined when no answer arrived. */
    readonly status: number | undefined,
    /** The leader the server named, if any. */
    readonly leader?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type { MemberRole, MemberInfo, NodeStatus, MembersView, MembershipResult } from '../api/types.js';
import { REQUEST_ID_HEADER, REVISION_HEADER, SERVED_BY_HEADER } from '../api/types.js';
import type { MemberInfo, NodeStatus, MembersView, MembershipResult } from '../api/types.js';

export interface KvValue {
  readonly value: Buffer;
  readonly revision: number;
  readonly servedBy: string | undefined;
}

export interface ListResult {
  /** Values as sent: any bytes (the listing is asked for in base64, so binary values arrive intact). */
  readonly items: readonly { readonly key: string; readonly value: Buffer; readonly revision: number }[];
  readonly more: boolean;
}

export interface ClientOptions {
  /** e.g. http://127.0.0.1:7101 (a trailing slash is fine). */
  readonly endpoint: string;
  /** Bearer token sent with every call. */
  readonly token?: string | undefined;
  readonly timeoutMs?: number;
}

type Body = { readonly json: unknown } | { readonly bytes: Uint8Array } | undefined;

export class KuberaftClient {
  readonly endpoint: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: ClientOptions) {
    this.endpoint = options.endpoint.replace(/\/+$/, '');
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT;
  }

  // ---- key-value

  async put(key: string, value: Uint8Array | string, requestId?: string): Promise<{ revision: number }> {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    const headers: Record<string, string> = requestId === undefined ? {} : { [REQUEST_ID_HEADER]: requestId };
    const r = await this.json('PUT', kvPath(key), { bytes }, headers);
    return { revision: num(r, 'revision') };
  }

  /** undefined when the key is absent. */
  async get(key: string, options: { serializable?: boolean } = {}): Promise<KvValue | undefined> {
    const query = options.serializable === true ? '?consistency=serializable' : '';
    const res = await this.send('GET', kvPath(key) + query, undefined, {}, [404]);
    if (res.status === 404) {
      // A 404 from a server that does not know the route is an error, not an absent key.
      const err = await decodeError(res);
      if (err.code === 'not-found') return undefined;
      throw err;
    }
    const revision = Number(res.headers.get(REVISION_HEADER));
    return {
      value: Buffer.from(await res.arrayBuffer()),
      revision: Number.isFinite(revision) ? revision : 0,
      servedBy: res.headers.get(SERVED_BY_HEADER) ?? undefined,
    };
  }

  async del(key: string): Promise<{ deleted: boolean; revision: number }> {
    const r = await this.json('DELETE', kvPath(key));
    return { deleted: bool(r, 'deleted'), revision: num(r, 'revision') };
  }

  /** `expected === null`: the key must be absent. */
  async cas(key: string, expected: string | null, value: string): Promise<{ ok: boolean; revision: number }> {
    const r = await this.json('POST', `${kvPath(key)}/cas`, { json: { expected, value } });
    return { ok: bool(r, 'ok'), revision: num(r, 'revision') };
  }

  async list(prefix: string, options: { limit?: number; serializable?: boolean } = {}): Promise<ListResult> {
    const q = new URLSearchParams({ prefix, encoding: 'base64' });
    if (options.limit !== undefined) q.set('limit', String(options.limit));
    if (options.serializable === true) q.set('consistency', 'serializable');
    const r = await this.json('GET', `/v1/kv?${q.toString()}`);
    const items = field(r, 'items');
    if (!Array.isArray(items)) throw badResponse('items is not a list');
    return {
      items: items.map((i: unknown) => ({ key: str(i, 'key'), value: Buffer.from(str(i, 'value'), 'base64'), revision: num(i, 'revision') })),
      more: bool(r, 'more'),
    };
  }

  // ---- status and admin

  async status(): Promise<NodeStatus> {
    const r = await this.json('GET', '/v1/status');
    // Check the fields callers rely on; the rest is passed through as the server sent it.
    num(r, 'term');
    num(r, 'commitIndex');
    str(r, 'id');
    if (!Array.isArray(field(r, 'members'))) throw badResponse('members is not a list');
    return r as NodeStatus;
  }

  async digest(): Promise<{ index: number; digest: string }> {
    const r = await this.json('GET', '/v1/digest');
    return { index: num(r, 'index'), digest: str(r, 'digest') };
  }

  async members(): Promise<MembersView> {
    const r = await this.json('GET', '/v1/members');
    if (!Array.isArray(field(r, 'members'))) throw badResponse('members is not a list');
    return r as MembersView;
  }

  async addLearner(id: string, address: string): Promise<MembershipResult> {
    return this.membership('POST', '/v1/members', { id, address, role: 'learner' });
  }

  async promote(id: string): Promise<MembershipResult> {
    return this.membership('POST', `/v1/members/${encodeURIComponent(id)}/promote`);
  }

  async removeMember(id: string): Promise<MembershipResult> {
    return this.membership('DELETE', `/v1/members/${encodeURIComponent(id)}`);
  }

  async transferLeadership(to: string): Promise<{ leader: string }> {
    const r = await this.json('POST', '/v1/leader/transfer', { json: { to } });
    return { leader: str(r, 'leader') };
  }

  async bootstrap(): Promise<{ clusterId: string }> {
    const r = await this.json('POST', '/v1/bootstrap');
    return { clusterId: str(r, 'clusterId') };
  }

  /** True when the process answers `/livez`; false when unreachable. */
  async live(): Promise<boolean> {
    try {
      const res = await this.send('GET', '/livez', undefined, {}, [503]);
      await res.arrayBuffer();
      return res.ok;
    } catch (err) {
      if (err instanceof ApiError && (err.code === 'unreachable' || err.code === 'timeout')) return false;
      throw err;
    }
  }

  // ---- plumbing

  private async membership(method: string, path: string, json?: unknown): Promise<MembershipResult> {
    const r = await this.json(method, path, json === undefined ? undefined : { json });
    const members = field(r, 'members');
    if (!Array.isArray(members)) throw badResponse('members is not a list');
    return { index: num(r, 'index'), members: members as MemberInfo[] };
  }

  private async json(method: string, path: string, body?: Body, headers: Record<string, string> = {}): Promise<unknown> {
    const res = await this.send(method, path, body, headers, []);
    const text = await res.text();
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw badResponse(`${method} ${path} answered ${res.status} with a body that is not JSON`);
    }
  }

  /** Sends one request; a status >= 400 not listed in `pass` becomes an ApiError. */
  private async send(
    method: string,
    path: string,
    body: Body,
    headers: Record<string, string>,
    pass: readonly number[],
  ): Promise<Response> {
    const h: Record<string, string> = { ...headers };
    if (this.token !== undefined) h['authorization'] = `Bearer ${this.token}`;
    let payload: Uint8Array | string | undefined;
    if (body !== undefined && 'json' in body) {
      h['content-type'] = 'application/json';
      payload = JSON.stringify(body.json);
    } else if (body !== undefined) {
      h['content-type'] = 'application/octet-stream';
      payload = body.bytes;
    }
    const url = this.endpoint + path;
    let res: Response;
    try {
      res = await fetch(url, { method, headers: h, body: payload, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const name = (err as { name?: unknown }).name;
      if (name === 'TimeoutError' || name === 'AbortError')
        throw new ApiError('timeout', `${method} ${url}: no answer within ${this.timeoutMs} ms (a write may or may not have happened)`, undefined, undefined, { cause: err });
      const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
      const why = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : String(err);
      throw new ApiError('unreachable', `${method} ${url}: cannot connect (${why}); is the node running and the endpoint right?`, undefined, undefined, { cause: err });
    }
    if (res.status >= 400 && !pass.includes(res.status)) throw await decodeError(res);
    return res;
  }
}

function kvPath(key: string): string {
  return `/v1/kv/${encodeURIComponent(key)}`;
}

async function decodeError(res: Response): Promise<ApiError> {
  const text = (await res.text()).slice(0, ERROR_BODY_MAX_CHARS);
  try {
    const body = JSON.parse(text) as unknown;
    const e = field(body, 'error');
    const leader = typeof field(e, 'leader') === 'string' ? (field(e, 'leader') as string) : undefined;
    return new ApiError(str(e, 'code'), str(e, 'message'), res.status, leader);
  } catch {
    const snippet = text.trim().slice(0, 200);
    return new ApiError('bad-response', `HTTP ${res.status}${snippet === '' ? '' : `: ${snippet}`}`, res.status);
  }
}

function badResponse(message: string): ApiError {
  return new ApiError('bad-response', `unexpected answer from the node: ${message}`, undefined);
}

function field(o: unknown, name: string): unknown {
  return typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[name] : undefined;
}
function num(o: unknown, name: string): number {
  const v = field(o, name);
  if (typeof v !== 'number') throw badResponse(`${name} is not a number`);
  return v;
}
function str(o: unknown, name: string): string {
  const v = field(o, name);
  if (typeof v !== 'string') throw badResponse(`${name} is not a string`);
  return v;
}
function bool(o: unknown, name: string): boolean {
  const v = field(o, name);
  if (typeof v !== 'boolean') throw badResponse(`${name} is not a boolean`);
  return v;
}
