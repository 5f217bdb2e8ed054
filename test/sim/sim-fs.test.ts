// The simulated disk's own rules: what is durable when, what a crash keeps, that it replays from
// its seed, and that it reports what tests and the simulator assert on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataDirLockedError } from '../../src/storage/errors.js';
import { isErrnoCode } from '../../src/storage/fs.js';
import { Prng } from './prng.js';
import { SIM_SECTOR_BYTES, SimFs } from './sim-fs.js';
import type { SimCrashOptions } from './sim-fs.js';
import { runSteps, runUntil, StepClock } from './sim-fs-harness.js';

const bytes = (length: number, fill: number): Buffer => Buffer.alloc(length, fill);
const errno = (code: string) => (e: unknown) => isErrnoCode(e, code);

/** A file written and synced, plus its directory entry made durable. */
async function durableFile(fs: SimFs, path: string, data: Uint8Array): Promise<void> {
  const fh = await fs.open(path, 'w');
  await fh.write(data, 0);
  await fh.datasync();
  await fh.close();
  await fs.fsyncDir(path.slice(0, path.lastIndexOf('/')) || '/');
}

test('files and directories behave like a POSIX file system', async () => {
  const fs = new SimFs({ prng: new Prng(1) });
  assert.equal(await fs.mkdirp('/a/b/c'), '/a');
  assert.equal(await fs.mkdirp('/a/b'), undefined);
  const fh = await fs.open('/a/b/f', 'w');
  await fh.write(Buffer.from('hello world'), 0);
  await fh.write(Buffer.from('J'), 6);
  await fh.write(Buffer.from('!'), 14); // leaves a hole of zeros
  assert.deepEqual(await fs.readFile('/a/b/f'), Buffer.from('hello Jorld\0\0\0!'));
  const buf = Buffer.alloc(5);
  assert.equal(await fh.read(buf, 0, 5, 12), 3);
  assert.deepEqual(buf.subarray(0, 3), Buffer.from('\0\0!'));
  await fh.truncate(5);
  assert.equal((await fh.stat()).sizeBytes, 5);
  await fh.close();
  await assert.rejects(fh.datasync(), errno('EBADF'));

  const app = await fs.open('/a/b/log', 'ax');
  await app.append(Buffer.from('one '));
  await app.append(Buffer.from('two'));
  await app.close();
  assert.equal((await fs.readFile('/a/b/log')).toString(), 'one two');
  await assert.rejects(fs.open('/a/b/log', 'ax'), errno('EEXIST'));
  await assert.rejects(fs.open('/a/b/none', 'r'), errno('ENOENT'));
  await assert.rejects(fs.open('/nowhere/x', 'w'), errno('ENOENT'));
  await assert.rejects(fs.readFile('/a/b'), errno('EISDIR'));
  await assert.rejects(fs.unlink('/a/b/none'), errno('ENOENT'));

  const before = await fs.stat('/a/b/log');
  await fs.rename('/a/b/log', '/a/b/f');
  assert.deepEqual((await fs.readdir('/a/b')).sort(), ['c', 'f']);
  assert.equal((await fs.stat('/a/b/f')).identity, before.identity, 'a rename keeps the file');
  const reopened = await fs.open('/a/b/f', 'r+');
  await reopened.write(Buffer.from('O'), 0);
  assert.notEqual((await reopened.stat()).identity, before.identity, 'a write changes the identity');
  await reopened.close();
  await fs.unlink('/a/b/f');
  assert.deepEqual(await fs.readdir('/a/b'), ['c']);
  assert.equal(await fs.realpath('a/./b/../b'), '/a/b');
  await assert.rejects(fs.realpath('/a/x'), errno('ENOENT'));
});

