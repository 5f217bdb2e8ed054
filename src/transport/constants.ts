// Every limit of the peer transport, with its unit last. Relations between them are checked
// when this module loads, so a bad edit fails at start-up rather than on the wire.
import { assert } from '../raft/assert.js';

/** The wire protocol version carried by every frame; a peer speaking another version is refused. */
export const PROTOCOL_VERSION = 1;
/** The version byte that opens every encoded Raft message (so the codec can evolve on its own). */
export const CODEC_VERSION = 1;

/** u32 length + u8 version + u8 frame type. */
export const FRAME_HEADER_SIZE_BYTES = 6;
/** The largest frame (version + type + payload) a peer may send; checked before buffering. */
export const FRAME_SIZE_MAX_BYTES = 16 * 1024 * 1024;

/** Node ids, cluster ids: UTF-8 bytes (a DNS label fits with room to spare). */
export const NODE_ID_SIZE_MAX_BYTES = 253;
export const CLUSTER_ID_SIZE_MAX_BYTES = 253;
/** A member's "host:port" address in UTF-8 bytes. */
export const ADDRESS_SIZE_MAX_BYTES = 1024;
/** Members in one configuration carried by install-snapshot. */
export const MEMBERSHIP_MEMBERS_MAX = 1024;
/** Refusal reasons and remote error messages, UTF-8 bytes. */
export const REASON_SIZE_MAX_BYTES = 1024;

/** Random nonce each side contributes to the handshake. */
export const NONCE_SIZE_BYTES = 32;
/** HMAC-SHA256 output. */
export const PROOF_SIZE_BYTES = 32;
/** A shorter cluster secret is refused at construction: it would be guessable. */
export const CLUSTER_SECRET_SIZE_MIN_BYTES = 16;
/** From TCP connect to an authenticated connection, either side. */
export const HANDSHAKE_TIMEOUT_MS = 5_000;

/**
 * Reconnect backoff: doubles per failed attempt from MIN up to MAX, with jitter. MAX stays at the
 * default election timeout: a peer back from a restart is redialed within one election round.
 */
export const RECONNECT_DELAY_MIN_MS = 50;
export const RECONNECT_DELAY_MAX_MS = 1_000;

/** Per-peer send queue bounds; the oldest message is dropped when either is exceeded. */
export const PEER_QUEUE_MAX_MESSAGES = 4096;
export const PEER_QUEUE_MAX_BYTES = 64 * 1024 * 1024;

/** Snapshot bytes per chunk frame. */
export const SNAPSHOT_CHUNK_SIZE_BYTES = 1024 * 1024;
/** Received snapshot chunks queued for the disk at once; the socket pauses beyond this (memory: this × chunk size). */
export const SNAPSHOT_RECEIVE_WRITES_IN_FLIGHT_MAX = 4;
/** A partly received snapshot is kept this long after its connection drops, for a resume. */
export const SNAPSHOT_PARTIAL_TTL_MS = 60_000;

/**
 * The largest frame a peer may send before the handshake welcomed it: the handshake's frames are
 * small, so an unauthenticated connection buffers at most this, not FRAME_SIZE_MAX_BYTES.
 */
export const FRAME_PREAUTH_MAX_BYTES = 4 * 1024;
/** Accepted connections (authenticated or not) held at once; more are closed on arrival. */
export const INBOUND_CONNECTIONS_MAX = 256;
/**
 * Accepted connections from one source address at once; more from it are closed on arrival. Far
 * below INBOUND_CONNECTIONS_MAX, so that one address cannot take every slot from the real peers
 * (which hold one connection each, two while a redial replaces the old one).
 */
export const INBOUND_CONNECTIONS_PER_SOURCE_MAX = 32;
/** Requests from one peer being handled at once; more are answered with an "overloaded" error. */
export const INBOUND_REQUESTS_MAX_PENDING = 256;
/** Frames a peer may send before the handshake completes (it should send one and wait). */
export const HANDSHAKE_FRAMES_MAX = 4;
/** TCP keepalive probe delay: notices a peer machine that vanished without closing. */
export const SOCKET_KEEPALIVE_DELAY_MS = 10_000;

// Room for the chunk header (ids, offsets) inside one frame.
const SNAPSHOT_CHUNK_FRAME_OVERHEAD_BYTES = 64;
assert(
  SNAPSHOT_CHUNK_SIZE_BYTES + SNAPSHOT_CHUNK_FRAME_OVERHEAD_BYTES <= FRAME_SIZE_MAX_BYTES,
  'a snapshot chunk must fit in one frame',
);
assert(RECONNECT_DELAY_MIN_MS > 0 && RECONNECT_DELAY_MIN_MS <= RECONNECT_DELAY_MAX_MS, 'reconnect delays out of order');
assert(PEER_QUEUE_MAX_BYTES >= FRAME_SIZE_MAX_BYTES, 'the peer queue must hold at least one maximal frame');
assert(FRAME_SIZE_MAX_BYTES < 2 ** 32, 'frame length is a u32');
// The largest handshake frame: a hello (version, type, three length-prefixed ids, a nonce and the
// advertised address); the others are smaller, a refusal's reason included.
const HELLO_SIZE_MAX_BYTES = 2 + 2 + CLUSTER_ID_SIZE_MAX_BYTES + 2 * (2 + NODE_ID_SIZE_MAX_BYTES) + NONCE_SIZE_BYTES + 2 + ADDRESS_SIZE_MAX_BYTES;
assert(HELLO_SIZE_MAX_BYTES <= FRAME_PREAUTH_MAX_BYTES && 2 + 1 + 2 + REASON_SIZE_MAX_BYTES <= FRAME_PREAUTH_MAX_BYTES, 'every handshake frame fits the pre-authentication limit');
assert(FRAME_PREAUTH_MAX_BYTES <= FRAME_SIZE_MAX_BYTES, 'the pre-authentication limit is the smaller one');
assert(INBOUND_CONNECTIONS_PER_SOURCE_MAX * 4 <= INBOUND_CONNECTIONS_MAX, 'one source takes at most a quarter of the connection slots');
