// The binary encoding of KV commands: the `data` of a normal Raft entry.
//
// Layout (little-endian), version 1:
//   u8 version | u8 op (1 put, 2 delete, 3 cas) | u8 flags (bit 0: request id, bit 1: cas expects a value)
//   [u16 clientIdLength | clientId (UTF-8) | u64 seq]            if flags bit 0
//   u16 keyLength | key (UTF-8)
//   put:    u32 valueLength | value
//   cas:    [u32 expectedLength | expected]  if flags bit 1    | u32 valueLength | value
//   delete: nothing
// Reads (get, list) are not commands: they are served locally after ReadIndex.
import { assertNever } from '../raft/assert.js';
import { ByteReader, ByteWriter, utf8 } from './bytes.js';
import { KvError } from './errors.js';
import { CLIENT_ID_SIZE_MAX_BYTES, KEY_SIZE_MAX_BYTES, VALUE_SIZE_MAX_BYTES } from './limits.js';

export const COMMAND_FORMAT_VERSION = 1;

const OP_PUT = 1;
const OP_DELETE = 2;
const OP_CAS = 3;
const FLAG_REQUEST_ID = 0b01;
const FLAG_EXPECTED = 0b10;

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
  | { readonly kind: 'put'; readonly key: string; readonly value: Uint8Array; readonly requestId?: RequestId }
  | { readonly kind: 'delete'; readonly key: string; readonly requestId?: RequestId }
  | {
      readonly kind: 'cas';
      readonly key: string;
      /** The value the key must hold for the swap to happen; undefined: the key must be absent. */
      readonly expected: Uint8Array | undefined;
      readonly value: Uint8Array;
      readonly requestId?: RequestId;
    };

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
  const key = validateKey(command.key);
  const w = new ByteWriter(16 + key.length + (command.kind === 'delete' ? 0 : command.value.length));
  const hasExpected = command.kind === 'cas' && command.expected !== undefined;
  const op = command.kind === 'put' ? OP_PUT : command.kind === 'delete' ? OP_DELETE : OP_CAS;
  w.u8(COMMAND_FORMAT_VERSION)
    .u8(op)
    .u8((command.requestId ? FLAG_REQUEST_ID : 0) | (hasExpected ? FLAG_EXPECTED : 0));
  if (command.requestId) {
    const clientId = validateRequestId(command.requestId);
    w.u16(clientId.length).bytes(clientId).u64(command.requestId.seq);
  }
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
  if ((flags & ~(FLAG_REQUEST_ID | FLAG_EXPECTED)) !== 0) malformed(`unknown flags 0x${flags.toString(16)}`);
  if ((flags & FLAG_EXPECTED) !== 0 && op !== OP_CAS) malformed('only cas carries an expected value');
  let requestId: RequestId | undefined;
  if ((flags & FLAG_REQUEST_ID) !== 0) {
    const length = r.u16('client id length');
    if (length === 0 || length > CLIENT_ID_SIZE_MAX_BYTES) malformed(`client id length ${length} outside 1..${CLIENT_ID_SIZE_MAX_BYTES}`);
    const clientId = r.utf8(length, 'client id');
    requestId = { clientId, seq: r.u64('sequence number') };
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
      command = { kind: 'put', key, value: value('value'), ...(requestId && { requestId }) };
      break;
    case OP_DELETE:
      command = { kind: 'delete', key, ...(requestId && { requestId }) };
      break;
    case OP_CAS: {
      const expected = (flags & FLAG_EXPECTED) !== 0 ? value('expected value') : undefined;
      command = { kind: 'cas', key, expected, value: value('value'), ...(requestId && { requestId }) };
      break;
    }
    default:
      return malformed(`unknown op ${op}`);
  }
  r.end('the command');
  return command;
}
