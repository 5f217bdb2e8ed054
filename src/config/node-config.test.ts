import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, describe, it } from 'node:test';
import { ConfigError } from './errors.js';
import {
  NODE_CONFIG_FIELDS,
  describeNodeConfig,
  envName,
  flagName,
  nodeConfigHelp,
  parseNodeConfig,
  raftTicks,
} from './node-config.js';

const dir = mkdtempSync(join(tmpdir(), 'kuberaft-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function file(content: string, name?: string): string {
  fileCount += 1;
  const p = join(dir, name ?? `f${fileCount}`);
  writeFileSync(p, content);
  return p;
}

const TOKENS = file('tokens:\n  - {name: app, role: write, token: app-token-app-token}\n', 'tokens.yaml');
/** The required fields, and tokens (without any way in, a node would refuse every request). */
const REQUIRED = ['--id', 'node-1', '--data-dir', '/var/lib/kuberaft', '--tokens-file', TOKENS];

/** The problems of a config that must fail. */
function problems(argv: string[], env: Record<string, string | undefined> = {}): string[] {
  try {
    parseNodeConfig(argv, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'invalid-config');
    return [...err.problems];
  }
  assert.fail(`expected ${JSON.stringify(argv)} to be rejected`);
}

describe('parseNodeConfig', () => {
  it('fills defaults when only the required fields are given', () => {
    const c = parseNodeConfig(REQUIRED, {});
    assert.equal(c.id, 'node-1');
    assert.equal(c.dataDir, '/var/lib/kuberaft');
    assert.deepEqual(c.listenPeer, { host: '127.0.0.1', port: 7001 });
    assert.deepEqual(c.listenApi, { host: '127.0.0.1', port: 8001 });
    assert.deepEqual(c.advertisePeer, c.listenPeer);
    assert.equal(c.bootstrap, false);
    assert.equal(c.clusterSecret, undefined);
    assert.equal(c.tokens.size, 1);
    assert.equal(c.anonymousRole, undefined);
    assert.equal(c.metricsRequireToken, false);
    assert.equal(c.logLevel, 'info');
    assert.equal(c.tickMs, 10);
    assert.equal(c.electionTimeoutMs, 1000);
    assert.equal(c.heartbeatIntervalMs, 100);
    assert.equal(c.snapshotThresholdEntries, 10000);
    assert.equal(c.snapshotThresholdBytes, 64 * 1024 * 1024);
    assert.deepEqual(raftTicks(c), { electionTimeoutTicks: 100, heartbeatIntervalTicks: 10 });
  });

  it('reports each missing required field with all the ways to set it', () => {
    const p = problems(['--anonymous-role', 'read']);
    assert.deepEqual(p, [
      'id: required; set --id, KUBERAFT_ID or "id" in the config file',
      'dataDir: required; set --data-dir, KUBERAFT_DATA_DIR or "dataDir" in the config file',
    ]);
  });

  it('takes file < env < flags, field by field', () => {
    const yaml = file(`id: from-file\ndataDir: /file\ntickMs: 5\nheartbeatIntervalMs: 50\nelectionTimeoutMs: 700\nlogLevel: warn\ntokensFile: ${TOKENS}\n`);
    const c = parseNodeConfig(['--config', yaml, '--tick-ms', '20', '--election-timeout-ms=900'], {
      KUBERAFT_TICK_MS: '7',
      KUBERAFT_HEARTBEAT_INTERVAL_MS: '60',
      KUBERAFT_ID: 'from-env',
    });
    assert.equal(c.id, 'from-env');
    assert.equal(c.dataDir, '/file');
    assert.equal(c.tickMs, 20);
    assert.equal(c.heartbeatIntervalMs, 60);
    assert.equal(c.electionTimeoutMs, 900);
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.configFile, yaml);
  });

  it('finds the config file through KUBERAFT_CONFIG, and the flag wins over it', () => {
    const a = file('id: a\ndataDir: /a\nanonymousRole: read\n');
    const b = file('id: b\ndataDir: /b\nanonymousRole: read\n');
    assert.equal(parseNodeConfig([], { KUBERAFT_CONFIG: a }).id, 'a');
    assert.equal(parseNodeConfig(['--config', b], { KUBERAFT_CONFIG: a }).id, 'b');
  });

  it('treats an empty env variable as unset', () => {
    assert.equal(parseNodeConfig(REQUIRED, { KUBERAFT_TICK_MS: '' }).tickMs, 10);
  });

  it('names the source of every bad value: flag, env and file', () => {
    const yaml = file('tickMs: abc\n', 'config.yaml');
    const p = problems(['--config', yaml, ...REQUIRED, '--tick-ms', 'abc'], { KUBERAFT_TICK_MS: '-3' });
    assert.deepEqual(p, [
      `${yaml}: tickMs: must be an integer in 1..1000 (got "abc")`,
      'KUBERAFT_TICK_MS: must be an integer in 1..1000 (got "-3")',
      '--tick-ms: must be an integer in 1..1000 (got "abc")',
    ]);
  });

  it('validates every kind of value', () => {
    const cases: [string[], RegExp][] = [
      [['--id', 'bad id!'], /^--id: must be 1\.\.63 letters/],
      [['--id', 'a'.repeat(64)], /^--id: must be 1\.\.63/],
      [['--data-dir', ' '], /^--data-dir: must be a non-empty path/],
      [['--listen-peer', 'localhost'], /^--listen-peer: must be host:port \(must be host:port\)/],
      [['--listen-peer', '127.0.0.1:0'], /port must be an integer in 1\.\.65535/],
      [['--listen-peer', '127.0.0.1:65536'], /port must be an integer in 1\.\.65535/],
      [['--listen-api', '::1:8000'], /IPv6 address must be in brackets/],
      [['--listen-api', '[::g]:8000'], /is not an IPv6 address/],
      [['--listen-api', 'bad_host:8000'], /neither an IPv4 address nor a DNS name/],
      [['--listen-api', '300.1.1.1:8000'], /neither an IPv4 address nor a DNS name/],
      [['--log-level', 'verbose'], /^--log-level: must be one of debug, info, warn, error \(got "verbose"\)/],
      [['--tick-ms', '1.5'], /^--tick-ms: must be an integer in 1\.\.1000/],
      [['--election-timeout-ms', '0'], /^--election-timeout-ms: must be an integer/],
      [['--heartbeat-interval-ms', 'x'], /^--heartbeat-interval-ms: must be an integer/],
      [['--snapshot-threshold-entries', '0'], /^--snapshot-threshold-entries: must be an integer/],
      [['--snapshot-threshold-bytes', '12 parsecs'], /^--snapshot-threshold-bytes: must be a size in 1KiB\.\.64GiB/],
      [['--snapshot-threshold-bytes', '100'], /^--snapshot-threshold-bytes: must be a size/],
    ];
    for (const [argv, expected] of cases) {
      const base = argv[0] === '--id' || argv[0] === '--data-dir' ? ['--id', 'n', '--data-dir', '/d', '--tokens-file', TOKENS] : REQUIRED;
      const withoutDup = base.filter((_, i) => base[i - (i % 2)] !== argv[0]);
      const p = problems([...withoutDup, ...argv]);
      assert.equal(p.length, 1, `${argv.join(' ')} → ${JSON.stringify(p)}`);
      assert.match(p[0] ?? '', expected, argv.join(' '));
    }
  });

  it('accepts IPv4, bracketed IPv6 and DNS names', () => {
    const c = parseNodeConfig(
      [...REQUIRED, '--listen-peer', '[::1]:7001', '--listen-api', '0.0.0.0:8001', '--advertise-peer', 'kr-0.kr.default.svc:7001'],
      {},
    );
    assert.deepEqual(c.listenPeer, { host: '::1', port: 7001 });
    assert.deepEqual(c.listenApi, { host: '0.0.0.0', port: 8001 });
    assert.deepEqual(c.advertisePeer, { host: 'kr-0.kr.default.svc', port: 7001 });
    assert.equal(describeNodeConfig(c)['listenPeer'], '[::1]:7001');
  });

  it('parses byte sizes with units and integers from YAML', () => {
    const yaml = file('snapshotThresholdBytes: 2MiB\nsnapshotThresholdEntries: 500\nbootstrap: true\n');
    const c = parseNodeConfig([...REQUIRED, '--config', yaml], {});
    assert.equal(c.snapshotThresholdBytes, 2 * 1024 * 1024);
    assert.equal(c.snapshotThresholdEntries, 500);
    assert.equal(c.bootstrap, true);
    assert.equal(parseNodeConfig(REQUIRED, { KUBERAFT_SNAPSHOT_THRESHOLD_BYTES: '4096' }).snapshotThresholdBytes, 4096);
  });

  it('reads booleans from a bare flag, env true/false/1/0 and YAML booleans only', () => {
    assert.equal(parseNodeConfig([...REQUIRED, '--bootstrap'], {}).bootstrap, true);
    assert.equal(parseNodeConfig(REQUIRED, { KUBERAFT_BOOTSTRAP: 'true' }).bootstrap, true);
    assert.equal(parseNodeConfig(REQUIRED, { KUBERAFT_BOOTSTRAP: '0' }).bootstrap, false);
    assert.deepEqual(problems([...REQUIRED], { KUBERAFT_BOOTSTRAP: 'yes' }), [
      'KUBERAFT_BOOTSTRAP: must be true or false (got "yes")',
    ]);
    const yaml = file('bootstrap: "sure"\n');
    assert.deepEqual(problems([...REQUIRED, '--config', yaml]), [`${yaml}: bootstrap: must be true or false (got "sure")`]);
    assert.deepEqual(problems([...REQUIRED, '--bootstrap=false']), ['--bootstrap: takes no value (got "false")']);
  });

  it('checks fields against each other', () => {
    assert.deepEqual(problems([...REQUIRED, '--heartbeat-interval-ms', '200']), [
      'electionTimeoutMs (default): must be greater than 5 x heartbeatIntervalMs (200 from --heartbeat-interval-ms), i.e. > 1000 (got 1000)',
    ]);
    assert.deepEqual(problems([...REQUIRED, '--tick-ms', '50', '--heartbeat-interval-ms', '20']), [
      '--heartbeat-interval-ms: must be >= tickMs (50 from --tick-ms) (got 20)',
    ]);
    assert.deepEqual(problems([...REQUIRED, '--listen-api', '127.0.0.1:7001']), [
      '--listen-api: must differ from listenPeer (default) (both 127.0.0.1:7001)',
    ]);
    assert.deepEqual(problems([...REQUIRED, '--listen-peer', '0.0.0.0:7001', '--listen-api', '127.0.0.1:7001']).length, 2);
    // Exactly 5 heartbeats is not enough; just above is.
    assert.equal(problems([...REQUIRED, '--election-timeout-ms', '500']).length, 1);
    assert.equal(parseNodeConfig([...REQUIRED, '--election-timeout-ms', '501'], {}).electionTimeoutMs, 501);
  });

  it('refuses an unspecified advertised address, and requires one when listening on all interfaces', () => {
    assert.deepEqual(problems([...REQUIRED, '--advertise-peer', '0.0.0.0:7001']), [
      '--advertise-peer: must be an address peers can dial, not 0.0.0.0',
    ]);
    assert.deepEqual(problems([...REQUIRED, '--listen-peer', '[::]:7001']), [
      'advertisePeer: required when --listen-peer is [::]:7001; set --advertise-peer to the address peers dial',
    ]);
    const c = parseNodeConfig([...REQUIRED, '--listen-peer', '0.0.0.0:7001', '--advertise-peer', '10.0.0.5:7001'], {});
    assert.deepEqual(c.advertisePeer, { host: '10.0.0.5', port: 7001 });
  });

  it('rejects unknown flags, positionals, repeated flags and missing values', () => {
    assert.deepEqual(problems([...REQUIRED, '--tick', '5', '-v']), [
      '--tick: unknown flag (see --help)',
      'unexpected argument "5" (this command takes flags only)',
      '-v: unknown flag (see --help)',
    ]);
    assert.deepEqual(problems([...REQUIRED, '--tick-ms', '5', '--tick-ms=6']), ['--tick-ms: given more than once']);
    assert.deepEqual(problems([...REQUIRED, '--tick-ms', '--bootstrap']), ['--tick-ms: needs a value']);
    assert.deepEqual(problems([...REQUIRED, '--log-level']), ['--log-level: needs a value']);
  });

  it('rejects unknown YAML keys, non-mapping documents, bad YAML and unreadable files', () => {
    const unknown = file('id: a\ndataDir: /d\ntick_ms: 5\n');
    const [p1] = problems(['--config', unknown]);
    assert.match(p1 ?? '', new RegExp(`^${unknown}: tick_ms: unknown key \\(known keys: id, dataDir, `));
    const list = file('- a\n- b\n');
    assert.match(problems(['--config', list])[0] ?? '', /must be a mapping of configuration keys/);
    const broken = file('id: [unclosed\n');
    assert.match(problems(['--config', broken])[0] ?? '', /not valid YAML/);
    assert.match(problems(['--config', join(dir, 'missing.yaml')])[0] ?? '', /^--config: cannot read config file .* \(ENOENT\)/);
    assert.match(problems([], { KUBERAFT_CONFIG: join(dir, 'missing.yaml') })[0] ?? '', /^KUBERAFT_CONFIG: cannot read/);
    // An empty file configures nothing.
    assert.equal(parseNodeConfig([...REQUIRED, '--config', file('')], {}).tickMs, 10);
  });

  it('reads secrets from files, trims the trailing newline, and never shows them', () => {
    const secret = file('s3cr3t-s3cr3t-s3cr3t\n');
    const token = file('token-token-token-token\r\n');
    const c = parseNodeConfig([...REQUIRED, '--cluster-secret-file', secret], { KUBERAFT_ADMIN_TOKEN_FILE: token });
    assert.equal(c.clusterSecret?.reveal(), 's3cr3t-s3cr3t-s3cr3t');
    assert.deepEqual(c.tokens.match('token-token-token-token'), { name: 'admin-token-file', role: 'admin', digest: c.tokens.match('token-token-token-token')?.digest });
    assert.equal(c.tokens.match('token-token-token-token\r'), undefined);
    assert.equal(c.clusterSecretFile, secret);
    for (const shown of [JSON.stringify(c), inspect(c, { depth: 5 }), String(c.clusterSecret), JSON.stringify(describeNodeConfig(c))]) {
      assert.ok(!shown.includes('s3cr3t'), shown);
      assert.ok(!shown.includes('token-token'), shown);
    }
    assert.deepEqual(describeNodeConfig(c)['tokens'], [
      { name: 'app', role: 'write' },
      { name: 'admin-token-file', role: 'admin' },
    ]);
  });

  it('reports unreadable, empty and short secret files against their source', () => {
    assert.deepEqual(problems([...REQUIRED, '--cluster-secret-file', join(dir, 'nope')]), [
      `--cluster-secret-file: cannot read secret file "${join(dir, 'nope')}" (ENOENT)`,
    ]);
    const empty = file('\n');
    assert.deepEqual(problems(REQUIRED, { KUBERAFT_ADMIN_TOKEN_FILE: empty }), [
      `the token in "${empty}" must be at least 16 characters (--tokens-file)`,
    ]);
  });

  it('collects problems from all sources at once', () => {
    const yaml = file('logLevel: loud\n');
    const p = problems(['--config', yaml, '--id', 'n1', '--listen-api', 'x'], { KUBERAFT_DATA_DIR: '/d', KUBERAFT_TICK_MS: 'z', KUBERAFT_ANONYMOUS_ROLE: 'read' });
    assert.equal(p.length, 3, JSON.stringify(p));
  });

  it('refuses a node nobody could use: no tokens and no anonymous role', () => {
    assert.deepEqual(problems(['--id', 'n', '--data-dir', '/d']), [
      'tokensFile: no client could use this node: set --tokens-file (or --admin-token-file), or --anonymous-role to serve requests without a token',
    ]);
    const open = parseNodeConfig(['--id', 'n', '--data-dir', '/d', '--anonymous-role', 'write'], {});
    assert.equal(open.anonymousRole, 'write');
    assert.equal(open.tokens.size, 0);
    assert.match(problems([...REQUIRED, '--anonymous-role', 'root'])[0] ?? '', /^--anonymous-role: must be none or one of read, write, admin/);
  });

  it('reports bad token files without quoting a token', () => {
    const bad = file('tokens:\n  - {name: a, role: owner, token: secret-secret-secret-1}\n  - {name: b, role: read, token: short}\n  - {name: c, role: read}\n  - {name: d, role: read, sha256: xyz}\n');
    const p = problems(['--id', 'n', '--data-dir', '/d', '--tokens-file', bad]);
    assert.equal(p.length, 4, JSON.stringify(p));
    assert.ok(!JSON.stringify(p).includes('secret-secret'));
    const same = file('tokens:\n  - {name: a, role: read, token: same-token-same-token}\n  - {name: b, role: admin, token: same-token-same-token}\n');
    assert.match(problems(['--id', 'n', '--data-dir', '/d', '--tokens-file', same])[0] ?? '', /tokens "a" and "b" are the same token/);
    const yaml = file('tokens:\n  - {name: a, role: read, token: "unclosed-secret-value\n');
    const [broken] = problems(['--id', 'n', '--data-dir', '/d', '--tokens-file', yaml]);
    assert.match(broken ?? '', /not valid YAML or JSON \(line \d+/);
    assert.ok(!(broken ?? '').includes('unclosed-secret'), broken);
  });
});

describe('nodeConfigHelp', () => {
  it('lists every field with its flag, env name, YAML key and default', () => {
    const help = nodeConfigHelp();
    for (const key of Object.keys(NODE_CONFIG_FIELDS)) {
      assert.ok(help.includes(`--${flagName(key)}`), key);
      assert.ok(help.includes(`env ${envName(key)}, yaml ${key}, `), key);
    }
    assert.match(help, /--config FILE\n\s+env KUBERAFT_CONFIG/);
    assert.match(help, /--tick-ms N\n\s+env KUBERAFT_TICK_MS, yaml tickMs, default 10\n/);
    assert.match(help, /--snapshot-threshold-bytes BYTES\n\s+.*default 64MiB\n/);
    assert.match(help, /--id ID\n\s+env KUBERAFT_ID, yaml id, required\n/);
  });

  it('derives names from the camelCase key', () => {
    assert.equal(flagName('snapshotThresholdBytes'), 'snapshot-threshold-bytes');
    assert.equal(envName('snapshotThresholdBytes'), 'KUBERAFT_SNAPSHOT_THRESHOLD_BYTES');
  });
});
