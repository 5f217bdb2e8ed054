// Mutual authentication of two peers that share the cluster secret, which never crosses the wire.
//
//   dialer   → hello     {clusterId, from: dialer, to: acceptor, nonceD}
//   acceptor → challenge {from: acceptor, nonceA, proofA = HMAC(secret, "acceptor" ‖ transcript)}
//   dialer   → auth      {proofD = HMAC(secret, "dialer" ‖ transcript)}
//   acceptor → welcome
//
// transcript = clusterId ‖ dialer id ‖ acceptor id ‖ nonceD ‖ nonceA (each length-prefixed), so a
// proof is bound to both identities, the cluster and fresh randomness from both sides: it cannot
// be replayed to another node, another cluster or another connection. Either side that fails a
// check sends `refuse` with a reason and closes.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NodeId } from '../raft/types.js';
import { ByteWriter } from './bytes.js';
import type { FramedConnection } from './connection.js';
import { ADDRESS_SIZE_MAX_BYTES, CLUSTER_ID_SIZE_MAX_BYTES, NONCE_SIZE_BYTES, NODE_ID_SIZE_MAX_BYTES } from './constants.js';
import type { HandshakeRefusalCode } from './errors.js';
import { HandshakeError } from './errors.js';
import type { Frame } from './frame.js';

export type HandshakeRole = 'dialer' | 'acceptor';

export interface Transcript {
  readonly clusterId: string;
  readonly dialer: NodeId;
  readonly acceptor: NodeId;
  readonly dialerNonce: Uint8Array;
  readonly acceptorNonce: Uint8Array;
  /** The dialer's advertised peer address, bound into the proofs so that it cannot be swapped. */
  readonly dialerAddress: string;
}

/** HMAC-SHA256 over the role and the transcript. */
export function handshakeProof(secret: Uint8Array, role: HandshakeRole, t: Transcript): Buffer {
  const w = new ByteWriter(256);
  w.str(`kuberaft/1 ${role}`, 32);
  w.str(t.clusterId, CLUSTER_ID_SIZE_MAX_BYTES);
  w.str(t.dialer, NODE_ID_SIZE_MAX_BYTES).str(t.acceptor, NODE_ID_SIZE_MAX_BYTES);
  w.bytes(t.dialerNonce).bytes(t.acceptorNonce);
  w.str(t.dialerAddress, ADDRESS_SIZE_MAX_BYTES);
  return createHmac('sha256', secret).update(w.finish()).digest();
}

function proofMatches(expected: Buffer, received: Uint8Array): boolean {
  return expected.length === received.length && timingSafeEqual(expected, received);
}

/** Clusters match when they are equal or either side does not know its cluster id yet (''). */
function clustersMatch(a: string, b: string): boolean {
  return a === '' || b === '' || a === b;
}

function refuse(conn: FramedConnection, code: HandshakeRefusalCode, reason: string): never {
  conn.sendAndClose({ type: 'refuse', code, reason }, `refused: ${code}: ${reason}`);
  throw new HandshakeError(code, reason, false);
}

function refusedBy(frame: Frame, peer: string): never {
  if (frame.type === 'refuse') {
    throw new HandshakeError(frame.code, `${peer} refused the connection: ${frame.reason}`, true);
  }
  throw new HandshakeError('protocol', `${peer} sent ${frame.type} during the handshake`, false);
}

export interface HandshakeIdentity {
  readonly self: NodeId;
  /** '' while this node does not know its cluster yet (it is waiting to be added). */
  readonly clusterId: string;
  readonly secret: Uint8Array;
  /** Where peers reach this node's peer port ('' if unknown); sent when dialing. */
  readonly advertise?: string;
}

/** The dialer's side. Resolves when the acceptor welcomed us; throws HandshakeError otherwise. */
export async function dialerHandshake(conn: FramedConnection, id: HandshakeIdentity, peer: NodeId): Promise<void> {
  const dialerNonce = randomBytes(NONCE_SIZE_BYTES);
  const advertise = id.advertise ?? '';
  conn.send({ type: 'hello', clusterId: id.clusterId, from: id.self, to: peer, nonce: dialerNonce, advertise });
  const challenge = await conn.nextFrame();
  if (challenge.type !== 'challenge') {
    if (challenge.type !== 'refuse') refuse(conn, 'protocol', `expected challenge, got ${challenge.type}`);
    conn.close('refused by peer');
    refusedBy(challenge, peer);
  }
  if (challenge.from !== peer) refuse(conn, 'wrong-node', `dialed ${peer} but reached ${challenge.from}`);
  const transcript: Transcript = {
    clusterId: id.clusterId,
    dialer: id.self,
    acceptor: peer,
    dialerNonce,
    acceptorNonce: challenge.nonce,
    dialerAddress: advertise,
  };
  if (!proofMatches(handshakeProof(id.secret, 'acceptor', transcript), challenge.proof)) {
    refuse(conn, 'bad-proof', `${peer} could not prove it holds the cluster secret`);
  }
  conn.send({ type: 'auth', proof: handshakeProof(id.secret, 'dialer', transcript) });
  const welcome = await conn.nextFrame();
  if (welcome.type !== 'welcome') {
    conn.close('refused by peer');
    refusedBy(welcome, peer);
  }
}

/**
 * The acceptor's side. Resolves with the authenticated dialer's id and the cluster it claims ('' when it
 * does not know its cluster yet); throws HandshakeError otherwise.
 */
export async function acceptorHandshake(conn: FramedConnection, id: HandshakeIdentity): Promise<{ peer: NodeId; clusterId: string; address: string }> {
  const hello = await conn.nextFrame();
  if (hello.type !== 'hello') refuse(conn, 'protocol', `expected hello, got ${hello.type}`);
  if (hello.to !== id.self) refuse(conn, 'wrong-node', `this is ${id.self}, not ${hello.to}`);
  if (hello.from === id.self) refuse(conn, 'wrong-node', `a peer may not claim this node's own id ${id.self}`);
  if (!clustersMatch(hello.clusterId, id.clusterId)) {
    refuse(conn, 'wrong-cluster', `this node belongs to cluster ${id.clusterId}, not ${hello.clusterId}`);
  }
  const acceptorNonce = randomBytes(NONCE_SIZE_BYTES);
  const transcript: Transcript = {
    clusterId: hello.clusterId,
    dialer: hello.from,
    acceptor: id.self,
    dialerNonce: hello.nonce,
    acceptorNonce,
    dialerAddress: hello.advertise,
  };
  conn.send({
    type: 'challenge',
    from: id.self,
    nonce: acceptorNonce,
    proof: handshakeProof(id.secret, 'acceptor', transcript),
  });
  const auth = await conn.nextFrame();
  if (auth.type !== 'auth') {
    if (auth.type !== 'refuse') refuse(conn, 'protocol', `expected auth, got ${auth.type}`);
    conn.close('refused by peer');
    refusedBy(auth, hello.from);
  }
  if (!proofMatches(handshakeProof(id.secret, 'dialer', transcript), auth.proof)) {
    refuse(conn, 'bad-proof', `${hello.from} could not prove it holds the cluster secret`);
  }
  conn.send({ type: 'welcome' });
  return { peer: hello.from, clusterId: hello.clusterId, address: hello.advertise };
}
