// The real storage (data dir, WAL, snapshot store, recovery) on the simulated disk: crashes at
// any step (of a workload, of segment preallocation, of the repair of a torn tail) keep every
// acknowledged record and never yield a half record, torn tails are repaired and never refused,
// a flipped bit in any synced record is refused, and snapshots survive exactly when their
// protocol says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { posix } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { index, nodeId, term } from '../../src/raft/types.js';
import type { Entry, HardState, SnapshotMeta } from '../../src/raft/types.js';
import { SnapshotCorruptionError, WalCorruptionError } from '../../src/storage/errors.js';
import { WAL_SECTOR_BYTES } from '../../src/storage/constants.js';
import { SnapshotStore } from '../../src/storage/snapshot-store.js';
import { openStorage, SNAPSHOT_DIR, WAL_DIR } from '../../src/storage/storage.js';
import type { Storage } from '../../src/storage/storage.js';
import type { BootState } from '../../src/storage/wal-log.js';
import { PREPARED_SEGMENT_FILE } from '../../src/storage/wal-prealloc.js';
import { scanSegment } from '../../src/storage/wal-segment.js';
import { Prng } from './prng.js';
import { SimFs } from './sim-fs.js';
import type { SimFileInfo } from './sim-fs.js';
import { runSteps, runUntil, StepClock } from './sim-fs-harness.js';

const DIR = '/var/lib/kuberaft/n1';
const SEGMENT_BYTES = 600;

/** The sizes a workload writes: small records in small segments, or records of several sectors each. */
interface Shape {
  readonly segmentBytes: number;
  readonly entry: (i: number, t: number) => Entry;
}
const n1 = nodeId('n1');
const entry = (i: number, t: number): Entry => ({ index: index(i), term: term(t), kind: 'normal', data: new TextEncoder().encode(`put k${i}=${'v'.repeat(i % 23)}`) });
const SMALL: Shape = { segmentBytes: SEGMENT_BYTES, entry };
const LARGE: Shape = {
  segmentBytes: 32 * 1024,
  entry: (i, t) => ({ index: index(i), term: term(t), kind: 'normal', data: new TextEncoder().encode(`put k${i}=${'v'.repeat(300 + ((i * 389) % 1500))}`) }),
};
const hs = (t: number, commit: number): HardState => ({ term: term(t), vote: n1, commit: index(commit) });
const meta = (i: number, t: number): SnapshotMeta => ({ index: index(i), term: term(t), membership: { members: [{ id: n1, address: '127.0.0.1:7001', role: 'voter' }] } });
const stateBytes = (i: number): Buffer => Buffer.from(`state at ${i};`.repeat(300));

interface Machine {
  readonly shape: Shape;
  readonly clock: StepClock;
  readonly fs: SimFs;
  /** The disk's source of decisions: drawing from it changes what the next crash keeps. */
  readonly prng: Prng;
  open(): Promise<Storage>;
}

/** A machine whose data dir's parent exists and is durable, as the OS or the volume provides it. */
async function machine(seed: number, shape: Shape = SMALL): Promise<Machine> {
  const clock = new StepClock();
  const prng = new Prng(seed);
  const fs = new SimFs({ prng, schedule: clock.schedule });
  await runUntil(clock, fs.mkdirp(posix.dirname(DIR)));
  for (let d = posix.dirname(DIR); d !== '/'; d = posix.dirname(d)) await runUntil(clock, fs.fsyncDir(posix.dirname(d)));
  return { shape, clock, fs, prng, open: () => runUntil(clock, openStorage(DIR, { fs, nodeId: n1, clusterId: 'c1', segmentSizeMaxBytes: shape.segmentBytes })) };
}

/** One append call: its entries and hard state, and whether its promise resolved. */
interface Call {
  readonly entries: Entry[];
  readonly hardState: HardState;
  acked: boolean;
}

