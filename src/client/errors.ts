// The client's errors: one class with a stable `code` (the node's error codes, plus the client's own
// for failures that never got an answer), and a subclass for the one answer that carries data a
// caller needs (`compacted`: the oldest revision a watch may start from).
import { API_ERROR_CODES } from '../api/types.js';
import type { ApiErrorCode } from '../api/types.js';

export type { ApiErrorCode } from '../api/types.js';

/** Failures of the client itself (no answer, or one it cannot read). */
export type ClientErrorCode =
  /** No connection: the node is down, or the endpoint is wrong. */
  | 'unreachable'
  /** No answer within the call's time limit. For a write, the outcome is unknown. */
  | 'timeout'
  /** The caller's AbortSignal fired. */
  | 'aborted'
  /** The node answered something this client cannot read. */
  | 'bad-response'
  /** The client was closed. */
  | 'closed';

export type ErrorCode = ApiErrorCode | ClientErrorCode;

const API_CODES: ReadonlySet<string> = new Set(API_ERROR_CODES);

export function isApiErrorCode(code: string): code is ApiErrorCode {
  return API_CODES.has(code);
}

export class KuberaftError extends Error {
  override readonly name: string = 'KuberaftError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: {
      /** The HTTP status, when an answer arrived. */
      readonly status?: number;
      /** The leader the node named, if any. */
      readonly leader?: string;
      /** The node that answered. */
      readonly servedBy?: string;
      readonly cause?: unknown;
    } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
  }

  get status(): number | undefined {
    return this.details.status;
  }

  get leader(): string | undefined {
    return this.details.leader;
  }
}

/** A watch asked for revisions the history no longer holds: list the keys again, then watch from that read. */
export class CompactedError extends KuberaftError {
  override readonly name = 'CompactedError';
  constructor(
    message: string,
    /** The oldest revision a watch may start from. */
    readonly oldestRevision: number,
    details: { readonly status?: number; readonly servedBy?: string } = {},
  ) {
    super('compacted', message, details);
  }
}

/**
 * Codes after which the same request may be sent again (to the same or another node) without changing
 * its meaning, given that writes carry a request id: the node did not execute it, or executed it in a way
 * a retry with the same id cannot repeat.
 */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'not-leader',
  'transfer-in-progress',
  'proposal-dropped',
  'read-dropped',
  'leader-unreachable',
  'shutting-down',
  'not-initialized',
  'too-many-uncommitted',
  'too-many-watchers',
  'maybe-committed',
  'timeout',
  'unreachable',
]);

export function isRetryable(code: ErrorCode): boolean {
  return RETRYABLE.has(code);
}
