// Recovery on crafted segment files: what a crash leaves (a torn last record over preallocated
// zeros) is repaired; anything else (a flipped bit anywhere, garbage, a stale or misplaced record)
// stops the node with the file and offset; bytes inside a value that look like records change
// nothing; and a segment full of garbage is refused in linear time.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { index, nodeId, term } from '../raft/types.js';
import type { Entry, HardState } from '../raft/types.js';
import { WAL_SECTOR_BYTES } from './constants.js';
import { crc32c } from './crc32c.js';
import { StorageError, WalCorruptionError } from './errors.js';
import { segmentFileName, openWal } from './wal.js';
import type { SegmentInfo, WalOpenResult } from './wal.js';
import { encodeRecord, RECORD_HEADER_BYTES } from './wal-record.js';
import type { WalRecord } from './wal-record.js';
import { scanSegment } from './wal-segment.js';

const root = await mkdtemp(join(tmpdir(), 'kuberaft-wal-recovery-'));
after(() => rm(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `wal-${++dirs}`);

/** Preallocated size of the crafted segments: a few sectors, so the zeros after the records span several. */
const SEGMENT_BYTES = 8 * WAL_SECTOR_BYTES;
const options = { segmentSizeMaxBytes: SEGMENT_BYTES };

const entry = (i: number, t: number, data: string | Uint8Array = `value-${i}`): Entry => ({
  index: index(i),
  term: term(t),
  kind: 'normal',
  data: typeof data === 'string' ? new TextEncoder().encode(data) : data,
});
const hs = (t: number, commit: number, vote?: string): HardState => ({ term: term(t), vote: vote === undefined ? undefined : nodeId(vote), commit: index(commit) });

/** A closed WAL holding entries 1..count (term 1), each with a hard state voting for n1; returns its segments. */
async function craftLog(dir: string, count: number, data: (i: number) => string | Uint8Array = (i) => `value-${i}`): Promise<SegmentInfo[]> {
  const { wal } = await openWal(dir, options);
  for (let i = 1; i <= count; i++) await wal.append([entry(i, 1, data(i))], hs(1, i - 1, 'n1'));
  await wal.close();
  return [...wal.segments()];
}

async function reopen(dir: string): Promise<WalOpenResult> {
  const result = await openWal(dir, options);
  await result.wal.close();
  return result;
}

async function copyOf(dir: string): Promise<string> {
  const copy = freshDir();
  await cp(dir, copy, { recursive: true });
  return copy;
}

/** The segment file at the same place in another copy of the WAL directory. */
const inCopy = (copy: string, dir: string, segment: SegmentInfo): string => join(copy, segment.path.slice(dir.length));

function lastSegment(segments: readonly SegmentInfo[]): SegmentInfo {
  const last = segments.at(-1);
  assert.ok(last !== undefined);
  return last;
}

/** Where the records of a segment file start, and the sequence number of its last one. */
async function records(path: string, seq: number): Promise<{ offsets: number[]; lastSeq: number; validBytes: number }> {
  const scan = scanSegment(await readFile(path), seq, undefined);
  assert.equal(scan.end.kind, 'clean');
  assert.ok(scan.lastRecordSeq !== undefined);
  return { offsets: scan.records.map((r) => r.offsetBytes), lastSeq: scan.lastRecordSeq, validBytes: scan.validBytes };
}

function assertCorrupt(file: string, offsetBytes: number): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof WalCorruptionError, String(e));
    assert.equal(e.code, 'wal-corrupt');
    assert.equal(e.file, file);
    assert.equal(e.offsetBytes, offsetBytes, e.message);
    assert.ok(e.message.includes(`${file} is corrupt at byte offset ${offsetBytes}`) && e.message.includes('"Recovering from a damaged WAL" in docs/operations.md'), e.message);
    return true;
  };
}

const entries = (from: number, to: number): Entry[] => Array.from({ length: to - from + 1 }, (_, k) => entry(from + k, 1));

