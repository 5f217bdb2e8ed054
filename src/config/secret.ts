// A secret read from a file (cluster secret, admin token). It never shows up in logs, JSON or
// `util.inspect`: only `reveal()` gives the value, so every use of it is visible in the code.
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';

/** Shortest secret accepted, in characters: a one-character token is a typo, not a secret. */
export const SECRET_MIN_CHARS = 16;
/** Largest secret file read, in bytes: a secret file is a line, not a data set. */
export const SECRET_FILE_MAX_BYTES = 64 * 1024;

export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[secret]';
  }
  toJSON(): string {
    return '[secret]';
  }
  [inspect.custom](): string {
    return '[secret]';
  }
}

export type SecretRead = { readonly ok: true; readonly value: Secret } | { readonly ok: false; readonly problem: string };

/** Reads the file, drops trailing newlines (`echo x > file` adds one), refuses empty or short secrets. */
export function readSecretFile(path: string): SecretRead {
  let text: string;
  try {
    const bytes = readFileSync(path);
    if (bytes.byteLength > SECRET_FILE_MAX_BYTES)
      return { ok: false, problem: `secret file "${path}" is larger than ${SECRET_FILE_MAX_BYTES} bytes` };
    text = bytes.toString('utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return { ok: false, problem: `cannot read secret file "${path}" (${typeof code === 'string' ? code : String(err)})` };
  }
  const value = text.replace(/[\r\n]+$/, '');
  if (value.length < SECRET_MIN_CHARS)
    return { ok: false, problem: `secret in "${path}" must be at least ${SECRET_MIN_CHARS} characters` };
  return { ok: true, value: new Secret(value) };
}
