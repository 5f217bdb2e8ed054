// The node's configuration: one schema read from three sources, later ones winning:
//   YAML file (`--config FILE`, keys in camelCase) < environment (`KUBERAFT_*`) < flags (`--kebab-case`).
// Every value from every source is validated, and fields are checked against each other; all problems
// are reported together in one ConfigError, each naming where the bad value came from.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { load as loadYaml, YAMLException } from 'js-yaml';
import type { NodeId } from '../raft/types.js';
import { nodeId } from '../raft/types.js';
import { assert } from '../raft/assert.js';
import { LOG_LEVELS, isLogLevel } from '../log/logger.js';
import type { LogLevel } from '../log/logger.js';
import { ConfigError } from './errors.js';
import { formatHostPort, isUnspecifiedHost, parseHostPort } from './host-port.js';
import type { HostPort } from './host-port.js';
import { readSecretFile } from './secret.js';
import type { Secret } from './secret.js';
import type { ClientRole } from '../auth/roles.js';
import { CLIENT_ROLES, isClientRole } from '../auth/roles.js';
import { readTokens, type TokenSet } from '../auth/tokens.js';

export const ENV_PREFIX = 'KUBERAFT_';
/** Node ids appear in URLs, metric labels and DNS names: a DNS label's length and alphabet. */
export const NODE_ID_MAX_CHARS = 63;
export const TICK_MS_MAX = 1000;
export const HEARTBEAT_INTERVAL_MS_MAX = 10_000;
export const ELECTION_TIMEOUT_MS_MAX = 60_000;
/** An election timeout must span this many heartbeats, so a few lost heartbeats never start an election. */
export const ELECTION_TIMEOUT_HEARTBEATS_MIN = 5;
export const SNAPSHOT_THRESHOLD_ENTRIES_MAX = 100_000_000;
export const SNAPSHOT_THRESHOLD_BYTES_MIN = 1024;
export const SNAPSHOT_THRESHOLD_BYTES_MAX = 64 * 1024 * 1024 * 1024;
/** Largest config file read, in bytes. */
export const CONFIG_FILE_MAX_BYTES = 1024 * 1024;

export interface NodeConfig {
  /** This node's stable name (the pod name in Kubernetes). */
  readonly id: NodeId;
  /** Holds the WAL, snapshots and the node's identity; created if missing. */
  readonly dataDir: string;
  /** Where the peer (Raft) transport listens. */
  readonly listenPeer: HostPort;
  /** Where the HTTP API listens. */
  readonly listenApi: HostPort;
  /** The peer address other members dial; never an unspecified address. Defaults to listenPeer. */
  readonly advertisePeer: HostPort;
  /** Start a new one-node cluster if the data dir is empty. */
  readonly bootstrap: boolean;
  /** Shared by all members; peers without it are refused. `undefined`: peers are not authenticated. */
  readonly clusterSecret: Secret | undefined;
  /** The client API's bearer tokens as read at start (tokensFile and adminTokenFile); reloaded by the node. */
  readonly tokens: TokenSet;
  /** The role of a request without a token; undefined: such requests are refused (401). */
  readonly anonymousRole: ClientRole | undefined;
  /** /metrics needs a token with the read role (else it is open, as scrapers expect). */
  readonly metricsRequireToken: boolean;
  readonly logLevel: LogLevel;
  readonly tickMs: number;
  readonly electionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  /** Snapshot when this many entries were applied since the last snapshot... */
  readonly snapshotThresholdEntries: number;
  /** ...or when the log since the last snapshot holds this many bytes. */
  readonly snapshotThresholdBytes: number;
  /** Where the values came from, for the start-up log line (no secret values in here). */
  readonly configFile: string | undefined;
  readonly clusterSecretFile: string | undefined;
  readonly tokensFile: string | undefined;
  readonly adminTokenFile: string | undefined;
}

// ---------------------------------------------------------------------------------------------------
// Kinds of values: how text (flags, env) or YAML values become typed values.

type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };
const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(problem: string): Parsed<T> => ({ ok: false, problem });

interface Kind<T> {
  /** The placeholder in help text (`--tick-ms N`). */
  readonly valueName: string;
  /** `raw` is a string from flags and env; any YAML value from the file. */
  parse(raw: unknown): Parsed<T>;
  format(value: T): string;
}

function integer(min: number, max: number): Kind<number> {
  return {
    valueName: 'N',
    parse(raw) {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n) || n < min || n > max) return bad(`must be an integer in ${min}..${max}`);
      return ok(n);
    },
    format: String,
  };
}