test('preallocated zeros after the last record: a clean open that changes nothing, and appends land where the records stop', async () => {
  const dir = freshDir();
  const segments = await craftLog(dir, 5);
  assert.equal(segments.length, 1);
  const segment = lastSegment(segments);
  const before = await readFile(segment.path);
  assert.equal(before.length, SEGMENT_BYTES, 'the segment is preallocated');
  assert.ok(segment.durableBytes < SEGMENT_BYTES / 2 && before.subarray(segment.durableBytes).every((b) => b === 0));
  const { wal, boot, notes } = await openWal(dir, options);
  assert.deepEqual(notes, []);
  assert.deepEqual(boot.entries, entries(1, 5));
  assert.deepEqual(await readFile(segment.path), before, 'a clean open writes nothing');
  await wal.append([entry(6, 1)], hs(1, 5, 'n1'));
  await wal.close();
  const after = await readFile(segment.path);
  assert.equal(after.length, SEGMENT_BYTES);
  assert.deepEqual(after.subarray(0, segment.durableBytes), before.subarray(0, segment.durableBytes));
  assert.equal((await records(segment.path, segment.seq)).offsets.at(-2), segment.durableBytes, 'the new entry follows the last record');
  assert.deepEqual((await reopen(dir)).boot.entries, entries(1, 6));
});

test('a torn last record (its written part, then zeros) is repaired: zeroed, noted, and the log goes on', async () => {
  const dir = freshDir();
  const segment = lastSegment(await craftLog(dir, 4));
  const { lastSeq, validBytes } = await records(segment.path, segment.seq);
  // The next write: an entry spanning several sectors, of which a crash kept only a prefix.
  const next = encodeRecord({ type: 'entry', entry: entry(5, 1, 'z'.repeat(3 * WAL_SECTOR_BYTES)) }, { segmentSeq: segment.seq, recordSeq: lastSeq + 1 });
  const toSectorEnd = WAL_SECTOR_BYTES - (validBytes % WAL_SECTOR_BYTES);
  const cases: [string, number][] = [
    ['whole sectors', toSectorEnd + WAL_SECTOR_BYTES],
    ['a sector torn inside', toSectorEnd + 100],
    ['a torn header', 10],
    ['all but its end mark', next.length - 4],
    ['all but its last byte', next.length - 1],
  ];
  for (const [what, kept] of cases) {
    const copy = await copyOf(dir);
    const path = inCopy(copy, dir, segment);
    const bytes = await readFile(path);
    next.copy(bytes, validBytes, 0, kept);
    await writeFile(path, bytes);
    const logged: string[] = [];
    const { wal, boot, notes } = await openWal(copy, { ...options, onNote: (n) => logged.push(n) });
    assert.deepEqual(boot.entries, entries(1, 4), what);
    assert.deepEqual(boot.hardState, hs(1, 3, 'n1'), what);
    assert.equal(notes.length, 1, what);
    assert.deepEqual(logged, notes);
    assert.match(notes[0] ?? '', new RegExp(`truncated the torn tail of WAL segment ${path} at byte offset ${validBytes}: zeroed \\d+ bytes`), what);
    const repaired = await readFile(path);
    assert.equal(repaired.length, SEGMENT_BYTES, `${what}: the preallocation stays`);
    assert.ok(repaired.subarray(validBytes).every((b) => b === 0), `${what}: the torn record is zeroed`);
    await wal.append([entry(5, 2, 'again')], hs(2, 4));
    await wal.close();
    const again = await reopen(copy);
    assert.deepEqual(again.notes, [], what);
    assert.deepEqual(again.boot.entries, [...entries(1, 4), entry(5, 2, 'again')], what);
  }
});

test('a flipped bit anywhere in the last record — header, payload, vote, end mark — is refused, and nothing is changed', async () => {
  const dir = freshDir();
  const segment = lastSegment(await craftLog(dir, 3));
  const { offsets, validBytes } = await records(segment.path, segment.seq);
  // The last record is the hard state of the last append: its vote is the payload's last bytes.
  const last = offsets.at(-1) as number;
  const lastSize = validBytes - last;
  for (let at = last; at < validBytes; at += at < last + RECORD_HEADER_BYTES ? 3 : 1) {
    const copy = await copyOf(dir);
    const path = inCopy(copy, dir, segment);
    const bytes = await readFile(path);
    const bit = (at * 5) % 8;
    bytes[at] = (bytes[at] as number) ^ (1 << bit);
    await writeFile(path, bytes);
    await assert.rejects(openWal(copy, options), assertCorrupt(path, last), `bit ${bit} of byte ${at - last} of ${lastSize}`);
    assert.deepEqual(await readFile(path), bytes, 'a refused WAL is left as it was');
  }
});

