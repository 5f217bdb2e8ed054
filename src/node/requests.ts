// The operations a node executes for clients and admins. One union serves both the HTTP API and
// follower → leader forwarding over the peer transport, so a forwarded request is exactly the
// request the leader would have received directly.
import { assert } from '../raft/assert.js';
import type { ClientRole } from '../auth/roles.js';
import { isClientRole } from '../auth/roles.js';

export type Consistency = 'linearizable' | 'serializable';

export interface RequestIdWire {
  readonly client: string;
  readonly seq: number;
}

export type NodeRequest =
  | { readonly kind: 'put'; readonly key: string; readonly value: Uint8Array; readonly lease?: number; readonly requestId?: RequestIdWire }
  | { readonly kind: 'delete'; readonly key: string; readonly requestId?: RequestIdWire }
  | {
      readonly kind: 'cas';
      readonly key: string;
      readonly expected: Uint8Array | null;
      readonly value: Uint8Array;
      readonly lease?: number;
      readonly requestId?: RequestIdWire;
    }
  | { readonly kind: 'lease-grant'; readonly ttlMs: number }
  | { readonly kind: 'lease-keepalive'; readonly id: number }
  | { readonly kind: 'lease-revoke'; readonly id: number }
  | { readonly kind: 'lease-get'; readonly id: number }
  /** A linearizable read point: the leader's applied index once its leadership is confirmed (a follower's watch barrier). */
  | { readonly kind: 'read-index' }
  | { readonly kind: 'get'; readonly key: string; readonly consistency: Consistency }
  | { readonly kind: 'list'; readonly prefix: string; readonly limit: number; readonly consistency: Consistency }
  | { readonly kind: 'add-learner'; readonly id: string; readonly address: string }
  | { readonly kind: 'promote'; readonly id: string }
  | { readonly kind: 'remove'; readonly id: string }
  | { readonly kind: 'transfer'; readonly to: string }
  /** The original system's join: add as learner, wait until caught up, promote. */
  | { readonly kind: 'join'; readonly id: string; readonly address: string }
  | { readonly kind: 'leave'; readonly id: string }
  /** The receiving node's own GET /v1/status (the cluster page asks each member over the peer transport). */
  | { readonly kind: 'status' };

export type NodeRequestKind = NodeRequest['kind'];

export interface ListItem {
  readonly key: string;
  readonly value: Uint8Array;
  readonly revision: number;
  readonly lease?: number;
}

export type { MemberInfo as MemberView } from '../api/types.js';
import type { MemberInfo as MemberView, NodeStatus } from '../api/types.js';

export type NodeResponse =
  | { readonly kind: 'put'; readonly revision: number }
  | { readonly kind: 'delete'; readonly deleted: boolean; readonly revision: number }
  | { readonly kind: 'cas'; readonly ok: boolean; readonly revision: number }
  | { readonly kind: 'get'; readonly value: Uint8Array | null; readonly revision: number; readonly lease?: number }
  | { readonly kind: 'list'; readonly items: readonly ListItem[]; readonly more: boolean }
  | { readonly kind: 'membership'; readonly index: number; readonly members: readonly MemberView[] }
  | { readonly kind: 'transfer'; readonly leader: string }
  | { readonly kind: 'status'; readonly status: NodeStatus }
  | { readonly kind: 'lease'; readonly id: number; readonly ttlMs: number }
  | { readonly kind: 'lease-revoke'; readonly revoked: boolean; readonly keysDeleted: number; readonly revision: number }
  | { readonly kind: 'lease-status'; readonly id: number; readonly ttlMs: number; readonly remainingMs: number; readonly keys: number }
  | { readonly kind: 'read-index'; readonly index: number };

/** A response together with the node that executed it. */
export interface Served<T> {
  readonly servedBy: string;
  readonly result: T;
}

/** Whether a request changes replicated state or membership and so must run on the leader. */
export function needsLeader(r: NodeRequest): boolean {
  switch (r.kind) {
    case 'get':
    case 'list':
      return r.consistency === 'linearizable';
    case 'status':
      return false;
    default:
      return true;
  }
}

/** Whether a request is an admin call (needs the admin token when one is configured). */
export function isAdmin(r: NodeRequest): boolean {
  switch (r.kind) {
    case 'add-learner':
    case 'promote':
    case 'remove':
    case 'transfer':
    case 'join':
    case 'leave':
      return true;
    default:
      return false;
  }
}

// ------------------------------------------------------------------ wire encoding for forwarding
// JSON with byte fields in base64: forwarding is the slow path (clients that know the leader talk
// to it directly), and JSON keeps the frames inspectable.

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function b64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

function unb64(s: unknown, what: string): Uint8Array {
  if (typeof s !== 'string') throw new ForwardDecodeError(`${what} must be base64 text`);
  return new Uint8Array(Buffer.from(s, 'base64'));
}

export class ForwardDecodeError extends Error {
  override readonly name = 'ForwardDecodeError';
  readonly code = 'malformed-forward';
}

function toJson(value: unknown): Json {
  if (value instanceof Uint8Array) return { $b: b64(value) };
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === 'object') {
    const out: { [k: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toJson(v);
    return out;
  }
  assert(typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean', 'forward: unsupported value');
  return value;
}

function fromJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromJson);
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (Object.keys(o).length === 1 && '$b' in o) return unb64(o.$b, 'bytes');
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) out[k] = fromJson(v);
    return out;
  }
  return value;
}

