// Bearer tokens of the client API and the role each one grants.
//
// Sources: a tokens file (YAML or JSON, below) and, for older setups, a file holding one admin token.
// A token is kept only as its SHA-256: a presented token is hashed and the digest looked up, then
// compared with timingSafeEqual. The lookup's timing can only tell something about digests, and a
// digest does not lead back to a token (preimage resistance), so the comparison reveals nothing
// usable about any token. Token values never appear in errors, logs or `inspect` output.
//
//   # tokens.yaml
//   tokens:
//     - name: ci-reader          # shown in logs and 403 messages; unique
//       role: read               # read | write | admin   (admin ⊇ write ⊇ read)
//       sha256: 9f86d081884c...  # hex SHA-256 of the token (printf %s "$TOKEN" | sha256sum)
//     - name: app
//       role: write
//       token: s3cr3t-at-least-16-chars   # or the token itself
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { load as loadYaml, YAMLException } from 'js-yaml';
import type { ClientRole } from './roles.js';
import { CLIENT_ROLES, isClientRole } from './roles.js';

/** Largest tokens file read, in bytes. */
export const TOKENS_FILE_MAX_BYTES = 1024 * 1024;
/** Most tokens one node accepts. */
export const TOKENS_MAX = 10_000;
/** Shortest token accepted, in characters: a short token can be guessed. */
export const TOKEN_SIZE_MIN_CHARS = 16;
/** Longest token accepted, in characters (an Authorization header must stay small). */
export const TOKEN_SIZE_MAX_CHARS = 4096;
/** The name a token from the legacy admin token file carries. */
export const ADMIN_TOKEN_FILE_NAME = 'admin-token-file';

const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** RFC 6750 b64token: what a bearer token may be made of. */
export const BEARER_TOKEN_CHARS = /^[A-Za-z0-9\-._~+/]+=*$/;

export interface TokenEntry {
  readonly name: string;
  readonly role: ClientRole;
  /** SHA-256 of the token. */
  readonly digest: Buffer;
}

export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** An immutable set of tokens. */
export class TokenSet {
  private readonly byDigest: ReadonlyMap<string, TokenEntry>;

  constructor(entries: readonly TokenEntry[]) {
    const map = new Map<string, TokenEntry>();
    for (const e of entries) map.set(e.digest.toString('hex'), e);
    this.byDigest = map;
  }

  get size(): number {
    return this.byDigest.size;
  }

  /** The entry of the token `presented`, or undefined. */
  match(presented: string): TokenEntry | undefined {
    const digest = tokenDigest(presented);
    const entry = this.byDigest.get(digest.toString('hex'));
    return entry !== undefined && timingSafeEqual(entry.digest, digest) ? entry : undefined;
  }

  /** Names and roles only. */
  describe(): { name: string; role: ClientRole }[] {
    return [...this.byDigest.values()].map((e) => ({ name: e.name, role: e.role }));
  }

  toJSON(): string {
    return `[${this.size} tokens]`;
  }

  [inspect.custom](): string {
    return `[${this.size} tokens]`;
  }
}

/** Where tokens come from. */
export interface TokenSources {
  readonly tokensFile?: string | undefined;
  /** A file holding one token with the admin role (the older single-token setting). */
  readonly adminTokenFile?: string | undefined;
}

export type TokensRead = { readonly ok: true; readonly value: TokenSet } | { readonly ok: false; readonly problems: readonly string[] };

function readText(path: string, what: string, maxBytes: number): { ok: true; text: string } | { ok: false; problem: string } {
  try {
    const bytes = readFileSync(path);
    if (bytes.byteLength > maxBytes) return { ok: false, problem: `${what} "${path}" is larger than ${maxBytes} bytes` };
    return { ok: true, text: bytes.toString('utf8') };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return { ok: false, problem: `cannot read ${what} "${path}" (${typeof code === 'string' ? code : String(err)})` };
  }
}

function checkToken(token: string): string | undefined {
  if (token.length < TOKEN_SIZE_MIN_CHARS) return `must be at least ${TOKEN_SIZE_MIN_CHARS} characters`;
  if (token.length > TOKEN_SIZE_MAX_CHARS) return `must be at most ${TOKEN_SIZE_MAX_CHARS} characters`;
  if (!BEARER_TOKEN_CHARS.test(token)) return 'may hold only letters, digits and -._~+/ (then = padding), as bearer tokens do';
  return undefined;
}

