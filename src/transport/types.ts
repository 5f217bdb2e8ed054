// The callbacks through which the transport reports to its owner (logger, metrics).
import type { NodeId } from '../raft/types.js';

export type TransportLogLevel = 'debug' | 'info' | 'warn' | 'error';
/** The node's logger, injected; fields are flat JSON-friendly values. */
export type TransportLog = (level: TransportLogLevel, msg: string, fields?: Readonly<Record<string, unknown>>) => void;

export type ConnectionDirection = 'outbound' | 'inbound';
export type ConnectionState = 'connecting' | 'connected' | 'disconnected';
export type DropReason = 'queue-full' | 'no-address' | 'too-large';

/** Optional metrics hooks; every one may be left out. */
export interface TransportMetrics {
  bytesSent?(peer: NodeId, bytes: number): void;
  /** `peer` is undefined for bytes received before a connection authenticated. */
  bytesReceived?(peer: NodeId | undefined, bytes: number): void;
  connectionState?(peer: NodeId, direction: ConnectionDirection, state: ConnectionState): void;
  messageDropped?(peer: NodeId, reason: DropReason): void;
}

export const silentLog: TransportLog = () => undefined;
