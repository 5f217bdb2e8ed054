// What the node's Raft driver needs from storage and the network, as small interfaces with their
// contracts. run.ts adapts src/storage and src/transport to them; tests may substitute either.
import type { Entry, HardState, LogIndex, Message, NodeId, SnapshotMeta } from '../raft/types.js';

export interface DriverStorage {
  /**
   * Durably appends `entries` (an entry at index i replaces any stored entry at >= i) and `hardState`.
   * Resolves only after fsync. Calls made while an fsync runs share the next one (group commit).
   */
  append(entries: readonly Entry[], hardState: HardState | undefined): Promise<void>;
  /**
   * Makes the snapshot received for `meta` (already streamed in by the transport) the current one,
   * durably, and records in the log that entries up to meta.index are superseded. Returns its bytes.
   */
  installReceivedSnapshot(meta: SnapshotMeta): Promise<AsyncIterable<Uint8Array>>;
  /** Size of the newest snapshot file in bytes (0 if none): the state's size, for snapshot pacing. */
  snapshotSizeBytes(): number;
  /** Starts writing a local snapshot for `meta`; commit() makes it durable and current. */
  createSnapshot(meta: SnapshotMeta): Promise<SnapshotWriter>;
  /** Drops log entries up to `index` (whole segments) after a snapshot at `index` is durable. */
  compact(index: LogIndex): Promise<void>;
}

export interface SnapshotWriter {
  write(chunk: Uint8Array): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface DriverNetwork {
  /** Queues a message for its destination; may drop it (Raft tolerates loss). */
  send(m: Message): void;
  /** Request/response to a peer over the authenticated peer connection. */
  request(to: NodeId, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  onMessage(handler: (m: Message) => void): void;
  onRequest(handler: (from: NodeId, payload: Uint8Array) => Promise<Uint8Array>): void;
}