const BYTE_UNITS: Readonly<Record<string, number>> = { '': 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

function byteSize(min: number, max: number): Kind<number> {
  const range = `${formatBytes(min)}..${formatBytes(max)}`;
  return {
    valueName: 'BYTES',
    parse(raw) {
      let n = NaN;
      if (typeof raw === 'number') n = raw;
      else if (typeof raw === 'string') {
        const m = /^(\d+)\s*(KiB|MiB|GiB)?$/.exec(raw.trim());
        if (m !== null) n = Number(m[1]) * (BYTE_UNITS[m[2] ?? ''] ?? NaN);
      }
      if (!Number.isSafeInteger(n) || n < min || n > max)
        return bad(`must be a size in ${range} (bytes, or with a unit: KiB, MiB, GiB)`);
      return ok(n);
    },
    format: formatBytes,
  };
}

function formatBytes(n: number): string {
  for (const unit of ['GiB', 'MiB', 'KiB']) {
    const size = BYTE_UNITS[unit] ?? 1;
    if (n >= size && n % size === 0) return `${n / size}${unit}`;
  }
  return String(n);
}

const boolean: Kind<boolean> = {
  valueName: '',
  parse(raw) {
    if (typeof raw === 'boolean') return ok(raw);
    if (raw === 'true' || raw === '1') return ok(true);
    if (raw === 'false' || raw === '0') return ok(false);
    return bad('must be true or false');
  },
  format: String,
};

const hostPort: Kind<HostPort> = {
  valueName: 'HOST:PORT',
  parse(raw) {
    if (typeof raw !== 'string') return bad('must be a string host:port');
    const r = parseHostPort(raw.trim());
    return r.ok ? r : bad(`must be host:port (${r.problem})`);
  },
  format: formatHostPort,
};

const NODE_ID = new RegExp(`^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,${NODE_ID_MAX_CHARS - 2}}[A-Za-z0-9])?$`);

/** A node id: what a pod name allows, so that ids work as Kubernetes names and DNS labels. */
export function isValidNodeId(id: string): boolean {
  return NODE_ID.test(id);
}

export const NODE_ID_RULE = `1..${NODE_ID_MAX_CHARS} letters, digits, '.', '_' or '-', starting and ending alphanumeric`;
const nodeIdKind: Kind<NodeId> = {
  valueName: 'ID',
  parse(raw) {
    if (typeof raw !== 'string' || !isValidNodeId(raw)) return bad(`must be ${NODE_ID_RULE}`);
    return ok(nodeId(raw));
  },
  format: String,
};

function path(valueName: string): Kind<string> {
  return {
    valueName,
    parse(raw) {
      if (typeof raw !== 'string' || raw.trim().length === 0) return bad('must be a non-empty path');
      return ok(raw);
    },
    format: String,
  };
}

/** `none` or a role: what a request without a token may do. */
const anonymousRoleKind: Kind<ClientRole | 'none'> = {
  valueName: 'ROLE',
  parse(raw) {
    return raw === 'none' || isClientRole(raw) ? ok(raw) : bad(`must be none or one of ${CLIENT_ROLES.join(', ')}`);
  },
  format: String,
};

const logLevel: Kind<LogLevel> = {
  valueName: 'LEVEL',
  parse(raw) {
    return isLogLevel(raw) ? ok(raw) : bad(`must be one of ${LOG_LEVELS.join(', ')}`);
  },
  format: String,
};

// ---------------------------------------------------------------------------------------------------
// The schema: every field once. Flag and env names derive from the key: tickMs → --tick-ms, KUBERAFT_TICK_MS.

interface Field<T> {
  readonly kind: Kind<T>;
  readonly help: string;
  readonly required?: boolean;
  readonly defaultValue?: T;
  /** Shown instead of a default value when the default depends on another field. */
  readonly defaultText?: string;
}

const f = <T>(field: Field<T>): Field<T> => field;

export const NODE_CONFIG_FIELDS = {
  id: f({ kind: nodeIdKind, required: true, help: "this node's stable name; never reuse one for a different node" }),
  dataDir: f({ kind: path('DIR'), required: true, help: 'directory for the WAL, snapshots and node identity' }),
  listenPeer: f({
    kind: hostPort,
    defaultValue: { host: '127.0.0.1', port: 7001 },
    help: 'address the peer (Raft) transport listens on',
  }),
  listenApi: f({
    kind: hostPort,
    defaultValue: { host: '127.0.0.1', port: 8001 },
    help: 'address the HTTP API (client, admin, /metrics) listens on',
  }),
  advertisePeer: f({
    kind: hostPort,
    defaultText: 'the listen-peer address',
    help: 'peer address other members dial; required when listen-peer is 0.0.0.0 or [::]',
  }),
  bootstrap: f({
    kind: boolean,
    defaultValue: false,
    help: 'start a new one-node cluster if the data dir is empty (without it an empty node waits to be added)',
  }),
  clusterSecretFile: f({
    kind: path('FILE'),
    help: 'file holding the secret all members share (peers without it are refused)',
  }),
  tokensFile: f({
    kind: path('FILE'),
    help: 'YAML/JSON file of the client bearer tokens {name, role: read|write|admin, sha256 | token}; re-read when it changes',
  }),
  adminTokenFile: f({ kind: path('FILE'), help: 'file holding one bearer token with the admin role (older form of --tokens-file)' }),
  anonymousRole: f({
    kind: anonymousRoleKind,
    defaultValue: 'none' as ClientRole | 'none',
    help: 'what a request without a token may do: none (refused with 401), read, write or admin',
  }),
  metricsRequireToken: f({ kind: boolean, defaultValue: false, help: 'serve /metrics only to tokens with the read role (by default it is open to scrapers)' }),
  logLevel: f({ kind: logLevel, defaultValue: 'info' as LogLevel, help: `one of ${LOG_LEVELS.join(', ')}` }),
  tickMs: f({ kind: integer(1, TICK_MS_MAX), defaultValue: 10, help: 'Raft tick length, in milliseconds' }),
  electionTimeoutMs: f({
    kind: integer(1, ELECTION_TIMEOUT_MS_MAX),
    defaultValue: 1000,
    help: `base election timeout in milliseconds (randomised up to 2x); more than ${ELECTION_TIMEOUT_HEARTBEATS_MIN} heartbeat intervals`,
  }),
  heartbeatIntervalMs: f({
    kind: integer(1, HEARTBEAT_INTERVAL_MS_MAX),
    defaultValue: 100,
    help: 'leader heartbeat interval in milliseconds; at least one tick',
  }),
  snapshotThresholdEntries: f({
    kind: integer(1, SNAPSHOT_THRESHOLD_ENTRIES_MAX),
    defaultValue: 10_000,
    help: 'snapshot after this many log entries since the last snapshot',
  }),
  snapshotThresholdBytes: f({
    kind: byteSize(SNAPSHOT_THRESHOLD_BYTES_MIN, SNAPSHOT_THRESHOLD_BYTES_MAX),
    defaultValue: 64 * 1024 * 1024,
    help: 'snapshot after this many log bytes since the last snapshot',
  }),
} as const;

type FieldKey = keyof typeof NODE_CONFIG_FIELDS;
type FieldValue<K extends FieldKey> = (typeof NODE_CONFIG_FIELDS)[K] extends Field<infer T> ? T : never;
const FIELD_KEYS = Object.keys(NODE_CONFIG_FIELDS) as FieldKey[];

/** The config file itself: a flag and env var, but not a YAML key. */
export const CONFIG_FILE_FLAG = 'config';
export const CONFIG_FILE_ENV = `${ENV_PREFIX}CONFIG`;

export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
export function envName(key: string): string {
  return ENV_PREFIX + key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}

// ---------------------------------------------------------------------------------------------------
// Sources.

type Layer = 'file' | 'env' | 'flag';
const LAYERS_LOW_TO_HIGH: readonly Layer[] = ['file', 'env', 'flag'];

interface Sources {
  readonly file: Map<string, unknown>;
  readonly env: Map<string, unknown>;
  readonly flag: Map<string, unknown>;
  readonly configFile: string | undefined;
}

function sourceLabel(layer: Layer, key: string, configFile: string | undefined): string {
  switch (layer) {
    case 'flag':
      return `--${flagName(key)}`;
    case 'env':
      return envName(key);
    case 'file':
      return `${configFile ?? 'config file'}: ${key}`;
  }
}

const showRaw = (raw: unknown): string => (typeof raw === 'string' ? JSON.stringify(raw) : JSON.stringify(raw) ?? String(raw));

function readFlags(argv: readonly string[], problems: string[]): { flags: Map<string, unknown>; configFile?: string } {
  const options: Record<string, { type: 'string' | 'boolean' }> = { [CONFIG_FILE_FLAG]: { type: 'string' } };
  const keyByFlag = new Map<string, FieldKey>();
  for (const key of FIELD_KEYS) {
    const name = flagName(key);
    keyByFlag.set(name, key);
    options[name] = { type: NODE_CONFIG_FIELDS[key].kind === boolean ? 'boolean' : 'string' };
  }
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const flags = new Map<string, unknown>();
  const seen = new Set<string>();
  let configFile: string | undefined;
  for (const token of tokens) {
    if (token.kind === 'positional') {
      problems.push(`unexpected argument ${JSON.stringify(token.value)} (this command takes flags only)`);
      continue;
    }
    if (token.kind === 'option-terminator') continue;
    const option = options[token.name];
    if (option === undefined || !token.rawName.startsWith('--')) {
      problems.push(`${token.rawName}: unknown flag (see --help)`);
      continue;
    }
    if (seen.has(token.name)) {
      problems.push(`${token.rawName}: given more than once`);
      continue;
    }
    seen.add(token.name);
    if (option.type === 'boolean') {
      if (token.value !== undefined) problems.push(`${token.rawName}: takes no value (got ${JSON.stringify(token.value)})`);
      else flags.set(keyByFlag.get(token.name) ?? token.name, true);
      continue;
    }
    // parseArgs (non-strict) takes the next argument even if it is a flag: `--tick-ms --id x`.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('--'))) {
      problems.push(`${token.rawName}: needs a value`);
      continue;
    }
    if (token.name === CONFIG_FILE_FLAG) configFile = token.value;
    else flags.set(keyByFlag.get(token.name) ?? token.name, token.value);
  }
  return configFile === undefined ? { flags } : { flags, configFile };
}

