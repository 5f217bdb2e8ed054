// Crash at every write step: a workload is written with group commit, then for every byte offset
// of the last segments (every offset in the last one, a sample in the one before) the files are cut
// there as a crash would leave them — every byte from the cut on is the preallocated zeros, or (for
// a record that grew the file) missing — and recovery must yield a prefix of what was written that
// holds every append whose promise had resolved before the cut.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { index, nodeId, term } from '../raft/types.js';
import type { Entry, HardState, SnapshotMeta } from '../raft/types.js';
import type { BootState } from './wal-log.js';
import { openWal } from './wal.js';
import type { WalRecord } from './wal-record.js';
import { scanSegment } from './wal-segment.js';

const root = await mkdtemp(join(tmpdir(), 'kuberaft-wal-crash-'));
after(() => rm(root, { recursive: true, force: true }));

const SEGMENT_BYTES = 700;

const entry = (i: number, t: number): Entry => ({
  index: index(i),
  term: term(t),
  kind: i % 7 === 0 ? 'noop' : 'normal',
  data: new TextEncoder().encode('x'.repeat((i * 13) % 41)),
});
const hs = (t: number, commit: number): HardState => ({ term: term(t), vote: nodeId(`n${t % 3}`), commit: index(commit) });
const meta = (i: number, t: number): SnapshotMeta => ({ index: index(i), term: term(t), membership: { members: [{ id: nodeId('n1'), address: 'h:1', role: 'voter' }] } });

/** The obvious meaning of a record sequence, written independently of the WAL's own replay. */
function model(records: readonly WalRecord[]): BootState {
  let hardState: HardState = { term: term(0), vote: undefined, commit: index(0) };
  let snapshot: SnapshotMeta | undefined;
  let entries: Entry[] = [];
  for (const r of records) {
    if (r.type === 'hard-state') hardState = r.hardState;
    else if (r.type === 'snapshot') {
      snapshot = r.snapshot;
      entries = r.retainsLog ? entries.filter((e) => e.index > r.snapshot.index) : [];
    } else entries = [...entries.filter((e) => e.index < r.entry.index), r.entry];
  }
  return { hardState, snapshot, entries };
}

interface Call {
  readonly records: WalRecord[];
  /** Where the log's durable end was when this call's promise resolved. */
  ack?: { seq: number; bytes: number };
}