export function encodeWire(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(toJson(value)));
}

/** Decodes forwarded bytes into a plain value; shape checks are the caller's (see validateRequest). */
export function decodeWire(data: Uint8Array): unknown {
  try {
    return fromJson(JSON.parse(decoder.decode(data)));
  } catch (e) {
    if (e instanceof ForwardDecodeError) throw e;
    throw new ForwardDecodeError(`forwarded payload is not valid JSON: ${(e as Error).message}`);
  }
}

const KINDS: ReadonlySet<string> = new Set<NodeRequestKind>([
  'put', 'delete', 'cas', 'get', 'list', 'add-learner', 'promote', 'remove', 'transfer', 'join', 'leave', 'status',
  'lease-grant', 'lease-keepalive', 'lease-revoke', 'lease-get', 'read-index',
]);

function str(o: Record<string, unknown>, k: string): string {
  const v = o[k];
  if (typeof v !== 'string') throw new ForwardDecodeError(`field ${k} must be a string`);
  return v;
}

function bytes(o: Record<string, unknown>, k: string): Uint8Array {
  const v = o[k];
  if (!(v instanceof Uint8Array)) throw new ForwardDecodeError(`field ${k} must be bytes`);
  return v;
}

function requestId(o: Record<string, unknown>): RequestIdWire | undefined {
  const v = o.requestId;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object') throw new ForwardDecodeError('requestId must be an object');
  const r = v as Record<string, unknown>;
  if (typeof r.client !== 'string' || typeof r.seq !== 'number') throw new ForwardDecodeError('requestId must be {client, seq}');
  return { client: r.client, seq: r.seq };
}

function int(o: Record<string, unknown>, k: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new ForwardDecodeError(`field ${k} must be an integer`);
  return v;
}

function optionalLease(o: Record<string, unknown>): { lease?: number } {
  return o.lease === undefined || o.lease === null ? {} : { lease: int(o, 'lease') };
}

function consistency(o: Record<string, unknown>): Consistency {
  const c = o.consistency;
  if (c !== 'linearizable' && c !== 'serializable') throw new ForwardDecodeError('consistency must be linearizable or serializable');
  return c;
}

/** A forwarded request with the principal the forwarding node authorized (absent from older members). */
export function validateForwarded(v: unknown): { request: NodeRequest; principal: { name: string; role: ClientRole } | undefined } {
  const request = validateRequest(v);
  const p = (v as Record<string, unknown>).principal;
  if (p === undefined || p === null) return { request, principal: undefined };
  if (typeof p !== 'object') throw new ForwardDecodeError('principal must be an object');
  const o = p as Record<string, unknown>;
  if (typeof o.name !== 'string' || !isClientRole(o.role)) throw new ForwardDecodeError('principal must be {name, role}');
  return { request, principal: { name: o.name, role: o.role } };
}

/** Checks the shape of a forwarded request (it came from the network). Value limits are the state machine's. */
export function validateRequest(v: unknown): NodeRequest {
  if (v === null || typeof v !== 'object') throw new ForwardDecodeError('request must be an object');
  const o = v as Record<string, unknown>;
  const kind = o.kind;
  if (typeof kind !== 'string' || !KINDS.has(kind)) throw new ForwardDecodeError(`unknown request kind ${String(kind)}`);
  const k = kind as NodeRequestKind;
  switch (k) {
    case 'put': {
      const id = requestId(o);
      const base = { kind: k, key: str(o, 'key'), value: bytes(o, 'value'), ...optionalLease(o) };
      return id ? { ...base, requestId: id } : base;
    }
    case 'delete': {
      const id = requestId(o);
      return id ? { kind: k, key: str(o, 'key'), requestId: id } : { kind: k, key: str(o, 'key') };
    }
    case 'cas': {
      const expected = o.expected === null || o.expected === undefined ? null : bytes(o, 'expected');
      const id = requestId(o);
      const base = { kind: k, key: str(o, 'key'), expected, value: bytes(o, 'value'), ...optionalLease(o) };
      return id ? { ...base, requestId: id } : base;
    }
    case 'lease-grant':
      return { kind: k, ttlMs: int(o, 'ttlMs') };
    case 'lease-keepalive':
    case 'lease-revoke':
    case 'lease-get':
      return { kind: k, id: int(o, 'id') };
    case 'read-index':
      return { kind: k };
    case 'get':
      return { kind: k, key: str(o, 'key'), consistency: consistency(o) };
    case 'list': {
      const limit = o.limit;
      if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1) throw new ForwardDecodeError('limit must be a positive integer');
      return { kind: k, prefix: str(o, 'prefix'), limit, consistency: consistency(o) };
    }
    case 'add-learner':
    case 'join':
      return { kind: k, id: str(o, 'id'), address: str(o, 'address') };
    case 'promote':
    case 'remove':
    case 'leave':
      return { kind: k, id: str(o, 'id') };
    case 'transfer':
      return { kind: k, to: str(o, 'to') };
    case 'status':
      return { kind: k };
  }
}
