// Watches: each watcher streams the changes under a key prefix, in commit order, from a start revision.
//
// A watcher is a cursor (`next`, the next revision to deliver), never a queue: changes are read from
// the state machine's change history, which every watcher shares. A watcher whose connection keeps up
// is "live": each applied record is written to it at once (serialized once per prefix). When its
// connection's buffer fills (write() returns false), it becomes "lagging": it reads the history from its
// cursor as the connection drains, and becomes live again once it reaches the newest record. So a slow
// watcher costs the node its cursor and its socket's buffer, whatever the write rate; one that falls
// more than WATCH_LAG_RECORDS_MAX records or WATCH_LAG_BYTES_MAX bytes behind is closed with the
// revision to resume from, while the history still holds it.
//
// Message format and the HTTP side: watch-http.ts; the wire types: src/api/types.ts.
import { performance } from 'node:perf_hooks';
import type { WatchCloseCode, WatchEventWire, WatchMessage } from '../api/types.js';
import { CompactedError } from '../kv/history.js';
import type { ChangeEvent, ChangeRecord, HistoryCursor, HistoryReader, KvObserver } from '../kv/state-machine.js';
import type { Logger } from '../log/logger.js';
import { assert } from '../raft/assert.js';
import { NodeError } from './errors.js';

/**
 * Watchers one node serves at once; more are refused (429 too-many-watchers). Each holds an HTTP
 * connection: this leaves some of the server's HTTP_CONNECTIONS_MAX for other requests.
 */
export const WATCHERS_MAX = 1_000;
/** A lagging watcher is closed once it is this many history records behind the newest... */
export const WATCH_LAG_RECORDS_MAX = 10_000;
/** ...or this many bytes of history (both well within the history's own bounds, so it can resume). */
export const WATCH_LAG_BYTES_MAX = 8 * 1024 * 1024;
/** A watcher that was sent nothing for this long gets a progress message (also a keep-alive). */
export const WATCH_PROGRESS_INTERVAL_MS = 1_000;
/** Watchers of a node that has known no leader for this long are closed (`no-leader`): another node may be current. */
export const WATCH_NO_LEADER_CLOSE_MS = 5_000;

assert(WATCH_PROGRESS_INTERVAL_MS < WATCH_NO_LEADER_CLOSE_MS, 'the no-leader check runs on the progress tick');

export type WatchEncoding = 'utf8' | 'base64';

/** The connection a watcher writes to (an HTTP response, or a test's buffer). */
export interface WatchConnection {
  /**
   * Queues one message (a line of JSON, newline included); false when the connection's buffer is full:
   * write again after drain(). The same buffer goes to every watcher of a prefix: it must not be changed.
   */
  write(line: Buffer): boolean;
  /** Ends the connection once what was written has been sent. */
  end(): void;
}

export interface WatchRequest {
  readonly prefix: string;
  /** The first revision to deliver. */
  readonly fromRevision: number;
  readonly encoding: WatchEncoding;
}

/** Monotonic time and a repeating timer (the shape of a node clock port's `now` and `setInterval`). */
export interface WatchClock {
  now(): number;
  setInterval(fn: () => void, intervalMs: number): { cancel(): void };
}

export const systemWatchClock: WatchClock = {
  now: () => performance.now(),
  setInterval: (fn, intervalMs) => {
    const t = setInterval(fn, intervalMs);
    return { cancel: () => clearInterval(t) };
  },
};

export interface WatchHubDeps {
  readonly nodeId: string;
  readonly history: () => HistoryReader;
  readonly appliedIndex: () => number;
  /** Whether the node knows a leader now. */
  readonly leaderKnown: () => boolean;
  readonly clock: WatchClock;
  readonly log: Logger;
}

/** What the HTTP layer holds for an open watch. */
export interface WatchHandle {
  /** The connection drained: continue writing. */
  drained(): void;
  /** The client went away. */
  cancel(): void;
}

class Watcher implements WatchHandle {
  next: number;
  live = false;
  blocked = false;
  closed = false;
  /** Where `next` sits in the history's stream while lagging. */
  cursor: HistoryCursor | undefined;
  lastWriteAt: number;

  constructor(
    readonly hub: WatchHub,
    readonly request: WatchRequest,
    readonly conn: WatchConnection,
    now: number,
  ) {
    this.next = request.fromRevision;
    this.lastWriteAt = now;
  }

  drained(): void {
    this.hub.drained(this);
  }

  cancel(): void {
    this.hub.remove(this);
  }
}

