// One node's HTTP(S) endpoint: a pool of keep-alive connections and requests over it. Every request has
// a time limit and may be aborted; transport failures become KuberaftErrors that say whether the
// request may have reached the node.
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { SERVED_BY_HEADER } from '../api/types.js';
import { CompactedError, KuberaftError, isApiErrorCode } from './errors.js';

/** The largest answer read, in bytes: a full page of the largest values listed as JSON, with room. */
export const RESPONSE_BODY_MAX_BYTES = 1536 * 1024 * 1024;
/** The largest error body read: an error is a short JSON document. */
const ERROR_BODY_MAX_BYTES = 64 * 1024;
/** Idle pooled connections are closed after this long (below the node's keep-alive timeout of 65 s). */
export const IDLE_CONNECTION_TIMEOUT_MS = 30_000;

export interface TlsOptions {
  /** Certificate authorities to trust for the nodes' certificates (PEM); default: the system's. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** A client certificate and its key (PEM), for nodes that ask for one. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** The name to check the node's certificate against, when it differs from the endpoint's host. */
  readonly serverName?: string;
  /** Default true. false accepts any certificate: for tests only. */
  readonly rejectUnauthorized?: boolean;
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface RequestSpec {
  readonly method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** Path and query, e.g. /v1/kv/a%2Fb?lease=3. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | string;
  readonly contentType?: string;
}

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

export function servedBy(h: IncomingHttpHeaders): string | undefined {
  return header(h, SERVED_BY_HEADER);
}

export class Endpoint {
  readonly url: URL;
  /** The node's id, once learned (GET /v1/status). */
  id: string | undefined;
  private readonly agent: HttpAgent;
  /** Watches hold a connection for long: they get their own, outside the pool. */
  private readonly streamAgent: HttpAgent;
  private readonly secure: boolean;

  constructor(base: string, maxConnections: number, tls: TlsOptions | undefined) {
    this.url = new URL(base);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') throw new TypeError(`endpoint ${base}: use an http:// or https:// URL`);
    this.secure = this.url.protocol === 'https:';
    const pool = { keepAlive: true, maxSockets: maxConnections, maxFreeSockets: maxConnections, scheduling: 'lifo' as const, timeout: IDLE_CONNECTION_TIMEOUT_MS };
    const tlsOptions =
      tls === undefined
        ? {}
        : {
            ...(tls.ca === undefined ? {} : { ca: typeof tls.ca === 'string' || Buffer.isBuffer(tls.ca) ? tls.ca : [...tls.ca] }),
            ...(tls.cert === undefined ? {} : { cert: tls.cert }),
            ...(tls.key === undefined ? {} : { key: tls.key }),
            ...(tls.serverName === undefined ? {} : { servername: tls.serverName }),
            rejectUnauthorized: tls.rejectUnauthorized ?? true,
          };
    this.agent = this.secure ? new HttpsAgent({ ...pool, ...tlsOptions }) : new HttpAgent(pool);
    this.streamAgent = this.secure ? new HttpsAgent({ keepAlive: false, ...tlsOptions }) : new HttpAgent({ keepAlive: false });
  }

  get base(): string {
    return this.url.origin;
  }

  /** Sends a request and reads the whole answer. Throws KuberaftError (unreachable, timeout, aborted, bad-response). */
  async send(spec: RequestSpec, signal: AbortSignal, authorization: string | undefined): Promise<HttpAnswer> {
    const res = await this.open(spec, signal, authorization, false);
    return { status: res.statusCode ?? 0, headers: res.headers, body: await readBody(res, res.statusCode !== undefined && res.statusCode >= 400 ? ERROR_BODY_MAX_BYTES : RESPONSE_BODY_MAX_BYTES, signal) };
  }

  /** Sends a request and returns the answer as it starts arriving (a watch stream). */
  stream(spec: RequestSpec, signal: AbortSignal, authorization: string | undefined): Promise<IncomingMessage> {
    return this.open(spec, signal, authorization, true);
  }

