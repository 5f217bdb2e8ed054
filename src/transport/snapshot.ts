// Snapshot bytes travel beside install-snapshot messages. The sender reads them from a
// SnapshotSource (storage provides it) in chunks; the receiver writes them into a SnapshotSink
// (storage provides it) and delivers the message only after the sink committed. A stream cut by
// a dropped connection resumes: the receiver keeps the partial snapshot and, on the next offer of
// the same snapshot, acknowledges how many bytes it already holds.
import { assert } from '../raft/assert.js';
import type { InstallSnapshotRequest, NodeId, SnapshotMeta } from '../raft/types.js';
import type { FramedConnection } from './connection.js';
import { SNAPSHOT_PARTIAL_TTL_MS, SNAPSHOT_RECEIVE_WRITES_IN_FLIGHT_MAX } from './constants.js';
import type { Frame } from './frame.js';
import type { TransportLog } from './types.js';

/** Random-access reading of one snapshot's bytes, so a stream can resume at any offset. */
export interface SnapshotSource {
  readonly sizeBytes: number;
  /** The storage's checksum of the bytes, handed to the receiver's sink for verification (opaque here). */
  readonly checksum: number;
  /** Exactly `length` bytes starting at `offset` (offset + length <= sizeBytes). */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): void | Promise<void>;
}

/** Where received snapshot bytes go. Writes arrive in order, each at the end of the previous one. */
export interface SnapshotSink {
  write(offset: number, chunk: Uint8Array): void | Promise<void>;
  /** All bytes are written: make them durable. Only then is install-snapshot delivered. */
  commit(): void | Promise<void>;
  /** The stream will not complete (superseded, failed, abandoned): discard what was written. */
  abort(): void | Promise<void>;
}

export type OpenSnapshot = (meta: SnapshotMeta) => Promise<SnapshotSource>;
export type SnapshotSinkFactory = (from: NodeId, meta: SnapshotMeta, sizeBytes: number, checksum: number) => SnapshotSink | Promise<SnapshotSink>;

/** A source over bytes already in memory (tests, small state machines). */
export function snapshotSourceFromBytes(bytes: Uint8Array): SnapshotSource {
  return {
    sizeBytes: bytes.length,
    checksum: 0,
    read: (offset, length) => Promise.resolve(bytes.subarray(offset, offset + length)),
    close: () => undefined,
  };
}

/** A violation of the snapshot protocol by the peer: its connection is closed. */
export class SnapshotProtocolError extends Error {
  override readonly name = 'SnapshotProtocolError';
}

interface PartialSnapshot {
  readonly message: InstallSnapshotRequest;
  readonly sizeBytes: number;
  readonly sink: SnapshotSink;
  // Invariant: receivedBytes <= acceptedBytes <= sizeBytes.
  /** Bytes the sink has written. */
  receivedBytes: number;
  /** Bytes of the chunks accepted from the stream: written, or queued behind the writes in progress. */
  acceptedBytes: number;
  // The last queued sink write; it resolves false once a write failed (the partial is then gone).
  // A resume offer and the final commit wait for it, so offsets are exact.
  busy: Promise<boolean>;
  // Writes queued and not yet awaited by the stream, oldest first: at most
  // SNAPSHOT_RECEIVE_WRITES_IN_FLIGHT_MAX, which bounds the chunks held in memory.
  readonly window: Promise<boolean>[];
  expiry: NodeJS.Timeout | undefined;
}

type Offer = Extract<Frame, { type: 'snapshot-offer' }>;
type Chunk = Extract<Frame, { type: 'snapshot-chunk' }>;
type Done = Extract<Frame, { type: 'snapshot-done' }>;

/** The receiving side: at most one partial snapshot per sending peer. */
export class SnapshotReceiver {
  private readonly partials = new Map<NodeId, PartialSnapshot>();
  // The last snapshot committed from each peer: a sender that missed our final ack (its
  // connection dropped) offers it again, and learns it is done without streaming it twice.
  private readonly committed = new Map<NodeId, { readonly index: number; readonly term: number; readonly sizeBytes: number }>();

  constructor(
    private readonly self: NodeId,
    private readonly sinkFactory: SnapshotSinkFactory | undefined,
    private readonly deliver: (m: InstallSnapshotRequest) => void,
    private readonly log: TransportLog,
  ) {}

  async offer(from: NodeId, conn: FramedConnection, f: Offer): Promise<void> {
    const m = f.message;
    if (m.from !== from || m.to !== this.self) {
      throw new SnapshotProtocolError(`snapshot offer from ${m.from} to ${m.to} arrived on ${from}'s connection`);
    }
    const ack = (status: 'resume' | 'rejected', offset: number): void => {
      conn.send({ type: 'snapshot-ack', index: m.snapshot.index, term: m.snapshot.term, status, offset });
    };
    const done = this.committed.get(from);
    if (done && done.index === m.snapshot.index && done.term === m.snapshot.term && done.sizeBytes === f.size) {
      conn.send({ type: 'snapshot-ack', index: done.index, term: done.term, status: 'committed', offset: f.size });
      return;
    }
    const existing = this.partials.get(from);
    if (existing && sameSnapshot(existing.message, m) && existing.sizeBytes === f.size) {
      await existing.busy;
      clearTimeout(existing.expiry);
      existing.expiry = undefined;
      if (this.partials.get(from) !== existing) return ack('rejected', 0);
      this.log('info', 'resuming snapshot stream', { peer: from, index: m.snapshot.index, offset: existing.receivedBytes });
      return ack('resume', existing.receivedBytes);
    }
    if (existing) await this.abort(from, existing, 'superseded by a new snapshot offer');
    if (this.sinkFactory === undefined) {
      this.log('error', 'snapshot offered but this node has no snapshot sink', { peer: from });
      return ack('rejected', 0);
    }
    let sink: SnapshotSink;
    try {
      sink = await this.sinkFactory(from, m.snapshot, f.size, f.checksum);
    } catch (e) {
      this.log('error', 'cannot open a snapshot sink', { peer: from, error: String(e) });
      return ack('rejected', 0);
    }
    this.partials.set(from, { message: m, sizeBytes: f.size, sink, receivedBytes: 0, acceptedBytes: 0, busy: Promise.resolve(true), window: [], expiry: undefined });
    ack('resume', 0);
  }

