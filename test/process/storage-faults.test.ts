// Damaged data dirs under real node processes: a torn WAL tail is truncated, logged and caught up;
// a corrupted record in the middle stops the node with the file and offset; another node's data dir
// is refused; a storage failure at run time ends the process. The rest of the cluster keeps working.
import assert from 'node:assert/strict';
import { cpSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { RECORD_END_BYTES, RECORD_HEADER_BYTES, RECORD_LENGTH_OFFSET } from '../../src/storage/wal-record.js';
import { ProcessCluster, destroyAll } from './harness.js';
import { History, KvClient, assertClusterSound } from './workload.js';

after(destroyAll);

/** The node's WAL segments, oldest first. */
function segments(dataDir: string): string[] {
  const dir = join(dataDir, 'wal');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.seg'))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * Start offsets of every record of a segment, and where the records end (docs/storage.md: a 32-byte
 * header starting "KRW2" with the payload length at offset 8, the payload, a 4-byte end mark; then
 * the preallocated zeros).
 */
function recordOffsets(file: string): { offsets: number[]; endBytes: number } {
  const buf = readFileSync(file);
  const offsets: number[] = [];
  let at = 0;
  while (at + RECORD_HEADER_BYTES <= buf.length && buf.toString('latin1', at, at + 4) === 'KRW2') {
    offsets.push(at);
    at += RECORD_HEADER_BYTES + buf.readUInt32LE(at + RECORD_LENGTH_OFFSET) + RECORD_END_BYTES;
  }
  return { offsets, endBytes: at };
}

async function writeSome(client: KvClient, prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += 1) assert.equal(await client.put(`${prefix}-${i}`, `${prefix}.${i}`), 'ok');
}

describe('damaged WAL files', () => {
  it('a torn tail is truncated and logged; a corrupt middle record stops the node naming file and offset; another node id is refused', async () => {
    const cluster = await ProcessCluster.start({ nodes: 3 });
    const history = new History();
    const client = new KvClient(1, cluster, history);
    await writeSome(client, 'before', 30);

    // --- torn tail: a write that was cut short (never fsynced, so never acknowledged) leaves the
    // first part of a record after the last complete one, over the preallocated zeros. Simulate it
    // on node-3 while it is down: write the first half of a copy of its last record there.
    const torn = cluster.node('node-3');
    await torn.kill();
    const last = segments(torn.dataDir).at(-1);
    assert.ok(last !== undefined);
    const { offsets, endBytes: tornAt } = recordOffsets(last);
    const lastRecord = offsets.at(-1);
    assert.ok(lastRecord !== undefined);
    const content = readFileSync(last);
    assert.ok(content.subarray(tornAt).every((b) => b === 0), 'the segment is preallocated with zeros after its records');
    const copy = Buffer.from(content.subarray(lastRecord, tornAt));
    copy.copy(content, tornAt, 0, Math.max(RECORD_HEADER_BYTES + 1, Math.floor(copy.length / 2)));
    writeFileSync(last, content);
    await writeSome(client, 'while-torn-down', 20);
    await torn.start();
    const note = torn.logLines().find((l) => l.msg === 'storage recovery' && String(l.note).includes('truncated the torn tail'));
    assert.ok(note !== undefined, `no truncation log line:\n${torn.logTail()}`);
    assert.equal(note.level, 'warn');
    assert.ok(String(note.note).includes(last) && String(note.note).includes(`byte offset ${tornAt}`), String(note.note));
    await assertClusterSound(cluster, history);

    // --- corruption in the middle: flip one payload byte of an early record of node-2.
    const corrupt = cluster.node('node-2');
    await corrupt.kill();
    const first = segments(corrupt.dataDir)[0];
    assert.ok(first !== undefined);
    const recs = recordOffsets(first).offsets;
    const victim = recs[Math.floor(recs.length / 2)];
    assert.ok(victim !== undefined && recs.length > 4);
    const bytes = readFileSync(first);
    const flipAt = victim + RECORD_HEADER_BYTES + 1;
    bytes[flipAt] = (bytes[flipAt] ?? 0) ^ 0xff;
    writeFileSync(first, bytes);
    const logBefore = corrupt.log.length;
    await corrupt.start({ waitLive: false });
    const exit = await corrupt.exited();
    assert.deepEqual(exit, { code: 1, signal: null }, corrupt.logTail());
    const startLog = corrupt.log.slice(logBefore);
    assert.match(startLog, /"level":"error"/);
    assert.ok(startLog.includes(`WAL segment ${first} is corrupt at byte offset ${victim}`), startLog.slice(-2000));
    // The other two still form a quorum and serve writes.
    await writeSome(client, 'after-corrupt', 10);

    // --- a data dir that belongs to another node id is refused.
    const stranger = await cluster.addSlot('node-4');
    cpSync(cluster.node('node-3').dataDir, stranger.dataDir, { recursive: true });
    rmSync(join(stranger.dataDir, 'LOCK'), { force: true });
    await stranger.start({ waitLive: false });
    assert.deepEqual(await stranger.exited(), { code: 1, signal: null }, stranger.logTail());
    assert.match(stranger.log, /data-dir-mismatch/);
    assert.match(stranger.log, /node-3/);

    // node-2 stays out (its log is damaged): take it out of the configuration, and the rest is sound.
    await cluster.remove('node-2');
    cluster.nodes.delete('node-2');
    cluster.nodes.delete('node-4');
    await assertClusterSound(cluster, history);
  });

  it('a storage failure while running ends the process with exit code 1', async () => {
    const cluster = await ProcessCluster.start({ nodes: 1, snapshotThresholdEntries: 20 });
    const node = cluster.node('node-1');
    // The next local snapshot cannot be created: the driver stops on the storage error.
    rmSync(join(node.dataDir, 'snap'), { recursive: true, force: true });
    const client = new KvClient(1, cluster, new History(), node, 2000);
    const writes = (async () => {
      for (let i = 0; i < 40; i += 1) if ((await client.put(`k${i}`, 'v')) !== 'ok') return;
    })();
    const exit = await node.exited();
    await writes;
    assert.deepEqual(exit, { code: 1, signal: null }, node.logTail());
    assert.match(node.log, /"msg":"node failed".*ENOENT/);
  });
});
