// The KV state machine's public surface, for the node process.
export { COMMAND_FORMAT_VERSION, decodeCommand, encodeCommand, validateKey, validateRequestId, validateValue } from './command.js';
export type { Command, RequestId } from './command.js';
export { KvError } from './errors.js';
export type { KvErrorCode } from './errors.js';
export * from './limits.js';
export { SNAPSHOT_FORMAT_VERSION } from './snapshot.js';
export type { SnapshotSink } from './snapshot.js';
export { KvStateMachine } from './state-machine.js';
export type { ApplyResult, KvEntry, KvValue } from './state-machine.js';
