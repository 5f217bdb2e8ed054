// The node's HTTP API (client and admin on one port). It only translates between HTTP and
// NodeRequest/NodeResponse; what a request does is the node's business (service.ts).
// Nothing a client sends may crash the process: every handler's failure becomes a JSON error.
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { ClientRole } from '../auth/roles.js';
import { isUnspecifiedHost, parseHostPort } from '../config/host-port.js';
import { NODE_ID_RULE, isValidNodeId } from '../config/node-config.js';
import { LIST_LIMIT_MAX, VALUE_SIZE_MAX_BYTES } from '../kv/limits.js';
import { NodeError } from './errors.js';
import { mountClusterPage, type ClusterPageApi } from './http-cluster.js';
import type { ClientAuth, Principal } from './auth.js';
import { checkJsonContentType, checkKey, errorReply, expectKind, listItemsJson, parseConsistency, parseLeaseId, parseListEncoding, parseRequestId } from './http-params.js';
import { LEASE_HEADER, REQUEST_ID_HEADER, REVISION_HEADER, SERVED_BY_HEADER, type DigestResult, type NodeStatus } from '../api/types.js';
import type { Consistency, NodeRequest, NodeResponse, RequestIdWire, Served } from './requests.js';
import type { WatchConnection, WatchHandle, WatchRequest } from './watch.js';
import { parseWatchQuery, streamWatch } from './watch-http.js';

export type StatusBody = NodeStatus;

/** JSON request bodies are small admin documents or CAS values (a value plus its expectation, as text). */
export const JSON_BODY_MAX_BYTES = 2 * VALUE_SIZE_MAX_BYTES + 64 * 1024;
/** Default page size of `GET /v1/kv?prefix=`. */
export const LIST_LIMIT_DEFAULT = 100;

/** What the HTTP layer needs from the node. */
export interface NodeApi {
  readonly id: string;
  readonly auth: ClientAuth;
  /** Runs an authorized request here or on the leader (which checks `principal` again). */
  execute(req: NodeRequest, principal: Principal): Promise<Served<NodeResponse>>;
  status(): StatusBody;
  digest(): DigestResult;
  bootstrap(): Promise<{ clusterId: string }>;
  /** Live: the process serves requests. */
  isLive(): boolean;
  /** Ready: a member that has caught up, or an empty node waiting to be added. */
  readiness(): { ready: boolean; reason: string };
  metrics(): Promise<{ contentType: string; body: string }>;
  /** The cluster page and the JSON it reads (http-cluster.ts); absent in tests that do not need it. */
  readonly clusterPage?: ClusterPageApi;
  /** The revision a watch starts from: `fromRevision`, or after a linearizable read point (asked as `principal`) when undefined. */
  watchStart(fromRevision: number | undefined, principal: Principal): Promise<number>;
  /** Starts a watcher writing to `conn`; throws NodeError before writing anything if it cannot. */
  openWatch(request: WatchRequest, conn: WatchConnection): WatchHandle;
}

function sendError(res: Response, servedBy: string, e: unknown): void {
  const reply = errorReply(e);
  res.status(reply.status).set(reply.headers).set(SERVED_BY_HEADER, servedBy).json(reply.body);
}

/** Set by the `need` middleware before anything else of a route runs. */
function principalOf(res: Response): Principal {
  const p = res.locals.principal as Principal | undefined;
  if (p === undefined) throw new NodeError('internal', 'a route ran without its authorization step');
  return p;
}

function keyOf(req: Request): string {
  const raw: unknown = req.params.key;
  return checkKey(Array.isArray(raw) ? raw.join('/') : typeof raw === 'string' ? raw : '');
}

function consistencyOf(req: Request): Consistency {
  return parseConsistency(req.query.consistency);
}

function requestIdOf(req: Request): RequestIdWire | undefined {
  return parseRequestId(req.get(REQUEST_ID_HEADER));
}

function bodyBytes(req: Request): Uint8Array {
  const b: unknown = req.body;
  if (b instanceof Buffer) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  // express.raw leaves the body undefined when there is none: an empty value.
  return new Uint8Array(0);
}

function leaseQuery(req: Request): { lease?: number } {
  const raw = req.query.lease;
  if (raw === undefined) return {};
  if (typeof raw !== 'string') throw new NodeError('bad-request', 'lease must appear at most once');
  return { lease: parseLeaseId(raw) };
}

