// Parsing and error shapes shared by the HTTP API's two front doors: the express app and the fast
// path for single-key reads and writes. Both must accept, refuse and answer exactly alike.
import { REQUEST_ID_HEADER } from '../api/types.js';
import { KEY_SIZE_MAX_BYTES } from '../kv/limits.js';
import { WWW_AUTHENTICATE } from './auth.js';
import { NodeError, httpStatus, toNodeError } from './errors.js';
import type { Consistency, ListItem, NodeResponse, RequestIdWire } from './requests.js';

export interface ErrorReply {
  readonly status: number;
  /** Headers the error needs besides Content-Type (the Bearer challenge of a 401). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: { error: { code: string; message: string; leader?: string; oldestRevision?: number } };
}

export function errorReply(e: unknown): ErrorReply {
  const err = toNodeError(e);
  const error: ErrorReply['body']['error'] = { code: err.code, message: err.message };
  if (err.leader !== undefined) error.leader = err.leader;
  if (err.detail?.oldestRevision !== undefined) error.oldestRevision = err.detail.oldestRevision;
  const status = httpStatus(err.code);
  return { status, headers: status === 401 ? { 'WWW-Authenticate': WWW_AUTHENTICATE } : {}, body: { error } };
}

/** JSON routes take only JSON bodies: a text/plain or form POST is what a cross-site page can send unasked. */
export function checkJsonContentType(contentType: string | undefined): void {
  const media = (contentType ?? '').split(';', 1)[0]?.trim().toLowerCase();
  if (media !== 'application/json')
    throw new NodeError('unsupported-media-type', `this endpoint takes a JSON body: send "Content-Type: application/json" (got ${contentType === undefined ? 'none' : JSON.stringify(contentType)})`);
}

export type ListEncoding = 'utf8' | 'base64';

export function parseListEncoding(e: unknown): ListEncoding {
  if (e === undefined || e === 'utf8') return 'utf8';
  if (e === 'base64') return 'base64';
  throw new NodeError('bad-request', 'encoding must be "utf8" (default) or "base64"');
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Listed values as JSON strings: UTF-8 text, or base64. Text that is not UTF-8 fails the listing rather than arrive mangled. */
export function listItemsJson(items: readonly ListItem[], encoding: ListEncoding): { key: string; value: string; revision: number; lease?: number }[] {
  return items.map((i) => {
    let value: string;
    if (encoding === 'base64') value = Buffer.from(i.value.buffer, i.value.byteOffset, i.value.byteLength).toString('base64');
    else {
      try {
        value = strictUtf8.decode(i.value);
      } catch {
        throw new NodeError('value-not-utf8', `the value of ${JSON.stringify(i.key)} is not UTF-8 text; list with ?encoding=base64`);
      }
    }
    return i.lease === undefined ? { key: i.key, value, revision: i.revision } : { key: i.key, value, revision: i.revision, lease: i.lease };
  });
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

/** A lease id in a path or query: a positive decimal integer. */
export function parseLeaseId(text: string): number {
  const n = /^[1-9][0-9]{0,15}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n)) throw new NodeError('bad-request', `a lease id is a positive integer, got ${JSON.stringify(text.slice(0, 40))}`);
  return n;
}
