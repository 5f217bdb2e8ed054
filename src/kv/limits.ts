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

// Length prefixes on the wire: u16 for keys and client ids, u32 for values.
assert(KEY_SIZE_MAX_BYTES <= 0xffff, 'key sizes fit the u16 length prefix');
assert(CLIENT_ID_SIZE_MAX_BYTES <= 0xffff, 'client id sizes fit the u16 length prefix');
assert(VALUE_SIZE_MAX_BYTES <= 0xffff_ffff, 'value sizes fit the u32 length prefix');
assert(LIST_LIMIT_MAX >= 1 && CLIENT_SESSIONS_MAX >= 1, 'limits are positive');
