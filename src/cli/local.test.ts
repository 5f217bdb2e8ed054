import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { UsageError } from './errors.js';
import { readTokens } from '../auth/tokens.js';
import { ensureLocalTokens, ensureSecretFile, localNode, localTokenFile, parseLocalArgs } from './local.js';

const dir = mkdtempSync(join(tmpdir(), 'kuberaft-local-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('kuberaft local', () => {
  it('has defaults for every flag', () => {
    assert.deepEqual(parseLocalArgs([]), { nodes: 3, dataDir: './data', portBase: 7000, host: '127.0.0.1', logLevel: 'info', anonymousRole: undefined, help: false });
    const a = parseLocalArgs(['--nodes', '5', '--data-dir', '/d', '--port-base', '9000', '--host', '::1', '--log-level', 'debug', '--anonymous-role', 'read']);
    assert.deepEqual(a, { nodes: 5, dataDir: '/d', portBase: 9000, host: '::1', logLevel: 'debug', anonymousRole: 'read', help: false });
  });

  it('refuses bad flags', () => {
    const cases: [string[], RegExp][] = [
      [['--nodes', '0'], /--nodes: must be an integer in 1\.\.9/],
      [['--nodes', '10'], /--nodes: must be an integer in 1\.\.9/],
      [['--port-base', '65500'], /--port-base: must be an integer in 1\.\.65432/],
      [['--host', 'not a host'], /--host: not an address/],
      [['--host', '0.0.0.0'], /--host: must be an address peers can dial/],
      [['--log-level', 'loud'], /--log-level: must be one of/],
      [['--anonymous-role', 'root'], /--anonymous-role: must be none or one of read, write, admin/],
      [['--bogus'], /Unknown option '--bogus'/],
      [['extra'], /Unexpected argument 'extra'/],
    ];
    for (const [argv, expected] of cases) assert.throws(() => parseLocalArgs(argv), (e: unknown) => e instanceof UsageError && expected.test(e.message), argv.join(' '));
  });

  it('lays node i out on peer port base+i and API port base+100+i', () => {
    assert.deepEqual(localNode({ dataDir: '/d', portBase: 7000, host: '127.0.0.1' }, 2), {
      id: 'node-2',
      ordinal: 2,
      peerAddress: '127.0.0.1:7002',
      apiAddress: '127.0.0.1:7102',
      apiUrl: 'http://127.0.0.1:7102',
      dataDir: join('/d', 'node-2'),
    });
    assert.equal(localNode({ dataDir: '/d', portBase: 7000, host: '::1' }, 1).apiUrl, 'http://[::1]:7101');
  });

  it('generates a secret file once, readable only by its owner, and reuses it', () => {
    const file = join(dir, 'cluster-secret');
    ensureSecretFile(file);
    const first = readFileSync(file, 'utf8');
    assert.match(first, /^[0-9a-f]{64}\n$/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    ensureSecretFile(file);
    assert.equal(readFileSync(file, 'utf8'), first);
  });

  it('generates one token per role and a tokens file that grants exactly those roles', () => {
    const tokensFile = ensureLocalTokens(dir);
    const tokens = readTokens({ tokensFile });
    assert.ok(tokens.ok, JSON.stringify(tokens));
    for (const role of ['read', 'write', 'admin'] as const) {
      const token = readFileSync(localTokenFile(dir, role), 'utf8').trim();
      assert.equal(tokens.value.match(token)?.role, role);
      assert.equal(statSync(localTokenFile(dir, role)).mode & 0o777, 0o600);
    }
    assert.equal(statSync(tokensFile).mode & 0o777, 0o600);
    assert.ok(!readFileSync(tokensFile, 'utf8').includes(readFileSync(localTokenFile(dir, 'admin'), 'utf8').trim()), 'the tokens file holds digests only');
  });
});
