// `GET /v1/watch` on HTTP: newline-delimited JSON, one WatchMessage per line (docs/decisions.md says why
// not server-sent events). Parses the query, and adapts an HTTP response to the hub's WatchConnection:
// write() is res.write() (false when the socket's buffer is full), drain resumes the watcher, a closed
// connection cancels it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SERVED_BY_HEADER } from '../api/types.js';
import { KEY_SIZE_MAX_BYTES } from '../kv/limits.js';
import { assert } from '../raft/assert.js';
import { NodeError } from './errors.js';
import { HTTP_CONNECTIONS_MAX } from './http-server.js';
import { WATCHERS_MAX } from './watch.js';
import type { WatchConnection, WatchEncoding, WatchHandle } from './watch.js';

/** A connection that does not take the `closed` message and the end within this long is cut. */
export const WATCH_CLOSE_GRACE_MS = 10_000;
export const WATCH_CONTENT_TYPE = 'application/x-ndjson';

assert(WATCHERS_MAX < HTTP_CONNECTIONS_MAX, 'watchers leave HTTP connections for other requests');

export interface WatchParams {
  readonly prefix: string;
  /** Undefined: from now (after a linearizable read point). */
  readonly fromRevision: number | undefined;
  readonly encoding: WatchEncoding;
}

/** Parses `prefix`, `fromRevision` and `encoding` (the express app's simple query parser: strings). Throws NodeError. */
export function parseWatchQuery(query: Readonly<Record<string, unknown>>): WatchParams {
  const prefix = query.prefix ?? '';
  if (typeof prefix !== 'string') throw new NodeError('bad-request', 'prefix must appear at most once');
  if (Buffer.byteLength(prefix) > KEY_SIZE_MAX_BYTES) throw new NodeError('too-large', `a prefix is at most ${KEY_SIZE_MAX_BYTES} bytes, as keys are`);
  const from = query.fromRevision;
  let fromRevision: number | undefined;
  if (from !== undefined) {
    if (typeof from !== 'string' || !/^[1-9][0-9]{0,15}$/.test(from) || !Number.isSafeInteger(Number(from))) {
      throw new NodeError('bad-request', 'fromRevision must be a positive integer (a revision seen earlier, plus one, to resume)');
    }
    fromRevision = Number(from);
  }
  const encoding = query.encoding ?? 'utf8';
  if (encoding !== 'utf8' && encoding !== 'base64') throw new NodeError('bad-request', 'encoding must be "utf8" (default) or "base64"');
  return { prefix, fromRevision, encoding };
}

/**
 * Serves a watch on `res`: `open` starts the watcher on a connection writing to `res` (it throws
 * NodeError before writing anything if the watch cannot start; the caller then answers with the error).
 */
export function streamWatch(nodeId: string, req: IncomingMessage, res: ServerResponse, open: (conn: WatchConnection) => WatchHandle): void {
  let ended = false;
  const conn: WatchConnection = {
    write: (line) => {
      if (ended || res.destroyed) return true;
      if (!res.headersSent) {
        res.writeHead(200, { 'Content-Type': WATCH_CONTENT_TYPE, 'Cache-Control': 'no-store', [SERVED_BY_HEADER]: nodeId });
        res.socket?.setNoDelay(true);
      }
      return res.write(line);
    },
    end: () => {
      if (ended) return;
      ended = true;
      res.end();
      const cut = setTimeout(() => res.destroy(), WATCH_CLOSE_GRACE_MS);
      cut.unref();
      res.once('finish', () => clearTimeout(cut));
    },
  };
  const handle = open(conn);
  res.on('drain', () => handle.drained());
  const gone = (): void => {
    ended = true;
    handle.cancel();
  };
  res.once('close', gone);
  req.once('error', gone);
}