/** Appends in waves of concurrent calls (group commit), with a new leader replacing a suffix halfway. */
async function workload(storage: Storage, calls: Call[], makeEntry = entry): Promise<void> {
  let next = 1;
  for (let wave = 0; wave < 10; wave++) {
    const t = wave < 5 ? 1 : 2;
    if (wave === 5) next -= 3;
    const inFlight: Promise<void>[] = [];
    for (let k = 0; k < 3; k++) {
      const call: Call = { entries: Array.from({ length: 1 + ((wave + k) % 3) }, () => makeEntry(next++, t)), hardState: hs(t, Math.max(0, next - 6)), acked: false };
      calls.push(call);
      inFlight.push(
        storage.append(call.entries, call.hardState).then(() => {
          call.acked = true;
        }),
      );
    }
    await Promise.all(inFlight);
  }
}

/** The records of the calls, in the order the WAL writes them: each call's entries, then its hard state. */
type Written = { readonly entry: Entry } | { readonly hardState: HardState };
const recordsOf = (calls: readonly Call[]): Written[] => calls.flatMap((c): Written[] => [...c.entries.map((e) => ({ entry: e })), { hardState: c.hardState }]);

/** The boot state after the first `count` records, computed without the WAL's own replay. */
function stateAfter(records: readonly Written[], count: number): BootState {
  let entries: Entry[] = [];
  let hardState: HardState = { term: term(0), vote: undefined, commit: index(0) };
  for (const r of records.slice(0, count)) {
    if ('hardState' in r) hardState = r.hardState;
    else entries = [...entries.filter((e) => e.index < r.entry.index), r.entry];
  }
  return { hardState, snapshot: undefined, entries };
}

test('a fresh data directory survives a crash once its first append is acknowledged', async () => {
  const m = await machine(1);
  const storage = await m.open();
  await runUntil(m.clock, storage.append([entry(1, 1)], hs(1, 0)));
  m.fs.crash({ unsynced: 'lost' });
  const reopened = await m.open();
  assert.deepEqual(reopened.boot.entries, [entry(1, 1)], 'the acknowledged entry is lost: a directory on its path was never fsynced');
  await runUntil(m.clock, reopened.close());
});

/** A machine whose workload a power loss interrupted at a seeded step, with what had been acknowledged by then. */
interface Crashed {
  readonly m: Machine;
  readonly records: Written[];
  /** How many of `records` were acknowledged: recovery must keep at least these. */
  readonly required: number;
  /** Whether the next segment was being preallocated when the power went. */
  readonly preparing: boolean;
}

/** Steps of the whole workload per shape and seed (a seed replays exactly). */
const workloadSteps = new Map<string, number>();

async function crashDuringWorkload(seed: number, shape: Shape = SMALL): Promise<Crashed> {
  // A first run counts the workload's steps; the second crashes at one of them.
  const key = `${shape.segmentBytes}:${seed}`;
  let stepsTotal = workloadSteps.get(key);
  if (stepsTotal === undefined) {
    const trial = await machine(seed, shape);
    const trialStorage = await trial.open();
    const stepsBefore = trial.clock.stepsRun;
    await runUntil(trial.clock, workload(trialStorage, [], shape.entry));
    stepsTotal = trial.clock.stepsRun - stepsBefore;
    workloadSteps.set(key, stepsTotal);
  }
  const m = await machine(seed, shape);
  const storage = await m.open();
  const calls: Call[] = [];
  const done = workload(storage, calls, shape.entry);
  done.catch(() => undefined);
  await runSteps(m.clock, new Prng(seed).between(1, stepsTotal - 1));
  const preparing = m.fs.listFiles().some((f) => f.path === `${DIR}/${WAL_DIR}/${PREPARED_SEGMENT_FILE}`);
  m.fs.crash();
  const acked = calls.filter((c) => c.acked).length;
  assert.ok(calls.slice(0, acked).every((c) => c.acked), 'calls are acknowledged in order');
  return { m, records: recordsOf(calls), required: recordsOf(calls.slice(0, acked)).length, preparing };
}

