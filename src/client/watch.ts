// A watch as an async iterator of events that resumes by itself. It remembers the revision up to which it
// has delivered everything (from events and progress messages); when the stream ends — the node closed it
// (slow watcher, no leader, shutting down), the connection broke, or nothing arrived for a while — it
// watches again from the next revision on the next endpoint. Nodes send every change of a revision in one
// message, so a broken connection never splits a revision: no gap, no duplicate.
import type { IncomingMessage } from 'node:http';
import type { WatchEventWire, WatchMessage } from '../api/types.js';
import { backoffMs, sleep } from './backoff.js';
import type { RetryOptions } from './backoff.js';
import { KuberaftError, isRetryable } from './errors.js';
import { readLines } from './ndjson.js';
import type { Endpoint } from './transport.js';
import { errorOf } from './transport.js';

/**
 * A node sends progress after a second without changes: a stream silent this long is dead (a stopped
 * node, a cut network) and is replaced.
 */
export const WATCH_IDLE_TIMEOUT_MS_DEFAULT = 5_000;

export interface WatchOptions {
  /** The first revision to deliver (a revision seen before, plus one); default: changes from now on. */
  readonly fromRevision?: number;
  /** Ends the watch: the iterator throws KuberaftError `aborted`. */
  readonly signal?: AbortSignal;
  readonly idleTimeoutMs?: number;
}

export type WatchEvent =
  | { readonly type: 'put'; readonly key: string; readonly value: Buffer; readonly revision: number; readonly lease?: number }
  | { readonly type: 'delete'; readonly key: string; readonly revision: number };

export interface WatchContext {
  readonly endpoints: readonly Endpoint[];
  readonly authorization: () => string | undefined;
  /** Aborted when the client closes: the watch ends quietly. */
  readonly lifetime: AbortSignal;
  readonly retry: RetryOptions;
}

function bad(what: string): never {
  throw new KuberaftError('bad-response', `unexpected watch message from the node: ${what}`);
}

function parseMessage(line: string): WatchMessage {
  let m: unknown;
  try {
    m = JSON.parse(line);
  } catch {
    return bad('not JSON');
  }
  const o = m as Record<string, unknown>;
  const int = (k: string): number => (Number.isSafeInteger(o[k]) ? (o[k] as number) : bad(`${k} is not an integer`));
  switch (o.type) {
    case 'created':
      return { type: 'created', fromRevision: int('fromRevision'), node: typeof o.node === 'string' ? o.node : '' };
    case 'progress':
      return { type: 'progress', revision: int('revision') };
    case 'events':
      if (!Array.isArray(o.events)) return bad('events is not a list');
      return { type: 'events', revision: int('revision'), events: o.events as WatchEventWire[] };
    case 'closed':
      return {
        type: 'closed',
        code: o.code as never,
        message: typeof o.message === 'string' ? o.message : '',
        resumeRevision: int('resumeRevision'),
      };
    default:
      return bad(`unknown type ${JSON.stringify(o.type)}`);
  }
}

function toEvent(e: WatchEventWire, revision: number): WatchEvent {
  if (typeof e !== 'object' || e === null || typeof e.key !== 'string') return bad('an event without a key');
  if (e.type === 'delete') return { type: 'delete', key: e.key, revision };
  if (e.type !== 'put' || typeof e.value !== 'string') return bad(`an event of type ${JSON.stringify((e as { type?: unknown }).type)}`);
  const value = Buffer.from(e.value, 'base64');
  return typeof e.lease === 'number' ? { type: 'put', key: e.key, value, revision, lease: e.lease } : { type: 'put', key: e.key, value, revision };
}

export class Watch implements AsyncIterable<WatchEvent> {
  private next: number | undefined;
  private delivered = 0;
  private readonly closer = new AbortController();
  private started = false;
  private closedByCaller = false;
  /** The node of the current stream, and how many streams were opened. */
  node: string | undefined;
  connections = 0;

