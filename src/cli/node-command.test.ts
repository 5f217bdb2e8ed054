import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeConfig } from '../config/node-config.js';
import type { CliIo } from './io.js';
import { runNodeCommand } from './node-command.js';
import type { RunNode, RunningNode } from './node-command.js';

function captureIo(): CliIo & { stdout: () => string } {
  let out = '';
  return { out: (t) => void (out += t), err: () => undefined, env: {}, stdout: () => out };
}

const ARGS = ['--id', 'node-7', '--data-dir', '/nonexistent/kuberaft', '--log-level', 'error', '--anonymous-role', 'read'];

/** Resolves once `predicate` holds, checking each millisecond (bounded). */
async function until(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 5000 && !predicate(); i += 1) await new Promise((r) => setTimeout(r, 1));
  assert.ok(predicate(), 'condition never held');
}

describe('kuberaft node', () => {
  it('starts the node with the parsed config and stops it gracefully on SIGTERM (exit 0)', async () => {
    let received: NodeConfig | undefined;
    let stops = 0;
    const loader = async (): Promise<RunNode> => async (config) => {
      received = config;
      return { stop: async () => void (stops += 1) };
    };
    const run = runNodeCommand(ARGS, captureIo(), loader);
    await until(() => received !== undefined);
    assert.equal(received?.id, 'node-7');
    assert.equal(stops, 0);
    process.emit('SIGTERM', 'SIGTERM');
    assert.equal(await run, 0);
    assert.equal(stops, 1);
    assert.equal(process.listenerCount('SIGTERM'), 0, 'signal handlers removed');
  });

  it('exits 1 when the node fails to start, and when it fails later', async () => {
    const failing = async (): Promise<RunNode> => async () => {
      throw new Error('port in use');
    };
    assert.equal(await runNodeCommand(ARGS, captureIo(), failing), 1);
    let fail!: (err: Error) => void;
    const closed = new Promise<never>((_, reject) => (fail = reject));
    const crashing = async (): Promise<RunNode> => async (): Promise<RunningNode> => ({ stop: async () => undefined, closed });
    const run = runNodeCommand(ARGS, captureIo(), crashing);
    fail(new Error('wal corrupted'));
    assert.equal(await run, 1);
  });

  it('prints help without starting anything', async () => {
    const io = captureIo();
    const loader = async (): Promise<RunNode> => assert.fail('must not load the node');
    assert.equal(await runNodeCommand(['--help'], io, loader), 0);
    assert.match(io.stdout(), /--data-dir DIR/);
  });
});