/** Opens the crashed machine's storage and checks its boot state is a prefix of the records that holds every acknowledged one. */
async function recoverAndCheck(c: Crashed, what: string): Promise<{ storage: Storage; notes: string[]; keptUnacked: boolean }> {
  const notes: string[] = [];
  const storage = await runUntil(c.m.clock, openStorage(DIR, { fs: c.m.fs, nodeId: n1, segmentSizeMaxBytes: c.m.shape.segmentBytes, onNote: (n) => notes.push(n) }));
  // A crash may cut a group-committed batch anywhere between records: the boot state must be the
  // meaning of a prefix of the records, one that holds every acknowledged call.
  const kept = [...Array(c.records.length + 1).keys()].filter((count) => count >= c.required && isDeepStrictEqual(stateAfter(c.records, count), storage.boot));
  assert.ok(kept.length > 0, `${what}: recovered ${storage.boot.entries.length} entries, which is not the state after the acknowledged calls or more`);
  assert.ok(notes.every((n) => n.includes('torn tail')), `${what}: unexpected notes ${notes.join('; ')}`);
  return { storage, notes, keptUnacked: (kept[0] as number) > c.required };
}

test('a crash at any step keeps every acknowledged append and never a half record, never refuses a torn tail; the log then goes on', async () => {
  let tornTails = 0;
  let unackedKept = 0;
  let unackedLost = 0;
  let whilePreparing = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const crashed = await crashDuringWorkload(seed);
    if (crashed.preparing) whilePreparing++;
    const { storage: reopened, notes, keptUnacked } = await recoverAndCheck(crashed, `seed ${seed}`);
    if (keptUnacked) unackedKept++;
    else if (crashed.records.length > crashed.required) unackedLost++;
    if (notes.length > 0) tornTails++;

    // The repaired log takes appends and reopens without notes.
    const { m } = crashed;
    const last = reopened.lastIndex;
    await runUntil(m.clock, reopened.append([entry(last + 1, 3)], hs(3, last)));
    await runUntil(m.clock, reopened.close());
    const again = await m.open();
    assert.deepEqual(again.notes, []);
    assert.deepEqual(again.boot.entries.at(-1), entry(last + 1, 3));
    await runUntil(m.clock, again.close());
  }
  assert.ok(
    tornTails > 0 && unackedKept > 0 && unackedLost > 0 && whilePreparing > 0,
    `crashes should tear tails (${tornTails}), keep (${unackedKept}) and lose (${unackedLost}) unacknowledged appends, and come while a segment is preallocated (${whilePreparing})`,
  );
});

/** Crash outcomes tried at each step of a repair that has zeros written but not yet fsynced. */
const REPAIR_CRASH_VARIANTS = 6;

