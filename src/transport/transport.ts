// PeerTransport: the node's network to its peers.
//
// Connection model (one TCP connection per direction per peer pair, kept simple and explicit):
// every node dials each peer it sends to and sends only on that outbound connection; it receives
// its peers' messages on the connections they dialed. So A→B traffic always flows on the
// connection A opened, and B→A on the one B opened. The accepting side writes back only replies on
// a connection: handshake frames, snapshot acks and RPC responses.
import type { Server, Socket } from 'node:net';
import { createServer } from 'node:net';
import { assert } from '../raft/assert.js';
import type { Message, NodeId } from '../raft/types.js';
import { FramedConnection } from './connection.js';
import {
  CLUSTER_SECRET_SIZE_MIN_BYTES,
  FRAME_PREAUTH_MAX_BYTES,
  FRAME_SIZE_MAX_BYTES,
  HANDSHAKE_TIMEOUT_MS,
  INBOUND_CONNECTIONS_MAX,
  INBOUND_CONNECTIONS_PER_SOURCE_MAX,
  INBOUND_REQUESTS_MAX_PENDING,
  PEER_QUEUE_MAX_BYTES,
  PEER_QUEUE_MAX_MESSAGES,
  RECONNECT_DELAY_MAX_MS,
  RECONNECT_DELAY_MIN_MS,
  SNAPSHOT_CHUNK_SIZE_BYTES,
} from './constants.js';
import { HandshakeError, RequestError } from './errors.js';
import type { Frame } from './frame.js';
import { encodeFrame } from './frame.js';
import { acceptorHandshake } from './handshake.js';
import type { LinkContext, PeerStats, TransportLimits } from './outbound.js';
import { OutboundLink, errorText } from './outbound.js';
import { PendingRequests } from './rpc.js';
import type { OpenSnapshot, SnapshotSinkFactory } from './snapshot.js';
import { SnapshotProtocolError, SnapshotReceiver } from './snapshot.js';
import type { TransportLog, TransportMetrics } from './types.js';
import { silentLog } from './types.js';

export type MessageHandler = (message: Message) => void;
/** Answers a peer's request; a thrown error (its `code`, if any, and message) goes back to the caller. */
export type RequestHandler = (from: NodeId, payload: Uint8Array) => Promise<Uint8Array>;

export interface PeerTransportOptions {
  readonly id: NodeId;
  /** Shared by all members; never sent. At least CLUSTER_SECRET_SIZE_MIN_BYTES bytes. */
  readonly secret: Uint8Array | string;
  /** The cluster this node belongs to, or '' while it waits to be added (it then accepts any). */
  readonly clusterId?: () => string;
  /**
   * A peer's current "host:port", or undefined when it is no member: asked at every dial. When it
   * answers undefined, the address the peer advertised when it last dialed us is used: a node that
   * waits to be added knows its leader from no configuration yet, only from the leader's own dial.
   */
  readonly addressOf: (id: NodeId) => string | undefined;
  /** Where peers reach this node's peer port; sent when dialing. */
  readonly advertise?: string;
  /** Opens the bytes of a snapshot this node sends with install-snapshot. */
  readonly openSnapshot?: OpenSnapshot;
  /** Where a received snapshot's bytes go before its install-snapshot message is delivered. */
  readonly snapshotSink?: SnapshotSinkFactory;
  readonly log?: TransportLog;
  readonly metrics?: TransportMetrics;
  /** Overrides of the defaults in constants.ts (tests use small ones). */
  readonly limits?: Partial<TransportLimits>;
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  queueMaxMessages: PEER_QUEUE_MAX_MESSAGES,
  queueMaxBytes: PEER_QUEUE_MAX_BYTES,
  reconnectDelayMinMs: RECONNECT_DELAY_MIN_MS,
  reconnectDelayMaxMs: RECONNECT_DELAY_MAX_MS,
  handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
  snapshotChunkSizeBytes: SNAPSHOT_CHUNK_SIZE_BYTES,
};

interface InboundSession {
  readonly from: NodeId;
  readonly conn: FramedConnection;
  activeRequests: number;
}