test('recovery after a crash at any byte yields a prefix holding every acknowledged append', async () => {
  const dir = join(root, 'original');
  const { wal } = await openWal(dir, { segmentSizeMaxBytes: SEGMENT_BYTES });
  const calls: Call[] = [];
  const issue = (records: WalRecord[], run: () => Promise<void>): Promise<void> => {
    const call: Call = { records };
    calls.push(call);
    return run().then(() => {
      const last = wal.segments().at(-1);
      assert.ok(last !== undefined);
      call.ack = { seq: last.seq, bytes: last.durableBytes };
    });
  };
  const append = (entries: Entry[], h?: HardState): Promise<void> =>
    issue([...entries.map((e): WalRecord => ({ type: 'entry', entry: e })), ...(h ? [{ type: 'hard-state' as const, hardState: h }] : [])], () => wal.append(entries, h));
  const snapshot = (m: SnapshotMeta, retainsLog: boolean): Promise<void> =>
    issue([{ type: 'snapshot', snapshot: m, retainsLog }], () => wal.recordSnapshot(m, retainsLog));

  // Waves of concurrent appends (group commit batches them), a leader change that replaces a
  // suffix, a local snapshot, and a received snapshot that replaces the log.
  let next = 1;
  for (let wave = 0; wave < 6; wave++) {
    const inFlight: Promise<void>[] = [];
    for (let k = 0; k < 5; k++) {
      const count = (wave + k) % 3;
      const entries = Array.from({ length: count }, () => entry(next++, 1));
      inFlight.push(append(entries, k % 2 === 0 ? hs(1, Math.max(0, next - 8)) : undefined));
    }
    await Promise.all(inFlight);
  }
  next -= 4;
  await append([entry(next++, 2), entry(next++, 2)], hs(2, next - 10));
  await snapshot(meta(next - 12, 1), true);
  await Promise.all([append([entry(next++, 2)]), append([entry(next++, 2)], hs(2, next - 5))]);
  await snapshot(meta(next + 20, 3), false);
  next += 21;
  await Promise.all([append([entry(next++, 3)], hs(3, next - 1)), append([entry(next++, 3), entry(next++, 3)]), append([], hs(4, next - 2))]);
  await wal.close();

  const allRecords = calls.flatMap((c) => c.records);
  const prefixStates = allRecords.map((_, m) => model(allRecords.slice(0, m)));
  prefixStates.push(model(allRecords));
  const segments = wal.segments();
  assert.ok(segments.length >= 4, `the workload should span several segments, got ${segments.length}`);

  let cuts = 0;
  // A crash can leave torn only the segment being written then; later segments did not exist yet.
  for (const [k, segment] of segments.entries()) {
    if (k < segments.length - 2) continue;
    const work = join(root, `cut-${k}`);
    await cp(dir, work, { recursive: true });
    for (const later of segments.slice(k + 1)) await rm(join(work, later.path.slice(dir.length)));
    const path = join(work, segment.path.slice(dir.length));
    const original = await readFile(path);
    const boundaries = recordBoundaries(original, segment.seq);
    const isLast = k === segments.length - 1;
    for (let cut = segment.durableBytes; cut >= 0; cut--) {
      if (!isLast && !boundaries.has(cut) && !boundaries.has(cut - 1) && cut % 5 !== 0) continue;
      // Mostly the preallocated zeros after the cut; now and then a file that ends there.
      await writeFile(path, cut % 7 === 3 ? original.subarray(0, cut) : Buffer.concat([original.subarray(0, cut), Buffer.alloc(original.length - cut)]));
      const { wal: recovered, boot, notes } = await openWal(work, { segmentSizeMaxBytes: SEGMENT_BYTES });
      await recovered.close();
      cuts++;
      const acked = calls.filter((c) => c.ack !== undefined && (c.ack.seq < segment.seq || (c.ack.seq === segment.seq && c.ack.bytes <= cut)));
      const required = acked.length === 0 ? 0 : allRecords.indexOf(acked.at(-1)?.records.at(-1) as WalRecord) + 1;
      const matching = prefixStates.findIndex((s, m) => m >= required && isDeepStrictEqual(s, boot));
      assert.ok(matching >= 0, `cut at ${cut} of segment ${segment.seq}: recovered state is not a prefix holding all ${acked.length} acknowledged calls`);
      assert.equal(notes.length, boundaries.has(cut) ? 0 : 1, `cut at ${cut}: a torn record is reported, a clean boundary is not`);
    }
  }
  assert.ok(cuts > SEGMENT_BYTES / 2, `expected many cuts, ran ${cuts}`);
  // The full log comes back whole.
  const whole = await openWal(dir, { segmentSizeMaxBytes: SEGMENT_BYTES });
  await whole.wal.close();
  assert.deepEqual(whole.boot, prefixStates.at(-1));
});

test('after recovering from a torn tail, the log accepts appends and reopens with them', async () => {
  const dir = join(root, 'resume');
  const { wal } = await openWal(dir, { segmentSizeMaxBytes: SEGMENT_BYTES });
  await wal.append([entry(1, 1), entry(2, 1)], hs(1, 1));
  await wal.append([entry(3, 1)], hs(1, 2));
  await wal.close();
  const [segment] = wal.segments();
  assert.ok(segment !== undefined);
  const bytes = await readFile(segment.path);
  for (const tornBytes of [1, 5, 20]) {
    const copy = join(root, `resume-${tornBytes}`);
    await cp(dir, copy, { recursive: true });
    const path = join(copy, segment.path.slice(dir.length));
    const torn = Buffer.from(bytes);
    torn.fill(0, segment.durableBytes - tornBytes);
    await writeFile(path, torn);
    const first = await openWal(copy);
    assert.equal(first.notes.length, 1);
    assert.deepEqual(first.boot.hardState, hs(1, 1));
    await first.wal.append([entry(3, 2), entry(4, 2)], hs(2, 3));
    await first.wal.close();
    const second = await openWal(copy);
    await second.wal.close();
    assert.deepEqual(second.notes, []);
    assert.deepEqual(second.boot, { hardState: hs(2, 3), snapshot: undefined, entries: [entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2)] });
  }
});

/** Offsets where a record starts, or where the records end. */
function recordBoundaries(file: Buffer, seq: number): Set<number> {
  const scan = scanSegment(file, seq, undefined);
  return new Set([...scan.records.map((r) => r.offsetBytes), scan.validBytes]);
}
