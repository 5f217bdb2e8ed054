// The wire types of a node's HTTP API (docs/api.md), shared by the server (src/node/http-api.ts)
// and its clients (src/client/, src/cli/http-client.ts, the operator's admin client), so that they
// cannot drift.
// This module is plain data: it imports nothing.

/** Names the node that executed a request (a follower forwards to the leader). */
export const SERVED_BY_HEADER = 'X-Kuberaft-Served-By';
/** The log index of the last change of a key, on GET /v1/kv/<key>. */
export const REVISION_HEADER = 'X-Kuberaft-Revision';
/**
 * `<client id>:<sequence>`: makes a write's retries exactly-once. Not `X-Request-Id`: proxies (nginx,
 * Envoy) set that one to their own UUIDs, which must neither be taken for ours nor refused.
 */
export const REQUEST_ID_HEADER = 'X-Kuberaft-Request-Id';

/** What a client may do; each role includes the ones before it (admin ⊇ write ⊇ read). */
export type ClientRole = 'read' | 'write' | 'admin';
export const CLIENT_ROLES: readonly ClientRole[] = ['read', 'write', 'admin'];
/** The lease a key is attached to, on GET /v1/kv/<key> (absent: none). */
export const LEASE_HEADER = 'X-Kuberaft-Lease';

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
  /** This node's Raft timing: a leader heartbeats every heartbeatIntervalMs; see MemberStatus.active. */
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
  readonly members: readonly MemberStatus[];
}

/**
 * A member as this node knows it. matchIndex: known on the leader (and for the node itself), null
 * elsewhere; lastContactMs, lagEntries and active: known on the leader only, null elsewhere.
 */
