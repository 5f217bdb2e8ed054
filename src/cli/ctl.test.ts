import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CTL_ENDPOINT_DEFAULT, CTL_LOCAL_TOKEN_FILE, parseCtlArgs, statusText, table } from './ctl.js';
import { UsageError } from './errors.js';

const parse = (argv: string[], env: Record<string, string> = {}) => parseCtlArgs(argv, env);

function usage(argv: string[]): string {
  try {
    parse(argv);
  } catch (err) {
    assert.ok(err instanceof UsageError, String(err));
    return err.message;
  }
  assert.fail(`expected ${JSON.stringify(argv)} to be refused`);
}

describe('parseCtlArgs', () => {
  it('parses every command', () => {
    assert.deepEqual(parse(['put', 'k', 'v']).command, { kind: 'put', key: 'k', value: 'v' });
    assert.deepEqual(parse(['get', 'k']).command, { kind: 'get', key: 'k', serializable: false });
    assert.deepEqual(parse(['get', '--serializable', 'k']).command, { kind: 'get', key: 'k', serializable: true });
    assert.deepEqual(parse(['del', 'k']).command, { kind: 'del', key: 'k' });
    assert.deepEqual(parse(['list']).command, { kind: 'list', prefix: '', limit: undefined, serializable: false });
    assert.deepEqual(parse(['list', 'a/', '--limit', '5']).command, { kind: 'list', prefix: 'a/', limit: 5, serializable: false });
    assert.deepEqual(parse(['cas', 'k', 'old', 'new']).command, { kind: 'cas', key: 'k', expected: 'old', value: 'new' });
    assert.deepEqual(parse(['cas', 'k', 'new', '--absent']).command, { kind: 'cas', key: 'k', expected: null, value: 'new' });
    assert.deepEqual(parse(['members']).command, { kind: 'members' });
    assert.deepEqual(parse(['members', 'add', 'n4', '127.0.0.1:7004']).command, {
      kind: 'members-add',
      id: 'n4',
      address: '127.0.0.1:7004',
    });
    assert.deepEqual(parse(['members', 'promote', 'n4']).command, { kind: 'members-promote', id: 'n4' });
    assert.deepEqual(parse(['members', 'remove', 'n4']).command, { kind: 'members-remove', id: 'n4' });
    assert.deepEqual(parse(['status']).command, { kind: 'status' });
    assert.deepEqual(parse(['transfer', 'n2']).command, { kind: 'transfer', to: 'n2' });
    assert.deepEqual(parse(['digest']).command, { kind: 'digest' });
    assert.deepEqual(parse(['put', 'k', 'v', '--lease', '7']).command, { kind: 'put', key: 'k', value: 'v', lease: 7 });
    assert.deepEqual(parse(['watch']).command, { kind: 'watch', prefix: '', fromRevision: undefined, limit: undefined });
    assert.deepEqual(parse(['watch', 'a/', '--from-revision', '9', '--limit', '3']).command, { kind: 'watch', prefix: 'a/', fromRevision: 9, limit: 3 });
    assert.deepEqual(parse(['lease', 'grant', '5000']).command, { kind: 'lease-grant', ttlMs: 5000 });
    assert.deepEqual(parse(['lease', 'keepalive', '3']).command, { kind: 'lease-keepalive', id: 3 });
    assert.deepEqual(parse(['lease', 'show', '3']).command, { kind: 'lease-show', id: 3 });
    assert.deepEqual(parse(['lease', 'revoke', '3']).command, { kind: 'lease-revoke', id: 3 });
    assert.deepEqual(parse(['lock', 'locks/a']).command, { kind: 'lock', key: 'locks/a', ttlMs: 10_000 });
    assert.deepEqual(parse(['lock', 'locks/a', '--ttl-ms', '3000']).command, { kind: 'lock', key: 'locks/a', ttlMs: 3000 });
    assert.deepEqual(parse(['--help']).command, { kind: 'help' });
  });

  it('takes the endpoint and token file from flags, then the environment, then the default', () => {
    assert.equal(parse(['status']).endpoint, CTL_ENDPOINT_DEFAULT);
    assert.equal(parse(['status'], { KUBERAFT_ENDPOINT: 'http://e:1' }).endpoint, 'http://e:1');
    assert.equal(parse(['status', '--endpoint', 'http://f:2'], { KUBERAFT_ENDPOINT: 'http://e:1' }).endpoint, 'http://f:2');
    assert.equal(parse(['status'], { KUBERAFT_ENDPOINT: '' }).endpoint, CTL_ENDPOINT_DEFAULT);
    // The local cluster's admin token, if it exists, for a loopback endpoint; nothing for another one.
    assert.deepEqual(parse(['status']).token, { kind: 'file', path: CTL_LOCAL_TOKEN_FILE, optional: true });
    assert.deepEqual(parse(['status', '--endpoint', 'http://[::1]:7101']).token, { kind: 'file', path: CTL_LOCAL_TOKEN_FILE, optional: true });
    assert.deepEqual(parse(['status', '--endpoint', 'https://kv.example.com']).token, { kind: 'none' });
    assert.deepEqual(parse(['status', '--endpoint', 'http://127.0.0.1.example.com:1']).token, { kind: 'none' });
    assert.deepEqual(parse(['status'], { KUBERAFT_TOKEN_FILE: '/t' }).token, { kind: 'file', path: '/t', optional: false });
    assert.deepEqual(parse(['status'], { KUBERAFT_TOKEN_FILE: '/t', KUBERAFT_TOKEN: 'tok' }).token, { kind: 'value', value: 'tok' });
    assert.deepEqual(parse(['status', '--token-file', '/u'], { KUBERAFT_TOKEN_FILE: '/t', KUBERAFT_TOKEN: 'tok' }).token, { kind: 'file', path: '/u', optional: false });
    const a = parse(['status', '--json', '--timeout-ms', '250']);
    assert.equal(a.json, true);
    assert.equal(a.timeoutMs, 250);
  });

  it('refuses bad arguments with a usage message', () => {
    assert.match(usage([]), /a command is required/);
    assert.match(usage(['frobnicate']), /unknown command "frobnicate"/);
    assert.match(usage(['put', 'k']), /usage: kuberaft ctl put KEY VALUE/);
    assert.match(usage(['get']), /usage: kuberaft ctl get KEY/);
    assert.match(usage(['cas', 'k', 'v']), /usage: kuberaft ctl cas KEY EXPECTED VALUE/);
    assert.match(usage(['members', 'add', 'n4']), /usage: kuberaft ctl members add ID ADDRESS/);
    assert.match(usage(['members', 'kick', 'n4']), /unknown members command "kick"/);
    assert.match(usage(['status', 'extra']), /usage: kuberaft ctl status/);
    assert.match(usage(['put', 'k', 'v', '--serializable']), /--serializable does not apply to "put"/);
    assert.match(usage(['get', 'k', '--absent']), /--absent does not apply/);
    assert.match(usage(['status', '--bogus']), /Unknown option '--bogus'/);
    assert.match(usage(['status', '--endpoint', 'localhost:8001']), /--endpoint: must be an http/);
    assert.match(usage(['status', '--timeout-ms', '0']), /--timeout-ms: must be an integer/);
    assert.match(usage(['list', '--limit', 'x']), /--limit: must be an integer/);
    assert.match(usage(['lease', 'renew', '3']), /unknown lease command "renew"/);
    assert.match(usage(['lease', 'revoke', 'x']), /lease ID: must be an integer/);
    assert.match(usage(['get', 'k', '--lease', '3']), /--lease does not apply to "get"/);
    assert.match(usage(['watch', 'a', 'b']), /usage: kuberaft ctl watch/);
  });
});

