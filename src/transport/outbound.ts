// The sending side of one peer: a bounded queue of encoded frames and one persistent, authenticated
// TCP connection that this node dials. Raft messages, requests and snapshot streams go out on it;
// the peer answers on the same connection (handshake, snapshot acks, responses).
import { connect } from 'node:net';
import type { InstallSnapshotRequest, NodeId } from '../raft/types.js';
import { FramedConnection } from './connection.js';
import { HandshakeError } from './errors.js';
import type { Frame } from './frame.js';
import { encodeFrame, encodeSnapshotChunk } from './frame.js';
import { dialerHandshake } from './handshake.js';
import type { PendingRequests } from './rpc.js';
import type { OpenSnapshot, SnapshotSource } from './snapshot.js';
import { sameSnapshot } from './snapshot.js';
import type { TransportLog, TransportMetrics } from './types.js';

export interface TransportLimits {
  readonly queueMaxMessages: number;
  readonly queueMaxBytes: number;
  readonly reconnectDelayMinMs: number;
  readonly reconnectDelayMaxMs: number;
  readonly handshakeTimeoutMs: number;
  readonly snapshotChunkSizeBytes: number;
}

/** What a link needs from its transport. */
export interface LinkContext {
  readonly self: NodeId;
  readonly secret: Uint8Array;
  readonly clusterId: () => string;
  /** This node's advertised peer address ('' if unknown). */
  readonly advertise: string;
  readonly addressOf: (id: NodeId) => string | undefined;
  readonly openSnapshot: OpenSnapshot | undefined;
  readonly requests: PendingRequests;
  readonly log: TransportLog;
  readonly metrics: TransportMetrics;
  readonly limits: TransportLimits;
}

export interface PeerStats {
  readonly state: LinkState;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  /** Messages dropped from this peer's queue since the transport started. */
  readonly droppedMessages: number;
  /** Bytes written to the socket and not yet handed to the kernel. */
  readonly socketBufferedBytes: number;
  readonly snapshotInProgress: boolean;
}

type LinkState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'closed';

type QueueItem =
  | { readonly kind: 'raft'; readonly frame: Buffer }
  | { readonly kind: 'request'; readonly frame: Buffer; readonly id: number };

type SnapshotPhase = 'open' | 'opening' | 'offer' | 'await-ack' | 'stream' | 'reading' | 'await-commit';

interface SnapshotJob {
  readonly message: InstallSnapshotRequest;
  source: SnapshotSource | undefined;
  phase: SnapshotPhase;
  offsetBytes: number;
  // Bumped when the connection drops, so work started on the old connection is discarded.
  generation: number;
}

/** `host:port` or `[v6]:port` → parts; undefined when malformed. */
export function parseHostPort(address: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  if (!m) return undefined;
  const port = Number(m[3]);
  const host = m[1] ?? m[2];
  if (host === undefined || port < 1 || port > 65535) return undefined;
  return { host, port };
}

export class OutboundLink {
  private readonly queue: QueueItem[] = [];
  private queuedBytes = 0;
  private droppedMessages = 0;
  private state: LinkState = 'idle';
  private conn: FramedConnection | undefined;
  private dialing: FramedConnection | undefined;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private snapshot: SnapshotJob | undefined;
  private nextSnapshot: InstallSnapshotRequest | undefined;
  // Requests written on the current connection and not yet answered.
  private readonly inFlight = new Set<number>();

  constructor(
    readonly peer: NodeId,
    private readonly ctx: LinkContext,
  ) {}

  stats(): PeerStats {
    return {
      state: this.state,
      queuedMessages: this.queue.length,
      queuedBytes: this.queuedBytes,
      droppedMessages: this.droppedMessages,
      socketBufferedBytes: this.conn?.pendingWriteBytes ?? 0,
      snapshotInProgress: this.snapshot !== undefined,
    };
  }

  enqueueRaft(frame: Buffer): void {
    this.push({ kind: 'raft', frame });
  }

  enqueueRequest(id: number, frame: Buffer): void {
    if (this.state === 'backoff') {
      // The last attempt to reach the peer failed: say so now rather than at the caller's timeout.
      this.ctx.requests.fail(id, 'peer-unreachable', `cannot reach ${this.peer}; retry later or elsewhere`);
      return;
    }
    this.push({ kind: 'request', frame, id });
  }

