// The peer transport's public API (see docs/transport.md).
export { PeerTransport, DEFAULT_TRANSPORT_LIMITS } from './transport.js';
export type { PeerTransportOptions, MessageHandler, RequestHandler } from './transport.js';
export type { PeerStats, TransportLimits } from './outbound.js';
export { snapshotSourceFromBytes } from './snapshot.js';
export type { OpenSnapshot, SnapshotSink, SnapshotSinkFactory, SnapshotSource } from './snapshot.js';
export { FrameError, HandshakeError, RequestError } from './errors.js';
export type { FrameErrorCode, HandshakeRefusalCode, RequestErrorCode } from './errors.js';
export type {
  ConnectionDirection,
  ConnectionState,
  DropReason,
  TransportLog,
  TransportLogLevel,
  TransportMetrics,
} from './types.js';
export { decodeMessage, encodeMessage } from './codec.js';
export * from './constants.js';