  /**
   * Queues the chunk's write behind the ones in progress and returns at once while fewer than
   * SNAPSHOT_RECEIVE_WRITES_IN_FLIGHT_MAX are queued: the socket keeps reading while the disk
   * writes. A failed write discards the partial snapshot and tells the sender it was rejected.
   */
  async chunk(from: NodeId, conn: FramedConnection, f: Chunk): Promise<void> {
    const p = this.partials.get(from);
    if (p === undefined || p.message.snapshot.index !== f.index || p.message.snapshot.term !== f.term) {
      throw new SnapshotProtocolError(`snapshot chunk for (${f.index}, ${f.term}) without a matching offer`);
    }
    if (f.offset !== p.acceptedBytes || f.offset + f.data.length > p.sizeBytes) {
      throw new SnapshotProtocolError(`snapshot chunk at ${f.offset}+${f.data.length}, expected ${p.acceptedBytes} of ${p.sizeBytes}`);
    }
    p.acceptedBytes += f.data.length;
    const write = p.busy.then(async (ok) => {
      if (!ok) return false;
      try {
        await p.sink.write(f.offset, f.data);
      } catch (e) {
        this.log('error', 'snapshot sink write failed', { peer: from, offset: f.offset, error: String(e) });
        // Not awaited here: the abort waits for this very write to settle.
        void this.abort(from, p, 'sink write failed').then(() => {
          conn.send({ type: 'snapshot-ack', index: f.index, term: f.term, status: 'rejected', offset: 0 });
        });
        return false;
      }
      p.receivedBytes += f.data.length;
      return true;
    });
    p.busy = write;
    p.window.push(write);
    if (p.window.length >= SNAPSHOT_RECEIVE_WRITES_IN_FLIGHT_MAX) await p.window.shift();
  }

  async done(from: NodeId, conn: FramedConnection, f: Done): Promise<void> {
    const p = this.partials.get(from);
    if (p === undefined || p.message.snapshot.index !== f.index || p.message.snapshot.term !== f.term) {
      throw new SnapshotProtocolError(`snapshot done for (${f.index}, ${f.term}) without a matching offer`);
    }
    if (f.size !== p.sizeBytes || p.acceptedBytes !== p.sizeBytes) {
      throw new SnapshotProtocolError(`snapshot done after ${p.acceptedBytes} of ${p.sizeBytes} bytes`);
    }
    // A failed write already discarded the partial and answered the sender.
    if (!(await p.busy)) return;
    assert(p.receivedBytes === p.sizeBytes, 'every accepted chunk was written');
    if (this.partials.get(from) !== p) return;
    this.partials.delete(from);
    try {
      await p.sink.commit();
    } catch (e) {
      this.log('error', 'snapshot commit failed', { peer: from, index: f.index, error: String(e) });
      await this.abortSink(from, p);
      conn.send({ type: 'snapshot-ack', index: f.index, term: f.term, status: 'rejected', offset: 0 });
      return;
    }
    this.committed.set(from, { index: f.index, term: f.term, sizeBytes: p.sizeBytes });
    this.log('info', 'snapshot received', { peer: from, index: f.index, bytes: p.sizeBytes });
    this.deliver(p.message);
    conn.send({ type: 'snapshot-ack', index: f.index, term: f.term, status: 'committed', offset: p.sizeBytes });
  }

  /** The peer's connection dropped: keep its partial snapshot for a while, for a resume. */
  connectionLost(from: NodeId): void {
    const p = this.partials.get(from);
    if (p === undefined || p.expiry !== undefined) return;
    p.expiry = setTimeout(() => void this.abort(from, p, 'no resume within the partial snapshot TTL'), SNAPSHOT_PARTIAL_TTL_MS);
  }

  async close(): Promise<void> {
    await Promise.all([...this.partials].map(([from, p]) => this.abort(from, p, 'transport closed')));
  }

  private async abort(from: NodeId, p: PartialSnapshot, why: string): Promise<void> {
    if (this.partials.get(from) === p) this.partials.delete(from);
    clearTimeout(p.expiry);
    this.log('info', 'partial snapshot discarded', { peer: from, index: p.message.snapshot.index, reason: why });
    await p.busy;
    await this.abortSink(from, p);
  }

  private async abortSink(from: NodeId, p: PartialSnapshot): Promise<void> {
    try {
      await p.sink.abort();
    } catch (e) {
      this.log('warn', 'snapshot sink abort failed', { peer: from, error: String(e) });
    }
  }
}

export function sameSnapshot(a: InstallSnapshotRequest, b: InstallSnapshotRequest): boolean {
  return a.snapshot.index === b.snapshot.index && a.snapshot.term === b.snapshot.term;
}
