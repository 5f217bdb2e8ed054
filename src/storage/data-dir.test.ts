import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeId } from '../raft/types.js';
import { DATA_DIR_FORMAT_VERSION } from './constants.js';
import { DataDir, LOCK_FILE, META_FILE } from './data-dir.js';
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
  // A refused open leaves no lock behind: once the data is fixed, the dir opens.
  await writeFile(join(future, META_FILE), JSON.stringify({ formatVersion: DATA_DIR_FORMAT_VERSION, nodeId: 'node-1' }));
  await (await DataDir.open(future, { nodeId: n1 })).close();
  // Format 1 (WAL format 1) is refused with the way out.
  const old = freshDir();
  await mkdir(old);
  await writeFile(join(old, META_FILE), JSON.stringify({ formatVersion: 1, nodeId: 'node-1' }));
  await assert.rejects(
    DataDir.open(old, { nodeId: n1 }),
    (e: unknown) => e instanceof StorageError && e.code === 'data-dir-unsupported' && e.message.includes('"Upgrading from data format 1" in docs/operations.md'),
  );
});

test('a data dir open in this process cannot be opened again until closed', async () => {
  const dir = freshDir();
  const held = await DataDir.open(dir, { nodeId: n1 });
  await assert.rejects(DataDir.open(dir, { nodeId: n1 }), (e: unknown) => e instanceof DataDirLockedError && e.code === 'data-dir-locked' && e.pid === process.pid);
  await held.close();
  await (await DataDir.open(dir, { nodeId: n1 })).close();
});

/** A separate process that holds `dir` open through the real code until killed; resolves once it does. */
async function holder(dir: string): Promise<ChildProcess> {
  const code = `import { DataDir } from ${JSON.stringify(new URL('./data-dir.ts', import.meta.url).href)};
await DataDir.open(${JSON.stringify(dir)}, { nodeId: 'node-1' });
process.stdout.write('locked\\n');
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  assert.equal(chunk.toString(), 'locked\n');
  return child;
}

test('a lock held by another process is refused; once that process dies (even by SIGKILL) the lock is free', async () => {
  const dir = freshDir();
  const child = await holder(dir);
  try {
    await assert.rejects(DataDir.open(dir, { nodeId: n1 }), (e: unknown) => {
      assert.ok(e instanceof DataDirLockedError);
      assert.equal(e.pid, child.pid);
      assert.match(e.message, new RegExp(`in use by process ${child.pid}`));
      return true;
    });
  } finally {
    child.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
  }
  // The kernel released the lock with the process: nothing stale to take over.
  const taken = await DataDir.open(dir, { nodeId: n1 });
  assert.deepEqual(taken.notes, []);
  assert.deepEqual(JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8')), { pid: process.pid });
  await taken.close();
});

test('a LOCK file naming a live process does not lock: only the OS lock does (pid 1 in two containers)', async () => {
  const dir = freshDir();
  await mkdir(dir);
  // Another container's node is pid 1 too, and pid 1 is alive here: a pid file would be taken for it.
  await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: 1 }));
  const opened = await DataDir.open(dir, { nodeId: n1 });
  await opened.close();
  await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid }));
  await (await DataDir.open(dir, { nodeId: n1 })).close();
});

test('the directories it creates are its user\'s only (0700), and so are its files (0600)', async () => {
  const dir = join(freshDir(), 'nested');
  const d = await DataDir.open(dir, { nodeId: n1 });
  await d.close();
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  assert.equal((await stat(join(dir, '..'))).mode & 0o777, 0o700);
  assert.equal((await stat(join(dir, META_FILE))).mode & 0o777, 0o600);
  assert.equal((await stat(join(dir, LOCK_FILE))).mode & 0o777, 0o600);
});