describe('ctl output', () => {
  it('aligns table columns', () => {
    assert.equal(
      table([
        ['ID', 'ROLE'],
        ['node-10', 'voter'],
      ]),
      'ID       ROLE\nnode-10  voter',
    );
  });

  it('shows status as a table with members and their progress', () => {
    const text = statusText({
      id: 'node-1',
      version: '0.1.0',
      pid: 42,
      clusterId: 'c1',
      state: 'member',
      role: 'leader',
      term: 3,
      leader: 'node-1',
      commitIndex: 10,
      appliedIndex: 10,
      lastIndex: 11,
      snapshotIndex: 0,
      snapshotSizeBytes: 0,
      pendingMembershipIndex: 0,
      heartbeatIntervalMs: 100,
      electionTimeoutMs: 1000,
      members: [
        { id: 'node-1', address: '127.0.0.1:7001', role: 'voter', matchIndex: 11, lastContactMs: 0, lagEntries: 0, active: true },
        { id: 'node-2', address: '127.0.0.1:7002', role: 'learner', matchIndex: null, lastContactMs: null, lagEntries: null, active: false },
      ],
    });
    assert.match(text, /^id\s+node-1$/m);
    assert.match(text, /^term\s+3$/m);
    assert.match(text, /^ID\s+ROLE\s+ADDRESS\s+MATCH$/m);
    assert.match(text, /^node-1 \*\s+voter\s+127\.0\.0\.1:7001\s+11$/m);
    assert.match(text, /^node-2\s+learner\s+127\.0\.0\.1:7002\s+-$/m);
  });
});
