// The watch hub against a real state machine, with connections whose buffer the test controls.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WatchMessage } from '../api/types.js';
import { encodeCommand, leaseId } from '../kv/command.js';
import type { Command } from '../kv/command.js';
import { CompactedError } from '../kv/history.js';
import { WATCH_HISTORY_REVISIONS_MAX } from '../kv/limits.js';
import { KvStateMachine } from '../kv/state-machine.js';
import { createLogger } from '../log/logger.js';
import { index } from '../raft/types.js';
import { WATCH_LAG_BYTES_MAX, WATCH_LAG_RECORDS_MAX, WATCH_NO_LEADER_CLOSE_MS, WATCH_PROGRESS_INTERVAL_MS, WatchHub } from './watch.js';
import type { WatchClock, WatchConnection, WatchEncoding, WatchHandle } from './watch.js';

const log = createLogger({ level: 'error', fields: { node: 'test' } });

/** A connection that records messages; while `full`, write() says its buffer is full. */
class TestConnection implements WatchConnection {
  readonly messages: WatchMessage[] = [];
  full = false;
  ended = false;
  write(buffer: Buffer): boolean {
    assert.ok(!this.ended, 'no write after end');
    const line = buffer.toString();
    assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), 'one message per line');
    this.messages.push(JSON.parse(line) as WatchMessage);
    return !this.full;
  }
  end(): void {
    this.ended = true;
  }
  /** The events received, as "revision:put key=value" / "revision:del key". */
  events(): string[] {
    return this.messages.flatMap((m) => (m.type === 'events' ? m.events.map((e) => `${m.revision}:${e.type === 'put' ? `put ${e.key}=${e.value}` : `del ${e.key}`}`) : []));
  }
  last(): WatchMessage | undefined {
    return this.messages.at(-1);
  }
}

/** Time moves when the test says; the hub's one interval runs on each tick(). */
class TestClock implements WatchClock {
  time = 0;
  private ticks: (() => void)[] = [];
  now(): number {
    return this.time;
  }
  setInterval(fn: () => void): { cancel(): void } {
    this.ticks.push(fn);
    return { cancel: () => (this.ticks = this.ticks.filter((f) => f !== fn)) };
  }
  /** Advances by `ms` and runs the interval once (the tests tick by whole intervals). */
  tick(ms: number): void {
    this.time += ms;
    for (const f of this.ticks) f();
  }
}

class World {
  readonly sm = new KvStateMachine();
  readonly clock = new TestClock();
  leader = true;
  readonly hub: WatchHub;
  constructor() {
    this.hub = new WatchHub({
      nodeId: 'node-1',
      history: () => this.sm.history,
      appliedIndex: () => this.sm.appliedIndex,
      leaderKnown: () => this.leader,
      clock: this.clock,
      log,
    });
    this.sm.observe(this.hub);
  }
  apply(c: Command): void {
    this.sm.apply(index(this.sm.appliedIndex + 1), encodeCommand(c));
  }
  put(key: string, value: string): void {
    this.apply({ kind: 'put', key, value: new TextEncoder().encode(value) });
  }
  watch(prefix: string, fromRevision: number, encoding: WatchEncoding = 'utf8'): { conn: TestConnection; handle: WatchHandle } {
    const conn = new TestConnection();
    return { conn, handle: this.hub.open({ prefix, fromRevision, encoding }, conn) };
  }
}

