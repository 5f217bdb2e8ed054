// Who may call what on the client API. Both HTTP front doors (the express app and the fast path)
// authorize through this one module, before they read a request's body; a follower forwards the
// authorized principal with the request, and the leader checks it again.
//
// Route → role: reads (GET /v1/kv…, /v1/watch, /v1/leases/<id>, /v1/status, /v1/digest, /v1/members)
// need read; key and lease writes (PUT, DELETE, POST …/cas, POST /v1/leases…, DELETE /v1/leases/<id>)
// need write; membership, bootstrap, leader transfer and the original
// system's /internal/join and /internal/leave need admin. /livez and /readyz are open (probes carry
// no token); /metrics is open unless metricsRequireToken asks for the read role.
import type { ClientRole } from '../auth/roles.js';
import { roleIncludes } from '../auth/roles.js';
import { BEARER_TOKEN_CHARS, TOKEN_SIZE_MAX_CHARS, type TokenSet } from '../auth/tokens.js';
import { NodeError } from './errors.js';
import type { NodeRequest } from './requests.js';

/** Who made a request: a token's name (or ANONYMOUS) and the role it holds. */
export interface Principal {
  readonly name: string;
  readonly role: ClientRole;
}

export const ANONYMOUS = 'anonymous';
/** The challenge sent with every 401 (RFC 6750). */
export const WWW_AUTHENTICATE = 'Bearer realm="kuberaft"';

export interface ClientAuthOptions {
  /** The tokens in force (they may be reloaded between calls). */
  readonly tokens: () => TokenSet;
  /** The role of a request without a token; undefined: such requests are refused. */
  readonly anonymousRole: ClientRole | undefined;
  readonly metricsRequireToken: boolean;
}

const BEARER = /^Bearer +(\S+) *$/i;

export class ClientAuth {
  constructor(private readonly options: ClientAuthOptions) {}

  /**
   * The principal of a request with this Authorization header, if it may do what needs `need`
   * (`what` names it in messages). Throws NodeError `unauthorized` (no usable token) or `forbidden`.
   * A token that matches none is refused even where anonymous requests are served: a client that
   * sends a token means to use it, and a typo must not quietly lose its rights.
   */
  authorize(authorization: string | undefined, need: ClientRole, what: string): Principal {
    const principal = this.authenticate(authorization, need, what);
    if (!roleIncludes(principal.role, need))
      throw new NodeError(
        'forbidden',
        principal.name === ANONYMOUS
          ? `${what} needs the ${need} role; requests without a token have ${principal.role}: send "Authorization: Bearer <token>"`
          : `token "${principal.name}" has the ${principal.role} role; ${what} needs ${need}`,
      );
    return principal;
  }

  /** /metrics: open unless configured otherwise. */
  authorizeMetrics(authorization: string | undefined): void {
    if (this.options.metricsRequireToken) this.authorize(authorization, 'read', 'GET /metrics');
  }

  private authenticate(authorization: string | undefined, need: ClientRole, what: string): Principal {
    if (authorization === undefined || authorization === '') {
      const role = this.options.anonymousRole;
      if (role === undefined) throw new NodeError('unauthorized', `${what} needs a token with the ${need} role: send "Authorization: Bearer <token>"`);
      return { name: ANONYMOUS, role };
    }
    const m = BEARER.exec(authorization);
    const token = m?.[1];
    if (token === undefined || token.length > TOKEN_SIZE_MAX_CHARS || !BEARER_TOKEN_CHARS.test(token))
      throw new NodeError('unauthorized', 'the Authorization header must be "Bearer <token>"');
    const entry = this.options.tokens().match(token);
    if (entry === undefined) throw new NodeError('unauthorized', 'the bearer token is not valid (unknown, mistyped or revoked)');
    return { name: entry.name, role: entry.role };
  }
}

/** The role a node request needs (forwarded requests are checked against it again on the leader). */
export function requiredRole(req: NodeRequest): ClientRole {
  switch (req.kind) {
    case 'get':
    case 'list':
    case 'status':
    case 'lease-get':
    case 'read-index':
      return 'read';
    case 'put':
    case 'delete':
    case 'cas':
    case 'lease-grant':
    case 'lease-keepalive':
    case 'lease-revoke':
      return 'write';
    case 'add-learner':
    case 'promote':
    case 'remove':
    case 'transfer':
    case 'join':
    case 'leave':
      return 'admin';
  }
}
