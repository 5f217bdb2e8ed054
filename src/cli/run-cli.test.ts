import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NODE_CONFIG_FIELDS, envName, flagName } from '../config/node-config.js';
import type { CliIo } from './io.js';
import { runCli } from './run-cli.js';

function captureIo(env: Record<string, string> = {}): CliIo & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return { out: (t) => void (out += t), err: (t) => void (err += t), env, stdout: () => out, stderr: () => err };
}

describe('kuberaft', () => {
  it('--help lists the subcommands and exits 0; no command is a usage error', async () => {
    const io = captureIo();
    assert.equal(await runCli(['--help'], io), 0);
    for (const c of ['node', 'local', 'ctl', 'operator']) assert.match(io.stdout(), new RegExp(`^  ${c} `, 'm'));
    const none = captureIo();
    assert.equal(await runCli([], none), 2);
    assert.match(none.stderr(), /^Usage: kuberaft <command>/);
    assert.equal(none.stdout(), '');
  });

  it('node --help lists every flag with its env name and default', async () => {
    const io = captureIo();
    assert.equal(await runCli(['node', '--help'], io), 0);
    for (const key of Object.keys(NODE_CONFIG_FIELDS)) {
      assert.ok(io.stdout().includes(`--${flagName(key)}`), key);
      assert.ok(io.stdout().includes(envName(key)), key);
    }
  });

  it('a configuration error exits 2 with every problem and no stack', async () => {
    const io = captureIo({ KUBERAFT_TICK_MS: 'x' });
    assert.equal(await runCli(['node', '--id', 'n1', '--bogus'], io), 2);
    assert.match(io.stderr(), /^kuberaft node: invalid configuration:\n/);
    assert.match(io.stderr(), /--bogus: unknown flag/);
    assert.match(io.stderr(), /KUBERAFT_TICK_MS: must be an integer/);
    assert.match(io.stderr(), /dataDir: required/);
    assert.doesNotMatch(io.stderr(), /\n\s+at /);
    assert.equal(io.stdout(), '');
  });

  it('an unknown command exits 2', async () => {
    const io = captureIo();
    assert.equal(await runCli(['frob'], io), 2);
    assert.match(io.stderr(), /unknown command "frob"/);
  });

  it('operator runs the operator module, or says it is not in this build', async () => {
    const io = captureIo();
    const code = await runCli(['operator', '--help'], io);
    const present = existsSync(fileURLToPath(new URL('./operator.ts', import.meta.url)));
    if (present) assert.doesNotMatch(io.stderr(), /not available in this build/);
    else {
      assert.equal(io.stderr(), 'kuberaft operator: not available in this build\n');
      assert.equal(code, 2);
    }
  });

  it('a runtime failure exits 1 with the message', async () => {
    const io = captureIo();
    assert.equal(await runCli(['ctl', 'status', '--endpoint', 'http://127.0.0.1:9', '--timeout-ms', '500'], io), 1);
    // The client retries an unreachable node until the time limit, then says what the last attempt saw.
    assert.match(io.stderr(), /^kuberaft ctl: no answer within the call's time limit; the last attempt: GET http:\/\/127\.0\.0\.1:9\/v1\/status: cannot connect \(ECONNREFUSED\); is the node running/);
  });

  it('--version prints the package version', async () => {
    const io = captureIo();
    assert.equal(await runCli(['--version'], io), 0);
    assert.match(io.stdout(), /^\d+\.\d+\.\d+/);
  });
});
