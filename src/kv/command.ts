// The binary encoding of KV commands: the `data` of a normal Raft entry.
//
// Layout (little-endian), version 1:
//   u8 version | u8 op (1 put, 2 delete, 3 cas, 4 lease-grant, 5 lease-revoke, 6 lease-expire) | u8 flags
//   key commands (put, delete, cas); flags bit 0: request id, bit 1: cas expects a value, bit 2: lease
//     [u16 clientIdLength | clientId (UTF-8) | u64 seq]            if flags bit 0
//     [u64 lease]                                                  if flags bit 2 (put and cas only)
//     u16 keyLength | key (UTF-8)
//     put:    u32 valueLength | value
//     cas:    [u32 expectedLength | expected]  if flags bit 1    | u32 valueLength | value
//     delete: nothing
//   lease commands (flags 0)
//     lease-grant: u64 ttlMs                 the lease's id is the index of this entry
//     lease-revoke, lease-expire: u64 lease  the same effect; expire is what the leader proposes
// Lease ops and the lease flag were added within version 1: every earlier command encodes exactly as
// before (members must all run a build that knows leases before leases are used).
// Reads (get, list) are not commands: they are served locally after ReadIndex.
import { assertNever } from '../raft/assert.js';
import { ByteReader, ByteWriter, utf8 } from './bytes.js';
import { KvError } from './errors.js';
import { CLIENT_ID_SIZE_MAX_BYTES, KEY_SIZE_MAX_BYTES, LEASE_TTL_MAX_MS, LEASE_TTL_MIN_MS, VALUE_SIZE_MAX_BYTES } from './limits.js';

export const COMMAND_FORMAT_VERSION = 1;

const OP_PUT = 1;
const OP_DELETE = 2;
const OP_CAS = 3;
const OP_LEASE_GRANT = 4;
const OP_LEASE_REVOKE = 5;
const OP_LEASE_EXPIRE = 6;
const FLAG_REQUEST_ID = 0b001;
const FLAG_EXPECTED = 0b010;
const FLAG_LEASE = 0b100;

/** A lease's id: the index of the entry that granted it (so never 0, and unique for the cluster's life). */
export type LeaseId = number & { readonly __brand: 'LeaseId' };
export const leaseId = (n: number): LeaseId => n as LeaseId;

/**
 * Identifies a client request across retries: a client sends each new request with a higher
 * `seq` and retries with the same one, and the state machine applies it at most once.
 */
export interface RequestId {
  /** Invariant: 1..CLIENT_ID_SIZE_MAX_BYTES bytes of UTF-8. */
  readonly clientId: string;
  /** Invariant: a non-negative safe integer. */
  readonly seq: number;
}

export type Command =
  /** `lease`: attach the key to this lease (it is deleted when the lease ends); absent: the key has no lease. */
  | { readonly kind: 'put'; readonly key: string; readonly value: Uint8Array; readonly lease?: LeaseId; readonly requestId?: RequestId }
  | { readonly kind: 'delete'; readonly key: string; readonly requestId?: RequestId }
  | {
      readonly kind: 'cas';
      readonly key: string;
      /** The value the key must hold for the swap to happen; undefined: the key must be absent. */
      readonly expected: Uint8Array | undefined;
      readonly value: Uint8Array;
      readonly lease?: LeaseId;
      readonly requestId?: RequestId;
    }
  | LeaseCommand;

/**
 * Lease commands carry no request id: a grant retried after an unknown outcome creates a second lease,
 * which expires unused; revoke and expire are idempotent.
 */
export type LeaseCommand =
  | { readonly kind: 'lease-grant'; readonly ttlMs: number }
  /** A client ends the lease: its keys are deleted. */
  | { readonly kind: 'lease-revoke'; readonly lease: LeaseId }
  /** The leader saw the lease's time run out: the same effect as a revoke. */
  | { readonly kind: 'lease-expire'; readonly lease: LeaseId };

export type KeyCommand = Exclude<Command, LeaseCommand>;

export function isLeaseCommand(c: Command): c is LeaseCommand {
  return c.kind === 'lease-grant' || c.kind === 'lease-revoke' || c.kind === 'lease-expire';
}

// Lone surrogates cannot be encoded as UTF-8 (they would be replaced, changing the key).
const LONE_SURROGATE = /\p{Surrogate}/u;