test('a flipped bit in the middle of the log is refused, in the last segment and in an earlier one', async () => {
  const dir = freshDir();
  const segments = await craftLog(dir, 40);
  assert.ok(segments.length >= 2);
  for (const segment of [segments[0] as SegmentInfo, lastSegment(segments)]) {
    const { offsets } = await records(segment.path, segment.seq);
    const victim = offsets[Math.floor(offsets.length / 2)] as number;
    const copy = await copyOf(dir);
    const path = inCopy(copy, dir, segment);
    const bytes = await readFile(path);
    bytes[victim + RECORD_HEADER_BYTES + 2] = (bytes[victim + RECORD_HEADER_BYTES + 2] as number) ^ 0x10;
    await writeFile(path, bytes);
    await assert.rejects(openWal(copy, options), assertCorrupt(path, victim));
  }
});

test('a partial last record followed by non-zero bytes past its end is refused: they were written, so this is not a torn write', async () => {
  const dir = freshDir();
  const segment = lastSegment(await craftLog(dir, 3));
  const { lastSeq, validBytes } = await records(segment.path, segment.seq);
  const next = encodeRecord({ type: 'entry', entry: entry(4, 1, 'y'.repeat(300)) }, { segmentSeq: segment.seq, recordSeq: lastSeq + 1 });
  for (const [what, garbageAt] of [
    ['just past where the record would end', validBytes + next.length + 3],
    ['sectors later', validBytes + 3 * WAL_SECTOR_BYTES + 7],
    ['in the last byte of the segment', SEGMENT_BYTES - 1],
  ] as const) {
    const copy = await copyOf(dir);
    const path = inCopy(copy, dir, segment);
    const bytes = await readFile(path);
    next.copy(bytes, validBytes, 0, 50);
    bytes[garbageAt] = 0x5a;
    await writeFile(path, bytes);
    await assert.rejects(openWal(copy, options), assertCorrupt(path, validBytes), what);
  }
  // Bytes after a clean end of the records are refused too, naming where they are.
  const copy = await copyOf(dir);
  const path = inCopy(copy, dir, segment);
  const bytes = await readFile(path);
  bytes[validBytes + RECORD_HEADER_BYTES + 40] = 0x01;
  await writeFile(path, bytes);
  await assert.rejects(openWal(copy, options), assertCorrupt(path, validBytes + RECORD_HEADER_BYTES + 40));
});

test('a complete record that does not belong where it is — stale, or from another segment — is refused', async () => {
  const dir = freshDir();
  const segments = await craftLog(dir, 40);
  const segment = lastSegment(segments);
  const { offsets, lastSeq, validBytes } = await records(segment.path, segment.seq);
  const record: WalRecord = { type: 'entry', entry: entry(41, 1) };
  const cases: [string, Buffer][] = [
    ['a copy of the previous record', (await readFile(segment.path)).subarray(offsets.at(-1) as number, validBytes)],
    ['an older sequence number', encodeRecord(record, { segmentSeq: segment.seq, recordSeq: lastSeq - 5 })],
    ['another segment', encodeRecord(record, { segmentSeq: segment.seq - 1, recordSeq: lastSeq + 1 })],
  ];
  for (const [what, bytesOfRecord] of cases) {
    const copy = await copyOf(dir);
    const path = inCopy(copy, dir, segment);
    const bytes = await readFile(path);
    bytesOfRecord.copy(bytes, validBytes);
    await writeFile(path, bytes);
    await assert.rejects(openWal(copy, options), assertCorrupt(path, validBytes), what);
  }
});