/** Parses a tokens file's text. Problems never quote a token. */
export function parseTokensFile(text: string, path: string): { entries: TokenEntry[]; problems: string[] } {
  const problems: string[] = [];
  const entries: TokenEntry[] = [];
  let doc: unknown;
  try {
    doc = loadYaml(text);
  } catch (err) {
    // The exception's message quotes the offending line, which may hold a token: report only where.
    const where = err instanceof YAMLException ? `line ${err.mark.line + 1}: ${err.reason}` : 'unreadable';
    return { entries, problems: [`${path}: not valid YAML or JSON (${where})`] };
  }
  const list = typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>).tokens : undefined;
  if (!Array.isArray(list)) return { entries, problems: [`${path}: must be a mapping with a "tokens" list of {name, role, sha256 | token}`] };
  if (list.length > TOKENS_MAX) return { entries, problems: [`${path}: holds ${list.length} tokens; at most ${TOKENS_MAX}`] };
  const names = new Set<string>();
  list.forEach((item: unknown, i) => {
    const at = `${path}: tokens[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return problems.push(`${at}: must be a mapping {name, role, sha256 | token}`);
    const o = item as Record<string, unknown>;
    const unknown = Object.keys(o).filter((k) => !['name', 'role', 'sha256', 'token'].includes(k));
    if (unknown.length > 0) problems.push(`${at}: unknown keys ${unknown.join(', ')}`);
    const name = o.name;
    if (typeof name !== 'string' || !TOKEN_NAME.test(name)) return problems.push(`${at}: name must be 1..63 of A-Za-z0-9._- starting alphanumeric`);
    if (names.has(name)) return problems.push(`${at}: name "${name}" is used twice`);
    names.add(name);
    if (!isClientRole(o.role)) return problems.push(`${at} (${name}): role must be one of ${CLIENT_ROLES.join(', ')}`);
    if ((o.sha256 === undefined) === (o.token === undefined)) return problems.push(`${at} (${name}): give exactly one of sha256 and token`);
    let digest: Buffer;
    if (o.token !== undefined) {
      const bad = typeof o.token === 'string' ? checkToken(o.token) : 'must be a string';
      if (bad !== undefined) return problems.push(`${at} (${name}): token ${bad}`);
      digest = tokenDigest(o.token as string);
    } else {
      if (typeof o.sha256 !== 'string' || !SHA256_HEX.test(o.sha256.toLowerCase()))
        return problems.push(`${at} (${name}): sha256 must be 64 hex digits (the SHA-256 of the token)`);
      digest = Buffer.from(o.sha256.toLowerCase(), 'hex');
    }
    entries.push({ name, role: o.role, digest });
    return undefined;
  });
  return { entries, problems };
}

/** Reads every source; a token listed twice is refused (its role would be ambiguous). */
export function readTokens(sources: TokenSources): TokensRead {
  const problems: string[] = [];
  const entries: TokenEntry[] = [];
  if (sources.tokensFile !== undefined) {
    const r = readText(sources.tokensFile, 'tokens file', TOKENS_FILE_MAX_BYTES);
    if (!r.ok) problems.push(r.problem);
    else {
      const parsed = parseTokensFile(r.text, sources.tokensFile);
      problems.push(...parsed.problems);
      entries.push(...parsed.entries);
    }
  }
  if (sources.adminTokenFile !== undefined) {
    const r = readText(sources.adminTokenFile, 'admin token file', TOKEN_SIZE_MAX_CHARS + 2);
    if (!r.ok) problems.push(r.problem);
    else {
      // `echo x > file` adds a newline; the token is the rest.
      const token = r.text.replace(/[\r\n]+$/, '');
      const bad = checkToken(token);
      if (bad !== undefined) problems.push(`the token in "${sources.adminTokenFile}" ${bad}`);
      else if (entries.some((e) => e.name === ADMIN_TOKEN_FILE_NAME)) problems.push(`the tokens file names a token "${ADMIN_TOKEN_FILE_NAME}", which is reserved for the admin token file`);
      else entries.push({ name: ADMIN_TOKEN_FILE_NAME, role: 'admin', digest: tokenDigest(token) });
    }
  }
  const seen = new Map<string, string>();
  for (const e of entries) {
    const hex = e.digest.toString('hex');
    const other = seen.get(hex);
    if (other !== undefined) problems.push(`tokens "${other}" and "${e.name}" are the same token; give each holder its own`);
    seen.set(hex, e.name);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: new TokenSet(entries) };
}