function jsonBody(req: Request): Record<string, unknown> {
  const b: unknown = req.body;
  if (b === null || typeof b !== 'object' || Array.isArray(b) || b instanceof Buffer)
    throw new NodeError('bad-request', 'the body must be a JSON object (Content-Type: application/json)');
  return b as Record<string, unknown>;
}

function stringField(o: Record<string, unknown>, name: string): string {
  const v = o[name];
  if (typeof v !== 'string' || v.length === 0) throw new NodeError('bad-request', `field "${name}" must be a non-empty string`);
  return v;
}

/** A new member's id must be one a node can be started with (`--id`, src/config/node-config.ts): a DNS label. */
function memberId(id: string, field: string): string {
  if (!isValidNodeId(id)) throw new NodeError('bad-request', `${field} must be a node id: ${NODE_ID_RULE}`);
  return id;
}

/** A new member's peer address must be one other members can dial. */
function memberAddress(address: string, field: string): string {
  const r = parseHostPort(address);
  if (!r.ok) throw new NodeError('bad-request', `${field} must be the member's peer address host:port (${r.problem})`);
  if (isUnspecifiedHost(r.value.host)) throw new NodeError('bad-request', `${field} must be an address other members can dial, not ${r.value.host}`);
  return address;
}

const encoder = new TextEncoder();

