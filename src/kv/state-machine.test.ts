import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { AssertionError } from '../raft/assert.js';
import { index } from '../raft/types.js';
import type { LogIndex } from '../raft/types.js';
import { encodeCommand } from './command.js';
import type { Command, RequestId } from './command.js';
import { ByteWriter } from './bytes.js';
import { keyContribution, sessionRecordContribution, stateDigestBytes, XorAccumulator } from './digest.js';
import { KvError } from './errors.js';
import { SESSION_SIZE_MAX_BYTES } from './session.js';
import { CLIENT_SESSIONS_MAX, LIST_LIMIT_MAX, SNAPSHOT_CHUNK_SIZE_BYTES, VALUE_SIZE_MAX_BYTES } from './limits.js';
import { SnapshotPrefetch, writeSnapshotStream } from './snapshot.js';
import { KvStateMachine } from './state-machine.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));

const put = (key: string, value: string | Uint8Array, requestId?: RequestId): Command => ({
  kind: 'put',
  key,
  value: typeof value === 'string' ? text(value) : value,
  ...(requestId && { requestId }),
});
const del = (key: string, requestId?: RequestId): Command => ({ kind: 'delete', key, ...(requestId && { requestId }) });
const cas = (key: string, expected: string | undefined, value: string, requestId?: RequestId): Command => ({
  kind: 'cas',
  key,
  expected: expected === undefined ? undefined : text(expected),
  value: text(value),
  ...(requestId && { requestId }),
});

/** Applies commands at consecutive indexes after the machine's applied index. */
class Feeder {
  constructor(readonly machine = new KvStateMachine()) {}
  apply(command: Command) {
    return this.machine.apply(index(this.machine.appliedIndex + 1), encodeCommand(command));
  }
}

async function snapshotChunks(machine: KvStateMachine, formatVersion?: number): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  await machine.writeSnapshot((chunk) => {
    chunks.push(Uint8Array.from(chunk));
  }, formatVersion);
  return chunks;
}

/** Re-splits bytes at other boundaries, to prove the reader does not depend on the writer's. */
function resplit(chunks: Uint8Array[], sizes: () => number): Uint8Array[] {
  const all = Buffer.concat(chunks);
  const out: Uint8Array[] = [];
  for (let at = 0; at < all.length; ) {
    const n = Math.max(1, sizes());
    out.push(all.subarray(at, at + n));
    at += n;
  }
  return out;
}

async function* stream(chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) {
    // A real pause between chunks, as a network or disk stream has.
    await Promise.resolve();
    yield chunk;
  }
}