  /** Drops a request that timed out before it was sent. */
  cancelRequest(id: number): void {
    const at = this.queue.findIndex((q) => q.kind === 'request' && q.id === id);
    if (at >= 0) {
      const [item] = this.queue.splice(at, 1);
      if (item) this.queuedBytes -= item.frame.length;
    }
    this.inFlight.delete(id);
  }

  /** One snapshot stream at a time: a newer one waits for the current one to end. */
  sendSnapshot(m: InstallSnapshotRequest): void {
    if (this.snapshot && sameSnapshot(this.snapshot.message, m)) return;
    if (this.nextSnapshot) this.ctx.log('debug', 'replacing a queued snapshot with a newer one', { peer: this.peer });
    this.nextSnapshot = m;
    this.ensureConnected();
    this.wakeUp();
  }

  /** Drops the current connection (it is redialed); used when a peer's address changed. */
  disconnect(reason: string): void {
    this.conn?.close(reason);
    this.dialing?.close(reason);
  }

  async close(): Promise<void> {
    this.state = 'closed';
    clearTimeout(this.reconnectTimer);
    this.disconnect('transport closed');
    this.queue.length = 0;
    this.queuedBytes = 0;
    const job = this.snapshot;
    this.snapshot = undefined;
    this.nextSnapshot = undefined;
    this.wakeUp();
    await this.closeSource(job);
  }

  // A method, so that TypeScript does not narrow `state` across awaits.
  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private push(item: QueueItem): void {
    this.queue.push(item);
    this.queuedBytes += item.frame.length;
    // Raft tolerates lost messages, so a full queue drops its oldest entries rather than grow.
    while (
      this.queue.length > 1 &&
      (this.queue.length > this.ctx.limits.queueMaxMessages || this.queuedBytes > this.ctx.limits.queueMaxBytes)
    ) {
      const dropped = this.queue.shift();
      if (dropped === undefined) break;
      this.queuedBytes -= dropped.frame.length;
      this.droppedMessages++;
      this.ctx.metrics.messageDropped?.(this.peer, 'queue-full');
      if (dropped.kind === 'request') {
        this.ctx.requests.fail(dropped.id, 'queue-full', `the send queue to ${this.peer} overflowed; the request was not sent`);
      }
    }
    this.ensureConnected();
    this.wakeUp();
  }

