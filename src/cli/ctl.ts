// `kuberaft ctl`: the command-line face of the client library (src/client/) against one node. Any node
// can be asked: followers forward writes, linearizable reads and admin calls to the leader.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { MemberInfo, NodeStatus } from '../api/types.js';
import { CALL_TIMEOUT_MS_DEFAULT, Client, KuberaftError } from '../client/index.js';
import { EXIT_FAILURE, EXIT_OK, UsageError } from './errors.js';
import type { CliIo } from './io.js';
import { onStopSignals } from './signals.js';

/** Node-1's API address under `kuberaft local` with its default port base. */
export const CTL_ENDPOINT_DEFAULT = 'http://127.0.0.1:7101';
export const CTL_ENDPOINT_ENV = 'KUBERAFT_ENDPOINT';
export const CTL_TOKEN_FILE_ENV = 'KUBERAFT_TOKEN_FILE';
export const CTL_TOKEN_ENV = 'KUBERAFT_TOKEN';
/** The admin token `kuberaft local` writes with its default --data-dir; used for loopback endpoints when no token is given. */
export const CTL_LOCAL_TOKEN_FILE = join('data', 'admin-token');
export const CTL_TIMEOUT_MS_MAX = 10 * 60_000;
/** The default TTL of `ctl lock`'s lease. */
export const CTL_LOCK_TTL_MS_DEFAULT = 10_000;

export const CTL_HELP = `Usage: kuberaft ctl <command> [args] [flags]

Commands:
  put KEY VALUE [--lease ID] write VALUE (as UTF-8) under KEY (attached to lease ID: deleted when it ends)
  get KEY [--serializable]   print KEY's value (linearizable unless --serializable: local, maybe stale)
  del KEY                    delete KEY
  list [PREFIX] [--limit N]  list keys (and values) starting with PREFIX
  cas KEY EXPECTED VALUE     set KEY to VALUE only if its value is EXPECTED (exit 1 if not)
  cas KEY VALUE --absent     set KEY to VALUE only if KEY does not exist
  watch [PREFIX]             print changes under PREFIX as they commit, until Ctrl-C (or --limit N events);
                             --from-revision N starts at revision N instead of now
  lease grant TTL_MS         grant a lease; prints its id
  lease keepalive ID         extend lease ID by its TTL (once)
  lease show ID              lease ID's TTL, time left and number of keys
  lease revoke ID            end lease ID now (its keys are deleted)
  lock KEY [--ttl-ms N]      take the lock KEY (waiting while another holds it), hold it until Ctrl-C
  members                    list members (id, role, address)
  members add ID ADDRESS     add ID (peer address HOST:PORT) as a learner      (admin)
  members promote ID         promote learner ID to voter once it caught up       (admin)
  members remove ID          remove ID from the cluster                          (admin)
  status                     the node's role, term, indexes and members' progress
  transfer TO                hand leadership to voter TO                         (admin)
  digest                     hash of the state machine and the index it is at

Flags:
  --endpoint URL      node to ask (env ${CTL_ENDPOINT_ENV}, default ${CTL_ENDPOINT_DEFAULT})
  --token-file FILE   file holding the bearer token to send (env ${CTL_TOKEN_FILE_ENV}, or the
                      token itself in ${CTL_TOKEN_ENV}); with neither, a loopback endpoint gets
                      ./${CTL_LOCAL_TOKEN_FILE} when it exists (what kuberaft local writes)
  --json              print the server's answer as JSON
  --timeout-ms N      give up after N milliseconds, retries included (default ${CALL_TIMEOUT_MS_DEFAULT})
  --help              show this help

Exit codes: 0 ok, 1 the request failed (the server's message is printed) or a cas did not swap,
2 bad arguments.
`;

export type CtlCommand =
  | { readonly kind: 'put'; readonly key: string; readonly value: string; readonly lease?: number }
  | { readonly kind: 'get'; readonly key: string; readonly serializable: boolean }
  | { readonly kind: 'del'; readonly key: string }
  | { readonly kind: 'list'; readonly prefix: string; readonly limit: number | undefined; readonly serializable: boolean }
  | { readonly kind: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string }
  | { readonly kind: 'members' }
  | { readonly kind: 'members-add'; readonly id: string; readonly address: string }
  | { readonly kind: 'members-promote'; readonly id: string }
  | { readonly kind: 'members-remove'; readonly id: string }
  | { readonly kind: 'status' }
  | { readonly kind: 'transfer'; readonly to: string }
  | { readonly kind: 'digest' }
  | { readonly kind: 'watch'; readonly prefix: string; readonly fromRevision: number | undefined; readonly limit: number | undefined }
  | { readonly kind: 'lease-grant'; readonly ttlMs: number }
  | { readonly kind: 'lease-keepalive'; readonly id: number }
  | { readonly kind: 'lease-show'; readonly id: number }
  | { readonly kind: 'lease-revoke'; readonly id: number }
  | { readonly kind: 'lock'; readonly key: string; readonly ttlMs: number }
  | { readonly kind: 'help' };