function readEnv(env: Readonly<Record<string, string | undefined>>): Map<string, unknown> {
  const values = new Map<string, unknown>();
  for (const key of FIELD_KEYS) {
    const value = env[envName(key)];
    // An empty variable counts as unset: `KUBERAFT_X= cmd` is how shells unset for one command.
    if (value !== undefined && value !== '') values.set(key, value);
  }
  return values;
}

function readConfigFile(file: string, label: string, problems: string[]): Map<string, unknown> {
  const values = new Map<string, unknown>();
  let text: string;
  try {
    const bytes = readFileSync(file);
    if (bytes.byteLength > CONFIG_FILE_MAX_BYTES) {
      problems.push(`${label}: config file is larger than ${CONFIG_FILE_MAX_BYTES} bytes`);
      return values;
    }
    text = bytes.toString('utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    problems.push(`${label}: cannot read config file ${JSON.stringify(file)} (${typeof code === 'string' ? code : String(err)})`);
    return values;
  }
  let doc: unknown;
  try {
    doc = loadYaml(text, { filename: file });
  } catch (err) {
    problems.push(`${file}: not valid YAML: ${err instanceof YAMLException ? err.message : String(err)}`);
    return values;
  }
  if (doc === undefined || doc === null) return values; // an empty file configures nothing
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    problems.push(`${file}: must be a mapping of configuration keys (camelCase), e.g. "tickMs: 10"`);
    return values;
  }
  for (const [key, value] of Object.entries(doc)) {
    if (!(FIELD_KEYS as string[]).includes(key)) {
      problems.push(`${file}: ${key}: unknown key (known keys: ${FIELD_KEYS.join(', ')})`);
      continue;
    }
    values.set(key, value);
  }
  return values;
}

