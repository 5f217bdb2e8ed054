import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeId } from '../raft/types.js';
import { DATA_DIR_FORMAT_VERSION } from './constants.js';
import { DataDir, LOCK_FILE, META_FILE, processStartTicks } from './data-dir.js';
import { DataDirLockedError, DataDirMismatchError, StorageError } from './errors.js';

const root = await mkdtemp(join(tmpdir(), 'kuberaft-datadir-'));
after(() => rm(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `dir-${++dirs}`);
const n1 = nodeId('node-1');

test('a new data dir records its identity; reopening checks it', async () => {
  const dir = freshDir();
  const first = await DataDir.open(dir, { nodeId: n1 });
  assert.deepEqual(first.identity, { formatVersion: DATA_DIR_FORMAT_VERSION, nodeId: n1, clusterId: undefined });
  await first.setClusterId('cluster-a');
  await first.close();
  assert.deepEqual(JSON.parse(await readFile(join(dir, META_FILE), 'utf8')), { formatVersion: DATA_DIR_FORMAT_VERSION, nodeId: 'node-1', clusterId: 'cluster-a' });

  const second = await DataDir.open(dir, { nodeId: n1 });
  assert.equal(second.identity.clusterId, 'cluster-a');
  await second.setClusterId('cluster-a');
  await assert.rejects(second.setClusterId('cluster-b'), DataDirMismatchError);
  await second.close();
});

test('a data dir of another node or cluster is refused, and the refusal releases the lock', async () => {
  const dir = freshDir();
  await (await DataDir.open(dir, { nodeId: n1, clusterId: 'cluster-a' })).close();
  await assert.rejects(DataDir.open(dir, { nodeId: nodeId('node-2') }), (e: unknown) => {
    assert.ok(e instanceof DataDirMismatchError);
    assert.equal(e.code, 'data-dir-mismatch');
    assert.equal(e.field, 'nodeId');
    assert.match(e.message, /belongs to nodeId "node-1", not "node-2"/);
    return true;
  });
  await assert.rejects(DataDir.open(dir, { nodeId: n1, clusterId: 'cluster-b' }), (e: unknown) => e instanceof DataDirMismatchError && e.field === 'clusterId');
  const ok = await DataDir.open(dir, { nodeId: n1, clusterId: 'cluster-a' });
  await ok.close();
});

test('a directory with data but no meta.json, or of another format, is refused', async () => {
  const foreign = freshDir();
  await mkdir(join(foreign, 'wal'), { recursive: true });
  await assert.rejects(DataDir.open(foreign, { nodeId: n1 }), (e: unknown) => e instanceof StorageError && e.code === 'data-dir-unsupported' && e.message.includes('wal'));
  const future = freshDir();
  await mkdir(future);
  await writeFile(join(future, META_FILE), JSON.stringify({ formatVersion: 99, nodeId: 'node-1' }));
  await assert.rejects(DataDir.open(future, { nodeId: n1 }), (e: unknown) => e instanceof StorageError && e.code === 'data-dir-unsupported' && /version 99/.test(e.message));
  // A refused open leaves no lock behind.
  await assert.rejects(readFile(join(future, LOCK_FILE)), /ENOENT/);
});

test('a data dir open in this process cannot be opened again until closed', async () => {
  const dir = freshDir();
  const held = await DataDir.open(dir, { nodeId: n1 });
  await assert.rejects(DataDir.open(dir, { nodeId: n1 }), (e: unknown) => e instanceof DataDirLockedError && e.code === 'data-dir-locked' && e.pid === process.pid);
  await held.close();
  await (await DataDir.open(dir, { nodeId: n1 })).close();
});

test('a lock held by another live process is refused; a dead or reused pid is taken over', async () => {
  const dir = freshDir();
  await (await DataDir.open(dir, { nodeId: n1 })).close();
  const lockPath = join(dir, LOCK_FILE);
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    const pid = child.pid;
    assert.ok(pid !== undefined);
    const startTicks = await processStartTicks(pid);
    await writeFile(lockPath, JSON.stringify({ pid, startTicks }));
    await assert.rejects(DataDir.open(dir, { nodeId: n1 }), (e: unknown) => {
      assert.ok(e instanceof DataDirLockedError);
      assert.equal(e.pid, pid);
      assert.match(e.message, new RegExp(`in use by process ${pid}`));
      return true;
    });
    if (startTicks !== undefined) {
      // The same pid, but a process started at another time: the owner died and the pid was reused.
      await writeFile(lockPath, JSON.stringify({ pid, startTicks: startTicks - 1 }));
      const reused = await DataDir.open(dir, { nodeId: n1 });
      assert.match(reused.notes[0] ?? '', new RegExp(`from process ${pid}`));
      await reused.close();
    }
  } finally {
    child.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
  }
  // The child is gone now: its lock is stale.
  await writeFile(lockPath, JSON.stringify({ pid: child.pid }));
  const taken = await DataDir.open(dir, { nodeId: n1 });
  assert.equal(taken.notes.length, 1);
  assert.deepEqual(JSON.parse(await readFile(lockPath, 'utf8')).pid, process.pid);
  await taken.close();
  await assert.rejects(readFile(lockPath), /ENOENT/);
  // A lock naming this very pid was left by an earlier process (e.g. pid 1 in a restarted container).
  await writeFile(lockPath, JSON.stringify({ pid: process.pid }));
  await (await DataDir.open(dir, { nodeId: n1 })).close();
});