/** Checks a key from user input; returns its UTF-8 bytes. Throws KvError. */
export function validateKey(key: string): Uint8Array {
  if (key.length === 0) throw new KvError('invalid-key', 'the key is empty: give a non-empty key');
  if (LONE_SURROGATE.test(key)) throw new KvError('invalid-key', 'the key is not well-formed Unicode (lone surrogate): send valid UTF-8');
  const bytes = utf8(key);
  if (bytes.length > KEY_SIZE_MAX_BYTES) {
    throw new KvError('key-too-large', `the key is ${bytes.length} bytes; the limit is ${KEY_SIZE_MAX_BYTES} (KEY_SIZE_MAX_BYTES): use a shorter key`);
  }
  return bytes;
}

/** Checks a value from user input. Throws KvError. */
export function validateValue(value: Uint8Array): void {
  if (value.length > VALUE_SIZE_MAX_BYTES) {
    throw new KvError('value-too-large', `the value is ${value.length} bytes; the limit is ${VALUE_SIZE_MAX_BYTES} (VALUE_SIZE_MAX_BYTES): store a smaller value`);
  }
}

/** Checks a lease TTL from user input. Throws KvError. */
export function validateLeaseTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < LEASE_TTL_MIN_MS || ttlMs > LEASE_TTL_MAX_MS) {
    throw new KvError('invalid-lease', `a lease TTL must be an integer number of milliseconds in ${LEASE_TTL_MIN_MS}..${LEASE_TTL_MAX_MS}, got ${ttlMs}`);
  }
}

/** Checks a lease id from user input. Throws KvError. */
export function validateLeaseId(id: number): LeaseId {
  if (!Number.isSafeInteger(id) || id < 1) throw new KvError('invalid-lease', `a lease id is a positive integer, got ${id}`);
  return leaseId(id);
}

/** Checks a request id from user input; returns the client id's UTF-8 bytes. Throws KvError. */
export function validateRequestId(id: RequestId): Uint8Array {
  if (id.clientId.length === 0 || LONE_SURROGATE.test(id.clientId)) {
    throw new KvError('invalid-request-id', 'the client id must be a non-empty, well-formed string');
  }
  const bytes = utf8(id.clientId);
  if (bytes.length > CLIENT_ID_SIZE_MAX_BYTES) {
    throw new KvError('invalid-request-id', `the client id is ${bytes.length} bytes; the limit is ${CLIENT_ID_SIZE_MAX_BYTES} (CLIENT_ID_SIZE_MAX_BYTES)`);
  }
  if (!Number.isSafeInteger(id.seq) || id.seq < 0) {
    throw new KvError('invalid-request-id', `the request sequence number must be a non-negative safe integer, got ${id.seq}`);
  }
  return bytes;
}

/** Encodes a command, validating every field. Throws KvError for input outside the limits. */
export function encodeCommand(command: Command): Uint8Array {
  if (isLeaseCommand(command)) return encodeLeaseCommand(command);
  const key = validateKey(command.key);
  const w = new ByteWriter(24 + key.length + (command.kind === 'delete' ? 0 : command.value.length));
  const hasExpected = command.kind === 'cas' && command.expected !== undefined;
  const lease = command.kind === 'delete' ? undefined : command.lease;
  const op = command.kind === 'put' ? OP_PUT : command.kind === 'delete' ? OP_DELETE : OP_CAS;
  w.u8(COMMAND_FORMAT_VERSION)
    .u8(op)
    .u8((command.requestId ? FLAG_REQUEST_ID : 0) | (hasExpected ? FLAG_EXPECTED : 0) | (lease !== undefined ? FLAG_LEASE : 0));
  if (command.requestId) {
    const clientId = validateRequestId(command.requestId);
    w.u16(clientId.length).bytes(clientId).u64(command.requestId.seq);
  }
  if (lease !== undefined) w.u64(validateLeaseId(lease));
  w.u16(key.length).bytes(key);
  switch (command.kind) {
    case 'put':
      validateValue(command.value);
      w.u32(command.value.length).bytes(command.value);
      break;
    case 'delete':
      break;
    case 'cas':
      if (command.expected !== undefined) {
        validateValue(command.expected);
        w.u32(command.expected.length).bytes(command.expected);
      }
      validateValue(command.value);
      w.u32(command.value.length).bytes(command.value);
      break;
    default:
      assertNever(command, 'command');
  }
  return w.finish();
}