// ---------------------------------------------------------------------------------------------------
// Resolution.

interface Resolved<T> {
  readonly value: T | undefined;
  /** Where the value came from, for messages: `--tick-ms`, `KUBERAFT_TICK_MS`, `config.yaml: tickMs`, `tickMs (default)`. */
  readonly source: string;
}

class Resolver {
  readonly problems: string[] = [];
  constructor(private readonly sources: Sources) {}

  /** The highest-precedence value, after validating the value of every source that sets the field. */
  get<K extends FieldKey>(key: K): Resolved<FieldValue<K>> {
    const field = NODE_CONFIG_FIELDS[key] as Field<FieldValue<K>>;
    let chosen: Resolved<FieldValue<K>> = { value: field.defaultValue, source: `${key} (default)` };
    let invalid = false;
    for (const layer of LAYERS_LOW_TO_HIGH) {
      const values = this.sources[layer];
      if (!values.has(key)) continue;
      const raw = values.get(key);
      const source = sourceLabel(layer, key, this.sources.configFile);
      const parsed = field.kind.parse(raw);
      if (parsed.ok) chosen = { value: parsed.value, source };
      else {
        this.problems.push(`${source}: ${parsed.problem} (got ${showRaw(raw)})`);
        invalid = true;
      }
    }
    if (invalid) return { value: undefined, source: chosen.source };
    if (chosen.value === undefined && field.required === true)
      this.problems.push(
        `${key}: required; set --${flagName(key)}, ${envName(key)} or "${key}" in the config file`,
      );
    return chosen;
  }