test('records forged inside values change nothing: they replay as data, a torn write around them is repaired, damage before them is refused', async () => {
  // A value that holds a valid record of each format: format 2 with the very position the next
  // record of the log will have, and format 1 (length | crc | type | payload).
  const dir = freshDir();
  const segment = lastSegment(await craftLog(dir, 2));
  const { lastSeq } = await records(segment.path, segment.seq);
  const forged2 = encodeRecord({ type: 'hard-state', hardState: hs(99, 0, 'mallory') }, { segmentSeq: segment.seq, recordSeq: lastSeq + 1 });
  const forgedValue = new Uint8Array(Buffer.concat([forged2, format1HardState(), forged2]));
  {
    const { wal } = await openWal(dir, options);
    await wal.append([entry(3, 1, forgedValue)], hs(1, 2, 'n1'));
    await wal.close();
  }
  const replayed = await reopen(dir);
  assert.deepEqual(replayed.boot.entries.at(-1), entry(3, 1, forgedValue));
  assert.deepEqual(replayed.boot.hardState, hs(1, 2, 'n1'));
  assert.deepEqual(replayed.notes, []);

  const { offsets, lastSeq: seqNow, validBytes } = await records(segment.path, segment.seq);
  // A torn write of another such entry: everything but its end is on disk, forged records included.
  const torn = encodeRecord({ type: 'entry', entry: entry(4, 1, forgedValue) }, { segmentSeq: segment.seq, recordSeq: seqNow + 1 });
  {
    const copy = await copyOf(dir);
    const path = inCopy(copy, dir, segment);
    const bytes = await readFile(path);
    torn.copy(bytes, validBytes, 0, torn.length - 20);
    await writeFile(path, bytes);
    const { boot, notes } = await reopen(copy);
    assert.equal(notes.length, 1, 'a torn write is repaired, whatever its value holds');
    assert.deepEqual(boot.entries.at(-1), entry(3, 1, forgedValue));
  }
  // A flipped bit in the header of the entry holding forged records: refused at that entry, never resynced to a forged one.
  {
    const victim = offsets.at(-2) as number;
    const copy = await copyOf(dir);
    const path = inCopy(copy, dir, segment);
    const bytes = await readFile(path);
    bytes[victim + 9] = (bytes[victim + 9] as number) ^ 0x04;
    await writeFile(path, bytes);
    await assert.rejects(openWal(copy, options), assertCorrupt(path, victim));
  }
});

test('a crash while a torn record is being zeroed leaves a log that is repaired again, never refused', async () => {
  const dir = freshDir();
  const segment = lastSegment(await craftLog(dir, 3));
  const { lastSeq, validBytes } = await records(segment.path, segment.seq);
  const next = encodeRecord({ type: 'entry', entry: entry(4, 1, 'w'.repeat(1200)) }, { segmentSeq: segment.seq, recordSeq: lastSeq + 1 });
  const written = 900;
  // The repair zeroes the body, fsyncs, then the header, and fsyncs. A crash may keep any part of either step.
  const states: [string, (b: Buffer) => void][] = [
    ['part of the body zeroed', (b) => b.fill(0, validBytes + RECORD_HEADER_BYTES + 300, validBytes + 600)],
    ['the body zeroed', (b) => b.fill(0, validBytes + RECORD_HEADER_BYTES, validBytes + written)],
    ['the body and part of the header zeroed', (b) => b.fill(0, validBytes + 5, validBytes + written)],
    ['the body and the header start zeroed', (b) => b.fill(0, validBytes, validBytes + 20).fill(0, validBytes + RECORD_HEADER_BYTES, validBytes + written)],
  ];
  for (const [what, zero] of states) {
    const copy = await copyOf(dir);
    const path = inCopy(copy, dir, segment);
    const bytes = await readFile(path);
    next.copy(bytes, validBytes, 0, written);
    zero(bytes);
    await writeFile(path, bytes);
    const { boot, notes } = await reopen(copy);
    assert.equal(notes.length, 1, what);
    assert.deepEqual(boot.entries, entries(1, 3), what);
    assert.deepEqual((await reopen(copy)).notes, [], `${what}: the second repair is complete`);
  }
});

test('a segment named but never written (a crash right after a rollover) is used, and gets its header first', async () => {
  const dir = freshDir();
  const segments = await craftLog(dir, 30);
  const last = lastSegment(segments);
  // The next segment as the rollover leaves it before its first write: preallocated zeros, durably named.
  const emptyPath = join(dir, segmentFileName(last.seq + 1, 31));
  await writeFile(emptyPath, Buffer.alloc(SEGMENT_BYTES));
  const { wal, boot, notes } = await openWal(dir, options);
  assert.deepEqual(notes, []);
  assert.deepEqual(boot.entries, entries(1, 30));
  // Entries without a hard state, then compaction of everything before the new segment.
  await wal.append([entry(31, 1)]);
  await wal.recordSnapshot({ index: index(30), term: term(1), membership: { members: [] } }, true);
  const deleted = await wal.compact(index(30));
  assert.deepEqual(deleted, segments.map((s) => s.path));
  await wal.close();
  const { boot: after } = await reopen(dir);
  assert.deepEqual(after.hardState, hs(1, 29, 'n1'), 'the hard state survives in the new segment header');
  assert.deepEqual(after.entries, [entry(31, 1)]);
});

