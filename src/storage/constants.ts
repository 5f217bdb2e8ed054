// Every limit of the storage layer, with its unit in the name. Relations between them are
// asserted at module load: a wrong edit here fails at start-up, not at the first rollover.
import { assert } from '../raft/assert.js';

/** A WAL segment is closed and a new one started once the next record would pass this size. */
export const SEGMENT_SIZE_MAX_BYTES = 64 * 1024 * 1024;
/** Largest payload of one WAL record (one entry's data plus its fixed fields). */
export const WAL_RECORD_PAYLOAD_MAX_BYTES = 32 * 1024 * 1024;
/** Version of the data directory layout written to meta.json; other versions are refused. */
export const DATA_DIR_FORMAT_VERSION = 1;
/** Version of the snapshot file header. */
export const SNAPSHOT_FORMAT_VERSION = 1;
/** Committed snapshot files kept; older ones are deleted. At least 2, so a new snapshot never evicts the installed one. */
export const SNAPSHOTS_RETAINED_COUNT = 2;
/** Size of the chunks a snapshot is read in (what the transport ships per frame is its own limit). */
export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/**
 * While a snapshot file is written, its data is flushed (fdatasync, in the background) every this
 * many bytes, so the fsync before it is committed finds little left to write.
 */
export const SNAPSHOT_SYNC_INTERVAL_BYTES = 64 * 1024 * 1024;
/** Largest snapshot header (metadata JSON): a membership of a few members is far smaller. */
export const SNAPSHOT_HEADER_MAX_BYTES = 1024 * 1024;

assert(WAL_RECORD_PAYLOAD_MAX_BYTES <= SEGMENT_SIZE_MAX_BYTES, 'a WAL record must fit in one segment');
assert(SNAPSHOTS_RETAINED_COUNT >= 2, 'keep at least two snapshots: the installed one and the one being written');
assert(SNAPSHOT_CHUNK_BYTES > 0, 'snapshot chunks must not be empty');
