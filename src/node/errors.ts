// Errors a node reports to clients. Each has a stable code and an HTTP status; they cross the
// forwarding hop unchanged, so a client sees the leader's error as if it had asked the leader.
import type { ApiErrorCode } from '../api/types.js';
import { RaftError, type RaftErrorCode } from '../raft/errors.js';
import { assertNever } from '../raft/assert.js';

export type NodeErrorCode =
  | RaftErrorCode
  | 'bad-request'
  | 'too-large'
  | 'not-found'
  /** No usable bearer token (none sent where one is needed, or one that matches none). */
  | 'unauthorized'
  /** The token (or an anonymous request) lacks the role the request needs. */
  | 'forbidden'
  /** A JSON route got a body of another Content-Type. */
  | 'unsupported-media-type'
  /** A listing without ?encoding=base64 met a value that is not UTF-8 text. */
  | 'value-not-utf8'
  /** The request line and headers, or the whole request, did not arrive in time. */
  | 'request-timeout'
  /** The request line or headers are larger than the server accepts. */
  | 'headers-too-large'
  | 'already-initialized'
  | 'not-initialized'
  /** The request timed out after it was proposed: it may or may not have been committed. */
  | 'maybe-committed'
  /** The proposal was overwritten by a new leader: it was not committed; retry. */
  | 'proposal-dropped'
  /** The read could not be confirmed (leadership changed); retry. */
  | 'read-dropped'
  /** The leader could not be reached to forward the request. */
  | 'leader-unreachable'
  /** A member asked for its status over the peer transport did not answer (GET /v1/cluster/members). */
  | 'member-unreachable'
  | 'shutting-down'
  | 'timeout'
  /** A put, cas or keepalive names a lease that does not exist (expired or revoked). */
  | 'lease-not-found'
  /** LEASES_MAX leases exist. */
  | 'too-many-leases'
  /** A watch starts before the oldest revision the change history holds. */
  | 'compacted'
  /** The node serves WATCHERS_MAX watchers. */
  | 'too-many-watchers'
  | 'internal';

// Clients decode these codes (src/api/types.ts lists them): a code they do not know is a compile error.
type Covered<T extends ApiErrorCode> = T;
export type NodeErrorCodesAreApiCodes = Covered<NodeErrorCode>;

/** Fields some errors carry besides code and message, copied into the JSON error body. */
export interface NodeErrorDetail {
  /** compacted: the oldest revision a watch may start from. */
  readonly oldestRevision?: number;
}

export class NodeError extends Error {
  override readonly name = 'NodeError';
  constructor(
    readonly code: NodeErrorCode,
    message: string,
    readonly leader?: string,
    readonly detail?: NodeErrorDetail,
  ) {
    super(message);
  }
}

export function httpStatus(code: NodeErrorCode): number {
  switch (code) {
    case 'bad-request':
    case 'invalid-argument':
    case 'wrong-role':
    case 'learner-not-caught-up':
      return 400;
    case 'unauthorized':
      return 401;
    case 'forbidden':
      return 403;
    case 'request-timeout':
      return 408;
    case 'unsupported-media-type':
      return 415;
    case 'value-not-utf8':
      return 422;
    case 'headers-too-large':
      return 431;
    case 'not-found':
    case 'unknown-member':
    case 'lease-not-found':
      return 404;
    case 'membership-change-pending':
    case 'member-exists':
    case 'already-initialized':
    case 'quorum-would-be-lost':
    case 'too-many-leases':
      return 409;
    case 'compacted':
      return 410;
    case 'too-large':
      return 413;
    case 'too-many-uncommitted':
    case 'too-many-watchers':
      return 429;
    case 'not-leader':
    case 'transfer-in-progress':
    case 'not-initialized':
    case 'proposal-dropped':
    case 'read-dropped':
    case 'leader-unreachable':
    case 'member-unreachable':
    case 'shutting-down':
      return 503;
    case 'maybe-committed':
    case 'timeout':
      return 504;
    case 'internal':
      return 500;
    default:
      return assertNever(code, 'error code');
  }
}

const NODE_ERROR_CODES: ReadonlySet<string> = new Set<NodeErrorCode>([
  'not-leader', 'transfer-in-progress', 'membership-change-pending', 'unknown-member', 'member-exists', 'wrong-role',
  'learner-not-caught-up', 'quorum-would-be-lost', 'too-many-uncommitted', 'invalid-argument', 'bad-request', 'too-large',
  'not-found', 'unauthorized', 'forbidden', 'unsupported-media-type', 'value-not-utf8', 'request-timeout', 'headers-too-large', 'already-initialized', 'not-initialized', 'maybe-committed', 'proposal-dropped', 'read-dropped',
  'leader-unreachable', 'member-unreachable', 'shutting-down', 'timeout', 'lease-not-found', 'too-many-leases', 'compacted',
  'too-many-watchers', 'internal',
]);

export function isNodeErrorCode(s: string): s is NodeErrorCode {
  return NODE_ERROR_CODES.has(s);
}

/** Converts anything thrown by a lower layer into a NodeError; unknown errors become 'internal'. */
export function toNodeError(e: unknown): NodeError {
  if (e instanceof NodeError) return e;
  if (e instanceof RaftError) return new NodeError(e.code, e.message, e.leader);
  if (e instanceof Error && 'code' in e && typeof e.code === 'string') {
    const code = e.code;
    if (code === 'compacted' && 'oldestRevision' in e && typeof e.oldestRevision === 'number') {
      return new NodeError('compacted', e.message, undefined, { oldestRevision: e.oldestRevision });
    }
    if (code === 'key-too-large' || code === 'value-too-large') return new NodeError('too-large', e.message);
    if (isNodeErrorCode(code)) return new NodeError(code, e.message);
    if (code.startsWith('invalid') || code.startsWith('malformed') || code.endsWith('-invalid')) return new NodeError('bad-request', e.message);
  }
  return new NodeError('internal', e instanceof Error ? e.message : String(e));
}
