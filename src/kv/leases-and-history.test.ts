// The state machine's revisions, change history and leases: what watches and leases rest on.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { index } from '../raft/types.js';
import { encodeCommand, leaseId } from './command.js';
import type { Command, LeaseId, RequestId } from './command.js';
import { KvError } from './errors.js';
import type { ChangeRecord } from './history.js';
import { LEASES_MAX, WATCH_HISTORY_REVISIONS_MAX } from './limits.js';
import { writeSnapshotStream } from './snapshot.js';
import { KvStateMachine } from './state-machine.js';
import type { ApplyResult, KvObserver } from './state-machine.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));

function put(key: string, value: string, lease?: number, requestId?: RequestId): Command {
  return { kind: 'put', key, value: text(value), ...(lease !== undefined && { lease: leaseId(lease) }), ...(requestId && { requestId }) };
}

class Feeder {
  constructor(readonly machine = new KvStateMachine()) {}
  apply(command: Command): ApplyResult {
    return this.machine.apply(index(this.machine.appliedIndex + 1), encodeCommand(command));
  }
  grant(ttlMs = 5_000): LeaseId {
    const r = this.apply({ kind: 'lease-grant', ttlMs });
    assert.ok(r.kind === 'lease-grant');
    return r.id;
  }
}

async function roundTrip(machine: KvStateMachine, formatVersion?: number): Promise<KvStateMachine> {
  const chunks: Uint8Array[] = [];
  await machine.writeSnapshot((c) => {
    chunks.push(Uint8Array.from(c));
  }, formatVersion);
  const target = new KvStateMachine();
  await target.restore(
    (async function* () {
      yield* chunks;
    })(),
  );
  return target;
}

function events(records: readonly ChangeRecord[]): string[] {
  return records.map((r) => `${r.revision}:${r.events.map((e) => (e.type === 'put' ? `put ${e.key}=${str(e.value)}${e.lease === undefined ? '' : `@${e.lease}`}` : `del ${e.key}`)).join(',')}`);
}

function historyOf(m: KvStateMachine): string[] {
  const h = m.history;
  const out: ChangeRecord[] = [];
  for (let p = h.seek(h.oldestRevision); ; p++) {
    const r = h.at(p);
    if (r === undefined) break;
    out.push(r);
  }
  return events(out);
}

describe('revisions and the change history', () => {
  test('each entry that changes keys is one record at its index; entries that change nothing are none', () => {
    const f = new Feeder();
    f.apply(put('a', '1'));
    f.apply({ kind: 'delete', key: 'missing' });
    f.apply({ kind: 'cas', key: 'a', expected: text('wrong'), value: text('x') });
    f.apply({ kind: 'cas', key: 'a', expected: text('1'), value: text('2') });
    f.machine.markApplied(index(5));
    f.apply({ kind: 'delete', key: 'a' });
    assert.deepEqual(historyOf(f.machine), ['1:put a=1', '4:put a=2', '6:del a']);
    assert.equal(f.machine.history.oldestRevision, 1);
  });

  test('replicas applying the same entries hold the same history, trimmed at the same revision', () => {
    const a = new Feeder();
    const b = new Feeder();
    const n = WATCH_HISTORY_REVISIONS_MAX + 500;
    for (let i = 0; i < n; i++) {
      const c = put(`k${i % 100}`, `v${i}`);
      a.apply(c);
      b.apply(c);
    }
    assert.equal(a.machine.history.revisionCount, WATCH_HISTORY_REVISIONS_MAX);
    assert.equal(a.machine.history.compactedThrough, 500);
    assert.equal(b.machine.history.compactedThrough, 500);
    assert.deepEqual(historyOf(a.machine).slice(-3), historyOf(b.machine).slice(-3));
    assert.throws(() => a.machine.history.seek(500), (e: unknown) => e instanceof KvError === false && (e as { code?: string }).code === 'compacted');
  });

  test('a snapshot carries the history: the restored replica continues with the same one', async () => {
    const f = new Feeder();
    const lease = f.grant();
    f.apply(put('a', '1', lease));
    f.apply(put('b', '2'));
    f.apply({ kind: 'lease-revoke', lease });
    const restored = await roundTrip(f.machine);
    assert.deepEqual(historyOf(restored), historyOf(f.machine));
    assert.deepEqual(historyOf(restored), [`2:put a=1@${lease}`, '3:put b=2', '4:del a']);
    assert.equal(restored.history.oldestRevision, 1);
    const r = new Feeder(restored);
    r.apply(put('c', '3'));
    f.apply(put('c', '3'));
    assert.deepEqual(historyOf(restored), historyOf(f.machine));
  });

  test('a version 3 snapshot (no leases, no history) restores with a history that starts after its index', async () => {
    const f = new Feeder();
    f.apply(put('a', '1'));
    f.apply(put('b', '2'));
    const restored = await roundTrip(f.machine, 3);
    assert.equal(restored.digest(), f.machine.digest());
    assert.equal(restored.history.revisionCount, 0);
    assert.equal(restored.history.oldestRevision, 3);
    assert.throws(() => restored.history.seek(2), /compacted: the change history starts at revision 3/);
  });

  test('observers see every record, lease and restore, in order, as entries apply', async () => {
    const f = new Feeder();
    const seen: string[] = [];
    const observer: KvObserver = {
      changed: (r) => seen.push(...events([r])),
      leaseGranted: (id, ttl) => seen.push(`grant ${id} ${ttl}`),
      leaseEnded: (id) => seen.push(`end ${id}`),
      restored: () => seen.push('restored'),
    };
    const stop = f.machine.observe(observer);
    const lease = f.grant(2_000);
    f.apply(put('x', '1', lease));
    f.apply({ kind: 'lease-expire', lease });
    await f.machine.restore(
      (async function* () {
        const chunks: Uint8Array[] = [];
        await new KvStateMachine().writeSnapshot((c) => {
          chunks.push(Uint8Array.from(c));
        });
        yield* chunks;
      })(),
    );
    stop();
    f.apply(put('y', '1'));
    assert.deepEqual(seen, [`grant 1 2000`, '2:put x=1@1', '3:del x', 'end 1', 'restored']);
  });
});

