// Operating errors of the transport: expected outcomes with a stable `code`. Programmer errors
// are assertions (src/raft/assert.ts), never these.

export type FrameErrorCode =
  /** Bytes from a peer do not decode: truncated, bad enum, out-of-range integer, bad UTF-8... */
  | 'malformed-frame'
  /** A frame's length prefix exceeds FRAME_SIZE_MAX_BYTES (or is too small to be a frame). */
  | 'frame-too-large';

/** Thrown by decoding only; the connection that sent the bytes is closed, nothing else. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(
    readonly code: FrameErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type HandshakeRefusalCode =
  /** The peer belongs to another cluster. */
  | 'wrong-cluster'
  /** The peer is not the node the dialer asked for (an address now used by someone else). */
  | 'wrong-node'
  /** The peer could not prove it holds the cluster secret. */
  | 'bad-proof'
  /** The peer sent something other than the next handshake step. */
  | 'protocol'
  /** The handshake did not complete within HANDSHAKE_TIMEOUT_MS. */
  | 'timeout'
  /** This node holds INBOUND_CONNECTIONS_MAX connections already. */
  | 'overloaded';

export class HandshakeError extends Error {
  override readonly name = 'HandshakeError';
  constructor(
    readonly code: HandshakeRefusalCode,
    message: string,
    /** True when the other side refused us (its reason is in the message). */
    readonly byPeer: boolean,
  ) {
    super(message);
  }
}

export type RequestErrorCode =
  /** No response within the caller's timeout; the request may or may not have run. */
  | 'request-timeout'
  /** The peer has no address, or no connection could be made: the request did not run. */
  | 'peer-unreachable'
  /** The connection dropped after the request was sent; it may or may not have run. */
  | 'connection-lost'
  /** The peer's handler failed; `remoteCode` carries its error code when it had one. */
  | 'remote-error'
  /** The request was dropped from a full send queue before it was sent: it did not run. */
  | 'queue-full'
  /** The request or its response does not fit in one frame. */
  | 'too-large'
  /** This transport was closed. */
  | 'transport-closed';

export class RequestError extends Error {
  override readonly name = 'RequestError';
  constructor(
    readonly code: RequestErrorCode,
    message: string,
    readonly remoteCode?: string,
  ) {
    super(message);
  }
}