test('a segment of WAL format 1 is refused with the upgrade note, not reported as corruption', async () => {
  const dir = freshDir();
  const segment = lastSegment(await craftLog(dir, 1));
  await writeFile(segment.path, Buffer.concat([format1HardState(), Buffer.alloc(100)]));
  await assert.rejects(
    openWal(dir, options),
    (e: unknown) => e instanceof StorageError && e.code === 'data-dir-unsupported' && e.message.includes('"Upgrading from data format 1" in docs/operations.md'),
  );
});

/** Bound on refusing a 64 MiB segment of garbage (about 100 ms here; a scan that searched for records would take hours). */
const GARBAGE_RECOVERY_MAX_MS = 15_000;

test('a 64 MiB segment full of garbage is refused in linear time, whatever the garbage looks like', async () => {
  const sizeBytes = 64 * 1024 * 1024;
  const dir = freshDir();
  await craftLog(dir, 1);
  const path = join(dir, segmentFileName(1, 1));
  const fills: [string, (b: Buffer) => void][] = [
    // Every offset a plausible format-1 header announcing 16 MiB: a search for the next valid record
    // would checksum 16 MiB at each of the first 48 million offsets.
    ['bytes 0x01', (b) => b.fill(0x01)],
    // Format-2 headers with the right magic everywhere.
    ['record headers', (b) => b.fill(Buffer.concat([Buffer.from('KRW2', 'latin1'), Buffer.alloc(28, 0x11)]))],
    // Zeros with one stray byte at the very end: the zeros are checked once, not once per offset.
    ['zeros and a stray last byte', (b) => b.fill(0).writeUInt8(1, b.length - 1)],
  ];
  for (const [what, fill] of fills) {
    const bytes = Buffer.allocUnsafe(sizeBytes);
    fill(bytes);
    await writeFile(path, bytes);
    const outcome = await openInWorker(dir, GARBAGE_RECOVERY_MAX_MS);
    assert.ok(outcome.kind === 'refused', `${what}: ${JSON.stringify(outcome)}`);
    assert.equal(outcome.code, 'wal-corrupt', what);
  }
});

type WorkerOutcome = { kind: 'refused'; code: string; ms: number } | { kind: 'opened' } | { kind: 'timeout' };

/** openWal(dir) in a worker thread, so that a recovery that never ends fails the test instead of hanging it. */
async function openInWorker(dir: string, deadlineMs: number): Promise<WorkerOutcome> {
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     import('tsx/esm/api')
       .then(({ tsImport }) => tsImport(workerData.module, workerData.module))
       .then(async ({ openWal }) => {
         const started = Date.now();
         try {
           const { wal } = await openWal(workerData.dir);
           await wal.close();
           parentPort.postMessage({ kind: 'opened' });
         } catch (e) {
           parentPort.postMessage({ kind: 'refused', code: String(e.code), ms: Date.now() - started });
         }
       });`,
    { eval: true, workerData: { dir, module: new URL('./wal.ts', import.meta.url).href } },
  );
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<WorkerOutcome>((resolve, reject) => {
      worker.once('message', (m: WorkerOutcome) => resolve(m));
      worker.once('error', reject);
      timer = setTimeout(() => resolve({ kind: 'timeout' }), deadlineMs);
    });
  } finally {
    clearTimeout(timer);
    await worker.terminate();
  }
}

/** A hard state record of WAL format 1: length u32 | CRC-32C over length, type and payload | type u8 | payload. */
function format1HardState(): Buffer {
  const vote = Buffer.from('mallory');
  const payload = Buffer.alloc(18 + vote.length);
  payload.writeUInt32LE(99, 0);
  payload.writeUInt16LE(vote.length, 16);
  vote.copy(payload, 18);
  const out = Buffer.alloc(9 + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt8(2, 8);
  payload.copy(out, 9);
  out.writeUInt32LE(crc32c(out.subarray(8), crc32c(out.subarray(0, 4))), 4);
  return out;
}
