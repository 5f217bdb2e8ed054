// Shared by this module's tests: a seeded random source and sample messages of every type.
import type { Entry, InstallSnapshotRequest, Message, NodeId, SnapshotMeta } from '../raft/types.js';
import { index, nodeId, term } from '../raft/types.js';
import type { PeerTransportOptions } from './transport.js';
import { PeerTransport } from './transport.js';
import type { SnapshotSink } from './snapshot.js';
import type { TransportLogLevel } from './types.js';
import type { Socket } from 'node:net';
import { connect, createServer } from 'node:net';

/** mulberry32: small, fast, and the same sequence for the same seed on every run. */
export function seededRandom(seed: number): { next(): number; int(maxExclusive: number): number } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (maxExclusive) => Math.floor(next() * maxExclusive) };
}

/** `n` reproducible pseudo-random bytes. */
export function seededBytes(n: number, seed: number): Buffer {
  const rng = seededRandom(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(256);
  return b;
}

/** The InstallSnapshot request A sends B for `meta`. */
export function installSnapshotRequest(meta: SnapshotMeta): InstallSnapshotRequest {
  return { type: 'install-snapshot', from: A, to: B, term: term(3), snapshot: meta };
}

export const A = nodeId('node-a');
export const B = nodeId('node-b');
export const C = nodeId('node-c');

export const sampleSnapshotMeta: SnapshotMeta = {
  index: index(Number.MAX_SAFE_INTEGER - 1),
  term: term(7),
  membership: {
    members: [
      { id: A, address: '127.0.0.1:7001', role: 'voter' },
      { id: B, address: '[::1]:7002', role: 'voter' },
      { id: nodeId('node-ü'), address: 'pod-3.kuberaft.svc:7003', role: 'learner' },
    ],
  },
};

function entries(prevIndex: number): Entry[] {
  return [
    { term: term(3), index: index(prevIndex + 1), kind: 'noop', data: new Uint8Array(0) },
    { term: term(3), index: index(prevIndex + 2), kind: 'normal', data: new Uint8Array([0, 1, 2, 255]) },
    { term: term(4), index: index(prevIndex + 3), kind: 'config', data: new TextEncoder().encode('{"m":1}') },
  ];
}

/** One message of every type from `from` to `to`, with edge values (0, max safe integer, unicode). */
export function sampleMessages(from = A, to = B): Message[] {
  const t = term(5);
  return [
    { type: 'pre-vote', from, to, term: t, lastIndex: index(10), lastTerm: term(4) },
    { type: 'pre-vote-response', from, to, term: t, reject: true },
    { type: 'vote', from, to, term: t, lastIndex: index(0), lastTerm: term(0), transfer: true },
    { type: 'vote-response', from, to, term: term(Number.MAX_SAFE_INTEGER), reject: false },
    { type: 'append', from, to, term: t, prevIndex: index(41), prevTerm: term(3), entries: entries(41), commit: index(40) },
    { type: 'append', from, to, term: t, prevIndex: index(0), prevTerm: term(0), entries: [], commit: index(0) },
    {
      type: 'append-response',
      from,
      to,
      term: t,
      reject: true,
      index: index(44),
      hintIndex: index(2 ** 40),
      hintTerm: term(2),
    },
    { type: 'heartbeat', from, to, term: t, commit: index(40), readRound: 17 },
    { type: 'heartbeat-response', from, to, term: t, readRound: 2 ** 33 },
    { type: 'install-snapshot', from, to, term: t, snapshot: sampleSnapshotMeta },
    { type: 'timeout-now', from, to, term: t },
  ];
}

// ---- Running real transports on 127.0.0.1 -------------------------------------------------


export const SECRET = 'a-test-cluster-secret-of-32-bytes';

export interface LogLine {
  readonly level: TransportLogLevel;
  readonly msg: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

export interface TestNode {
  readonly id: NodeId;
  readonly transport: PeerTransport;
  readonly received: Message[];
  readonly logs: LogLine[];
  port: number;
}

/** Addresses of running test nodes, shared by their resolvers (so a test can repoint a peer). */
export class AddressBook {
  readonly addresses = new Map<NodeId, string>();
  readonly resolve = (id: NodeId): string | undefined => this.addresses.get(id);
}

export async function startNode(
  id: NodeId,
  book: AddressBook,
  options: Partial<PeerTransportOptions> = {},
  port = 0,
): Promise<TestNode> {
  const received: Message[] = [];
  const logs: LogLine[] = [];
  const transport = new PeerTransport({
    id,
    secret: SECRET,
    addressOf: book.resolve,
    log: (level, msg, fields = {}) => logs.push({ level, msg, fields }),
    limits: { reconnectDelayMinMs: 10, reconnectDelayMaxMs: 100, handshakeTimeoutMs: 2_000 },
    ...options,
  });
  transport.onMessage((m) => received.push(m));
  const bound = await transport.listen('127.0.0.1', port);
  book.addresses.set(id, `127.0.0.1:${bound.port}`);
  return { id, transport, received, logs, port: bound.port };
}

/** Polls until `condition` holds; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A sink that keeps bytes in memory and records each write's offset. */
export class MemorySink implements SnapshotSink {
  readonly writes: number[] = [];
  readonly chunks: Uint8Array[] = [];
  committed = false;
  aborted = false;
  constructor(private readonly onWrite?: (offset: number) => void | Promise<void>) {}
  async write(offset: number, chunk: Uint8Array): Promise<void> {
    this.writes.push(offset);
    this.chunks.push(Uint8Array.from(chunk));
    await this.onWrite?.(offset);
  }
  commit(): void {
    this.committed = true;
  }
  abort(): void {
    this.aborted = true;
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/**
 * A TCP proxy in front of a peer port, so tests can stall or cut a live connection the way a
 * network would, without the transports' cooperation.
 */
export interface Proxy {
  readonly port: number;
  /** Stop reading from connected clients (the dialers): their socket buffers fill up. */
  pauseClients(): void;
  resumeClients(): void;
  /** Destroy every proxied connection (new ones are still accepted). */
  killAll(): void;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<Proxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  let paused = false;
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    if (paused) client.pause();
    client.on('data', (d: Buffer) => upstream.write(d));
    upstream.on('data', (d: Buffer) => client.write(d));
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('proxy has no address');
  return {
    port: address.port,
    pauseClients: () => {
      paused = true;
      for (const p of pairs) p.client.pause();
    },
    resumeClients: () => {
      paused = false;
      for (const p of pairs) p.client.resume();
    },
    killAll: () => {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of pairs) {
          p.client.destroy();
          p.upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