export class PeerTransport {
  private readonly secret: Uint8Array;
  private readonly log: TransportLog;
  private readonly metrics: TransportMetrics;
  private readonly limits: TransportLimits;
  private readonly requests = new PendingRequests();
  private readonly links = new Map<NodeId, OutboundLink>();
  private readonly inbound = new Set<FramedConnection>();
  /** Accepted connections per source address. */
  private readonly inboundBySource = new Map<string, number>();
  private readonly inboundByPeer = new Map<NodeId, FramedConnection>();
  private readonly peerClusterIds = new Map<NodeId, string>();
  private readonly peerAddresses = new Map<NodeId, string>();
  private readonly snapshots: SnapshotReceiver;
  private readonly context: LinkContext;
  private server: Server | undefined;
  private messageHandler: MessageHandler | undefined;
  private requestHandler: RequestHandler | undefined;
  private closed = false;

  constructor(private readonly options: PeerTransportOptions) {
    assert(options.id.length > 0, 'the transport needs this node id');
    this.secret = typeof options.secret === 'string' ? Buffer.from(options.secret, 'utf8') : options.secret;
    if (this.secret.length < CLUSTER_SECRET_SIZE_MIN_BYTES) {
      throw new RangeError(
        `the cluster secret has ${this.secret.length} bytes; use at least ${CLUSTER_SECRET_SIZE_MIN_BYTES} random bytes`,
      );
    }
    this.log = options.log ?? silentLog;
    this.metrics = options.metrics ?? {};
    this.limits = { ...DEFAULT_TRANSPORT_LIMITS, ...options.limits };
    const l = this.limits;
    assert(l.queueMaxMessages >= 1 && l.queueMaxBytes >= 1, 'peer queue limits must be positive');
    assert(l.reconnectDelayMinMs > 0 && l.reconnectDelayMinMs <= l.reconnectDelayMaxMs, 'reconnect delays out of order');
    assert(l.snapshotChunkSizeBytes >= 1 && l.snapshotChunkSizeBytes <= SNAPSHOT_CHUNK_SIZE_BYTES, 'snapshot chunk size out of range');
    this.snapshots = new SnapshotReceiver(options.id, options.snapshotSink, (m) => this.deliver(m), this.log);
    this.context = {
      self: options.id,
      secret: this.secret,
      clusterId: options.clusterId ?? (() => ''),
      advertise: options.advertise ?? '',
      addressOf: (id) => options.addressOf(id) ?? this.peerAddresses.get(id),
      openSnapshot: options.openSnapshot,
      requests: this.requests,
      log: this.log,
      metrics: this.metrics,
      limits: this.limits,
    };
  }

  get id(): NodeId {
    return this.options.id;
  }

  /** Accepts peers on host:port (port 0 picks a free one); resolves with the bound address. */
  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    assert(this.server === undefined && !this.closed, 'listen called twice or after close');
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', (e) => this.log('error', 'peer listener failed', { error: e.message }));
        const a = server.address();
        assert(a !== null && typeof a === 'object', 'a TCP server has an address');
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  /** Messages from peers, in per-peer order. An install-snapshot arrives after its bytes are committed. */
  onMessage(handler: MessageHandler): void {
    this.messageHandler = handler;
  }

  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  /**
   * Queues a message for `message.to` and returns at once. Delivery is best effort (Raft
   * tolerates loss): a full queue drops its oldest message. install-snapshot streams the
   * snapshot's bytes first (from `openSnapshot`).
   */
  send(message: Message): void {
    assert(message.from === this.id, () => `sending a message from ${message.from} through ${this.id}'s transport`);
    assert(message.to !== this.id, 'a node does not send messages to itself');
    if (this.closed) return;
    const link = this.link(message.to);
    if (message.type === 'install-snapshot') {
      link.sendSnapshot(message);
      return;
    }
    const frame = encodeFrame({ type: 'raft', message });
    if (frame.length - 4 > FRAME_SIZE_MAX_BYTES) {
      this.log('error', 'message too large for one frame; dropped', { peer: message.to, type: message.type, bytes: frame.length });
      this.metrics.messageDropped?.(message.to, 'too-large');
      return;
    }
    link.enqueueRaft(frame);
  }