export interface MemberStatus extends MemberInfo {
  readonly matchIndex: number | null;
  /** Milliseconds since the leader last received a message from this member (0 for the leader itself); null if never. */
  readonly lastContactMs: number | null;
  /** Entries of the leader's log this member is not known to hold: leader's lastIndex − matchIndex. */
  readonly lagEntries: number | null;
  /**
   * The leader heard from this member within the last election timeout (the core's check-quorum
   * counts it), or it is the leader itself, or the leader was elected less than an election timeout
   * ago and presumes it alive, as the core does. `false` is the moment the leader "notices" a member down.
   */
  readonly active: boolean | null;
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

/** An error as the API reports it (ErrorBody.error). */
export type ErrorDetail = ErrorBody['error'];

/**
 * GET /v1/cluster: this node's own status and the leader's (asked over the peer transport when this
 * node does not lead), so any node can show the cluster as its leader sees it.
 */
export interface ClusterView {
  readonly node: NodeStatus;
  /** The leader's own status; null when no leader is known or it did not answer (leaderError says which). */
  readonly leader: NodeStatus | null;
  readonly leaderError: ErrorDetail | null;
  /** The leader's commit index minus this node's applied index (0 at least); null without the leader's status. */
  readonly behindEntries: number | null;
  /** behindEntries is within the readiness threshold (the same rule as GET /readyz); null without a leader. */
  readonly caughtUp: boolean | null;
}

/** GET /v1/cluster/members: each member of this node's configuration, asked for its own status. */
export interface MemberReports {
  readonly members: readonly MemberReport[];
}

export interface MemberReport {
  readonly id: string;
  /** The member's own GET /v1/status; null when it did not answer in time (error says why). */
  readonly status: NodeStatus | null;
  readonly error: ErrorDetail | null;
}

/** What a node saw happen, in GET /v1/events. */
export type NodeEventBody =
  /** A leader (or a new term of the same one) became known; previous: the last leader this node knew, if any. */
  | { readonly kind: 'leader-changed'; readonly leader: string; readonly previous: string | null }
  /** An empty node received its first configuration: it joined a cluster with these members. */
  | { readonly kind: 'configuration-received'; readonly members: readonly MemberInfo[] }
  | { readonly kind: 'member-added'; readonly member: string; readonly address: string; readonly role: MemberRole }
  | { readonly kind: 'member-promoted'; readonly member: string }
  | { readonly kind: 'member-removed'; readonly member: string }
  | { readonly kind: 'member-address-changed'; readonly member: string; readonly address: string }
  /** This node wrote a snapshot of its state machine at `index`. */
  | { readonly kind: 'snapshot-taken'; readonly index: number; readonly sizeBytes: number }
  /** This node installed a snapshot at `index` received from the leader. */
  | { readonly kind: 'snapshot-installed'; readonly index: number; readonly sizeBytes: number };

export type NodeEventKind = NodeEventBody['kind'];

export type NodeEvent = NodeEventBody & {
  /** Increases by one per event this node recorded since it started. */
  readonly seq: number;
  /** When this node saw it: ISO-8601, UTC. */
  readonly at: string;
  /** This node's term at the time. */
  readonly term: number;
};

/** GET /v1/events[?after=<seq>] */
export interface EventsView {
  /** Oldest first; only events with seq > after. */
  readonly events: readonly NodeEvent[];
  /** How many events the node keeps; older ones are dropped. */
  readonly capacity: number;
  /** The seq of the newest event (0: none yet). Below a reader's `after`, the node restarted: read again from 0. */
  readonly latestSeq: number;
}

/**
 * Every error code a node answers with (`ErrorBody.error.code`); src/node/errors.ts checks at compile
 * time that it answers no other. What each means and what to do: docs/operations.md.
 */
export const API_ERROR_CODES = [
  'not-leader',
  'transfer-in-progress',
  'membership-change-pending',
  'unknown-member',
  'member-exists',
  'wrong-role',
  'learner-not-caught-up',
  'quorum-would-be-lost',
  'too-many-uncommitted',
  'invalid-argument',
  'bad-request',
  'too-large',
  'not-found',
  'unauthorized',
  'forbidden',
  'unsupported-media-type',
  'value-not-utf8',
  'request-timeout',
  'headers-too-large',
  'already-initialized',
  'not-initialized',
  'maybe-committed',
  'proposal-dropped',
  'read-dropped',
  'leader-unreachable',
  'member-unreachable',
  'shutting-down',
  'timeout',
  'internal',
  'lease-not-found',
  'too-many-leases',
  'compacted',
  'too-many-watchers',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

// ---- leases

/** POST /v1/leases `{ttlMs}` and POST /v1/leases/<id>/keepalive. */
export interface LeaseGrant {
  readonly id: number;
  readonly ttlMs: number;
}

/** GET /v1/leases/<id>: `remainingMs` is the leader's time left before it expires the lease. */
export interface LeaseStatus {
  readonly id: number;
  readonly ttlMs: number;
  readonly remainingMs: number;
  readonly keys: number;
}

/** DELETE /v1/leases/<id>. `revision`: the index at which its keys were deleted (when revoked). */
export interface LeaseRevokeResult {
  readonly revoked: boolean;
  readonly keysDeleted: number;
  readonly revision: number;
}

// ---- watch: GET /v1/watch?prefix=<p>[&fromRevision=<r>][&encoding=base64], one JSON message per line

export type WatchEventWire =
  /**
   * `value`: UTF-8 text, or base64 with `encoding=base64` (and, in UTF-8 mode, for a value that is not UTF-8,
   * which then carries `encoding: 'base64'`). `lease`: the key's lease, if any.
   */
  | { readonly type: 'put'; readonly key: string; readonly value: string; readonly encoding?: 'base64'; readonly lease?: number }
  | { readonly type: 'delete'; readonly key: string };

export type WatchMessage =
  /** The first line: the stream starts at `fromRevision` (chosen by the node when none was asked). */
  | { readonly type: 'created'; readonly fromRevision: number; readonly node: string }
  /** Every matching change of one revision, in order; a revision is never split across messages. */
  | { readonly type: 'events'; readonly revision: number; readonly events: readonly WatchEventWire[] }
  /** Every matching change up to and including `revision` has been sent; also a keep-alive. */
  | { readonly type: 'progress'; readonly revision: number }
  /**
   * The last line when the node ends the stream: resume with `fromRevision=<resumeRevision>`
   * (on this or another node) to miss nothing and see nothing twice.
   */
  | { readonly type: 'closed'; readonly code: WatchCloseCode; readonly message: string; readonly resumeRevision: number };

export type WatchCloseCode =
  /** The watcher fell too far behind the changes (it reads too slowly). */
  | 'slow-watcher'
  /** The node has known no leader for a while (partitioned?): another node may be current. */
  | 'no-leader'
  | 'shutting-down'
  /** The history no longer holds `resumeRevision`: list the keys again. */
  | 'compacted';

/** The `error` of a 410 `compacted` answer carries the oldest revision a watch may start from. */
export interface CompactedErrorBody {
  readonly error: { readonly code: 'compacted'; readonly message: string; readonly oldestRevision: number };
}