describe('leases', () => {
  test('a grant creates lease <index>; keys attach with put and cas, detach with a put without lease', () => {
    const f = new Feeder();
    f.apply(put('before', 'x'));
    const lease = f.grant(3_000);
    assert.equal(lease, 2);
    assert.deepEqual(f.machine.lease(lease), { id: lease, ttlMs: 3_000, keyCount: 0 });
    f.apply(put('a', '1', lease));
    assert.deepEqual(f.apply({ kind: 'cas', key: 'lock', expected: undefined, value: text('me'), lease }), { kind: 'cas', ok: true, revision: 4 });
    assert.equal(f.machine.get('a')?.lease, lease);
    assert.equal(f.machine.get('lock')?.lease, lease);
    assert.equal(f.machine.lease(lease)?.keyCount, 2);
    f.apply(put('a', '2'));
    assert.equal(f.machine.get('a')?.lease, undefined);
    assert.equal(f.machine.lease(lease)?.keyCount, 1);
    assert.deepEqual(
      f.machine.list('', 10).entries.map((e) => [e.key, e.lease]),
      [
        ['a', undefined],
        ['before', undefined],
        ['lock', lease],
      ],
    );
  });

  test('revoke and expire delete the lease\'s keys, in key order, at one revision; a second time they do nothing', () => {
    const f = new Feeder();
    const l1 = f.grant();
    const l2 = f.grant();
    for (const k of ['z', 'm', 'a']) f.apply(put(k, k, l1));
    f.apply(put('other', 'o', l2));
    assert.deepEqual(f.apply({ kind: 'lease-revoke', lease: l1 }), { kind: 'lease-revoke', revoked: true, keysDeleted: 3, revision: 7 });
    assert.deepEqual(historyOf(f.machine).at(-1), '7:del a,del m,del z');
    assert.equal(f.machine.keyCount, 1);
    assert.equal(f.machine.lease(l1), undefined);
    assert.deepEqual(f.apply({ kind: 'lease-revoke', lease: l1 }), { kind: 'lease-revoke', revoked: false, keysDeleted: 0, revision: 8 });
    assert.deepEqual(f.apply({ kind: 'lease-expire', lease: l2 }), { kind: 'lease-revoke', revoked: true, keysDeleted: 1, revision: 9 });
    assert.equal(f.machine.keyCount, 0);
    assert.equal(f.machine.leaseCount, 0);
  });

  test('a put naming a missing lease is refused, changes nothing, and is decided again on retry', () => {
    const f = new Feeder();
    const id = { clientId: 'c', seq: 1 };
    const r = f.apply(put('a', '1', 42, id));
    assert.ok(r.kind === 'rejected' && r.code === 'lease-not-found', JSON.stringify(r));
    assert.match(r.message, /lease 42 does not exist/);
    assert.equal(f.machine.get('a'), undefined);
    assert.equal(f.machine.sessionCount, 0);
    assert.equal(f.machine.history.revisionCount, 0);
    const cas = f.apply({ kind: 'cas', key: 'a', expected: undefined, value: text('x'), lease: leaseId(42) });
    assert.equal(cas.kind, 'rejected');
  });

  test('grants beyond LEASES_MAX are refused until a lease ends', () => {
    const f = new Feeder();
    let first: LeaseId | undefined;
    for (let i = 0; i < LEASES_MAX; i++) {
      const id = f.grant();
      first ??= id;
    }
    const refused = f.apply({ kind: 'lease-grant', ttlMs: 5_000 });
    assert.ok(refused.kind === 'rejected' && refused.code === 'too-many-leases');
    assert.ok(first !== undefined);
    f.apply({ kind: 'lease-revoke', lease: first });
    assert.equal(f.apply({ kind: 'lease-grant', ttlMs: 5_000 }).kind, 'lease-grant');
  });

  test('leases are part of the digest and of snapshots; a state without leases keeps its earlier digest', async () => {
    const plain = new Feeder();
    plain.apply(put('a', '1'));
    plain.apply(put('b', '2', undefined, { clientId: 'c', seq: 1 }));
    plain.machine.markApplied(index(3));
    // The digest builds before leases computed for this very state.
    assert.equal(plain.machine.digest(), 'eebcc23f33563c8b60d4054659346d2ee494a02851402b90f30a05db45d2e926');

    const build = (ttl: number, attach: boolean): KvStateMachine => {
      const f = new Feeder();
      const l = f.grant(ttl);
      f.apply(put('k', 'v', attach ? l : undefined));
      return f.machine;
    };
    const reference = build(5_000, true).digest();
    assert.equal(build(5_000, true).digest(), reference);
    assert.notEqual(build(6_000, true).digest(), reference);
    assert.notEqual(build(5_000, false).digest(), reference);

    const f = new Feeder();
    const l1 = f.grant(1_000);
    const l2 = f.grant(86_400_000);
    f.apply(put('x', '1', l1));
    f.apply(put('y', '2', l2));
    f.apply(put('z', '3'));
    const restored = await roundTrip(f.machine);
    assert.equal(restored.digest(), f.machine.digest());
    assert.deepEqual(restored.leaseList(), f.machine.leaseList());
    assert.equal(restored.get('y')?.lease, l2);
    // The restored replica's leases behave like the original's.
    const r = new Feeder(restored);
    assert.deepEqual(r.apply({ kind: 'lease-expire', lease: l1 }), f.apply({ kind: 'lease-expire', lease: l1 }));
    assert.equal(restored.digest(), f.machine.digest());
    assert.equal(restored.get('x'), undefined);
  });

  test('a snapshot whose key names a missing lease, or whose leases break the rules, is refused', async () => {
    const write = async (leases: [number, number][], keyLease: number): Promise<Uint8Array[]> => {
      const chunks: Uint8Array[] = [];
      await writeSnapshotStream(
        {
          appliedIndex: index(10),
          keys: ['k'],
          values: [{ value: text('v'), revision: index(5) }],
          keyLeases: [keyLease === 0 ? undefined : leaseId(keyLease)],
          sessions: [],
          leases: leases.map(([id, ttl]) => [leaseId(id), ttl]),
        },
        (c) => {
          chunks.push(Uint8Array.from(c));
        },
      );
      return chunks;
    };
    const restore = async (chunks: Uint8Array[]): Promise<void> =>
      new KvStateMachine().restore(
        (async function* () {
          yield* chunks;
        })(),
      );
    await restore(await write([[3, 1_000]], 3));
    const corrupt = (re: RegExp) => (e: unknown) => e instanceof KvError && e.code === 'corrupt-snapshot' && re.test(e.message);
    await assert.rejects(restore(await write([[3, 1_000]], 4)), corrupt(/attached to lease 4, which does not exist/));
    // Two lease records swapped (header 53 bytes, one key record of 24, then 16 bytes per lease).
    const ordered = Buffer.concat(await write([[2, 1_000], [3, 1_000]], 0));
    const swapped = Buffer.concat([ordered.subarray(0, 77), ordered.subarray(93, 109), ordered.subarray(77, 93), ordered.subarray(109)]);
    await assert.rejects(restore([swapped]), corrupt(/lease id 2 not in ascending order/));
    await assert.rejects(restore(await write([[3, 10]], 0)), corrupt(/ttl 10 outside/));
  });
});
