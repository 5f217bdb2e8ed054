// The KV state machine's public surface, for the node process.
export {
  COMMAND_FORMAT_VERSION,
  decodeCommand,
  encodeCommand,
  leaseId,
  validateKey,
  validateLeaseId,
  validateLeaseTtl,
  validateRequestId,
  validateValue,
} from './command.js';
export type { Command, LeaseCommand, LeaseId, RequestId } from './command.js';
export { KvError } from './errors.js';
export type { KvErrorCode } from './errors.js';
export { CompactedError } from './history.js';
export * from './limits.js';
export { SNAPSHOT_FORMAT_VERSION } from './snapshot.js';
export type { SnapshotSink } from './snapshot.js';
export { KvStateMachine } from './state-machine.js';
export type { ApplyResult, ChangeEvent, ChangeRecord, HistoryReader, KvEntry, KvObserver, KvValue, LeaseApplyResult, LeaseInfo } from './state-machine.js';