  private open(spec: RequestSpec, signal: AbortSignal, authorization: string | undefined, streaming: boolean): Promise<IncomingMessage> {
    const headers: Record<string, string | number> = { ...spec.headers };
    if (authorization !== undefined) headers['authorization'] = authorization;
    if (spec.body !== undefined) {
      headers['content-type'] = spec.contentType ?? 'application/octet-stream';
      headers['content-length'] = typeof spec.body === 'string' ? Buffer.byteLength(spec.body) : spec.body.byteLength;
    }
    const where = `${spec.method} ${this.base}${spec.path}`;
    return new Promise<IncomingMessage>((resolve, reject) => {
      if (signal.aborted) return reject(abortError(signal, where, false));
      let sent = false;
      const req = (this.secure ? httpsRequest : httpRequest)(
        {
          protocol: this.url.protocol,
          hostname: this.url.hostname,
          port: this.url.port,
          method: spec.method,
          path: spec.path,
          headers,
          agent: streaming ? this.streamAgent : this.agent,
        },
        resolve,
      );
      const onAbort = (): void => {
        req.destroy(abortError(signal, where, sent));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      req.once('close', () => signal.removeEventListener('abort', onAbort));
      req.once('socket', (socket) => {
        // "Sent" once connected: from then on the node may have received the request.
        if (socket.connecting) socket.once('connect', () => (sent = true));
        else sent = true;
      });
      req.once('error', (e) => reject(e instanceof KuberaftError ? e : transportError(e, where, sent)));
      req.end(spec.body === undefined ? undefined : typeof spec.body === 'string' ? spec.body : Buffer.from(spec.body.buffer, spec.body.byteOffset, spec.body.byteLength));
    });
  }

  close(): void {
    this.agent.destroy();
    this.streamAgent.destroy();
  }
}

/** Transport failures that certainly did not deliver the request (no connection was made). */
const notSent = new WeakSet<KuberaftError>();

/** Whether a failure may have delivered the request to a node (false: certainly not). */
export function maybeSent(e: KuberaftError): boolean {
  return !notSent.has(e);
}

function abortError(signal: AbortSignal, where: string, sent: boolean): KuberaftError {
  const reason: unknown = signal.reason;
  const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
  const outcome = sent ? ' (if it was a write, it may or may not have been applied)' : '';
  const error = timedOut
    ? new KuberaftError('timeout', `${where}: no answer in time${outcome}`, { cause: reason })
    : new KuberaftError('aborted', `${where}: aborted${outcome}`, { cause: reason });
  if (!sent) notSent.add(error);
  return error;
}

function transportError(e: Error, where: string, sent: boolean): KuberaftError {
  const code = (e as { code?: unknown }).code;
  const why = typeof code === 'string' ? code : e.message;
  const what = sent ? `the connection broke (${why})` : `cannot connect (${why}); is the node running and the endpoint right?`;
  const error = new KuberaftError('unreachable', `${where}: ${what}`, { cause: e });
  if (!sent || code === 'ECONNREFUSED') notSent.add(error);
  return error;
}

function readBody(res: IncomingMessage, maxBytes: number, signal: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onAbort = (): void => {
      res.destroy();
      reject(abortError(signal, 'reading the answer', true));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        res.destroy();
        reject(new KuberaftError('bad-response', `the answer exceeds ${maxBytes} bytes`));
        return;
      }
      chunks.push(c);
    });
    res.once('end', () => {
      signal.removeEventListener('abort', onAbort);
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
    res.once('error', (e) => {
      signal.removeEventListener('abort', onAbort);
      reject(new KuberaftError('unreachable', `the connection broke while the answer was read: ${e.message}`, { cause: e }));
    });
  });
}

/** The KuberaftError an error answer (status >= 400) stands for. */
export function errorOf(answer: HttpAnswer): KuberaftError {
  const by = servedBy(answer.headers);
  const text = answer.body.toString('utf8');
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; leader?: unknown; oldestRevision?: unknown } };
    const e = body.error;
    if (e !== undefined && typeof e.code === 'string' && typeof e.message === 'string') {
      const details = { status: answer.status, ...(by === undefined ? {} : { servedBy: by }) };
      if (e.code === 'compacted' && typeof e.oldestRevision === 'number') return new CompactedError(e.message, e.oldestRevision, details);
      if (isApiErrorCode(e.code)) return new KuberaftError(e.code, e.message, { ...details, ...(typeof e.leader === 'string' ? { leader: e.leader } : {}) });
      return new KuberaftError('bad-response', `the node answered ${answer.status} with an unknown error code ${JSON.stringify(e.code)}: ${e.message}`, details);
    }
  } catch {
    // not JSON: below
  }
  const snippet = text.trim().slice(0, 200);
  return new KuberaftError('bad-response', `HTTP ${answer.status}${snippet === '' ? '' : `: ${snippet}`}`, { status: answer.status });
}