/** Where the bearer token comes from. `optional`: a default file, used only if it exists. */
export type CtlToken =
  | { readonly kind: 'none' }
  | { readonly kind: 'value'; readonly value: string }
  | { readonly kind: 'file'; readonly path: string; readonly optional: boolean };

export interface CtlArgs {
  readonly endpoint: string;
  readonly token: CtlToken;
  readonly json: boolean;
  readonly timeoutMs: number;
  readonly command: CtlCommand;
}

const OPTIONS = {
  endpoint: { type: 'string' },
  'token-file': { type: 'string' },
  json: { type: 'boolean' },
  'timeout-ms': { type: 'string' },
  serializable: { type: 'boolean' },
  limit: { type: 'string' },
  absent: { type: 'boolean' },
  lease: { type: 'string' },
  'from-revision': { type: 'string' },
  'ttl-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses `ctl` arguments (after `ctl`). Throws UsageError. */
export function parseCtlArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): CtlArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (see kuberaft ctl --help)`);
  }
  const { values: v, positionals } = parsed;
  const endpoint = v.endpoint ?? nonEmpty(env[CTL_ENDPOINT_ENV]) ?? CTL_ENDPOINT_DEFAULT;
  if (!/^https?:\/\/[^/]+/.test(endpoint)) throw new UsageError(`--endpoint: must be an http:// or https:// URL (got ${JSON.stringify(endpoint)})`);
  const timeoutMs = v['timeout-ms'] === undefined ? CALL_TIMEOUT_MS_DEFAULT : positiveInt('--timeout-ms', v['timeout-ms'], CTL_TIMEOUT_MS_MAX);
  const base = { endpoint, token: tokenSource(v['token-file'], env, endpoint), json: v.json === true, timeoutMs };
  if (v.help === true) return { ...base, command: { kind: 'help' } };

  const [name, ...args] = positionals;
  const arity = (n: number, usage: string): string[] => {
    if (args.length !== n) throw new UsageError(`usage: kuberaft ctl ${usage}`);
    return args;
  };
  const only = (flag: keyof typeof OPTIONS, allowed: boolean): void => {
    if (v[flag] !== undefined && !allowed) throw new UsageError(`--${flag} does not apply to "${name ?? ''}"`);
  };
  only('serializable', name === 'get' || name === 'list');
  only('limit', name === 'list' || name === 'watch');
  only('absent', name === 'cas');
  only('lease', name === 'put');
  only('from-revision', name === 'watch');
  only('ttl-ms', name === 'lock');
  const id = (text: string | undefined): number => positiveInt('lease ID', text ?? '', Number.MAX_SAFE_INTEGER);
  let command: CtlCommand;
  switch (name) {
    case undefined:
      throw new UsageError('a command is required (see kuberaft ctl --help)');
    case 'put': {
      const [key, value] = arity(2, 'put KEY VALUE [--lease ID]');
      command = { kind: 'put', key: key ?? '', value: value ?? '', ...(v.lease === undefined ? {} : { lease: positiveInt('--lease', v.lease, Number.MAX_SAFE_INTEGER) }) };
      break;
    }
    case 'watch': {
      if (args.length > 1) throw new UsageError('usage: kuberaft ctl watch [PREFIX] [--from-revision N] [--limit N]');
      const from = v['from-revision'];
      command = {
        kind: 'watch',
        prefix: args[0] ?? '',
        fromRevision: from === undefined ? undefined : positiveInt('--from-revision', from, Number.MAX_SAFE_INTEGER),
        limit: v.limit === undefined ? undefined : positiveInt('--limit', v.limit, Number.MAX_SAFE_INTEGER),
      };
      break;
    }
    case 'lease': {
      const [sub, ...subArgs] = args;
      const one = (usage: string): string | undefined => {
        if (subArgs.length !== 1) throw new UsageError(`usage: kuberaft ctl lease ${usage}`);
        return subArgs[0];
      };
      switch (sub) {
        case 'grant':
          command = { kind: 'lease-grant', ttlMs: positiveInt('TTL_MS', one('grant TTL_MS') ?? '', Number.MAX_SAFE_INTEGER) };
          break;
        case 'keepalive':
          command = { kind: 'lease-keepalive', id: id(one('keepalive ID')) };
          break;
        case 'show':
          command = { kind: 'lease-show', id: id(one('show ID')) };
          break;
        case 'revoke':
          command = { kind: 'lease-revoke', id: id(one('revoke ID')) };
          break;
        default:
          throw new UsageError(`unknown lease command ${JSON.stringify(sub ?? '')}; use grant, keepalive, show or revoke`);
      }
      break;
    }
    case 'lock': {
      const ttl = v['ttl-ms'];
      command = { kind: 'lock', key: arity(1, 'lock KEY [--ttl-ms N]')[0] ?? '', ttlMs: ttl === undefined ? CTL_LOCK_TTL_MS_DEFAULT : positiveInt('--ttl-ms', ttl, Number.MAX_SAFE_INTEGER) };
      break;
    }
    case 'get':
      command = { kind: 'get', key: arity(1, 'get KEY [--serializable]')[0] ?? '', serializable: v.serializable === true };
      break;
    case 'del':
      command = { kind: 'del', key: arity(1, 'del KEY')[0] ?? '' };
      break;
    case 'list': {
      if (args.length > 1) throw new UsageError('usage: kuberaft ctl list [PREFIX] [--limit N]');
      const limit = v.limit === undefined ? undefined : positiveInt('--limit', v.limit, Number.MAX_SAFE_INTEGER);
      command = { kind: 'list', prefix: args[0] ?? '', limit, serializable: v.serializable === true };
      break;
    }
    case 'cas':
      if (v.absent === true) {
        const [key, value] = arity(2, 'cas KEY VALUE --absent');
        command = { kind: 'cas', key: key ?? '', expected: null, value: value ?? '' };
      } else {
        const [key, expected, value] = arity(3, 'cas KEY EXPECTED VALUE  (or: cas KEY VALUE --absent)');
        command = { kind: 'cas', key: key ?? '', expected: expected ?? '', value: value ?? '' };
      }
      break;
    case 'members': {
      const [sub, ...subArgs] = args;
      const subArity = (n: number, usage: string): string[] => {
        if (subArgs.length !== n) throw new UsageError(`usage: kuberaft ctl members ${usage}`);
        return subArgs;
      };
      switch (sub) {
        case undefined:
          command = { kind: 'members' };
          break;
        case 'add': {
          const [id, address] = subArity(2, 'add ID ADDRESS');
          command = { kind: 'members-add', id: id ?? '', address: address ?? '' };
          break;
        }
        case 'promote':
          command = { kind: 'members-promote', id: subArity(1, 'promote ID')[0] ?? '' };
          break;
        case 'remove':
          command = { kind: 'members-remove', id: subArity(1, 'remove ID')[0] ?? '' };
          break;
        default:
          throw new UsageError(`unknown members command ${JSON.stringify(sub)}; use add, promote or remove`);
      }
      break;
    }
    case 'status':
      arity(0, 'status');
      command = { kind: 'status' };
      break;
    case 'transfer':
      command = { kind: 'transfer', to: arity(1, 'transfer TO')[0] ?? '' };
      break;
    case 'digest':
      arity(0, 'digest');
      command = { kind: 'digest' };
      break;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(name)} (see kuberaft ctl --help)`);
  }
  return { ...base, command };
}

function tokenSource(flag: string | undefined, env: Readonly<Record<string, string | undefined>>, endpoint: string): CtlToken {
  if (flag !== undefined) return { kind: 'file', path: flag, optional: false };
  const value = nonEmpty(env[CTL_TOKEN_ENV]);
  if (value !== undefined) return { kind: 'value', value };
  const file = nonEmpty(env[CTL_TOKEN_FILE_ENV]);
  if (file !== undefined) return { kind: 'file', path: file, optional: false };
  // The local cluster's token goes only to a local endpoint: never to a remote one by accident.
  return isLoopbackEndpoint(endpoint) ? { kind: 'file', path: CTL_LOCAL_TOKEN_FILE, optional: true } : { kind: 'none' };
}

export function isLoopbackEndpoint(endpoint: string): boolean {
  let host: string;
  try {
    host = new URL(endpoint).hostname;
  } catch {
    return false;
  }
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

function positiveInt(flag: string, text: string, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new UsageError(`${flag}: must be an integer in 1..${max} (got ${JSON.stringify(text)})`);
  return n;
}

function readToken(token: CtlToken): string | undefined {
  switch (token.kind) {
    case 'none':
      return undefined;
    case 'value':
      return token.value;
    case 'file':
      try {
        return readFileSync(token.path, 'utf8').replace(/[\r\n]+$/, '');
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (token.optional && code === 'ENOENT') return undefined;
        throw new UsageError(`--token-file: cannot read ${JSON.stringify(token.path)} (${typeof code === 'string' ? code : String(err)})`);
      }
  }
}

export async function runCtlCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const args = parseCtlArgs(argv, io.env);
  if (args.command.kind === 'help') {
    io.out(CTL_HELP);
    return EXIT_OK;
  }
  const token = readToken(args.token);
  const client = new Client({ endpoints: [args.endpoint], timeoutMs: args.timeoutMs, ...(token === undefined ? {} : { token }) });
  // Long-running commands (watch, lock) end on Ctrl-C / SIGTERM.
  const stop = new AbortController();
  const removeHandlers = args.command.kind === 'watch' || args.command.kind === 'lock' ? onStopSignals(() => stop.abort(), () => process.exit(EXIT_FAILURE)) : () => undefined;
  try {
    return await execute(client, args.command, args.json, io, stop.signal);
  } catch (err) {
    if (!(err instanceof KuberaftError)) throw err;
    const where = err.status === undefined ? ` (${err.code})` : ` (${err.code}, HTTP ${err.status})`;
    const leader = err.leader === undefined ? '' : `; the leader is ${err.leader}`;
    io.err(`kuberaft ctl: ${err.message}${where}${leader}\n`);
    return EXIT_FAILURE;
  } finally {
    removeHandlers();
    client.close();
  }
}

async function execute(client: Client, command: CtlCommand, json: boolean, io: CliIo, stop: AbortSignal): Promise<number> {
  const print = (value: unknown, text: string): void => io.out(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
  switch (command.kind) {
    case 'put': {
      const r = await client.put(command.key, command.value, command.lease === undefined ? {} : { lease: command.lease });
      print(r, `OK (revision ${r.revision})`);
      return EXIT_OK;
    }
    case 'get': {
      const r = await client.get(command.key, { serializable: command.serializable });
      if (r === undefined) {
        io.err(`kuberaft ctl: key ${JSON.stringify(command.key)} not found\n`);
        return EXIT_FAILURE;
      }
      if (json) print({ key: command.key, value: r.value.toString('utf8'), revision: r.revision, lease: r.lease, servedBy: r.servedBy }, '');
      else io.out(`${r.value.toString('utf8')}\n`);
      return EXIT_OK;
    }
    case 'del': {
      const r = await client.delete(command.key);
      print(r, r.deleted ? `deleted (revision ${r.revision})` : `not found (revision ${r.revision})`);
      return EXIT_OK;
    }
    case 'list': {
      const r = await client.list(command.prefix, { limit: command.limit, serializable: command.serializable });
      const shown = { items: r.items.map((i) => ({ key: i.key, ...printable(i.value), revision: i.revision })), more: r.more };
      print(shown, [...shown.items.map((i) => `${i.key}\t${i.encoding === 'base64' ? `(base64) ${i.value}` : i.value}`), ...(r.more ? ['... more (use --limit)'] : [])].join('\n'));
      return EXIT_OK;
    }
    case 'cas': {
      const r = await client.cas(command.key, command.expected, command.value);
      print(r, r.ok ? `OK (revision ${r.revision})` : 'not swapped: the current value differs from the expected one');
      return r.ok ? EXIT_OK : EXIT_FAILURE;
    }
    case 'members': {
      const r = await client.members();
      print(r, membersTable(r.members, r.leader));
      return EXIT_OK;
    }
    case 'members-add': {
      const r = await client.addLearner(command.id, command.address);
      print(r, `added ${command.id} as a learner (index ${r.index})\n${membersTable(r.members, null)}`);
      return EXIT_OK;
    }
    case 'members-promote': {
      const r = await client.promote(command.id);
      print(r, `promoted ${command.id} to voter (index ${r.index})\n${membersTable(r.members, null)}`);
      return EXIT_OK;
    }
    case 'members-remove': {
      const r = await client.removeMember(command.id);
      print(r, `removed ${command.id} (index ${r.index})\n${membersTable(r.members, null)}`);
      return EXIT_OK;
    }
    case 'status': {
      const r = await client.status();
      print(r, statusText(r));
      return EXIT_OK;
    }
    case 'transfer': {
      const r = await client.transferLeadership(command.to);
      print(r, `leader is now ${r.leader}`);
      return EXIT_OK;
    }
    case 'digest': {
      const r = await client.digest();
      print(r, `${r.digest}  (index ${r.index})`);
      return EXIT_OK;
    }
    case 'watch': {
      const watch = client.watch(command.prefix, { ...(command.fromRevision === undefined ? {} : { fromRevision: command.fromRevision }) });
      stop.addEventListener('abort', () => watch.close(), { once: true });
      let n = 0;
      for await (const e of watch) {
        const value = e.type === 'put' ? printable(e.value) : undefined;
        if (json) io.out(`${JSON.stringify({ revision: e.revision, type: e.type, key: e.key, ...(value ?? {}), ...(e.type === 'put' && e.lease !== undefined ? { lease: e.lease } : {}) })}\n`);
        else io.out(`${e.revision}\t${e.type}\t${e.key}${value === undefined ? '' : `\t${value.encoding === 'base64' ? `(base64) ${value.value}` : value.value}`}\n`);
        if (command.limit !== undefined && ++n >= command.limit) break;
      }
      return EXIT_OK;
    }
    case 'lease-grant': {
      const lease = await client.grantLease(command.ttlMs);
      print({ id: lease.id, ttlMs: lease.ttlMs }, `lease ${lease.id} (ttl ${lease.ttlMs} ms)`);
      return EXIT_OK;
    }
    case 'lease-keepalive': {
      const r = await client.keepAliveOnce(command.id);
      print(r, `lease ${r.id} kept alive for ${r.ttlMs} ms`);
      return EXIT_OK;
    }
    case 'lease-show': {
      const r = await client.leaseStatus(command.id);
      print(r, `lease ${r.id}: ttl ${r.ttlMs} ms, ${r.remainingMs} ms left, ${r.keys} keys`);
      return EXIT_OK;
    }
    case 'lease-revoke': {
      const r = await client.revokeLease(command.id);
      print(r, r.revoked ? `revoked; ${r.keysDeleted} keys deleted (revision ${r.revision})` : 'no such lease');
      return EXIT_OK;
    }
    case 'lock': {
      const lock = await client.lock(command.key, { ttlMs: command.ttlMs, signal: stop });
      print({ key: lock.key, revision: lock.revision, lease: lock.lease.id }, `locked ${lock.key} (revision ${lock.revision}, lease ${lock.lease.id}); Ctrl-C releases`);
      await new Promise<void>((resolve) => {
        if (stop.aborted || lock.lost.aborted) return resolve();
        stop.addEventListener('abort', () => resolve(), { once: true });
        lock.lost.addEventListener('abort', () => resolve(), { once: true });
      });
      if (lock.lost.aborted) {
        io.err(`kuberaft ctl: lost the lock ${lock.key}: ${lock.lease.lostReason?.message ?? 'its lease ended'}\n`);
        return EXIT_FAILURE;
      }
      await lock.release();
      io.out(json ? '' : `released ${lock.key}\n`);
      return EXIT_OK;
    }
    case 'help':
      io.out(CTL_HELP);
      return EXIT_OK;
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A listed value as text when it is UTF-8, else as base64 (marked), never mangled. */
function printable(value: Buffer): { value: string; encoding?: 'base64' } {
  try {
    return { value: strictUtf8.decode(value) };
  } catch {
    return { value: value.toString('base64'), encoding: 'base64' };
  }
}

/** Left-aligned columns separated by two spaces. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

function membersTable(members: readonly (MemberInfo & { matchIndex?: number | null })[], leader: string | null): string {
  const withMatch = members.some((m) => m.matchIndex !== undefined);
  const header = ['ID', 'ROLE', 'ADDRESS', ...(withMatch ? ['MATCH'] : [])];
  const rows = members.map((m) => [
    m.id + (m.id === leader ? ' *' : ''),
    m.role,
    m.address,
    ...(withMatch ? [m.matchIndex === null || m.matchIndex === undefined ? '-' : String(m.matchIndex)] : []),
  ]);
  return table([header, ...rows]);
}

export function statusText(s: NodeStatus): string {
  const head = table([
    ['id', s.id],
    ['state', s.state],
    ['role', s.role],
    ['term', String(s.term)],
    ['leader', s.leader ?? '(none)'],
    ['commit', String(s.commitIndex)],
    ['applied', String(s.appliedIndex)],
    ['last', String(s.lastIndex)],
    ['snapshot', `index ${s.snapshotIndex}, ${s.snapshotSizeBytes} bytes`],
    ['cluster', s.clusterId ?? '(none)'],
    ['version', `${s.version} (pid ${s.pid})`],
  ]);
  return `${head}\n\n${membersTable(s.members, s.leader)}`;
}