  /** Sends an opaque request to a peer and resolves with its response; rejects with RequestError. */
  request(to: NodeId, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    assert(to !== this.id, 'a node does not send requests to itself');
    if (this.closed) return Promise.reject(new RequestError('transport-closed', 'the peer transport is closed'));
    if (this.options.addressOf(to) === undefined) {
      return Promise.reject(new RequestError('peer-unreachable', `${to} has no known address; it is not a member`));
    }
    const link = this.link(to);
    const { id, response } = this.requests.create(to, timeoutMs, (gone) => link.cancelRequest(gone));
    const frame = encodeFrame({ type: 'request', id, payload });
    if (frame.length - 4 > FRAME_SIZE_MAX_BYTES) {
      this.requests.fail(id, 'too-large', `a request of ${payload.length} bytes does not fit in one frame`);
    } else link.enqueueRequest(id, frame);
    return response;
  }

  /** Drops the connections with a peer (both directions); the outbound one is redialed. */
  disconnect(peer: NodeId, reason = 'disconnect requested'): void {
    this.links.get(peer)?.disconnect(reason);
    this.inboundByPeer.get(peer)?.close(reason);
  }

  /** Forgets a peer that left the configuration: closes its connection and drops its queue. */
  async removePeer(peer: NodeId): Promise<void> {
    const link = this.links.get(peer);
    this.links.delete(peer);
    await link?.close();
  }

  /**
   * The cluster id an authenticated peer claimed when it last dialed us (undefined: never, or it did
   * not know its own). A node waiting to be added learns its cluster this way from its leader.
   */
  peerClusterId(peer: NodeId): string | undefined {
    return this.peerClusterIds.get(peer);
  }

  stats(peer: NodeId): PeerStats | undefined {
    return this.links.get(peer)?.stats();
  }