test('synced data and fsynced entries survive a crash; nothing else does when unsynced state is lost', async () => {
  const fs = new SimFs({ prng: new Prng(2) });
  const lost: SimCrashOptions = { unsynced: 'lost' };
  await fs.mkdirp('/d');
  await fs.mkdirp('/e');
  await fs.fsyncDir('/');
  await durableFile(fs, '/d/kept', bytes(1000, 1));

  // Data synced but its entry never fsynced: gone.
  const orphan = await fs.open('/e/orphan', 'w');
  await orphan.write(bytes(10, 2), 0);
  await orphan.datasync();
  // Entry fsynced but data never synced: an empty file.
  const empty = await fs.open('/d/empty', 'w');
  await empty.write(bytes(10, 3), 0);
  await fs.fsyncDir('/d');
  // Unsynced writes to a durable file: lost.
  const kept = await fs.open('/d/kept', 'r+');
  await kept.write(bytes(600, 9), 800);
  // A rename that was not followed by fsyncDir: undone.
  await fs.rename('/d/empty', '/d/renamed');
  assert.deepEqual(
    fs.listFiles().map((f) => [f.path, f.entryDurable]),
    [
      ['/d/kept', true],
      ['/d/renamed', false],
      ['/e/orphan', false],
    ],
  );

  fs.crash(lost);
  assert.deepEqual(fs.listFiles().map((f) => [f.path, f.sizeBytes]), [
    ['/d/empty', 0],
    ['/d/kept', 1000],
  ]);
  assert.deepEqual(fs.fileBytes('/d/kept'), bytes(1000, 1));
  await assert.rejects(kept.read(Buffer.alloc(1), 0, 1, 0), errno('EBADF'), 'handles die with the crash');
  assert.equal(fs.counters.crashes, 1);
});

test('a crash keeps a seeded prefix of the unsynced sectors, the last one possibly torn', async () => {
  const old = bytes(SIM_SECTOR_BYTES + 100, 0x11);
  const appended = bytes(4 * SIM_SECTOR_BYTES, 0x22);
  const outcomes = new Set<string>();
  for (let seed = 1; seed <= 60; seed++) {
    const fs = new SimFs({ prng: new Prng(seed) });
    await durableFile(fs, '/f', old);
    const fh = await fs.open('/f', 'a');
    await fh.append(appended);
    fs.crash();
    const after = fs.fileBytes('/f');
    assert.ok(after !== undefined);
    const full = Buffer.concat([old, appended]);
    assert.deepEqual(after.subarray(0, old.length), old, 'synced data is never lost');
    // New bytes form a prefix; everything after them up to the end of the file is zeros.
    let newBytes = 0;
    while (old.length + newBytes < after.length && after[old.length + newBytes] === 0x22) newBytes++;
    assert.ok(after.subarray(old.length + newBytes).every((b) => b === 0), `seed ${seed}: only zeros follow the kept bytes`);
    assert.ok(after.length === full.length || after.length === old.length || after.length % SIM_SECTOR_BYTES === 0, `seed ${seed}: the file ends at a sector boundary, unless nothing or all was kept`);
    const torn = (old.length + newBytes) % SIM_SECTOR_BYTES !== 0 && old.length + newBytes < after.length;
    outcomes.add(newBytes === 0 ? 'none' : newBytes === appended.length ? 'all' : torn ? 'torn' : 'sector-prefix');
    // The crash result is the new durable state.
    assert.equal(fs.listFiles()[0]?.unsyncedSectors, 0);
  }
  assert.deepEqual([...outcomes].sort(), ['all', 'none', 'sector-prefix', 'torn']);
});

test('directory changes not fsynced survive a crash as a seeded prefix of the changes, in order', async () => {
  const seen = new Set<string>();
  for (let seed = 1; seed <= 40; seed++) {
    const fs = new SimFs({ prng: new Prng(seed) });
    for (const name of ['a', 'b', 'c', 'd']) await (await fs.open(`/${name}`, 'w')).close();
    fs.crash();
    const names = fs.listFiles().map((f) => f.path).join(',');
    assert.ok(['', '/a', '/a,/b', '/a,/b,/c', '/a,/b,/c,/d'].includes(names), `seed ${seed}: ${names} is not a prefix`);
    seen.add(names);
  }
  assert.equal(seen.size, 5, 'every prefix occurs');
});

