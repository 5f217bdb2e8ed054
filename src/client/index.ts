// The kuberaft client library: `import { Client } from 'kuberaft'` (docs/client.md).
export { CALL_TIMEOUT_MS_DEFAULT, CONNECTIONS_PER_ENDPOINT_DEFAULT, Client } from './client.js';
export type { CallOptions, ClientOptions, KeyValue, ListResult, ReadOptions, WriteOptions } from './client.js';
export { CompactedError, KuberaftError, isRetryable } from './errors.js';
export type { ApiErrorCode, ClientErrorCode, ErrorCode } from './errors.js';
export { Lease, LEASE_KEEPALIVE_FRACTION } from './lease.js';
export type { LeaseOptions } from './lease.js';
export { LOCK_TTL_MS_DEFAULT } from './lock.js';
export type { Lock, LockOptions } from './lock.js';
export type { RetryOptions } from './backoff.js';
export type { TlsOptions } from './transport.js';
export { Watch, WATCH_IDLE_TIMEOUT_MS_DEFAULT } from './watch.js';
export type { WatchEvent, WatchOptions } from './watch.js';
export type { LeaseRevokeResult, LeaseStatus, MemberInfo, MembershipResult, MembersView, NodeStatus } from '../api/types.js';