  /** Stops listening, closes every connection and timer, fails pending requests. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const server = this.server;
    const serverClosed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    for (const conn of this.inbound) conn.close('transport closed');
    await Promise.all([...this.links.values()].map((l) => l.close()));
    this.links.clear();
    this.requests.failAll('transport-closed', 'the peer transport is closed');
    await this.snapshots.close();
    await serverClosed;
  }

  private link(peer: NodeId): OutboundLink {
    let link = this.links.get(peer);
    if (link === undefined) {
      link = new OutboundLink(peer, this.context);
      this.links.set(peer, link);
    }
    return link;
  }

  private deliver(m: Message): void {
    this.messageHandler?.(m);
  }

  private accept(socket: Socket): void {
    const source = sourceAddress(socket.remoteAddress);
    const fromSource = this.inboundBySource.get(source) ?? 0;
    const refusal = this.closed
      ? 'closed'
      : this.inbound.size >= INBOUND_CONNECTIONS_MAX
        ? `too many connections (${INBOUND_CONNECTIONS_MAX})`
        : fromSource >= INBOUND_CONNECTIONS_PER_SOURCE_MAX
          ? `too many connections from ${source} (${INBOUND_CONNECTIONS_PER_SOURCE_MAX})`
          : undefined;
    if (refusal !== undefined) {
      this.log('warn', 'refusing a peer connection', { remote: socket.remoteAddress, reason: refusal });
      socket.destroy();
      return;
    }
    this.inboundBySource.set(source, fromSource + 1);
    let from: NodeId | undefined;
    const conn = new FramedConnection(socket, {
      // Until the handshake welcomes the peer, a frame can only be a small handshake frame.
      frameSizeMaxBytes: FRAME_PREAUTH_MAX_BYTES,
      onBytesIn: (n) => this.metrics.bytesReceived?.(from, n),
      onBytesOut: (n) => {
        if (from !== undefined) this.metrics.bytesSent?.(from, n);
      },
    });
    const remote = conn.remote;
    this.inbound.add(conn);
    conn.onClose((reason) => {
      this.inbound.delete(conn);
      const left = (this.inboundBySource.get(source) ?? 1) - 1;
      if (left > 0) this.inboundBySource.set(source, left);
      else this.inboundBySource.delete(source);
      // Closes caused by bad input are the ones operators need to see.
      const level = /^(malformed-frame|frame-too-large|protocol|handler failed)/.test(reason) ? 'warn' : 'debug';
      this.log(level, 'peer connection closed', { peer: from, remote, reason });
    });
    const timer = setTimeout(() => {
      conn.sendAndClose({ type: 'refuse', code: 'timeout', reason: 'the handshake took too long' }, 'handshake timed out');
    }, this.limits.handshakeTimeoutMs);
    acceptorHandshake(conn, { self: this.id, clusterId: this.context.clusterId(), secret: this.secret }).then(
      ({ peer, clusterId, address }) => {
        clearTimeout(timer);
        if (conn.isClosed) return;
        conn.setFrameSizeMax(FRAME_SIZE_MAX_BYTES);
        from = peer;
        if (clusterId !== '') this.peerClusterIds.set(peer, clusterId);
        if (address !== '') this.peerAddresses.set(peer, address);
        this.established(peer, conn);
      },
      (e: unknown) => {
        clearTimeout(timer);
        conn.close('handshake failed');
        if (e instanceof HandshakeError) {
          this.log('warn', 'peer handshake failed', { remote, code: e.code, byPeer: e.byPeer, reason: e.message });
        } else this.log('debug', 'peer left during the handshake', { remote, reason: errorText(e) });
      },
    );
  }

  private established(from: NodeId, conn: FramedConnection): void {
    // A peer redialed (its old connection may be half dead): the newest connection wins.
    this.inboundByPeer.get(from)?.close(`replaced by a new connection from ${from}`);
    this.inboundByPeer.set(from, conn);
    this.metrics.connectionState?.(from, 'inbound', 'connected');
    this.log('info', 'peer connected', { peer: from, remote: conn.remote });
    this.links.get(from)?.peerIsUp();
    conn.onClose(() => {
      if (this.inboundByPeer.get(from) === conn) this.inboundByPeer.delete(from);
      this.metrics.connectionState?.(from, 'inbound', 'disconnected');
      this.snapshots.connectionLost(from);
    });
    const session: InboundSession = { from, conn, activeRequests: 0 };
    conn.setHandler((f) => this.onDialerFrame(session, f));
  }

  // Frames a peer sends on the connection it dialed to us.
  private onDialerFrame(s: InboundSession, f: Frame): void | Promise<void> {
    switch (f.type) {
      case 'raft': {
        const m = f.message;
        if (m.from !== s.from || m.to !== this.id || m.type === 'install-snapshot') {
          return this.protocolViolation(s, `a ${m.type} message from ${m.from} to ${m.to}`);
        }
        this.deliver(m);
        return;
      }
      case 'snapshot-offer':
        return this.guardSnapshot(s, this.snapshots.offer(s.from, s.conn, f));
      case 'snapshot-chunk':
        return this.guardSnapshot(s, this.snapshots.chunk(s.from, s.conn, f));
      case 'snapshot-done':
        return this.guardSnapshot(s, this.snapshots.done(s.from, s.conn, f));
      case 'request':
        this.answer(s, f.id, f.payload);
        return;
      default:
        return this.protocolViolation(s, `a ${f.type} frame after the handshake`);
    }
  }

  private async guardSnapshot(s: InboundSession, step: Promise<void>): Promise<void> {
    try {
      await step;
    } catch (e) {
      if (e instanceof SnapshotProtocolError) this.protocolViolation(s, e.message);
      else throw e;
    }
  }

  private protocolViolation(s: InboundSession, what: string): void {
    s.conn.close(`protocol: ${s.from} sent ${what}`);
  }

  private answer(s: InboundSession, id: number, payload: Uint8Array): void {
    const handler = this.requestHandler;
    const fail = (code: string, message: string): void => {
      s.conn.send({ type: 'response', id, ok: false, code, message });
    };
    if (handler === undefined) return fail('no-handler', `${this.id} does not serve requests yet`);
    if (s.activeRequests >= INBOUND_REQUESTS_MAX_PENDING) {
      return fail('overloaded', `${this.id} is handling ${s.activeRequests} requests from ${s.from}; retry later`);
    }
    s.activeRequests++;
    Promise.resolve()
      .then(() => handler(s.from, payload))
      .then(
        (response) => {
          if (response.length + 64 > FRAME_SIZE_MAX_BYTES) fail('too-large', `the response of ${response.length} bytes does not fit in one frame`);
          else s.conn.send({ type: 'response', id, ok: true, payload: response });
        },
        (e: unknown) => {
          const code = typeof (e as { code?: unknown } | null)?.code === 'string' ? (e as { code: string }).code : 'error';
          fail(code, errorText(e));
        },
      )
      .finally(() => s.activeRequests--);
  }
}

/** The address a connection comes from; an IPv4 address mapped into IPv6 counts as itself. */
function sourceAddress(remote: string | undefined): string {
  if (remote === undefined) return '?';
  return remote.startsWith('::ffff:') ? remote.slice('::ffff:'.length) : remote;
}