function encodeLeaseCommand(command: LeaseCommand): Uint8Array {
  const w = new ByteWriter(11).u8(COMMAND_FORMAT_VERSION);
  switch (command.kind) {
    case 'lease-grant':
      validateLeaseTtl(command.ttlMs);
      return w.u8(OP_LEASE_GRANT).u8(0).u64(command.ttlMs).finish();
    case 'lease-revoke':
      return w.u8(OP_LEASE_REVOKE).u8(0).u64(validateLeaseId(command.lease)).finish();
    case 'lease-expire':
      return w.u8(OP_LEASE_EXPIRE).u8(0).u64(validateLeaseId(command.lease)).finish();
    default:
      return assertNever(command, 'lease command');
  }
}

function malformed(reason: string): never {
  throw new KvError('malformed-command', `malformed command: ${reason}`);
}

/**
 * Decodes untrusted bytes. Throws only KvError with code 'malformed-command'. Byte fields are
 * views into `data`: copy them before keeping them.
 */
export function decodeCommand(data: Uint8Array): Command {
  const r = new ByteReader(data, malformed);
  const version = r.u8('version');
  if (version !== COMMAND_FORMAT_VERSION) malformed(`unknown format version ${version} (this build reads ${COMMAND_FORMAT_VERSION})`);
  const op = r.u8('op');
  const flags = r.u8('flags');
  if (op === OP_LEASE_GRANT || op === OP_LEASE_REVOKE || op === OP_LEASE_EXPIRE) {
    if (flags !== 0) malformed(`lease commands have no flags, got 0x${flags.toString(16)}`);
    const n = r.u64(op === OP_LEASE_GRANT ? 'ttl' : 'lease id');
    r.end('the command');
    if (op === OP_LEASE_GRANT) {
      if (n < LEASE_TTL_MIN_MS || n > LEASE_TTL_MAX_MS) malformed(`lease ttl ${n} outside ${LEASE_TTL_MIN_MS}..${LEASE_TTL_MAX_MS}`);
      return { kind: 'lease-grant', ttlMs: n };
    }
    if (n === 0) malformed('lease id 0');
    return { kind: op === OP_LEASE_REVOKE ? 'lease-revoke' : 'lease-expire', lease: leaseId(n) };
  }
  if ((flags & ~(FLAG_REQUEST_ID | FLAG_EXPECTED | FLAG_LEASE)) !== 0) malformed(`unknown flags 0x${flags.toString(16)}`);
  if ((flags & FLAG_EXPECTED) !== 0 && op !== OP_CAS) malformed('only cas carries an expected value');
  if ((flags & FLAG_LEASE) !== 0 && op !== OP_CAS && op !== OP_PUT) malformed('only put and cas carry a lease');
  let requestId: RequestId | undefined;
  if ((flags & FLAG_REQUEST_ID) !== 0) {
    const length = r.u16('client id length');
    if (length === 0 || length > CLIENT_ID_SIZE_MAX_BYTES) malformed(`client id length ${length} outside 1..${CLIENT_ID_SIZE_MAX_BYTES}`);
    const clientId = r.utf8(length, 'client id');
    requestId = { clientId, seq: r.u64('sequence number') };
  }
  let lease: LeaseId | undefined;
  if ((flags & FLAG_LEASE) !== 0) {
    lease = leaseId(r.u64('lease id'));
    if (lease === 0) malformed('lease id 0');
  }
  const keyLength = r.u16('key length');
  if (keyLength === 0 || keyLength > KEY_SIZE_MAX_BYTES) malformed(`key length ${keyLength} outside 1..${KEY_SIZE_MAX_BYTES}`);
  const key = r.utf8(keyLength, 'key');
  const value = (what: string): Uint8Array => {
    const length = r.u32(`${what} length`);
    if (length > VALUE_SIZE_MAX_BYTES) malformed(`${what} length ${length} exceeds ${VALUE_SIZE_MAX_BYTES}`);
    return r.bytes(length, what);
  };
  let command: Command;
  switch (op) {
    case OP_PUT:
      command = { kind: 'put', key, value: value('value'), ...(lease !== undefined && { lease }), ...(requestId && { requestId }) };
      break;
    case OP_DELETE:
      command = { kind: 'delete', key, ...(requestId && { requestId }) };
      break;
    case OP_CAS: {
      const expected = (flags & FLAG_EXPECTED) !== 0 ? value('expected value') : undefined;
      command = { kind: 'cas', key, expected, value: value('value'), ...(lease !== undefined && { lease }), ...(requestId && { requestId }) };
      break;
    }
    default:
      return malformed(`unknown op ${op}`);
  }
  r.end('the command');
  return command;
}