test('a power loss at any step of the repair of a torn tail leaves a disk that is repaired again and keeps every acknowledged append', async () => {
  let halfWrittenRepairs = 0;
  for (let seed = 1, tornSeeds = 0; tornSeeds < 3; seed++) {
    assert.ok(seed < 200, 'the workload crashes should tear tails');
    const probe = await crashDuringWorkload(seed, LARGE);
    const { storage, notes } = await recoverAndCheck(probe, `seed ${seed}`);
    await runUntil(probe.m.clock, storage.close());
    // Repairs of a record torn after a few bytes cannot go wrong in an interesting way: wait for a long one.
    if (!notes.some((n) => Number(/zeroed (\d+) bytes/.exec(n)?.[1]) > WAL_SECTOR_BYTES)) continue;
    tornSeeds++;
    for (let steps = 0, finished = false; !finished; steps++) {
      for (let variant = 0; variant < REPAIR_CRASH_VARIANTS; variant++) {
        const crashed = await crashDuringWorkload(seed, LARGE);
        const repair = openStorage(DIR, { fs: crashed.m.fs, nodeId: n1, segmentSizeMaxBytes: LARGE.segmentBytes });
        repair.catch(() => undefined);
        const ran = await runSteps(crashed.m.clock, steps);
        finished = ran < steps; // the repair had finished: every step of it was covered
        // Only a crash between the repair's writes and their fsync has outcomes to vary.
        const halfWritten = crashed.m.fs.listFiles().some((f) => f.path.endsWith('.seg') && f.unsyncedSectors > 0);
        if (variant > 0 && !halfWritten) break;
        if (halfWritten && variant === 0) halfWrittenRepairs++;
        for (let k = 0; k < variant; k++) crashed.m.prng.nextU32();
        crashed.m.fs.crash();
        const { storage: recovered } = await recoverAndCheck(crashed, `seed ${seed}, repair cut after ${steps} steps (crash variant ${variant})`);
        await runUntil(crashed.m.clock, recovered.close());
      }
    }
  }
  assert.ok(halfWrittenRepairs >= 3, `only ${halfWrittenRepairs} repairs were cut between their writes and fsyncs`);
});

test('a process that dies at any step of its first start, followed by power loss, loses no acknowledged append', async () => {
  for (let steps = 0; ; steps++) {
    const m = await machine(7);
    const first = openStorage(DIR, { fs: m.fs, nodeId: n1, clusterId: 'c1', segmentSizeMaxBytes: SEGMENT_BYTES });
    first.catch(() => undefined);
    const ran = await runSteps(m.clock, steps);
    m.fs.restartProcess();
    const storage = await m.open();
    await runUntil(m.clock, storage.append([entry(1, 1), entry(2, 1)], hs(1, 1)));
    m.fs.crash({ unsynced: 'lost' });
    const reopened = await m.open();
    assert.deepEqual(reopened.boot.entries, [entry(1, 1), entry(2, 1)], `a restart after ${steps} steps of the first start`);
    await runUntil(m.clock, reopened.close());
    if (ran < steps) break; // the first start had finished: every step was covered
  }
});

test('a bit flipped in any synced record, the last one included, is refused with its file and offset', async () => {
  const lastRecords = { hit: 0 };
  for (let seed = 1; seed <= 40; seed++) {
    const m = await machine(seed);
    const storage = await m.open();
    for (let i = 1; i <= 12; i++) await runUntil(m.clock, storage.append([entry(i, 1)], hs(1, i - 1)));
    await runUntil(m.clock, storage.close());
    const segments = m.fs.listFiles().filter((f) => f.path.startsWith(`${DIR}/${WAL_DIR}/`) && f.path.endsWith('.seg'));
    assert.ok(segments.length >= 3, 'the workload spans several segments');
    // Half the seeds flip a bit in the last segment, where a torn write could be: it must still be refused.
    const segment = seed % 2 === 0 ? (segments.at(-1) as SimFileInfo) : (segments[seed % segments.length] as SimFileInfo);
    const starts = recordStarts(segment.path, m.fs.fileBytes(segment.path) as Buffer);
    const validEnd = starts.validBytes;
    const flip = m.fs.flipBitInDurableData({ path: segment.path, rangeBytes: [0, validEnd] });
    const damaged = starts.offsets.filter((s) => s <= flip.offsetBytes).at(-1);
    if (damaged === starts.offsets.at(-1) && segment === segments.at(-1)) lastRecords.hit++;
    await assert.rejects(m.open(), (e: unknown) => {
      assert.ok(e instanceof WalCorruptionError, `seed ${seed}: ${String(e)}`);
      assert.equal(e.file, segment.path);
      assert.equal(e.offsetBytes, damaged);
      return true;
    });
  }
  assert.ok(lastRecords.hit > 0, 'some flips hit the last record of the last segment');
});

