// The cluster page's routes on the API port, all read-only: the page itself (GET / and /ui/*) and
// the JSON it polls (GET /v1/cluster, /v1/cluster/members, /v1/events). Kept apart from the KV and
// admin routes of http-api.ts, which mounts them with one call.
import type express from 'express';
import type { Request, RequestHandler, Response } from 'express';
import { SERVED_BY_HEADER, type ClusterView, type EventsView, type MemberReports } from '../api/types.js';
import { NodeError } from './errors.js';
import { errorReply } from './http-params.js';
import type { PageAssets } from './page-assets.js';

/** What the routes need from the node. */
export interface ClusterPageApi {
  cluster(): Promise<ClusterView>;
  members(): Promise<MemberReports>;
  /** Events with seq > after. */
  events(after: number): EventsView;
  /** The page's files; undefined when the page was not built. */
  readonly assets: PageAssets | undefined;
}

/**
 * The page loads its script and styles from this node only and talks to this node only; it is never
 * framed (it would be a clickjacking target once a token is entered) and never sends a referrer.
 */
const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

function parseAfter(raw: unknown): number {
  if (raw === undefined) return 0;
  if (typeof raw !== 'string' || !/^[0-9]{1,15}$/.test(raw)) throw new NodeError('bad-request', 'after must be an event sequence number (a non-negative integer)');
  return Number(raw);
}

/**
 * `readers` authorizes the JSON routes (the `read` role); the page's own files stay open so that a
 * browser can load the page and then ask for a token.
 */
export function mountClusterPage(app: express.Express, nodeId: string, page: ClusterPageApi, readers: RequestHandler): void {
  const handle =
    (fn: (req: Request, res: Response) => Promise<void> | void) =>
    (req: Request, res: Response): void => {
      Promise.resolve()
        .then(() => fn(req, res))
        .catch((e: unknown) => {
          const reply = errorReply(e);
          res.status(reply.status).set(SERVED_BY_HEADER, nodeId).json(reply.body);
        });
    };
  const serve = (path: string, res: Response): void => {
    const asset = page.assets?.get(path);
    if (asset === undefined) {
      const why = page.assets === undefined ? 'the cluster page was not built into this node (run `npm run build`)' : `no page file ${path}`;
      throw new NodeError('not-found', why);
    }
    res.status(200).set(PAGE_HEADERS).type(asset.contentType).send(asset.body);
  };

  app.get(
    '/',
    handle((_req, res) => serve('/', res)),
  );
  app.get(
    '/ui/*file',
    handle((req, res) => serve(req.path, res)),
  );
  app.get(
    '/v1/cluster',
    readers,
    handle(async (_req, res) => {
      res.set(SERVED_BY_HEADER, nodeId).json(await page.cluster());
    }),
  );
  app.get(
    '/v1/cluster/members',
    readers,
    handle(async (_req, res) => {
      res.set(SERVED_BY_HEADER, nodeId).json(await page.members());
    }),
  );
  app.get(
    '/v1/events',
    readers,
    handle((req, res) => {
      res.set(SERVED_BY_HEADER, nodeId).json(page.events(parseAfter(req.query.after)));
    }),
  );
}
