// Every limit of the KV state machine, in one place. Relations between them are asserted below,
// at module load, so a bad edit fails at start-up rather than at the first large request.
import { assert } from '../raft/assert.js';

/** Longest key, in bytes of its UTF-8 encoding. */
export const KEY_SIZE_MAX_BYTES = 4096;
/** Largest value. */
export const VALUE_SIZE_MAX_BYTES = 1024 * 1024;
/** Longest client id (UTF-8) in a request id. */
export const CLIENT_ID_SIZE_MAX_BYTES = 128;
/**
 * How many clients' last results the state machine keeps for exactly-once retries. When a new
 * client would exceed it, the client whose last request was applied longest ago is forgotten.
 */
export const CLIENT_SESSIONS_MAX = 10_000;
/** Most entries one `list` returns. */
export const LIST_LIMIT_MAX = 1000;
/** Size of the chunks a snapshot is written in (records are packed across chunk boundaries). */
export const SNAPSHOT_CHUNK_SIZE_BYTES = 1024 * 1024;

/** Shortest lease time-to-live: below it a lease would expire within a few heartbeats. */
export const LEASE_TTL_MIN_MS = 1_000;
/** Longest lease time-to-live (30 days). */
export const LEASE_TTL_MAX_MS = 30 * 24 * 3600 * 1000;
/** Live leases at most; a grant beyond it is refused (`too-many-leases`) until some expire or are revoked. */
export const LEASES_MAX = 100_000;

/**
 * The change history that watches resume from keeps at most this many revisions (log indexes that
 * changed keys)...
 */
export const WATCH_HISTORY_REVISIONS_MAX = 50_000;
/** ...and at most this many bytes of events (keys, values and HISTORY_EVENT_OVERHEAD_BYTES each). */
export const WATCH_HISTORY_BYTES_MAX = 32 * 1024 * 1024;
/** What one event costs in the history's byte count besides its key and value: its object and references. */
export const HISTORY_EVENT_OVERHEAD_BYTES = 64;

// Length prefixes on the wire: u16 for keys and client ids, u32 for values.
assert(KEY_SIZE_MAX_BYTES <= 0xffff, 'key sizes fit the u16 length prefix');
assert(CLIENT_ID_SIZE_MAX_BYTES <= 0xffff, 'client id sizes fit the u16 length prefix');
assert(VALUE_SIZE_MAX_BYTES <= 0xffff_ffff, 'value sizes fit the u32 length prefix');
assert(LIST_LIMIT_MAX >= 1 && CLIENT_SESSIONS_MAX >= 1 && LEASES_MAX >= 1, 'limits are positive');
assert(LEASE_TTL_MIN_MS >= 1 && LEASE_TTL_MIN_MS <= LEASE_TTL_MAX_MS && Number.isSafeInteger(LEASE_TTL_MAX_MS), 'lease TTL bounds are ordered');
// The history always keeps its newest revision, whatever its size; the bounds trim everything older.
assert(WATCH_HISTORY_REVISIONS_MAX >= 1 && WATCH_HISTORY_BYTES_MAX >= VALUE_SIZE_MAX_BYTES, 'the history holds at least one largest value');