function allEntries(machine: KvStateMachine): { key: string; value: string | undefined; revision: number }[] {
  const out: { key: string; value: string | undefined; revision: number }[] = [];
  let after: string | undefined;
  for (;;) {
    const page = machine.list('', LIST_LIMIT_MAX, after);
    out.push(...page.entries.map((e) => ({ key: e.key, value: Buffer.from(e.value).toString('base64'), revision: e.revision })));
    if (!page.more) return out;
    after = page.entries[page.entries.length - 1]?.key;
  }
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomCommands(seed: number, count: number): Command[] {
  const random = rng(seed);
  const int = (n: number): number => Math.floor(random() * n);
  const commands: Command[] = [];
  for (let i = 0; i < count; i++) {
    const key = `key/${int(50)}`;
    const requestId = random() < 0.5 ? { clientId: `c${int(5)}`, seq: i } : undefined;
    const roll = random();
    if (roll < 0.5) commands.push(put(key, `v${i}`, requestId));
    else if (roll < 0.7) commands.push(del(key, requestId));
    else commands.push(cas(key, random() < 0.5 ? undefined : `v${int(i + 1)}`, `c${i}`, requestId));
  }
  return commands;
}

describe('apply', () => {
  test('put stores the value with the entry index as its revision', () => {
    const f = new Feeder();
    assert.deepEqual(f.apply(put('a', '1')), { kind: 'put', revision: 1 });
    assert.deepEqual(f.apply(put('b', '2')), { kind: 'put', revision: 2 });
    assert.deepEqual(f.apply(put('a', '3')), { kind: 'put', revision: 3 });
    assert.equal(f.machine.appliedIndex, 3);
    const a = f.machine.get('a');
    assert.equal(str(a?.value), '3');
    assert.equal(a?.revision, 3);
    assert.equal(f.machine.get('b')?.revision, 2);
    assert.equal(f.machine.get('missing'), undefined);
    assert.equal(f.machine.keyCount, 2);
  });

  test('values are bytes: empty and binary values are kept exactly', () => {
    const f = new Feeder();
    f.apply(put('empty', new Uint8Array(0)));
    f.apply(put('binary', Uint8Array.of(0, 255, 128, 0)));
    assert.deepEqual(f.machine.get('empty')?.value, new Uint8Array(0));
    assert.deepEqual(f.machine.get('binary')?.value, Uint8Array.of(0, 255, 128, 0));
  });

  test('delete removes a key and says whether it existed', () => {
    const f = new Feeder();
    f.apply(put('a', '1'));
    assert.deepEqual(f.apply(del('a')), { kind: 'delete', deleted: true });
    assert.equal(f.machine.get('a'), undefined);
    assert.deepEqual(f.apply(del('a')), { kind: 'delete', deleted: false });
    assert.equal(f.machine.keyCount, 0);
    assert.deepEqual(f.machine.list('', 10), { entries: [], more: false });
  });

  test('cas swaps only when the key holds the expected value or is absent as expected', () => {
    const f = new Feeder();
    assert.deepEqual(f.apply(cas('a', undefined, 'x')), { kind: 'cas', ok: true, revision: 1 });
    assert.deepEqual(f.apply(cas('a', undefined, 'y')), { kind: 'cas', ok: false, currentRevision: 1 });
    assert.deepEqual(f.apply(cas('a', 'wrong', 'y')), { kind: 'cas', ok: false, currentRevision: 1 });
    assert.deepEqual(f.apply(cas('a', 'x', 'y')), { kind: 'cas', ok: true, revision: 4 });
    assert.equal(str(f.machine.get('a')?.value), 'y');
    assert.deepEqual(f.apply(cas('b', 'x', 'y')), { kind: 'cas', ok: false, currentRevision: undefined });
    assert.equal(f.machine.get('b'), undefined);
    // An empty expected value is not absence.
    assert.deepEqual(f.apply(cas('b', '', 'z')), { kind: 'cas', ok: false, currentRevision: undefined });
    f.apply(put('e', ''));
    assert.deepEqual(f.apply(cas('e', '', 'z')), { kind: 'cas', ok: true, revision: 8 });
  });

  test('reads are copies: changing them does not change the state', () => {
    const f = new Feeder();
    f.apply(put('a', 'x'));
    f.machine.get('a')?.value.fill(0);
    f.machine.list('', 10).entries[0]?.value.fill(0);
    assert.equal(str(f.machine.get('a')?.value), 'x');
  });

  test('a malformed entry is rejected alike on every replica and still advances the applied index', () => {
    const m = new KvStateMachine();
    const before = m.digest();
    const result = m.apply(index(1), Uint8Array.of(1, 99, 0, 1, 0, 97));
    assert.equal(result.kind, 'rejected');
    assert.ok(result.kind === 'rejected');
    assert.equal(result.code, 'malformed-command');
    assert.match(result.message, /unknown op 99/);
    assert.equal(m.appliedIndex, 1);
    assert.equal(m.keyCount, 0);
    assert.notEqual(m.digest(), before);
  });

  test('markApplied advances the index for entries that are not commands; indexes must increase', () => {
    const m = new KvStateMachine();
    m.markApplied(index(5));
    assert.equal(m.appliedIndex, 5);
    assert.deepEqual(m.apply(index(7), encodeCommand(put('a', '1'))), { kind: 'put', revision: 7 });
    assert.throws(() => m.apply(index(7), encodeCommand(put('a', '1'))), AssertionError);
    assert.throws(() => m.markApplied(index(3)), AssertionError);
  });
});

describe('reads', () => {
  test('list returns keys by prefix in order, bounded, with continuation', () => {
    const f = new Feeder();
    for (const key of ['b/2', 'a', 'b/1', 'b/10', 'c', 'b', 'b/3']) f.apply(put(key, key));
    const keys = (r: { entries: { key: string }[] }): string[] => r.entries.map((e) => e.key);
    assert.deepEqual(keys(f.machine.list('b/', 10)), ['b/1', 'b/10', 'b/2', 'b/3']);
    assert.deepEqual(f.machine.list('b/', 2).more, true);
    assert.deepEqual(keys(f.machine.list('b/', 2)), ['b/1', 'b/10']);
    assert.deepEqual(keys(f.machine.list('b/', 2, 'b/10')), ['b/2', 'b/3']);
    assert.equal(f.machine.list('b/', 2, 'b/10').more, false);
    assert.deepEqual(keys(f.machine.list('', 100)), ['a', 'b', 'b/1', 'b/10', 'b/2', 'b/3', 'c']);
    assert.deepEqual(keys(f.machine.list('', 100, 'a0')), ['b', 'b/1', 'b/10', 'b/2', 'b/3', 'c']);
    assert.deepEqual(keys(f.machine.list('zz', 100)), []);
    assert.deepEqual(keys(f.machine.list('b/1', 100)), ['b/1', 'b/10']);
    assert.equal(str(f.machine.list('c', 1).entries[0]?.value), 'c');
  });

  test('list limits outside 1..LIST_LIMIT_MAX and invalid keys are refused with typed errors', () => {
    const m = new KvStateMachine();
    for (const limit of [0, -1, 1.5, LIST_LIMIT_MAX + 1]) {
      assert.throws(() => m.list('', limit), (e: unknown) => e instanceof KvError && e.code === 'invalid-limit');
    }
    assert.throws(() => m.get(''), (e: unknown) => e instanceof KvError && e.code === 'invalid-key');
  });
});

describe('exactly-once', () => {
  test('a retried request returns the stored result and is not applied again', () => {
    const f = new Feeder();
    const id = { clientId: 'alice', seq: 1 };
    assert.deepEqual(f.apply(cas('a', undefined, 'first', id)), { kind: 'cas', ok: true, revision: 1 });
    f.apply(put('a', 'other'));
    // Applied again, this cas would fail (and a retried put would move the revision); it is not.
    assert.deepEqual(f.apply(cas('a', undefined, 'first', id)), { kind: 'cas', ok: true, revision: 1 });
    assert.equal(str(f.machine.get('a')?.value), 'other');
    assert.equal(f.machine.appliedIndex, 3);

    const next = { clientId: 'alice', seq: 2 };
    assert.deepEqual(f.apply(put('b', 'x', next)), { kind: 'put', revision: 4 });
    assert.deepEqual(f.apply(put('b', 'x', next)), { kind: 'put', revision: 4 });
    assert.equal(f.machine.get('b')?.revision, 4);
    f.apply(del('b', { clientId: 'bob', seq: 1 }));
    assert.deepEqual(f.apply(del('b', { clientId: 'bob', seq: 1 })), { kind: 'delete', deleted: true });
  });

  test('a request older than the client\'s last applied one is refused, not applied', () => {
    const f = new Feeder();
    f.apply(put('a', 'new', { clientId: 'alice', seq: 5 }));
    const result = f.apply(put('a', 'old', { clientId: 'alice', seq: 4 }));
    assert.equal(result.kind, 'rejected');
    assert.ok(result.kind === 'rejected');
    assert.equal(result.code, 'request-superseded');
    assert.equal(str(f.machine.get('a')?.value), 'new');
  });

  test('the session table is bounded and evicts the least recently applied client, alike on every replica', async () => {
    const a = new Feeder();
    const b = new Feeder();
    const both = (command: Command) => {
      const ra = a.apply(command);
      assert.deepEqual(b.apply(command), ra);
      return ra;
    };
    for (let c = 0; c < CLIENT_SESSIONS_MAX; c++) both(put(`k${c % 10}`, 'v', { clientId: `client-${c}`, seq: 1 }));
    assert.equal(a.machine.sessionCount, CLIENT_SESSIONS_MAX);
    // client-0 writes again, so client-1 is now the least recent.
    both(put('k0', 'again', { clientId: 'client-0', seq: 2 }));
    // A restored replica must make the same eviction choice.
    const restored = new KvStateMachine();
    await restored.restore(stream(await snapshotChunks(a.machine)));
    const r = new Feeder(restored);

    const newcomer = put('k0', 'new', { clientId: 'newcomer', seq: 1 });
    both(newcomer);
    r.apply(newcomer);
    assert.equal(a.machine.sessionCount, CLIENT_SESSIONS_MAX);
    assert.equal(a.machine.digest(), r.machine.digest());
    // client-1 was forgotten: its retry is applied again (a new revision); client-0 and client-2 were kept.
    const retry1 = put('k1', 'v', { clientId: 'client-1', seq: 1 });
    assert.deepEqual(both(retry1), { kind: 'put', revision: a.machine.appliedIndex });
    assert.deepEqual(r.apply(retry1), { kind: 'put', revision: r.machine.appliedIndex });
    const retry0 = put('k0', 'again', { clientId: 'client-0', seq: 2 });
    assert.deepEqual(both(retry0), { kind: 'put', revision: CLIENT_SESSIONS_MAX + 1 });
    assert.deepEqual(both(put('k2', 'v', { clientId: 'client-3', seq: 1 })), { kind: 'put', revision: 4 });
    r.apply(retry0);
    r.apply(put('k2', 'v', { clientId: 'client-3', seq: 1 }));
    assert.equal(a.machine.digest(), b.machine.digest());
    assert.equal(a.machine.digest(), r.machine.digest());
  });
});

describe('snapshot and restore', () => {
  async function richMachine(): Promise<KvStateMachine> {
    const f = new Feeder();
    const random = rng(99);
    for (let i = 0; i < 3000; i++) {
      const size = Math.floor(random() * 300);
      f.apply(put(`k/${(i * 7919) % 5000}`, new Uint8Array(size).fill(i & 0xff), random() < 0.3 ? { clientId: `c${i % 40}`, seq: i } : undefined));
    }
    // Values around and beyond the chunk size, up to the largest allowed.
    f.apply(put('big/chunk-1', new Uint8Array(SNAPSHOT_CHUNK_SIZE_BYTES - 1).fill(1)));
    f.apply(put('big/chunk', new Uint8Array(SNAPSHOT_CHUNK_SIZE_BYTES).fill(2)));
    f.apply(put('big/max', new Uint8Array(VALUE_SIZE_MAX_BYTES).fill(3), { clientId: 'big', seq: 1 }));
    // Every kind of stored result, including a failed cas on a key that holds a value.
    f.apply(del('k/1', { clientId: 'del-client', seq: 1 }));
    f.apply(cas('k/nope', 'x', 'y', { clientId: 'cas-absent', seq: 1 }));
    f.apply(cas('big/max', 'x', 'y', { clientId: 'cas-current', seq: 1 }));
    f.apply(cas('new', undefined, 'y', { clientId: 'cas-ok', seq: 1 }));
    f.apply(put('\uFEFFbom-key/ключ/🔑', 'unicode'));
    f.machine.markApplied(index(f.machine.appliedIndex + 3));
    return f.machine;
  }

  test('restore rebuilds an identical machine, whatever the chunk boundaries', async () => {
    const source = await richMachine();
    const chunks = await snapshotChunks(source);
    assert.ok(chunks.length > 2, 'the snapshot is streamed in several chunks');
    for (const chunk of chunks.slice(0, -1)) assert.equal(chunk.length, SNAPSHOT_CHUNK_SIZE_BYTES);
    assert.ok((chunks.at(-1) as Uint8Array).length <= SNAPSHOT_CHUNK_SIZE_BYTES);
    const random = rng(5);
    const splits: [string, Uint8Array[]][] = [
      ['as written', chunks],
      ['random sizes', resplit(chunks, () => Math.floor(random() * 100_000))],
      ['small sizes', resplit(chunks, () => 1 + Math.floor(random() * 64))],
      ['with empty chunks', chunks.flatMap((c) => [new Uint8Array(0), c])],
    ];
    for (const [name, parts] of splits) {
      const target = new KvStateMachine();
      await target.restore(stream(parts));
      assert.equal(target.digest(), source.digest(), name);
      assert.equal(target.appliedIndex, source.appliedIndex, name);
      assert.equal(target.keyCount, source.keyCount, name);
      assert.equal(target.sessionCount, source.sessionCount, name);
    }
    const target = new KvStateMachine();
    await target.restore(stream(chunks));
    assert.deepEqual(allEntries(target), allEntries(source));
    assert.deepEqual(target.get('big/max'), source.get('big/max'));
    // Sessions came along: retries get the stored results on both.
    for (const id of ['cas-current', 'cas-absent', 'del-client', 'cas-ok', 'big']) {
      const retry = (m: KvStateMachine) => new Feeder(m).apply(cas('x', undefined, 'z', { clientId: id, seq: 1 }));
      const expected = retry(source);
      assert.notEqual(expected.kind, 'rejected');
      assert.deepEqual(retry(target), expected, id);
    }
    // And the two stay equal as they apply the same entries.
    for (const command of randomCommands(3, 200)) {
      assert.deepEqual(new Feeder(target).apply(command), new Feeder(source).apply(command));
    }
    assert.equal(target.digest(), source.digest());
  });

  test('restore discards all previous state', async () => {
    const source = new Feeder();
    source.apply(put('kept', '1'));
    const target = new Feeder();
    for (let i = 0; i < 20; i++) target.apply(put(`old/${i}`, 'x', { clientId: 'old', seq: i }));
    await target.machine.restore(stream(await snapshotChunks(source.machine)));
    assert.deepEqual(allEntries(target.machine).map((e) => e.key), ['kept']);
    assert.equal(target.machine.appliedIndex, 1);
    assert.equal(target.machine.sessionCount, 0);
    assert.equal(target.machine.digest(), source.machine.digest());
  });

  test('an empty machine round-trips', async () => {
    const target = new Feeder();
    target.apply(put('a', '1'));
    await target.machine.restore(stream(await snapshotChunks(new KvStateMachine())));
    assert.equal(target.machine.digest(), new KvStateMachine().digest());
    assert.equal(target.machine.appliedIndex, 0);
  });

  test('the snapshot is the state when writing began, even as entries keep applying', async () => {
    const f = new Feeder();
    for (let i = 0; i < 2000; i++) f.apply(put(`k${i}`, new Uint8Array(2000).fill(i & 0xff)));
    const digestAtStart = f.machine.digest();
    const chunks: Uint8Array[] = [];
    let n = 0;
    await f.machine.writeSnapshot(async (chunk) => {
      // The log moves on while the snapshot is being written.
      f.apply(put(`k${n}`, 'changed'));
      f.apply(del(`k${n + 1000}`));
      n += 1;
      await new Promise((resolve) => setImmediate(resolve));
      // A chunk stays intact until the sink's promise settles.
      chunks.push(Uint8Array.from(chunk));
    });
    assert.ok(n > 1, 'applies interleaved with the snapshot');
    const target = new KvStateMachine();
    await target.restore(stream(chunks));
    assert.equal(target.digest(), digestAtStart);
  });

  async function expectCorrupt(target: KvStateMachine, chunks: Uint8Array[], reason?: RegExp): Promise<void> {
    const digest = target.digest();
    const applied = target.appliedIndex;
    const entries = allEntries(target);
    await assert.rejects(target.restore(stream(chunks)), (e: unknown) => e instanceof KvError && e.code === 'corrupt-snapshot' && (reason?.test(e.message) ?? true));
    assert.equal(target.digest(), digest);
    assert.equal(target.appliedIndex, applied);
    assert.deepEqual(allEntries(target), entries);
  }

  test('a corrupt snapshot is refused with a typed error and the state is kept', async () => {
    const source = new Feeder();
    source.apply(put('a', 'value-a', { clientId: 'c', seq: 1 }));
    source.apply(put('b', 'value-b'));
    source.apply(cas('a', 'zzz', 'no', { clientId: 'd', seq: 1 }));
    const bytes = Buffer.concat(await snapshotChunks(source.machine));
    const target = new Feeder();
    target.apply(put('mine', 'still here', { clientId: 'x', seq: 3 }));

    // Every single flipped byte and every truncation is detected.
    for (let at = 0; at < bytes.length; at++) {
      const flipped = Buffer.from(bytes);
      flipped[at] = (flipped[at] as number) ^ 0x5a;
      await expectCorrupt(target.machine, [flipped]);
      await expectCorrupt(target.machine, [bytes.subarray(0, at)]);
    }
    await expectCorrupt(target.machine, [bytes, Uint8Array.of(0)], /after the checksum/);
    await expectCorrupt(target.machine, [], /truncated header/);
    await expectCorrupt(target.machine, [text('not a snapshot at all, clearly')], /bad magic/);
    const otherVersion = Buffer.from(bytes);
    otherVersion[4] = 5;
    await expectCorrupt(target.machine, [otherVersion], /unsupported format version 5 \(this build reads 1 to 4\)/);
    await expectCorrupt(target.machine, [bytes.subarray(0, bytes.length - 33)], /truncated checksum/);
    await expectCorrupt(target.machine, [bytes.subarray(0, bytes.length - 1)], /truncated history checksum/);
    // The untouched snapshot still restores.
    await target.machine.restore(stream([bytes]));
    assert.equal(target.machine.digest(), source.machine.digest());
  });

  /**
   * What versions 1 and 2 wrote for: put a = 1000 × 'x' (1), a failed cas of client c1 (2), put a =
   * 'z' (3). Their failed cas session kept the value the key held (tag 4 with the bytes).
   */
  function legacySnapshot(version: 1 | 2): { bytes: Buffer; same: KvStateMachine } {
    const same = new Feeder();
    same.apply(put('a', 'x'.repeat(1000)));
    same.apply(cas('a', 'wrong', 'y', { clientId: 'c1', seq: 1 }));
    same.apply(put('a', 'z'));
    const result = new ByteWriter(1100).u8(4).u8(1).u64(1).u32(1000).bytes(text('x'.repeat(1000))).finish();
    const w = new ByteWriter(4096).bytes(text('KVSN')).u8(version).u64(3).u64(1).u64(1);
    w.u16(1).bytes(text('a')).u64(3).u32(1).bytes(text('z'));
    w.u16(2).bytes(text('c1')).u64(1).u64(2).u32(result.length).bytes(result);
    const body = Buffer.from(w.finish());
    const keys = new XorAccumulator();
    keys.toggle(keyContribution('a', text('z'), index(3), undefined));
    const sessions = new XorAccumulator();
    sessions.toggle(sessionRecordContribution('c1', 1, index(2), result));
    const trailer =
      version === 1
        ? createHash('sha256').update(body).digest()
        : stateDigestBytes({ appliedIndex: index(3), keyCount: 1, sessionCount: 1, leaseCount: 0, keys, sessions, leases: new XorAccumulator() });
    return { bytes: Buffer.concat([body, trailer]), same: same.machine };
  }

  test('version 1 and 2 snapshots still restore: a failed cas session drops the value it kept, and checksums are checked', async () => {
    for (const version of [1, 2] as const) {
      const { bytes, same } = legacySnapshot(version);
      const target = new KvStateMachine();
      await target.restore(stream(resplit([bytes], () => 70)));
      // Equal to a machine of this version that applied the same entries, retries included.
      assert.equal(target.digest(), same.digest(), `version ${version}`);
      const retry = cas('a', 'wrong', 'y', { clientId: 'c1', seq: 1 });
      assert.deepEqual(new Feeder(target).apply(retry), { kind: 'cas', ok: false, currentRevision: 1 });
      const flipped = Buffer.from(bytes);
      flipped[bytes.length - 100] = (flipped[bytes.length - 100] as number) ^ 1;
      await expectCorrupt(new KvStateMachine(), [flipped], /checksum mismatch|state digest differs/);
    }
    // The same stream labelled version 3 holds a result no version 3 writer makes.
    const relabelled = Buffer.from(legacySnapshot(2).bytes);
    relabelled[4] = 3;
    await expectCorrupt(new KvStateMachine(), [relabelled], /session result length 1014 exceeds 9/);
  });

  test('sessions are bounded in bytes: a failed cas keeps no value, whatever the key held', async () => {
    const f = new Feeder();
    const clients = 16;
    for (let i = 0; i < clients; i++) {
      f.apply(put('big', new Uint8Array(VALUE_SIZE_MAX_BYTES).fill(i)));
      assert.deepEqual(f.apply(cas('big', 'not it', 'y', { clientId: `c${i}`, seq: 1 })), { kind: 'cas', ok: false, currentRevision: f.machine.appliedIndex - 1 });
    }
    f.apply(put('big', 'small now'));
    // The snapshot holds one small value and sixteen sessions, not sixteen old values of 1 MiB. (Written
    // without the change history, which keeps recent values by design, within WATCH_HISTORY_BYTES_MAX.)
    const bytes = Buffer.concat(await snapshotChunks(f.machine, 3)).length;
    assert.ok(bytes < 64 * 1024, `snapshot of ${bytes} bytes`);
    assert.ok(clients * SESSION_SIZE_MAX_BYTES < 64 * 1024);
  });

  test('a snapshot whose trailer is not the digest of its contents is refused', async () => {
    const keys = ['a', 'b'];
    const values = keys.map(() => ({ value: text('v'), revision: index(1) }));
    const chunks: Uint8Array[] = [];
    await writeSnapshotStream({ appliedIndex: index(1), keys, values, sessions: [], digest: new Uint8Array(32).fill(7) }, (c) => {
      chunks.push(Uint8Array.from(c));
    });
    await expectCorrupt(new KvStateMachine(), chunks, /state digest differs/);
  });

  test('restored values own their bytes: reusing the stream\'s buffers afterwards changes nothing', async () => {
    const source = await richMachine();
    const chunks = await snapshotChunks(source);
    const target = new KvStateMachine();
    await target.restore(stream(chunks));
    for (const chunk of chunks) chunk.fill(0xee);
    assert.equal(target.digest(), source.digest());
    assert.deepEqual(allEntries(target), allEntries(source));
  });

  test('a snapshot parsed while it arrives is swapped in without reading its file again', async () => {
    const source = await richMachine();
    const chunks = resplit(await snapshotChunks(source), () => 50_000);
    const prefetch = new SnapshotPrefetch();
    for (const chunk of chunks) await prefetch.push(chunk);
    prefetch.end();
    async function* unread(): AsyncGenerator<Uint8Array> {
      yield* [];
      throw new Error('the file was read although the prefetch parsed cleanly');
    }
    const target = new Feeder();
    target.apply(put('old', 'x'));
    await target.machine.restore(prefetch.restoreSource(unread()));
    assert.equal(target.machine.digest(), source.digest());
    assert.deepEqual(allEntries(target.machine), allEntries(source));
  });

  test('an abandoned or corrupt prefetch falls back to the committed bytes, which decide', async () => {
    const source = await richMachine();
    const chunks = await snapshotChunks(source);
    const abandoned = new SnapshotPrefetch();
    await abandoned.push(chunks[0] as Uint8Array);
    abandoned.abandon();
    await abandoned.push(chunks[1] as Uint8Array);
    const target = new KvStateMachine();
    await target.restore(abandoned.restoreSource(stream(chunks)));
    assert.equal(target.digest(), source.digest());

    const bad = Buffer.concat(chunks);
    bad[bad.length - 40] = (bad[bad.length - 40] as number) ^ 1;
    const corrupt = new SnapshotPrefetch();
    await corrupt.push(bad);
    corrupt.end();
    await assert.rejects(corrupt.contents, (e: unknown) => e instanceof KvError && e.code === 'corrupt-snapshot');
    const kept = new Feeder();
    kept.apply(put('mine', 'v'));
    const digest = kept.machine.digest();
    await assert.rejects(kept.machine.restore(corrupt.restoreSource(stream([bad]))), (e: unknown) => e instanceof KvError && e.code === 'corrupt-snapshot');
    assert.equal(kept.machine.digest(), digest);
  });

  test('content that breaks the format\'s rules is refused even with a valid checksum', async () => {
    const target = new Feeder();
    target.apply(put('mine', 'x'));
    const write = async (keys: string[]): Promise<Uint8Array[]> => {
      const chunks: Uint8Array[] = [];
      const values = keys.map(() => ({ value: text('v'), revision: index(1) }));
      await writeSnapshotStream({ appliedIndex: index(1), keys, values, sessions: [] }, (c) => {
        chunks.push(Uint8Array.from(c));
      });
      return chunks;
    };
    await expectCorrupt(target.machine, await write(['b', 'a']), /keys out of order/);
    await expectCorrupt(target.machine, await write(['a', 'a']), /keys out of order/);
    const sessions = async (ids: [string, number][]): Promise<Uint8Array[]> => {
      const chunks: Uint8Array[] = [];
      await writeSnapshotStream(
        { appliedIndex: index(10), keys: [], values: [], sessions: ids.map(([id, i]) => [id, { seq: 1, index: i as LogIndex, result: { kind: 'delete', deleted: false } }]) },
        (c) => {
          chunks.push(Uint8Array.from(c));
        },
      );
      return chunks;
    };
    await expectCorrupt(target.machine, await sessions([['a', 1], ['a', 2]]), /two sessions/);
    // A valid one for contrast.
    await target.machine.restore(stream(await sessions([['a', 1], ['b', 2]])));
    assert.equal(target.machine.sessionCount, 2);
  });

  test('an error of the stream itself propagates and the state is kept', async () => {
    const target = new Feeder();
    target.apply(put('mine', 'x'));
    const digest = target.machine.digest();
    const chunks = await snapshotChunks((await (async () => {
      const f = new Feeder();
      f.apply(put('other', 'y'));
      return f.machine;
    })()));
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield (chunks[0] as Uint8Array).subarray(0, 10);
      throw new Error('disk read failed');
    }
    await assert.rejects(target.machine.restore(failing()), /disk read failed/);
    assert.equal(target.machine.digest(), digest);
    // The machine is usable afterwards.
    assert.deepEqual(target.apply(put('after', 'z')), { kind: 'put', revision: 2 });
  });

  test('no entry may be applied while a restore runs', async () => {
    const target = new KvStateMachine();
    const chunks = await snapshotChunks(new KvStateMachine());
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    async function* slow(): AsyncGenerator<Uint8Array> {
      await gate;
      yield* chunks;
    }
    const restoring = target.restore(slow());
    assert.throws(() => target.apply(index(1), encodeCommand(put('a', '1'))), AssertionError);
    release();
    await restoring;
  });
});

