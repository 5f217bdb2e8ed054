// How each system is asked for the same operation over raw HTTP/1.1 + keep-alive: etcd's JSON gateway
// (JSON with base64 keys and values), kuberaft's failover probes and both systems' round-trip floor.
// kuberaft's load rows go through its client library instead (worker.ts).
import type { Operation, SystemName } from './protocol.js';

export interface HttpCall {
  readonly method: 'GET' | 'PUT' | 'POST';
  readonly path: string;
  readonly body: Buffer | undefined;
  readonly contentType: string | undefined;
  /** Statuses that mean the operation succeeded (a read of an absent key is still a served read). */
  readonly okStatuses: readonly number[];
}

const OK: readonly number[] = [200];
const OK_OR_ABSENT: readonly number[] = [200, 404];

function b64(s: string | Buffer): string {
  return Buffer.from(s).toString('base64');
}

export function putCall(system: SystemName, key: string, value: Buffer): HttpCall {
  switch (system) {
    case 'kuberaft':
      return { method: 'PUT', path: `/v1/kv/${encodeURIComponent(key)}`, body: value, contentType: 'application/octet-stream', okStatuses: OK };
    case 'etcd':
      return { method: 'POST', path: '/v3/kv/put', body: Buffer.from(`{"key":"${b64(key)}","value":"${value.toString('base64')}"}`), contentType: 'application/json', okStatuses: OK };
  }
}

/** A linearizable read: kuberaft's default GET (ReadIndex), etcd's default range (not serializable). */
export function readCall(system: SystemName, key: string): HttpCall {
  switch (system) {
    case 'kuberaft':
      return { method: 'GET', path: `/v1/kv/${encodeURIComponent(key)}`, body: undefined, contentType: undefined, okStatuses: OK_OR_ABSENT };
    case 'etcd':
      return { method: 'POST', path: '/v3/kv/range', body: Buffer.from(`{"key":"${b64(key)}"}`), contentType: 'application/json', okStatuses: OK };
  }
}

export function pingCall(system: SystemName): HttpCall {
  const path = system === 'kuberaft' ? '/livez' : '/version';
  return { method: 'GET', path, body: undefined, contentType: undefined, okStatuses: OK };
}

/** The key with number `n`: prefix + zero padding to exactly `sizeBytes` characters. */
export function keyOf(prefix: string, n: number, sizeBytes: number): string {
  const digits = String(n);
  if (prefix.length + digits.length > sizeBytes) throw new Error(`key number ${n} does not fit ${sizeBytes} bytes with prefix ${prefix}`);
  return prefix + digits.padStart(sizeBytes - prefix.length, '0');
}

export function callFor(system: SystemName, op: Operation, key: string, value: Buffer, roll: number): HttpCall {
  switch (op.kind) {
    case 'put':
      return putCall(system, key, value);
    case 'read':
      return readCall(system, key);
    case 'mixed':
      return roll * 100 < op.readPercent ? readCall(system, key) : putCall(system, key, value);
    case 'ping':
      return pingCall(system);
    case 'lease':
    case 'watch-fanout':
      throw new Error(`${op.kind} is not a single HTTP call`);
  }
}