  secret(file: Resolved<string>): Secret | undefined {
    if (file.value === undefined) return undefined;
    const r = readSecretFile(file.value);
    if (r.ok) return r.value;
    this.problems.push(`${file.source}: ${r.problem}`);
    return undefined;
  }
}

/**
 * Builds the node's configuration from flags (`argv`, without the subcommand) and the environment.
 * Throws ConfigError listing every problem. Reads the config file and the secret files.
 */
export function parseNodeConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): NodeConfig {
  const problems: string[] = [];
  const { flags, configFile: flagConfigFile } = readFlags(argv, problems);
  const envConfigFile = env[CONFIG_FILE_ENV] === '' ? undefined : env[CONFIG_FILE_ENV];
  const configFile = flagConfigFile ?? envConfigFile;
  const configLabel = flagConfigFile !== undefined ? `--${CONFIG_FILE_FLAG}` : CONFIG_FILE_ENV;
  const file = configFile === undefined ? new Map<string, unknown>() : readConfigFile(configFile, configLabel, problems);
  const r = new Resolver({ file, env: readEnv(env), flag: flags, configFile });

  const id = r.get('id');
  const dataDir = r.get('dataDir');
  const listenPeer = r.get('listenPeer');
  const listenApi = r.get('listenApi');
  const advertise = r.get('advertisePeer');
  const bootstrap = r.get('bootstrap');
  const clusterSecretFile = r.get('clusterSecretFile');
  const tokensFile = r.get('tokensFile');
  const adminTokenFile = r.get('adminTokenFile');
  const anonymousRole = r.get('anonymousRole');
  const metricsRequireToken = r.get('metricsRequireToken');
  const level = r.get('logLevel');
  const tick = r.get('tickMs');
  const election = r.get('electionTimeoutMs');
  const heartbeat = r.get('heartbeatIntervalMs');
  const snapEntries = r.get('snapshotThresholdEntries');
  const snapBytes = r.get('snapshotThresholdBytes');

  // Cross-field rules, checked only when the fields involved are valid on their own.
  let advertisePeer = advertise.value ?? listenPeer.value;
  if (advertise.value !== undefined && isUnspecifiedHost(advertise.value.host)) {
    r.problems.push(`${advertise.source}: must be an address peers can dial, not ${advertise.value.host}`);
    advertisePeer = undefined;
  } else if (advertise.value === undefined && listenPeer.value !== undefined && isUnspecifiedHost(listenPeer.value.host)) {
    r.problems.push(
      `advertisePeer: required when ${listenPeer.source} is ${formatHostPort(listenPeer.value)}; set --advertise-peer to the address peers dial`,
    );
    advertisePeer = undefined;
  }
  if (listenPeer.value !== undefined && listenApi.value !== undefined && samePort(listenPeer.value, listenApi.value))
    r.problems.push(`${listenApi.source}: must differ from ${listenPeer.source} (both ${formatHostPort(listenApi.value)})`);
  if (tick.value !== undefined && heartbeat.value !== undefined && heartbeat.value < tick.value)
    r.problems.push(
      `${heartbeat.source}: must be >= tickMs (${tick.value} from ${tick.source}) (got ${heartbeat.value})`,
    );
  if (
    election.value !== undefined &&
    heartbeat.value !== undefined &&
    election.value <= ELECTION_TIMEOUT_HEARTBEATS_MIN * heartbeat.value
  )
    r.problems.push(
      `${election.source}: must be greater than ${ELECTION_TIMEOUT_HEARTBEATS_MIN} x heartbeatIntervalMs ` +
        `(${heartbeat.value} from ${heartbeat.source}), i.e. > ${ELECTION_TIMEOUT_HEARTBEATS_MIN * heartbeat.value} (got ${election.value})`,
    );

  const clusterSecret = r.secret(clusterSecretFile);
  const tokens = readTokens({ tokensFile: tokensFile.value, adminTokenFile: adminTokenFile.value });
  if (!tokens.ok) r.problems.push(...tokens.problems.map((p) => `${p} (${tokensFile.value !== undefined ? tokensFile.source : adminTokenFile.source})`));
  if (tokensFile.value === undefined && adminTokenFile.value === undefined && anonymousRole.value === 'none')
    r.problems.push(
      'tokensFile: no client could use this node: set --tokens-file (or --admin-token-file), or --anonymous-role to serve requests without a token',
    );

  problems.push(...r.problems);
  if (problems.length > 0) throw new ConfigError(problems);
  // With no problems every field without a default was either set or is optional.
  return {
    id: must(id.value),
    dataDir: must(dataDir.value),
    listenPeer: must(listenPeer.value),
    listenApi: must(listenApi.value),
    advertisePeer: must(advertisePeer),
    bootstrap: must(bootstrap.value),
    clusterSecret,
    tokens: tokens.ok ? tokens.value : must<TokenSet>(undefined),
    anonymousRole: anonymousRole.value === 'none' ? undefined : must(anonymousRole.value),
    metricsRequireToken: must(metricsRequireToken.value),
    logLevel: must(level.value),
    tickMs: must(tick.value),
    electionTimeoutMs: must(election.value),
    heartbeatIntervalMs: must(heartbeat.value),
    snapshotThresholdEntries: must(snapEntries.value),
    snapshotThresholdBytes: must(snapBytes.value),
    configFile,
    clusterSecretFile: clusterSecretFile.value,
    tokensFile: tokensFile.value,
    adminTokenFile: adminTokenFile.value,
  };
}

