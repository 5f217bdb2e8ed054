// Every limit of the storage layer, with its unit in the name. Relations between them are
// asserted at module load: a wrong edit here fails at start-up, not at the first rollover.
import { assert } from '../raft/assert.js';

/**
 * A WAL segment is created at this size, zero-filled and fsynced (preallocated), and closed for a new
 * one once the next record would pass it. (A record larger than what is left of a segment that holds
 * only its header still goes into it, growing the file.)
 */
export const SEGMENT_SIZE_MAX_BYTES = 64 * 1024 * 1024;
/** The next segment is preallocated in the background once the open one holds this share of SEGMENT_SIZE_MAX_BYTES. */
export const SEGMENT_PREPARE_AHEAD_RATIO = 0.5;
/** Zeros are written in writes of this size when a segment is preallocated. */
export const SEGMENT_PREALLOCATE_WRITE_BYTES = 1024 * 1024;
/**
 * The unit a disk writes in, and tears in: after a power loss, a write that was not fsynced has
 * reached the disk as some of its sectors, the last of them possibly only in part. Recovery tells
 * an unwritten sector (all zeros, as preallocated) from a written one by this unit.
 */
export const WAL_SECTOR_BYTES = 512;
/** Largest segment sequence number: it is a u32 in every record. */
export const WAL_SEGMENT_SEQ_MAX = 0xffff_ffff;
/** Largest payload of one WAL record (one entry's data plus its fixed fields). */
export const WAL_RECORD_PAYLOAD_MAX_BYTES = 32 * 1024 * 1024;
/**
 * Version of the data directory layout written to meta.json; other versions are refused.
 * 2: WAL format 2 (record magic, sequence numbers, end mark; preallocated segments).
 */
export const DATA_DIR_FORMAT_VERSION = 2;
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
assert(SEGMENT_PREPARE_AHEAD_RATIO > 0 && SEGMENT_PREPARE_AHEAD_RATIO < 1, 'prepare the next segment while the open one still has room');
assert(SEGMENT_PREALLOCATE_WRITE_BYTES > 0 && SEGMENT_PREALLOCATE_WRITE_BYTES % WAL_SECTOR_BYTES === 0, 'preallocate in whole sectors');
