// The limits of the HTTP API's server and the JSON answers to what node:http refuses by itself.
//
// node:http answers a malformed request, an oversized request line or header block, and a request
// that is too slow to arrive, on its own and with an empty body. The 'clientError' handler below
// answers them as every other error of the API: `{error: {code, message}}`.
import type { Server, ServerOptions } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { KEY_SIZE_MAX_BYTES } from '../kv/limits.js';
import { assert } from '../raft/assert.js';
import { SERVED_BY_HEADER } from '../api/types.js';
import { NodeError, type NodeErrorCode } from './errors.js';
import { errorReply } from './http-params.js';
import { LEADER_WAIT_MS, MEMBERSHIP_WAIT_MS } from './service.js';

/** Connections held at once; more are closed as they arrive (each may buffer a body of up to 2 MiB). */
export const HTTP_CONNECTIONS_MAX = 1024;
/** Request line plus headers, in bytes: a key of KEY_SIZE_MAX_BYTES, percent-encoded, and the usual headers fit. */
export const HTTP_HEADERS_SIZE_MAX_BYTES = 16 * 1024;
/** From the connection (or the end of the previous request) to the last header. */
export const HTTP_HEADERS_TIMEOUT_MS = 10_000;
/** From the first byte of a request to its last (a 1 MiB value at ~40 KiB/s). Handling it takes as long as it takes. */
export const HTTP_REQUEST_TIMEOUT_MS = 30_000;
/** A kept-alive connection with no request is closed after this (above the 60 s of common load balancers). */
export const HTTP_KEEP_ALIVE_TIMEOUT_MS = 65_000;
/** A connection on which no byte moves for this long is closed: a client that stops reading its answer. */
export const HTTP_IDLE_TIMEOUT_MS = 120_000;
/** How often node:http checks the header and request timeouts (its default, 30 s, would stretch them). */
export const HTTP_TIMEOUT_CHECK_INTERVAL_MS = 1_000;

assert(3 * KEY_SIZE_MAX_BYTES + 4096 <= HTTP_HEADERS_SIZE_MAX_BYTES, 'a percent-encoded maximal key fits the header limit');
assert(HTTP_HEADERS_TIMEOUT_MS <= HTTP_REQUEST_TIMEOUT_MS, 'the header timeout is part of the request timeout');
assert(HTTP_IDLE_TIMEOUT_MS > LEADER_WAIT_MS + MEMBERSHIP_WAIT_MS, 'the slowest request (a join) finishes before its connection counts as idle');

export interface HttpLimits {
  readonly connectionsMax: number;
  readonly headersSizeMaxBytes: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly timeoutCheckIntervalMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  connectionsMax: HTTP_CONNECTIONS_MAX,
  headersSizeMaxBytes: HTTP_HEADERS_SIZE_MAX_BYTES,
  headersTimeoutMs: HTTP_HEADERS_TIMEOUT_MS,
  requestTimeoutMs: HTTP_REQUEST_TIMEOUT_MS,
  keepAliveTimeoutMs: HTTP_KEEP_ALIVE_TIMEOUT_MS,
  idleTimeoutMs: HTTP_IDLE_TIMEOUT_MS,
  timeoutCheckIntervalMs: HTTP_TIMEOUT_CHECK_INTERVAL_MS,
};

/** Options for http.createServer (or https.createServer) of the API. */
export function httpServerOptions(limits: HttpLimits = DEFAULT_HTTP_LIMITS): ServerOptions {
  return {
    maxHeaderSize: limits.headersSizeMaxBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: limits.timeoutCheckIntervalMs,
  };
}

/** What node:http's parser errors mean for the client. */
function clientErrorCode(code: unknown): NodeErrorCode {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 'headers-too-large';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 'request-timeout';
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 'too-large';
    default:
      return 'bad-request';
  }
}

function clientErrorMessage(code: NodeErrorCode, limits: HttpLimits, detail: string): string {
  switch (code) {
    case 'headers-too-large':
      return `the request line and headers exceed ${limits.headersSizeMaxBytes} bytes (keys are at most ${KEY_SIZE_MAX_BYTES} bytes)`;
    case 'request-timeout':
      return `the request did not arrive within ${limits.headersTimeoutMs} ms (headers) / ${limits.requestTimeoutMs} ms (whole request)`;
    default:
      return `malformed HTTP request: ${detail}`;
  }
}

// node:http keeps the response of a socket's current request here; once its head is written,
// nothing more may be sent on the socket.
interface SocketWithResponse {
  readonly _httpMessage?: { readonly headersSent?: boolean } | null;
}

/** Connection cap, idle timeout and JSON answers to parser errors, on a server made with httpServerOptions. */
export function hardenHttpServer(server: Server, servedBy: string, limits: HttpLimits = DEFAULT_HTTP_LIMITS): void {
  server.maxConnections = limits.connectionsMax;
  server.setTimeout(limits.idleTimeoutMs, (socket: Socket) => socket.destroy());
  server.on('clientError', (err: Error & { code?: unknown }, socket: Socket) => {
    const inFlight = (socket as SocketWithResponse)._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent === true) {
      socket.destroy();
      return;
    }
    const code = clientErrorCode(err.code);
    const reply = errorReply(new NodeError(code, clientErrorMessage(code, limits, err.message)));
    const body = JSON.stringify(reply.body);
    const head = [
      `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? 'Error'}`,
      'Content-Type: application/json; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(body)}`,
      `${SERVED_BY_HEADER}: ${servedBy}`,
      'Connection: close',
    ];
    socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
    // A client that does not read the answer must not keep the socket.
    setTimeout(() => socket.destroy(), 1_000).unref();
  });
}