export function createHttpApp(node: NodeApi): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  const handle =
    (fn: (req: Request, res: Response) => Promise<void> | void) =>
    (req: Request, res: Response): void => {
      Promise.resolve()
        .then(() => fn(req, res))
        .catch((e: unknown) => sendError(res, node.id, e));
    };

  // Authorization comes first in every route, so a request without the right token never has its
  // body buffered.
  const need =
    (role: ClientRole): RequestHandler =>
    (req, res, next) => {
      try {
        res.locals.principal = node.auth.authorize(req.get('authorization'), role, `${req.method} ${req.path}`);
        next();
      } catch (e) {
        next(e);
      }
    };
  const jsonOnly: RequestHandler = (req, _res, next) => {
    try {
      checkJsonContentType(req.get('content-type'));
      next();
    } catch (e) {
      next(e);
    }
  };

  const run = async (req: NodeRequest, res: Response): Promise<NodeResponse> => {
    const served = await node.execute(req, principalOf(res));
    res.set(SERVED_BY_HEADER, served.servedBy);
    return served.result;
  };

  const raw = express.raw({ type: () => true, limit: VALUE_SIZE_MAX_BYTES });
  const json = [jsonOnly, express.json({ limit: JSON_BODY_MAX_BYTES, type: () => true })];

  // ---- key-value
  app.put(
    '/v1/kv/*key',
    need('write'),
    raw,
    handle(async (req, res) => {
      const key = keyOf(req);
      const requestId = requestIdOf(req);
      const r = expectKind(await run({ kind: 'put', key, value: bodyBytes(req), ...leaseQuery(req), ...(requestId ? { requestId } : {}) }, res), 'put');
      res.json({ revision: r.revision });
    }),
  );
  app.get(
    '/v1/kv/*key',
    need('read'),
    handle(async (req, res) => {
      const r = expectKind(await run({ kind: 'get', key: keyOf(req), consistency: consistencyOf(req) }, res), 'get');
      if (r.value === null) throw new NodeError('not-found', 'no such key');
      if (r.lease !== undefined) res.set(LEASE_HEADER, String(r.lease));
      res.set(REVISION_HEADER, String(r.revision)).type('application/octet-stream').send(Buffer.from(r.value));
    }),
  );
  app.delete(
    '/v1/kv/*key',
    need('write'),
    handle(async (req, res) => {
      const requestId = requestIdOf(req);
      const r = expectKind(await run({ kind: 'delete', key: keyOf(req), ...(requestId ? { requestId } : {}) }, res), 'delete');
      res.json({ deleted: r.deleted, revision: r.revision });
    }),
  );
  const casSegments = (req: Request): string[] => {
    const parts = req.params.key;
    const segments = Array.isArray(parts) ? parts : [];
    if (segments.length < 2 || segments[segments.length - 1] !== 'cas')
      throw new NodeError('bad-request', 'POST is only for compare-and-swap: POST /v1/kv/<key>/cas');
    return segments;
  };
  app.post(
    '/v1/kv/*key',
    need('write'),
    ((req, _res, next) => {
      try {
        casSegments(req);
        next();
      } catch (e) {
        next(e);
      }
    }) satisfies RequestHandler,
    json,
    handle(async (req, res) => {
      const segments = casSegments(req);
      const key = segments.slice(0, -1).join('/');
      const body = jsonBody(req);
      const expected = body.expected;
      if (expected !== null && typeof expected !== 'string') throw new NodeError('bad-request', 'field "expected" must be a string or null');
      if (typeof body.value !== 'string') throw new NodeError('bad-request', 'field "value" must be a string');
      const lease = body.lease;
      if (lease !== undefined && lease !== null && (typeof lease !== 'number' || !Number.isSafeInteger(lease) || lease < 1))
        throw new NodeError('bad-request', 'field "lease" must be a lease id (a positive integer) or absent');
      const requestId = requestIdOf(req);
      const r = expectKind(
        await run(
          {
            kind: 'cas',
            key,
            expected: expected === null ? null : encoder.encode(expected),
            value: encoder.encode(body.value),
            ...(typeof lease === 'number' ? { lease } : {}),
            ...(requestId ? { requestId } : {}),
          },
          res,
        ),
        'cas',
      );
      res.json({ ok: r.ok, revision: r.revision });
    }),
  );
  app.get(
    '/v1/kv',
    need('read'),
    handle(async (req, res) => {
      const prefix = typeof req.query.prefix === 'string' ? req.query.prefix : '';
      const limitRaw = req.query.limit;
      const limit = limitRaw === undefined ? LIST_LIMIT_DEFAULT : Number(limitRaw);
      if (!Number.isInteger(limit) || limit < 1 || limit > LIST_LIMIT_MAX)
        throw new NodeError('bad-request', `limit must be an integer in 1..${LIST_LIMIT_MAX}`);
      const encoding = parseListEncoding(req.query.encoding);
      const r = expectKind(await run({ kind: 'list', prefix, limit, consistency: consistencyOf(req) }, res), 'list');
      res.json({ items: listItemsJson(r.items, encoding), more: r.more });
    }),
  );

  // ---- watch (docs/api.md): NDJSON until the client or the node ends it
  app.get(
    '/v1/watch',
    need('read'),
    handle(async (req, res) => {
      const params = parseWatchQuery(req.query as Record<string, unknown>);
      const fromRevision = await node.watchStart(params.fromRevision, principalOf(res));
      streamWatch(node.id, req, res, (conn) => node.openWatch({ prefix: params.prefix, fromRevision, encoding: params.encoding }, conn));
    }),
  );

  // ---- leases
  const leaseIdOf = (req: Request): number => parseLeaseId(String(req.params.id));
  app.post(
    '/v1/leases',
    need('write'),
    json,
    handle(async (req, res) => {
      const ttlMs = jsonBody(req).ttlMs;
      if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs)) throw new NodeError('bad-request', 'field "ttlMs" must be an integer number of milliseconds');
      const r = expectKind(await run({ kind: 'lease-grant', ttlMs }, res), 'lease');
      res.json({ id: r.id, ttlMs: r.ttlMs });
    }),
  );
  app.post(
    '/v1/leases/:id/keepalive',
    need('write'),
    handle(async (req, res) => {
      const r = expectKind(await run({ kind: 'lease-keepalive', id: leaseIdOf(req) }, res), 'lease');
      res.json({ id: r.id, ttlMs: r.ttlMs });
    }),
  );
  app.get(
    '/v1/leases/:id',
    need('read'),
    handle(async (req, res) => {
      const r = expectKind(await run({ kind: 'lease-get', id: leaseIdOf(req) }, res), 'lease-status');
      res.json({ id: r.id, ttlMs: r.ttlMs, remainingMs: r.remainingMs, keys: r.keys });
    }),
  );
  app.delete(
    '/v1/leases/:id',
    need('write'),
    handle(async (req, res) => {
      const r = expectKind(await run({ kind: 'lease-revoke', id: leaseIdOf(req) }, res), 'lease-revoke');
      res.json({ revoked: r.revoked, keysDeleted: r.keysDeleted, revision: r.revision });
    }),
  );

  // ---- status
  app.get(
    '/v1/status',
    need('read'),
    handle((_req, res) => {
      res.set(SERVED_BY_HEADER, node.id).json(node.status());
    }),
  );
  app.get(
    '/v1/digest',
    need('read'),
    handle((_req, res) => {
      res.set(SERVED_BY_HEADER, node.id).json(node.digest());
    }),
  );

  // ---- membership (admin)
  const membership = async (req: NodeRequest, res: Response): Promise<void> => {
    const r = expectKind(await run(req, res), 'membership');
    res.json({ index: r.index, members: r.members });
  };
  app.post(
    '/v1/bootstrap',
    need('admin'),
    handle(async (_req, res) => {
      res.set(SERVED_BY_HEADER, node.id).json(await node.bootstrap());
    }),
  );
  app.get(
    '/v1/members',
    need('read'),
    handle((_req, res) => {
      const s = node.status();
      res.set(SERVED_BY_HEADER, node.id).json({
        leader: s.leader,
        members: s.members.map((m) => ({ id: m.id, address: m.address, role: m.role })),
        pendingMembershipIndex: s.pendingMembershipIndex,
      });
    }),
  );
  app.post(
    '/v1/members',
    need('admin'),
    json,
    handle(async (req, res) => {
      const body = jsonBody(req);
      const role = body.role ?? 'learner';
      if (role !== 'learner') throw new NodeError('bad-request', 'new members join as "learner"; promote them once caught up');
      const id = memberId(stringField(body, 'id'), 'field "id"');
      await membership({ kind: 'add-learner', id, address: memberAddress(stringField(body, 'address'), 'field "address"') }, res);
    }),
  );
  app.post(
    '/v1/members/:id/promote',
    need('admin'),
    handle(async (req, res) => {
      await membership({ kind: 'promote', id: String(req.params.id) }, res);
    }),
  );
  app.delete(
    '/v1/members/:id',
    need('admin'),
    handle(async (req, res) => {
      await membership({ kind: 'remove', id: String(req.params.id) }, res);
    }),
  );
  app.post(
    '/v1/leader/transfer',
    need('admin'),
    json,
    handle(async (req, res) => {
      const r = expectKind(await run({ kind: 'transfer', to: stringField(jsonBody(req), 'to') }, res), 'transfer');
      res.json({ leader: r.leader });
    }),
  );
  // The original system's endpoints, kept for its scripts.
  app.get(
    '/internal/join',
    need('admin'),
    handle(async (req, res) => {
      const name = req.query.name;
      const host = req.query.host;
      if (typeof name !== 'string' || name === '' || typeof host !== 'string' || host === '')
        throw new NodeError('bad-request', 'use /internal/join?name=<id>&host=<peer host:port>');
      await membership({ kind: 'join', id: memberId(name, 'name'), address: memberAddress(host, 'host') }, res);
    }),
  );
  app.get(
    '/internal/leave',
    need('admin'),
    handle(async (req, res) => {
      const name = req.query.name;
      if (typeof name !== 'string' || name === '') throw new NodeError('bad-request', 'use /internal/leave?name=<id>&host=<peer host:port>');
      await membership({ kind: 'leave', id: name }, res);
    }),
  );

  // ---- health and metrics
  app.get('/livez', (_req, res) => {
    if (node.isLive()) res.type('text/plain').send('ok\n');
    else res.status(503).type('text/plain').send('shutting down\n');
  });
  app.get('/readyz', (_req, res) => {
    const r = node.readiness();
    res.status(r.ready ? 200 : 503).type('text/plain').send(`${r.reason}\n`);
  });
  app.get(
    '/metrics',
    handle(async (req, res) => {
      node.auth.authorizeMetrics(req.get('authorization'));
      const m = await node.metrics();
      res.type(m.contentType).send(m.body);
    }),
  );

  // ---- the cluster page (read-only)
  if (node.clusterPage !== undefined) mountClusterPage(app, node.id, node.clusterPage, need('read'));

  app.use((req: Request, res: Response) => {
    sendError(res, node.id, new NodeError('not-found', `no route for ${req.method} ${req.path}; see GET /v1/status and the API reference`));
  });
  // Body-parser failures (bad JSON, too large; they carry a `type`) and router failures (a path
  // parameter that is not valid percent-encoding) arrive here with a status of their own.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { status?: unknown; type?: unknown; message?: unknown };
    if (e.status === 413 || e.type === 'entity.too.large')
      sendError(res, node.id, new NodeError('too-large', `the body exceeds the limit (values are at most ${VALUE_SIZE_MAX_BYTES} bytes)`));
    else if (typeof e.status === 'number' && e.status >= 400 && e.status < 500)
      sendError(res, node.id, new NodeError('bad-request', `malformed request${typeof e.type === 'string' ? ' body' : ''}: ${String(e.message)}`));
    else sendError(res, node.id, err);
  });
  return app;
}
