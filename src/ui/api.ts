// The page's calls to the node that serves it. URLs are relative (no scheme, host or leading
// slash), so the page works over HTTP or HTTPS, through `kubectl port-forward` and behind a proxy
// that serves it under a path prefix. When a call answers 401, the page asks for a bearer token
// (the `read` role is enough), keeps it in this tab's sessionStorage only, and sends it from then on.
import type { ErrorBody } from '../api/types.js';

const TOKEN_KEY = 'kuberaft.token';

/** The node answered 401: a token is needed, or the one sent was refused. */
export class AuthRequired extends Error {
  override readonly name = 'AuthRequired';
}

/** The node answered with an error (its JSON error's message), or did not answer. */
export class CallFailed extends Error {
  override readonly name = 'CallFailed';
}

export function storedToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

export function storeToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

async function call(path: string, timeoutMs: number): Promise<Response> {
  const token = storedToken();
  let res: Response;
  try {
    res = await fetch(path, {
      headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
      cache: 'no-store',
      credentials: 'omit',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    throw new CallFailed(`${path}: no answer (${(e as Error).message})`);
  }
  if (res.status === 401) {
    // The token (if any) was refused: forget it, so the page asks again instead of resending it.
    forgetToken();
    throw new AuthRequired(token === undefined ? 'this node needs a token' : 'the token was refused');
  }
  if (!res.ok) {
    let message = `HTTP ${res.status}`;
    try {
      const body = (await res.json()) as Partial<ErrorBody>;
      if (typeof body.error?.message === 'string') message = body.error.message;
    } catch {
      // not a JSON error: keep the status
    }
    throw new CallFailed(`${path}: ${message}`);
  }
  return res;
}

export async function getJson<T>(path: string, timeoutMs: number): Promise<T> {
  return (await (await call(path, timeoutMs)).json()) as T;
}

export async function getText(path: string, timeoutMs: number): Promise<string> {
  return (await call(path, timeoutMs)).text();
}