/** A message as sent: encoded once, then written to every connection that gets it. */
export function serializeMessage(m: WatchMessage): Buffer {
  return Buffer.from(`${JSON.stringify(m)}\n`);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A change as sent. In utf8 mode a value that is not UTF-8 goes as base64, marked on its event: a stream
 * cannot refuse a change the way a listing refuses (422), and a mangled value would be worse.
 */
function wireEvent(e: ChangeEvent, encoding: WatchEncoding): WatchEventWire {
  if (e.type === 'delete') return { type: 'delete', key: e.key };
  const lease = e.lease === undefined ? {} : { lease: e.lease };
  const base64 = (): string => Buffer.from(e.value.buffer, e.value.byteOffset, e.value.byteLength).toString('base64');
  if (encoding === 'base64') return { type: 'put', key: e.key, value: base64(), ...lease };
  try {
    return { type: 'put', key: e.key, value: strictUtf8.decode(e.value), ...lease };
  } catch {
    return { type: 'put', key: e.key, value: base64(), encoding: 'base64', ...lease };
  }
}

/** The record's message for a prefix, or undefined when none of its events is under the prefix. */
function eventsLine(record: ChangeRecord, prefix: string, encoding: WatchEncoding): Buffer | undefined {
  const matching = prefix === '' ? record.events : record.events.filter((e) => e.key.startsWith(prefix));
  if (matching.length === 0) return undefined;
  return serializeMessage({ type: 'events', revision: record.revision, events: matching.map((e) => wireEvent(e, encoding)) });
}

export class WatchHub implements KvObserver {
  private readonly watchers = new Set<Watcher>();
  /** Live watchers by prefix: a record is matched and serialized once per prefix. */
  private readonly live = new Map<string, Set<Watcher>>();
  private readonly lagging = new Set<Watcher>();
  private noLeaderSince: number | undefined;
  private readonly ticker: { cancel(): void };
  private stopped = false;

  constructor(private readonly deps: WatchHubDeps) {
    this.ticker = deps.clock.setInterval(() => this.tick(), WATCH_PROGRESS_INTERVAL_MS);
  }

  get size(): number {
    return this.watchers.size;
  }

  /**
   * Starts a watcher: writes `created`, then every matching change from `fromRevision` on. Throws
   * NodeError (compacted, too-many-watchers, not-leader, shutting-down) before writing anything.
   */
  open(request: WatchRequest, conn: WatchConnection): WatchHandle {
    if (this.stopped) throw new NodeError('shutting-down', 'the node is shutting down; watch from another node');
    if (this.watchers.size >= WATCHERS_MAX) throw new NodeError('too-many-watchers', `this node serves ${WATCHERS_MAX} watchers (WATCHERS_MAX); watch from another node or share watches`);
    if (this.noLeaderSince !== undefined && this.deps.clock.now() - this.noLeaderSince >= WATCH_NO_LEADER_CLOSE_MS) {
      throw new NodeError('not-leader', `this node has known no leader for ${WATCH_NO_LEADER_CLOSE_MS} ms or more; watch from another node`);
    }
    const history = this.deps.history();
    if (request.fromRevision <= history.compactedThrough) throw new CompactedError(request.fromRevision, history.oldestRevision);
    const w = new Watcher(this, request, conn, this.deps.clock.now());
    this.watchers.add(w);
    conn.write(serializeMessage({ type: 'created', fromRevision: request.fromRevision, node: this.deps.nodeId }));
    this.makeLagging(w);
    this.pump(w);
    return w;
  }

  // ---- the state machine's news

  changed(record: ChangeRecord): void {
    for (const [prefix, group] of this.live) {
      const lines: Partial<Record<WatchEncoding, Buffer | null>> = {};
      for (const w of group) {
        if (record.revision < w.next) continue;
        w.next = record.revision + 1;
        let line = lines[w.request.encoding];
        if (line === undefined) line = lines[w.request.encoding] = eventsLine(record, prefix, w.request.encoding) ?? null;
        if (line === null) continue;
        this.write(w, line);
      }
    }
    if (this.lagging.size > 0) this.checkLag();
  }

  restored(): void {
    // The history was replaced: every watcher continues from its cursor in the new one.
    for (const w of [...this.watchers]) {
      this.makeLagging(w);
      if (!w.blocked) this.pump(w);
    }
  }

  // ---- writing

  /** Writes one message; `w.next` must already be past it. A full connection makes the watcher lag. */
  private write(w: Watcher, line: Buffer): void {
    w.lastWriteAt = this.deps.clock.now();
    if (w.conn.write(line)) return;
    w.blocked = true;
    if (w.live) this.makeLagging(w);
    w.cursor = this.deps.history().cursor(w.next);
  }

  private makeLive(w: Watcher): void {
    if (w.live) return;
    this.lagging.delete(w);
    w.cursor = undefined;
    w.live = true;
    let group = this.live.get(w.request.prefix);
    if (group === undefined) this.live.set(w.request.prefix, (group = new Set()));
    group.add(w);
  }

  private makeLagging(w: Watcher): void {
    if (w.live) {
      const group = this.live.get(w.request.prefix);
      group?.delete(w);
      if (group?.size === 0) this.live.delete(w.request.prefix);
      w.live = false;
    }
    this.lagging.add(w);
    w.cursor = undefined;
  }

  /** A lagging watcher reads the history from its cursor until its connection is full or it is current. */
  private pump(w: Watcher): void {
    const history = this.deps.history();
    let p: number;
    try {
      p = history.seek(w.next);
    } catch (e) {
      if (e instanceof CompactedError) return this.close(w, 'compacted', e.message);
      throw e;
    }
    for (;;) {
      if (w.closed || w.blocked) break;
      const record = history.at(p);
      if (record === undefined) {
        // Current: everything applied has been seen.
        w.next = Math.max(w.next, this.deps.appliedIndex() + 1);
        this.makeLive(w);
        return;
      }
      p++;
      w.next = record.revision + 1;
      const line = eventsLine(record, w.request.prefix, w.request.encoding);
      if (line !== undefined) this.write(w, line);
    }
    if (!w.closed) w.cursor = history.cursor(w.next);
  }

  drained(w: Watcher): void {
    if (w.closed || !w.blocked) return;
    w.blocked = false;
    this.pump(w);
  }

  private checkLag(): void {
    const history = this.deps.history();
    const totals = history.totals();
    for (const w of this.lagging) {
      if (w.cursor === undefined) continue;
      if (history.trimmedPast(w.cursor)) {
        this.close(w, 'compacted', `the change history no longer holds revision ${w.next}: list the keys again and watch from the revision the list was read at`);
      } else if (totals.records - w.cursor.records > WATCH_LAG_RECORDS_MAX || totals.bytes - w.cursor.bytes > WATCH_LAG_BYTES_MAX) {
        this.close(
          w,
          'slow-watcher',
          `the watcher fell more than ${WATCH_LAG_RECORDS_MAX} revisions or ${WATCH_LAG_BYTES_MAX} bytes behind (WATCH_LAG_*_MAX): read faster, or narrow the prefix; resume from revision ${w.next}`,
        );
      }
    }
  }

  // ---- the ticker: progress, no-leader

  private tick(): void {
    const now = this.deps.clock.now();
    if (this.deps.leaderKnown()) this.noLeaderSince = undefined;
    else this.noLeaderSince ??= now;
    if (this.noLeaderSince !== undefined && now - this.noLeaderSince >= WATCH_NO_LEADER_CLOSE_MS) {
      for (const w of [...this.watchers]) this.close(w, 'no-leader', `this node has known no leader for ${WATCH_NO_LEADER_CLOSE_MS} ms or more; resume on another node`);
      return;
    }
    const applied = this.deps.appliedIndex();
    for (const group of this.live.values()) {
      for (const w of group) {
        if (now - w.lastWriteAt < WATCH_PROGRESS_INTERVAL_MS) continue;
        this.write(w, serializeMessage({ type: 'progress', revision: Math.max(applied, w.next - 1) }));
      }
    }
  }

  // ---- closing

  /** Ends a watcher with a `closed` message naming the revision to resume from. */
  close(w: Watcher, code: WatchCloseCode, message: string): void {
    if (w.closed) return;
    const resumeRevision = w.live ? Math.max(w.next, this.deps.appliedIndex() + 1) : w.next;
    this.remove(w);
    // Past the connection's mark if need be: one short line, then the end.
    w.conn.write(serializeMessage({ type: 'closed', code, message, resumeRevision }));
    w.conn.end();
    if (code !== 'shutting-down') this.deps.log.info('watch closed', { code, prefix: w.request.prefix, resumeRevision });
  }

  remove(w: Watcher): void {
    if (w.closed) return;
    w.closed = true;
    this.makeLagging(w);
    this.lagging.delete(w);
    this.watchers.delete(w);
  }

  /** Closes every watcher (`shutting-down`) and refuses new ones. */
  stop(): void {
    this.stopped = true;
    this.ticker.cancel();
    for (const w of [...this.watchers]) this.close(w, 'shutting-down', 'the node is shutting down; resume on another node');
  }
}