  constructor(
    private readonly ctx: WatchContext,
    readonly prefix: string,
    private readonly options: WatchOptions,
  ) {
    this.next = options.fromRevision;
    if (this.next !== undefined && (!Number.isSafeInteger(this.next) || this.next < 1)) throw new TypeError('fromRevision must be a positive integer');
  }

  /** Every change up to this revision has been delivered (0 before the first). Resume from revision + 1. */
  get revision(): number {
    return this.delivered;
  }

  /** Ends the watch: the iteration finishes quietly. */
  close(): void {
    this.closedByCaller = true;
    this.closer.abort();
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    if (this.started) throw new TypeError('a watch is iterated once');
    this.started = true;
    return this.events();
  }

  private async *events(): AsyncGenerator<WatchEvent> {
    // One signal for the watch's whole life (not per connection): AbortSignal.any is fine here.
    const signal = AbortSignal.any([this.ctx.lifetime, this.closer.signal, ...(this.options.signal === undefined ? [] : [this.options.signal])]);
    const endpoints = this.ctx.endpoints;
    let at = Math.floor(Math.random() * endpoints.length);
    let failures = 0;
    try {
      while (!signal.aborted) {
        const endpoint = endpoints[at % endpoints.length] as Endpoint;
        let res: IncomingMessage | undefined;
        try {
          res = await this.open(endpoint, signal);
        } catch (e) {
          if (signal.aborted) break;
          if (!(e instanceof KuberaftError) || !isRetryable(e.code)) throw e;
        }
        let progressed = false;
        if (res !== undefined) {
          try {
            for await (const line of readLines(res, this.options.idleTimeoutMs ?? WATCH_IDLE_TIMEOUT_MS_DEFAULT)) {
              const m = parseMessage(line);
              switch (m.type) {
                case 'created':
                  this.node = m.node;
                  this.next ??= m.fromRevision;
                  break;
                case 'events':
                  // Never again what was delivered (a node may be asked from further back than needed).
                  if (this.next !== undefined && m.revision < this.next) break;
                  progressed = true;
                  for (let i = 0; i < m.events.length; i++) {
                    const e = toEvent(m.events[i] as WatchEventWire, m.revision);
                    // With its last event handed out, the whole revision is delivered.
                    if (i === m.events.length - 1) {
                      this.next = m.revision + 1;
                      this.delivered = m.revision;
                    }
                    yield e;
                  }
                  break;
                case 'progress':
                  if (this.next === undefined || m.revision + 1 > this.next) {
                    this.next = m.revision + 1;
                    this.delivered = m.revision;
                  }
                  progressed = true;
                  break;
                case 'closed':
                  // Resumed from this watch's own revision below, which the node's resumeRevision never passes.
                  break;
              }
            }
          } catch (e) {
            if (signal.aborted) break;
            if (e instanceof KuberaftError && e.code === 'bad-response') throw e;
            // A broken or silent stream: resume elsewhere.
          }
        }
        if (signal.aborted) break;
        at++;
        failures = progressed ? 0 : failures + 1;
        if (failures > 0) {
          try {
            await sleep(backoffMs(failures, this.ctx.retry), signal);
          } catch {
            break;
          }
        }
      }
    } finally {
      this.closer.abort();
    }
    // close() and the client's close() end the iteration; the caller's signal makes it throw.
    if (this.options.signal?.aborted === true && !this.closedByCaller && !this.ctx.lifetime.aborted) {
      throw new KuberaftError('aborted', 'the watch was aborted', { cause: this.options.signal.reason });
    }
  }

  private async open(endpoint: Endpoint, signal: AbortSignal): Promise<IncomingMessage> {
    const q = new URLSearchParams({ prefix: this.prefix, encoding: 'base64' });
    if (this.next !== undefined) q.set('fromRevision', String(this.next));
    const res = await endpoint.stream({ method: 'GET', path: `/v1/watch?${q.toString()}` }, signal, this.ctx.authorization());
    this.connections++;
    if (res.statusCode === 200) return res;
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    throw errorOf({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
  }
}