  private wakeUp(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private ensureConnected(): void {
    if (this.state === 'idle') void this.dial();
  }

  private async dial(): Promise<void> {
    this.state = 'connecting';
    this.ctx.metrics.connectionState?.(this.peer, 'outbound', 'connecting');
    const address = this.ctx.addressOf(this.peer);
    const hostPort = address === undefined ? undefined : parseHostPort(address);
    if (hostPort === undefined) {
      this.ctx.log('warn', 'no usable address for peer; dropping what was queued for it', { peer: this.peer, address });
      this.dropAll('no-address');
      this.state = 'idle';
      this.ctx.metrics.connectionState?.(this.peer, 'outbound', 'disconnected');
      return;
    }
    const conn = new FramedConnection(connect(hostPort), {
      onBytesIn: (n) => this.ctx.metrics.bytesReceived?.(this.peer, n),
      onBytesOut: (n) => this.ctx.metrics.bytesSent?.(this.peer, n),
    });
    this.dialing = conn;
    const timer = setTimeout(() => conn.close('handshake timed out'), this.ctx.limits.handshakeTimeoutMs);
    try {
      await new Promise<void>((resolve, reject) => {
        conn.socket.once('connect', resolve);
        conn.onClose((reason) => reject(new Error(reason)));
      });
      await dialerHandshake(conn, { self: this.ctx.self, clusterId: this.ctx.clusterId(), secret: this.ctx.secret, advertise: this.ctx.advertise }, this.peer);
    } catch (e) {
      conn.close('handshake failed');
      this.dialing = undefined;
      clearTimeout(timer);
      if (this.isClosed()) return;
      if (e instanceof HandshakeError) {
        this.ctx.log('warn', 'peer handshake failed', { peer: this.peer, address, code: e.code, byPeer: e.byPeer, reason: e.message });
      } else {
        this.ctx.log('debug', 'cannot connect to peer', { peer: this.peer, address, reason: errorText(e) });
      }
      this.failQueuedRequests();
      this.scheduleReconnect();
      return;
    }
    clearTimeout(timer);
    this.dialing = undefined;
    if (this.isClosed()) {
      conn.close('transport closed');
      return;
    }
    this.conn = conn;
    this.state = 'connected';
    this.attempt = 0;
    this.ctx.metrics.connectionState?.(this.peer, 'outbound', 'connected');
    this.ctx.log('info', 'connected to peer', { peer: this.peer, address });
    conn.setHandler((f) => this.onFrame(conn, f));
    conn.onClose((reason) => this.onDisconnected(conn, reason));
    this.pump(conn).catch((e: unknown) => conn.close(`send loop failed: ${errorText(e)}`));
  }

  /**
   * The peer has just connected to us, so it is up: a redial waiting out its backoff goes now. A
   * restarted peer would otherwise stay unreachable from here for up to the longest backoff, long
   * enough to lose an election round on it (its vote or our answer to its vote would wait).
   */
  peerIsUp(): void {
    if (this.state !== 'backoff') return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.attempt = 0;
    this.state = 'idle';
    void this.dial();
  }

  private scheduleReconnect(): void {
    this.state = 'backoff';
    this.ctx.metrics.connectionState?.(this.peer, 'outbound', 'disconnected');
    const { reconnectDelayMinMs: min, reconnectDelayMaxMs: max } = this.ctx.limits;
    const ceiling = Math.min(max, min * 2 ** Math.min(this.attempt, 30));
    // Jitter in [ceiling / 2, ceiling): peers restarting together do not redial in lockstep.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.attempt++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.state !== 'backoff') return;
      this.state = 'idle';
      void this.dial();
    }, delay);
  }

  private onDisconnected(conn: FramedConnection, reason: string): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    this.ctx.log('info', 'disconnected from peer', { peer: this.peer, reason });
    for (const id of this.inFlight) {
      this.ctx.requests.fail(id, 'connection-lost', `the connection to ${this.peer} dropped (${reason}); the request may or may not have run`);
    }
    this.inFlight.clear();
    const job = this.snapshot;
    if (job && job.phase !== 'open' && job.phase !== 'opening') job.phase = 'offer';
    if (job) job.generation++;
    this.wakeUp();
    if (this.state !== 'closed') this.scheduleReconnect();
  }

  private async pump(conn: FramedConnection): Promise<void> {
    while (this.conn === conn && !conn.isClosed) {
      const item = this.queue.shift();
      if (item) {
        this.queuedBytes -= item.frame.length;
        if (item.kind === 'request') {
          if (!this.ctx.requests.markSent(item.id)) continue;
          this.inFlight.add(item.id);
        }
        if (!conn.send(item.frame)) await conn.drained();
        continue;
      }
      const next = await this.snapshotStep(conn);
      if (next === 'again') continue;
      if (next !== 'idle') {
        let full = false;
        for (const part of next) full = !conn.send(part) || full;
        if (full) await conn.drained();
        continue;
      }
      if (this.conn === conn && this.queue.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  // The next snapshot frame to send (as consecutive buffers), 'again' when state moved and the loop
  // should look again, or 'idle' when the stream waits for the peer (or there is none).
  private async snapshotStep(conn: FramedConnection): Promise<readonly Uint8Array[] | 'again' | 'idle'> {
    if (this.snapshot === undefined && this.nextSnapshot !== undefined) {
      this.snapshot = { message: this.nextSnapshot, source: undefined, phase: 'open', offsetBytes: 0, generation: 0 };
      this.nextSnapshot = undefined;
    }
    const job = this.snapshot;
    if (job === undefined) return 'idle';
    const { index, term } = job.message.snapshot;
    switch (job.phase) {
      case 'open': {
        if (this.ctx.openSnapshot === undefined) {
          this.ctx.log('error', 'install-snapshot to send but no snapshot source is configured', { peer: this.peer });
          this.snapshot = undefined;
          return 'again';
        }
        job.phase = 'opening';
        try {
          job.source = await this.ctx.openSnapshot(job.message.snapshot);
        } catch (e) {
          this.ctx.log('error', 'cannot open snapshot to send', { peer: this.peer, index, error: errorText(e) });
          if (this.snapshot === job) this.snapshot = undefined;
          return 'again';
        }
        if (this.snapshot !== job) {
          await this.closeSource(job);
          return 'again';
        }
        job.phase = 'offer';
        return 'again';
      }
      case 'offer': {
        const size = job.source?.sizeBytes ?? 0;
        job.phase = 'await-ack';
        return [encodeFrame({ type: 'snapshot-offer', message: job.message, size, checksum: job.source?.checksum ?? 0 })];
      }
      case 'stream': {
        const source = job.source;
        if (source === undefined) return 'idle';
        if (job.offsetBytes >= source.sizeBytes) {
          job.phase = 'await-commit';
          return [encodeFrame({ type: 'snapshot-done', index, term, size: source.sizeBytes })];
        }
        const at = job.offsetBytes;
        const length = Math.min(this.ctx.limits.snapshotChunkSizeBytes, source.sizeBytes - at);
        const generation = job.generation;
        job.phase = 'reading';
        let data: Uint8Array;
        try {
          data = await source.read(at, length);
          if (data.length !== length) throw new Error(`read ${data.length} bytes at ${at}, expected ${length}`);
        } catch (e) {
          this.ctx.log('error', 'cannot read snapshot to send; abandoning the stream', { peer: this.peer, index, error: errorText(e) });
          if (this.snapshot === job) this.snapshot = undefined;
          await this.closeSource(job);
          return 'again';
        }
        if (this.snapshot !== job || job.generation !== generation || this.conn !== conn) return 'again';
        job.phase = 'stream';
        job.offsetBytes = at + length;
        // The data goes to the socket as it was read, without a copy into the frame.
        return encodeSnapshotChunk({ type: 'snapshot-chunk', index, term, offset: at, data });
      }
      case 'opening':
      case 'await-ack':
      case 'reading':
      case 'await-commit':
        return 'idle';
    }
  }

  // Frames the acceptor sends back on our connection.
  private onFrame(conn: FramedConnection, f: Frame): void {
    switch (f.type) {
      case 'response':
        this.inFlight.delete(f.id);
        this.ctx.requests.settle(f);
        return;
      case 'snapshot-ack':
        this.onSnapshotAck(conn, f);
        return;
      default:
        conn.close(`protocol: ${this.peer} sent a ${f.type} frame on our connection`);
        this.ctx.log('warn', 'peer broke the protocol; connection closed', { peer: this.peer, frame: f.type });
    }
  }

  private onSnapshotAck(conn: FramedConnection, f: Extract<Frame, { type: 'snapshot-ack' }>): void {
    const job = this.snapshot;
    if (job === undefined || job.message.snapshot.index !== f.index || job.message.snapshot.term !== f.term) return;
    const size = job.source?.sizeBytes ?? 0;
    switch (f.status) {
      case 'resume':
        if (job.phase !== 'await-ack') return;
        if (f.offset > size) {
          conn.close(`protocol: snapshot resume offset ${f.offset} beyond its size ${size}`);
          return;
        }
        if (f.offset > 0) this.ctx.log('info', 'resuming snapshot stream', { peer: this.peer, index: f.index, offset: f.offset });
        job.offsetBytes = f.offset;
        job.phase = 'stream';
        break;
      case 'committed':
      case 'rejected':
        if (f.status === 'rejected') this.ctx.log('warn', 'peer rejected the snapshot', { peer: this.peer, index: f.index });
        else this.ctx.log('info', 'snapshot sent', { peer: this.peer, index: f.index, bytes: size });
        this.snapshot = undefined;
        void this.closeSource(job);
        break;
    }
    this.wakeUp();
  }

  private async closeSource(job: SnapshotJob | undefined): Promise<void> {
    const source = job?.source;
    if (job) job.source = undefined;
    try {
      await source?.close();
    } catch (e) {
      this.ctx.log('warn', 'closing a snapshot source failed', { peer: this.peer, error: errorText(e) });
    }
  }

  private failQueuedRequests(): void {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const item = this.queue[i];
      if (item?.kind !== 'request') continue;
      this.queue.splice(i, 1);
      this.queuedBytes -= item.frame.length;
      this.ctx.requests.fail(item.id, 'peer-unreachable', `cannot reach ${this.peer}; the request was not sent`);
    }
  }

  private dropAll(reason: 'no-address'): void {
    this.failQueuedRequests();
    for (const _ of this.queue) {
      this.droppedMessages++;
      this.ctx.metrics.messageDropped?.(this.peer, reason);
    }
    this.queue.length = 0;
    this.queuedBytes = 0;
    const job = this.snapshot;
    this.snapshot = undefined;
    this.nextSnapshot = undefined;
    void this.closeSource(job);
  }
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
