// The wire types of a node's HTTP API (docs/api.md), shared by the server (src/node/http-api.ts)
// and its clients (src/cli/http-client.ts, the operator's admin client), so that they cannot drift.
// This module is plain data: it imports nothing.

/** Names the node that executed a request (a follower forwards to the leader). */
export const SERVED_BY_HEADER = 'X-Kuberaft-Served-By';
/** The log index of the last change of a key, on GET /v1/kv/<key>. */
export const REVISION_HEADER = 'X-Kuberaft-Revision';
/** `<client id>:<sequence>`: makes a write's retries exactly-once. */
export const REQUEST_ID_HEADER = 'X-Request-Id';

export type MemberRole = 'voter' | 'learner';

export interface MemberInfo {
  readonly id: string;
  readonly address: string;
  readonly role: MemberRole;
}

/** GET /v1/status */
export interface NodeStatus {
  readonly id: string;
  readonly version: string;
  readonly pid: number;
  readonly clusterId: string | null;
  /** joining: empty, waiting to be added; member: in the configuration; removed: not in it any more. */
  readonly state: 'joining' | 'member' | 'removed';
  readonly role: 'follower' | 'pre-candidate' | 'candidate' | 'leader';
  readonly term: number;
  readonly leader: string | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly snapshotSizeBytes: number;
  /** The index of an appended but uncommitted configuration, or 0. */
  readonly pendingMembershipIndex: number;
  /** matchIndex: known on the leader (and for the node itself), null elsewhere. */
  readonly members: readonly (MemberInfo & { readonly matchIndex: number | null })[];
}

/** GET /v1/members */
export interface MembersView {
  readonly leader: string | null;
  readonly members: readonly MemberInfo[];
  readonly pendingMembershipIndex: number;
}

/** POST /v1/members, POST /v1/members/<id>/promote, DELETE /v1/members/<id>: answered once committed. */
export interface MembershipResult {
  readonly index: number;
  readonly members: readonly MemberInfo[];
}

/** GET /v1/digest */
export interface DigestResult {
  readonly index: number;
  readonly digest: string;
}

/** The body of every error response. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly leader?: string };
}