function samePort(a: HostPort, b: HostPort): boolean {
  return a.port === b.port && (a.host === b.host || isUnspecifiedHost(a.host) || isUnspecifiedHost(b.host));
}

function must<T>(value: T | undefined): T {
  assert(value !== undefined, 'config field missing although validation passed');
  return value;
}

/** The Raft core counts time in ticks: the configured durations in ticks (rounded, at least 1). */
export function raftTicks(config: NodeConfig): { electionTimeoutTicks: number; heartbeatIntervalTicks: number } {
  return {
    electionTimeoutTicks: Math.max(1, Math.round(config.electionTimeoutMs / config.tickMs)),
    heartbeatIntervalTicks: Math.max(1, Math.round(config.heartbeatIntervalMs / config.tickMs)),
  };
}

/** The configuration as a log line may carry it: addresses formatted, secrets replaced by whether they are set. */
export function describeNodeConfig(config: NodeConfig): Record<string, unknown> {
  return {
    ...config,
    listenPeer: formatHostPort(config.listenPeer),
    listenApi: formatHostPort(config.listenApi),
    advertisePeer: formatHostPort(config.advertisePeer),
    clusterSecret: config.clusterSecret === undefined ? 'unset' : 'set',
    tokens: config.tokens.describe(),
    anonymousRole: config.anonymousRole ?? 'none',
  };
}

/** `kuberaft node --help`: every flag with its value, env name, YAML key and default. */
export function nodeConfigHelp(): string {
  const lines = [
    'Usage: kuberaft node [--config FILE] --id ID --data-dir DIR [flags]',
    '',
    'Runs one kuberaft node. Every setting is a flag, an environment variable or a key of the YAML',
    'config file; flags win over the environment, which wins over the file.',
    '',
    'Flags:',
    `  --${CONFIG_FILE_FLAG} FILE`,
    `      env ${CONFIG_FILE_ENV}`,
    '      YAML file whose keys are the camelCase names below (e.g. "tickMs: 10"); unknown keys are errors',
  ];
  for (const key of FIELD_KEYS) {
    const field = NODE_CONFIG_FIELDS[key] as Field<unknown>;
    const value = field.kind.valueName === '' ? '' : ` ${field.kind.valueName}`;
    const def =
      field.required === true
        ? 'required'
        : field.defaultValue !== undefined
          ? `default ${field.kind.format(field.defaultValue)}`
          : `default ${field.defaultText ?? 'unset'}`;
    lines.push(`  --${flagName(key)}${value}`, `      env ${envName(key)}, yaml ${key}, ${def}`, `      ${field.help}`);
  }
  lines.push('  --help', '      show this help', '');
  return lines.join('\n');
}