describe('watch hub', () => {
  it('streams the matching changes in commit order, from history and then live, after a created message', () => {
    const w = new World();
    w.put('a/1', 'x');
    w.put('b/1', 'y');
    w.apply({ kind: 'delete', key: 'a/1' });
    const { conn } = w.watch('a/', 1);
    w.put('a/2', 'z');
    w.put('b/2', 'z');
    w.apply({ kind: 'lease-grant', ttlMs: 5_000 });
    w.put('a/3', 'leased');
    assert.deepEqual(conn.messages[0], { type: 'created', fromRevision: 1, node: 'node-1' });
    assert.deepEqual(conn.events(), ['1:put a/1=x', '3:del a/1', '4:put a/2=z', '7:put a/3=leased']);
    // A revision with no match sends nothing; base64 values are exact bytes.
    const { conn: all } = w.watch('', 7, 'base64');
    w.apply({ kind: 'put', key: 'bin', value: Uint8Array.of(0, 255), lease: leaseId(6) });
    assert.deepEqual(all.messages.slice(1), [
      { type: 'events', revision: 7, events: [{ type: 'put', key: 'a/3', value: Buffer.from('leased').toString('base64') }] },
      { type: 'events', revision: 8, events: [{ type: 'put', key: 'bin', value: 'AP8=', lease: 6 }] },
    ]);
  });

  it('resumes from any revision with no gap and no duplicate; a revision ahead of this node waits for it', () => {
    const w = new World();
    for (let i = 1; i <= 20; i++) w.put(`k${i % 3}`, `v${i}`);
    const whole = w.watch('', 1).conn.events();
    const first = whole.filter((e) => Number(e.split(':')[0]) < 12);
    const resumed = w.watch('', 12).conn;
    assert.deepEqual([...first, ...resumed.events()], whole);
    // A client that saw revision 25 elsewhere: nothing older comes, the next change does.
    const ahead = w.watch('', 26).conn;
    for (let i = 21; i <= 27; i++) w.put('k', `v${i}`);
    assert.deepEqual(ahead.events(), ['26:put k=v26', '27:put k=v27']);
  });

  it('refuses a start older than the history with the oldest revision it holds', () => {
    const w = new World();
    for (let i = 0; i < WATCH_HISTORY_REVISIONS_MAX + 10; i++) w.put('k', String(i));
    assert.throws(() => w.watch('', 10), (e: unknown) => e instanceof CompactedError && e.oldestRevision === 11);
    assert.equal(w.watch('', 11).conn.events().length, WATCH_HISTORY_REVISIONS_MAX);
  });

  it('a slow watcher lags on its cursor, catches up as it drains, and is closed with a resumable revision when too far behind', () => {
    const w = new World();
    const { conn, handle } = w.watch('', 1);
    conn.full = true;
    w.put('k', 'first');
    // Written into the (now full) buffer; later changes wait in the history, not in a queue.
    assert.deepEqual(conn.events(), ['1:put k=first']);
    for (let i = 2; i <= 100; i++) w.put('k', `v${i}`);
    assert.equal(conn.events().length, 1);
    conn.full = false;
    handle.drained();
    assert.equal(conn.events().length, 100);
    // Live again.
    w.put('k', 'live');
    assert.deepEqual(conn.events().at(-1), '101:put k=live');

    conn.full = true;
    w.put('k', 'stuck');
    for (let i = 0; i < WATCH_LAG_RECORDS_MAX; i++) w.put('k', 'x');
    assert.ok(!conn.ended);
    w.put('k', 'one too many');
    const closed = conn.last();
    assert.ok(closed?.type === 'closed' && closed.code === 'slow-watcher', JSON.stringify(closed));
    assert.equal(closed.resumeRevision, 103);
    assert.ok(conn.ended);
    assert.equal(w.hub.size, 0);
    // Resuming from there misses nothing and repeats nothing.
    const resumed = w.watch('', closed.resumeRevision).conn;
    const seen = [...conn.events(), ...resumed.events()];
    assert.equal(seen.length, w.sm.appliedIndex);
    assert.deepEqual(
      seen.map((e) => Number(e.split(':')[0])),
      Array.from({ length: w.sm.appliedIndex }, (_, i) => i + 1),
    );
  });

  it('the byte bound closes a slow watcher of large values too', () => {
    const w = new World();
    const { conn } = w.watch('', 1);
    conn.full = true;
    const big = 'x'.repeat(64 * 1024);
    for (let i = 0; i <= WATCH_LAG_BYTES_MAX / big.length + 1 && !conn.ended; i++) w.put('k', big);
    assert.ok(conn.ended);
    const closed = conn.last();
    assert.ok(closed?.type === 'closed' && closed.code === 'slow-watcher');
    assert.equal(closed.resumeRevision, 2);
  });

  it('a watcher continues across a snapshot restore from its cursor in the new history', async () => {
    const ahead = new KvStateMachine();
    const w = new World();
    const both = (c: Command): void => {
      ahead.apply(index(ahead.appliedIndex + 1), encodeCommand(c));
      w.apply(c);
    };
    for (let i = 1; i <= 5; i++) both({ kind: 'put', key: 'k', value: new TextEncoder().encode(`v${i}`) });
    const { conn } = w.watch('', 3);
    for (let i = 6; i <= 9; i++) ahead.apply(index(i), encodeCommand({ kind: 'put', key: 'k', value: new TextEncoder().encode(`v${i}`) }));
    const chunks: Uint8Array[] = [];
    await ahead.writeSnapshot((c) => {
      chunks.push(Uint8Array.from(c));
    });
    await w.sm.restore(
      (async function* () {
        yield* chunks;
      })(),
    );
    w.put('k', 'v10');
    assert.deepEqual(
      conn.events().map((e) => Number(e.split(':')[0])),
      [3, 4, 5, 6, 7, 8, 9, 10],
    );
  });

  describe('on the ticker', () => {
    it('sends progress to quiet watchers, naming the applied index', () => {
      const w = new World();
      const { conn } = w.watch('quiet/', 1);
      w.put('other', 'x');
      w.put('other', 'y');
      w.clock.tick(WATCH_PROGRESS_INTERVAL_MS);
      assert.deepEqual(conn.last(), { type: 'progress', revision: 2 });
      w.hub.stop();
    });

    it('closes every watcher of a node that has known no leader for a while, and refuses new ones', () => {
      const w = new World();
      const { conn } = w.watch('', 1);
      w.put('k', 'v');
      w.leader = false;
      for (let t = 0; t <= WATCH_NO_LEADER_CLOSE_MS; t += WATCH_PROGRESS_INTERVAL_MS) w.clock.tick(WATCH_PROGRESS_INTERVAL_MS);
      assert.deepEqual(conn.last(), {
        type: 'closed',
        code: 'no-leader',
        message: `this node has known no leader for ${WATCH_NO_LEADER_CLOSE_MS} ms or more; resume on another node`,
        resumeRevision: 2,
      });
      assert.throws(() => w.watch('', 2), /known no leader/);
      w.leader = true;
      w.clock.tick(WATCH_PROGRESS_INTERVAL_MS);
      assert.equal(w.watch('', 2).conn.messages.length, 1);
      w.hub.stop();
    });

    it('stop closes every watcher with shutting-down and refuses new ones', () => {
      const w = new World();
      const { conn } = w.watch('', 1);
      w.hub.stop();
      const closed = conn.last();
      assert.ok(closed?.type === 'closed' && closed.code === 'shutting-down' && closed.resumeRevision === 1);
      assert.throws(() => w.watch('', 1), /shutting down/);
    });
  });
});

describe('watch values', () => {
  it('in UTF-8 mode a value that is not UTF-8 comes as base64, marked, never mangled', () => {
    const w = new World();
    const { conn } = w.watch('', 1);
    w.apply({ kind: 'put', key: 'bin', value: Uint8Array.of(0xff, 0xfe) });
    w.put('text', 'ключ');
    assert.deepEqual(conn.messages.slice(1), [
      { type: 'events', revision: 1, events: [{ type: 'put', key: 'bin', value: '//4=', encoding: 'base64' }] },
      { type: 'events', revision: 2, events: [{ type: 'put', key: 'text', value: 'ключ' }] },
    ]);
    w.hub.stop();
  });
});