test('a bit flipped in a snapshot body is refused on open', async () => {
  const m = await machine(3);
  const storage = await m.open();
  await runUntil(m.clock, storage.append([entry(1, 1), entry(2, 1), entry(3, 1)], hs(1, 3)));
  await runUntil(m.clock, takeSnapshot(storage, meta(3, 1)));
  await runUntil(m.clock, storage.compact(index(3)));
  await runUntil(m.clock, storage.close());
  const snap = m.fs.listFiles().find((f) => f.path.endsWith('.snap'));
  assert.ok(snap !== undefined);
  m.fs.flipBitInDurableData({ path: snap.path, rangeBytes: [snap.sizeBytes - stateBytes(3).length, snap.sizeBytes] });
  await assert.rejects(m.open(), (e: unknown) => e instanceof SnapshotCorruptionError && e.file === snap.path);
});

test('a snapshot survives a crash exactly once its commit has resolved, and is never present but damaged', async () => {
  let presentBeforeCommit = 0;
  for (let steps = 0; ; steps++) {
    const m = await machine(11);
    const storage = await m.open();
    await runUntil(m.clock, storage.append([entry(1, 1), entry(2, 1)], hs(1, 2)));
    let committed = false;
    const writing = takeSnapshot(storage, meta(2, 1)).then(() => (committed = true));
    writing.catch(() => undefined);
    const ran = await runSteps(m.clock, steps);
    m.fs.crash();
    const { store, notes } = await runUntil(m.clock, SnapshotStore.open(`${DIR}/${SNAPSHOT_DIR}`, m.fs));
    const listed = await runUntil(m.clock, store.list());
    if (committed) assert.equal(listed.length, 1, `committed after ${steps} steps, but gone after the crash`);
    if (listed.length > 0) {
      const reader = await runUntil(m.clock, store.open(2, 1));
      assert.equal(reader?.sizeBytes, stateBytes(2).length, 'a snapshot under its final name verifies');
      if (!committed) presentBeforeCommit++;
    }
    assert.ok(notes.every((n) => n.includes('.tmp')));
    assert.deepEqual(
      m.fs.listFiles().filter((f) => f.path.endsWith('.tmp')),
      [],
      'leftover temp files are deleted on open',
    );
    if (ran < steps) break;
  }
  assert.ok(presentBeforeCommit > 0, 'a rename made durable just before commit() resolved still counts');
});

test('after compaction, a crash boots from the snapshot and the entries after it', async () => {
  for (let seed = 1; seed <= 5; seed++) {
    const m = await machine(seed);
    const storage = await m.open();
    for (let i = 1; i <= 40; i += 4) await runUntil(m.clock, storage.append([entry(i, 1), entry(i + 1, 1), entry(i + 2, 1), entry(i + 3, 1)], hs(1, i + 3)));
    await runUntil(m.clock, takeSnapshot(storage, meta(30, 1)));
    await runUntil(m.clock, storage.compact(index(30)));
    m.fs.crash();
    const reopened = await m.open();
    assert.deepEqual(reopened.boot.snapshot, meta(30, 1));
    assert.deepEqual(
      reopened.boot.entries.map((e) => e.index),
      Array.from({ length: 10 }, (_, k) => 31 + k),
    );
    await runUntil(m.clock, reopened.close());
  }
});

async function takeSnapshot(storage: Storage, m: SnapshotMeta): Promise<void> {
  const writer = await storage.snapshots.create(m);
  const body = stateBytes(m.index);
  for (let at = 0; at < body.length; at += 1000) await writer.write(body.subarray(at, at + 1000));
  await writer.commit();
}

/** Byte offsets where the segment's records start, and where they end. */
function recordStarts(path: string, file: Buffer): { offsets: number[]; validBytes: number } {
  const seq = parseInt(posix.basename(path).slice(0, 16), 16);
  const scan = scanSegment(file, seq, undefined);
  assert.equal(scan.end.kind, 'clean');
  return { offsets: scan.records.map((r) => r.offsetBytes), validBytes: scan.validBytes };
}
