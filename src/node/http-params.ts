// Parsing and error shapes shared by the HTTP API's two front doors: the express app and the fast
// path for single-key reads and writes. Both must accept, refuse and answer exactly alike.
import { REQUEST_ID_HEADER } from '../api/types.js';
import { KEY_SIZE_MAX_BYTES } from '../kv/limits.js';
import { NodeError, httpStatus, toNodeError } from './errors.js';
import type { Consistency, NodeResponse, RequestIdWire } from './requests.js';

export interface ErrorReply {
  readonly status: number;
  readonly body: { error: { code: string; message: string; leader?: string } };
}

export function errorReply(e: unknown): ErrorReply {
  const err = toNodeError(e);
  const error: { code: string; message: string; leader?: string } = { code: err.code, message: err.message };
  if (err.leader !== undefined) error.leader = err.leader;
  return { status: httpStatus(err.code), body: { error } };
}

/** The node's answer as the kind the request asked for (anything else is a bug: 'internal'). */
export function expectKind<K extends NodeResponse['kind']>(r: NodeResponse, kind: K): Extract<NodeResponse, { kind: K }> {
  if (r.kind !== kind) throw new NodeError('internal', `expected a ${kind} response, got ${r.kind}`);
  return r as Extract<NodeResponse, { kind: K }>;
}

export function checkKey(key: string): string {
  if (key.length === 0) throw new NodeError('bad-request', 'the key must not be empty: use /v1/kv/<key>');
  if (Buffer.byteLength(key) > KEY_SIZE_MAX_BYTES) throw new NodeError('too-large', `keys are at most ${KEY_SIZE_MAX_BYTES} bytes`);
  return key;
}

export function parseConsistency(c: unknown): Consistency {
  if (c === undefined || c === 'linearizable') return 'linearizable';
  if (c === 'serializable') return 'serializable';
  throw new NodeError('bad-request', 'consistency must be "linearizable" (default) or "serializable"');
}

export function parseRequestId(h: string | undefined): RequestIdWire | undefined {
  if (h === undefined) return undefined;
  const m = /^(.{1,128}):([1-9][0-9]{0,15})$/.exec(h);
  if (m === null || m[1] === undefined || m[2] === undefined)
    throw new NodeError('bad-request', `${REQUEST_ID_HEADER} must be "<client id>:<positive sequence number>"`);
  const seq = Number(m[2]);
  if (!Number.isSafeInteger(seq)) throw new NodeError('bad-request', `${REQUEST_ID_HEADER}: sequence number too large`);
  return { client: m[1], seq };
}
