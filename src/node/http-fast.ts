// The fast path of the HTTP API: plain `PUT` and `GET /v1/kv/<key>`, which carry almost all of a
// cluster's traffic, served straight on node:http. Under load express's router, body parser and
// response helpers cost the leader about a tenth of its CPU per request. Anything out of the
// ordinary (an escaped or odd key, another query, a compressed or unsized body, other methods)
// goes to the express app, so this path only ever answers what the app would answer the same way.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LEASE_HEADER, REQUEST_ID_HEADER, REVISION_HEADER, SERVED_BY_HEADER } from '../api/types.js';
import { VALUE_SIZE_MAX_BYTES } from '../kv/limits.js';
import { NodeError } from './errors.js';
import type { NodeApi } from './http-api.js';
import { checkKey, errorReply, expectKind, parseConsistency, parseRequestId } from './http-params.js';
import type { Consistency, NodeRequest } from './requests.js';

const KV_PREFIX = '/v1/kv/';
/** Keys the fast path takes: unescaped segments of URL-safe characters, none of them `.` or `..`. */
const SIMPLE_KEY = /^(?!\.{1,2}(?:\/|$))[A-Za-z0-9_~.-]+(?:\/(?!\.{1,2}(?:\/|$))[A-Za-z0-9_~.-]+)*$/;
const CONSISTENCY_QUERY = /^consistency=(linearizable|serializable)$/;
const REQUEST_ID = REQUEST_ID_HEADER.toLowerCase();
const JSON_TYPE = 'application/json; charset=utf-8';

type Route = { readonly kind: 'put'; readonly key: string } | { readonly kind: 'get'; readonly key: string; readonly consistency: Consistency };

/** The route when the request is one the fast path serves exactly as the express app would. */
function route(req: IncomingMessage): Route | undefined {
  const url = req.url ?? '';
  if (!url.startsWith(KV_PREFIX)) return undefined;
  const q = url.indexOf('?');
  const key = q < 0 ? url.slice(KV_PREFIX.length) : url.slice(KV_PREFIX.length, q);
  if (!SIMPLE_KEY.test(key)) return undefined;
  if (req.method === 'PUT') {
    if (q >= 0) return undefined;
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding !== 'identity') return undefined;
    // Unsized (chunked) and oversized bodies: the body parser's limits and messages apply.
    const length = req.headers['content-length'];
    if (length === undefined || !/^[0-9]{1,10}$/.test(length) || Number(length) > VALUE_SIZE_MAX_BYTES) return undefined;
    return { kind: 'put', key };
  }
  if (req.method === 'GET') {
    if (q < 0) return { kind: 'get', key, consistency: 'linearizable' };
    const m = CONSISTENCY_QUERY.exec(url.slice(q + 1));
    return m === null ? undefined : { kind: 'get', key, consistency: parseConsistency(m[1]) };
  }
  return undefined;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size)));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new NodeError('bad-request', 'the request body was cut off before its Content-Length'));
    });
  });
}

function send(res: ServerResponse, status: number, headers: Record<string, string | number>, body: Buffer | string): void {
  res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function sendError(res: ServerResponse, servedBy: string, e: unknown): void {
  const reply = errorReply(e);
  send(res, reply.status, { ...reply.headers, 'Content-Type': JSON_TYPE, [SERVED_BY_HEADER]: servedBy }, JSON.stringify(reply.body));
}

async function serve(node: NodeApi, r: Route, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // Before the body is read, as the express app does.
  const principal = node.auth.authorize(req.headers.authorization, r.kind === 'put' ? 'write' : 'read', `${r.kind.toUpperCase()} /v1/kv/${r.key}`);
  const key = checkKey(r.key);
  if (r.kind === 'put') {
    const requestId = parseRequestId(req.headers[REQUEST_ID] as string | undefined);
    const body = await readBody(req);
    const value = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    const request: NodeRequest = { kind: 'put', key, value, ...(requestId ? { requestId } : {}) };
    const served = await node.execute(request, principal);
    const put = expectKind(served.result, 'put');
    send(res, 200, { 'Content-Type': JSON_TYPE, [SERVED_BY_HEADER]: served.servedBy }, JSON.stringify({ revision: put.revision }));
    return;
  }
  const served = await node.execute({ kind: 'get', key, consistency: r.consistency }, principal);
  const got = expectKind(served.result, 'get');
  if (got.value === null) throw new NodeError('not-found', 'no such key');
  const value = Buffer.from(got.value.buffer, got.value.byteOffset, got.value.byteLength);
  const headers: Record<string, string> = { [SERVED_BY_HEADER]: served.servedBy, [REVISION_HEADER]: String(got.revision), 'Content-Type': 'application/octet-stream' };
  if (got.lease !== undefined) headers[LEASE_HEADER] = String(got.lease);
  send(res, 200, headers, value);
}

/**
 * Returns a handler that serves a request on the fast path and returns true, or returns false
 * without touching the request, which then belongs to the express app.
 */
export function kvFastPath(node: NodeApi): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    let r: Route | undefined;
    try {
      r = route(req);
    } catch {
      return false;
    }
    if (r === undefined) return false;
    const taken = r;
    Promise.resolve()
      .then(() => serve(node, taken, req, res))
      .catch((e: unknown) => {
        if (res.headersSent) res.destroy();
        else sendError(res, node.id, e);
      });
    return true;
  };
}