describe('digest', () => {
  test('replicas fed the same entries have equal digests at every step', () => {
    const a = new Feeder();
    const b = new Feeder();
    const seen = new Set<string>();
    for (const command of randomCommands(11, 500)) {
      assert.deepEqual(a.apply(command), b.apply(command));
      assert.equal(a.machine.digest(), b.machine.digest());
      seen.add(a.machine.digest());
    }
    assert.equal(seen.size, 500, 'every applied entry changes the digest (the index is part of it)');
    assert.match(a.machine.digest(), /^[0-9a-f]{64}$/);
  });

  test('the digest depends on the state, not on the path that led to it', () => {
    const a = new Feeder();
    a.apply(put('x', '1'));
    a.apply(put('y', '2'));
    const b = new Feeder();
    b.apply(put('y', '2'));
    b.apply(put('x', '1'));
    // Same keys and values, but revisions differ: not the same state.
    assert.notEqual(a.machine.digest(), b.machine.digest());
    const c = new Feeder();
    c.apply(put('x', '1'));
    c.apply(put('y', '2'));
    c.apply(put('z', 'tmp'));
    c.apply(del('z'));
    const d = new Feeder();
    d.apply(put('x', '1'));
    d.apply(put('y', '2'));
    d.machine.markApplied(index(4));
    // A key created and deleted leaves no trace beyond the applied index.
    assert.equal(c.machine.digest(), d.machine.digest());
  });

  test('replicas that differ in one value, one session or the applied index have different digests', () => {
    const base = [put('a', '1'), put('b', '2', { clientId: 'c', seq: 1 }), cas('a', '1', '3')];
    const build = (commands: Command[]): KvStateMachine => {
      const f = new Feeder();
      for (const command of commands) f.apply(command);
      return f.machine;
    };
    const reference = build(base).digest();
    assert.equal(build(base).digest(), reference);
    assert.notEqual(build([put('a', '1'), put('b', '2', { clientId: 'c', seq: 1 }), cas('a', '1', '4')]).digest(), reference);
    assert.notEqual(build([put('a', '1'), put('b', '2', { clientId: 'c', seq: 2 }), cas('a', '1', '3')]).digest(), reference);
    assert.notEqual(build([put('a', '1'), put('b', '2'), cas('a', '1', '3')]).digest(), reference);
    const later = build(base);
    later.markApplied(index(4));
    assert.notEqual(later.digest(), reference);
  });
});