test('a seed replays every decision; operations complete after their latency, through the scheduler', async () => {
  const run = async (seed: number): Promise<string> => {
    const clock = new StepClock();
    const fs = new SimFs({ prng: new Prng(seed), schedule: clock.schedule });
    const trace: string[] = [];
    const work = (async () => {
      await fs.mkdirp('/w');
      const fh = await fs.open('/w/x', 'w');
      // Concurrent writes complete in a seeded order.
      await Promise.all([0, 1, 2, 3].map((k) => fh.write(bytes(300, k + 1), k * 300).then(() => trace.push(`w${k}@${clock.nowMs}`))));
      await fh.datasync();
      trace.push(`sync@${clock.nowMs}`);
      await fh.append(bytes(700, 9));
    })();
    await runUntil(clock, work);
    fs.crash();
    trace.push(fs.fileBytes('/w/x')?.toString('hex') ?? 'gone', JSON.stringify(fs.counters), (await runUntil(clock, fs.readdir('/'))).join());
    return trace.join(' ');
  };
  assert.equal(await run(7), await run(7));
  assert.notEqual(await run(7), await run(8));

  const clock = new StepClock();
  const fs = new SimFs({ prng: new Prng(3), schedule: clock.schedule, opLatencyMs: { min: 5, max: 5 }, syncLatencyMs: { min: 20, max: 20 } });
  let done = false;
  void fs.mkdirp('/x').then(() => (done = true));
  assert.equal(await runSteps(clock, 0), 0);
  assert.equal(done, false, 'nothing completes before the scheduler runs it');
  await runSteps(clock, 1);
  assert.equal(done, true);
  assert.equal(clock.nowMs, 5);
  await runUntil(clock, fs.fsyncDir('/'));
  assert.equal(clock.nowMs, 25);
});

test('operations in flight at a crash never complete; locks are released', async () => {
  const clock = new StepClock();
  const fs = new SimFs({ prng: new Prng(4), schedule: clock.schedule });
  await runUntil(clock, fs.mkdirp('/data'));
  assert.deepEqual(await runUntil(clock, fs.acquireDirLock('/data')), []);
  await assert.rejects(runUntil(clock, fs.acquireDirLock('/data')), DataDirLockedError);
  const fh = await runUntil(clock, fs.open('/data/f', 'w'));
  let settled = false;
  void fh.write(bytes(10, 1), 0).finally(() => (settled = true));
  fs.restartProcess();
  await runSteps(clock, 10);
  assert.equal(settled, false, 'the write of the dead process never completes');
  assert.equal(fs.fileBytes('/data/f')?.length, 0);
  await runUntil(clock, fs.acquireDirLock('/data'));
  fs.crash();
  await runUntil(clock, fs.mkdirp('/data'));
  assert.deepEqual(await runUntil(clock, fs.acquireDirLock('/data')), [], 'a crash releases the lock');
});

test('flipBitInDurableData changes one bit of synced data only, where asked', async () => {
  const fs = new SimFs({ prng: new Prng(5) });
  await durableFile(fs, '/f', bytes(3 * SIM_SECTOR_BYTES, 0));
  const fh = await fs.open('/f', 'r+');
  await fh.write(bytes(10, 0xff), SIM_SECTOR_BYTES + 5); // sector 1 is unsynced now
  await assert.rejects(async () => fs.flipBitInDurableData({ path: '/g' }), errno('ENOENT'));
  for (let k = 0; k < 50; k++) {
    const before = fs.fileBytes('/f') as Buffer;
    const flip = fs.flipBitInDurableData({ path: '/f', rangeBytes: [100, 2 * SIM_SECTOR_BYTES + 50] });
    const after = fs.fileBytes('/f') as Buffer;
    assert.equal(flip.path, '/f');
    assert.ok(flip.offsetBytes >= 100 && flip.offsetBytes < 2 * SIM_SECTOR_BYTES + 50);
    assert.notEqual(Math.floor(flip.offsetBytes / SIM_SECTOR_BYTES), 1, 'never in a sector with unsynced writes');
    const changed = [...after.keys()].filter((i) => after[i] !== before[i]);
    assert.deepEqual(changed, [flip.offsetBytes]);
    assert.equal((after[flip.offsetBytes] as number) ^ (before[flip.offsetBytes] as number), 1 << flip.bit);
  }
  fs.crash({ unsynced: 'lost' });
  assert.equal(fs.flipBitInDurableData().path, '/f', 'a file is chosen when none is named');
  assert.equal(fs.counters.bitFlips, 51);
  assert.throws(() => new SimFs({ prng: new Prng(6) }).flipBitInDurableData(), /no synced data/);
});
