// Framing of a peer connection:
//
//   u32 length | u8 version | u8 frame type | payload        (length = 2 + payload bytes)
//
// The length is checked against FRAME_SIZE_MAX_BYTES as soon as its 4 bytes arrive, before
// anything is buffered. Frame payloads use the encodings of bytes.ts and codec.ts.
import { assert, assertNever } from '../raft/assert.js';
import type { InstallSnapshotRequest, Message, NodeId } from '../raft/types.js';
import { ByteReader, ByteWriter } from './bytes.js';
import { readMessage, readNodeId, writeMessage, writeNodeId } from './codec.js';
import {
  ADDRESS_SIZE_MAX_BYTES,
  CLUSTER_ID_SIZE_MAX_BYTES,
  FRAME_HEADER_SIZE_BYTES,
  FRAME_SIZE_MAX_BYTES,
  NONCE_SIZE_BYTES,
  PROOF_SIZE_BYTES,
  PROTOCOL_VERSION,
  REASON_SIZE_MAX_BYTES,
} from './constants.js';
import type { HandshakeRefusalCode } from './errors.js';
import { FrameError } from './errors.js';

/** The acknowledgement of a snapshot offer or stream: where to resume, or how it ended. */
export type SnapshotAckStatus = 'resume' | 'committed' | 'rejected';

// Direction: "dialer" frames go from the node that opened the connection to the one that
// accepted it; "acceptor" frames go back. Raft messages only ever travel dialer → acceptor.
export type Frame =
  /** dialer: opens the handshake. `clusterId` is '' while the dialer does not know it yet. */
  /** `advertise`: where the dialer's own peer port is reached ('' if unknown), so the acceptor can answer it. */
  | { readonly type: 'hello'; readonly clusterId: string; readonly from: NodeId; readonly to: NodeId; readonly nonce: Uint8Array; readonly advertise: string }
  /** acceptor: its nonce and its proof of the secret over both nonces and both ids. */
  | { readonly type: 'challenge'; readonly from: NodeId; readonly nonce: Uint8Array; readonly proof: Uint8Array }
  /** dialer: its proof of the secret. */
  | { readonly type: 'auth'; readonly proof: Uint8Array }
  /** acceptor: the dialer is authenticated; frames may flow. */
  | { readonly type: 'welcome' }
  /** either: the handshake failed; the sender closes the connection after this. */
  | { readonly type: 'refuse'; readonly code: HandshakeRefusalCode; readonly reason: string }
  /** dialer: one Raft message. */
  | { readonly type: 'raft'; readonly message: Message }
  /**
   * dialer: a snapshot of `size` bytes follows for this install-snapshot message; `checksum` is the
   * sender's storage checksum of those bytes (opaque here), which the receiver's storage verifies.
   */
  | { readonly type: 'snapshot-offer'; readonly message: InstallSnapshotRequest; readonly size: number; readonly checksum: number }
  /** acceptor: for the snapshot at (index, term): resume from `offset`, or committed, or rejected. */
  | {
      readonly type: 'snapshot-ack';
      readonly index: number;
      readonly term: number;
      readonly status: SnapshotAckStatus;
      readonly offset: number;
    }
  /** dialer: bytes [offset, offset + data.length) of the snapshot at (index, term). */
  | {
      readonly type: 'snapshot-chunk';
      readonly index: number;
      readonly term: number;
      readonly offset: number;
      readonly data: Uint8Array;
    }
  /** dialer: all `size` bytes were sent; commit and deliver the install-snapshot message. */
  | { readonly type: 'snapshot-done'; readonly index: number; readonly term: number; readonly size: number }
  /** dialer: an opaque request; the acceptor answers with a response carrying the same id. */
  | { readonly type: 'request'; readonly id: number; readonly payload: Uint8Array }
  | { readonly type: 'response'; readonly id: number; readonly ok: true; readonly payload: Uint8Array }
  | { readonly type: 'response'; readonly id: number; readonly ok: false; readonly code: string; readonly message: string };

export type FrameType = Frame['type'];

const FRAME_TYPE_CODES: Record<FrameType, number> = {
  hello: 1,
  challenge: 2,
  auth: 3,
  welcome: 4,
  refuse: 5,
  raft: 6,
  'snapshot-offer': 7,
  'snapshot-ack': 8,
  'snapshot-chunk': 9,
  'snapshot-done': 10,
  request: 11,
  response: 12,
};
const FRAME_TYPES_BY_CODE = new Map<number, FrameType>(
  Object.entries(FRAME_TYPE_CODES).map(([k, v]) => [v, k as FrameType]),
);
const REFUSAL_CODES: readonly HandshakeRefusalCode[] = [
  'wrong-cluster',
  'wrong-node',
  'bad-proof',
  'protocol',
  'timeout',
  'overloaded',
];
const ACK_STATUSES: readonly SnapshotAckStatus[] = ['resume', 'committed', 'rejected'];
const ERROR_CODE_SIZE_MAX_BYTES = 64;

/** Encodes one complete frame, header included. Callers check the size against their limit. */
export function encodeFrame(frame: Frame): Buffer {
  const w = new ByteWriter(frame.type === 'snapshot-chunk' ? frame.data.length + 64 : 128);
  w.u32(0).u8(PROTOCOL_VERSION).u8(FRAME_TYPE_CODES[frame.type]);
  switch (frame.type) {
    case 'hello':
      assert(frame.nonce.length === NONCE_SIZE_BYTES, 'hello nonce size');
      w.str(frame.clusterId, CLUSTER_ID_SIZE_MAX_BYTES);
      writeNodeId(w, frame.from);
      writeNodeId(w, frame.to);
      w.raw(frame.nonce);
      w.str(frame.advertise, ADDRESS_SIZE_MAX_BYTES);
      break;
    case 'challenge':
      assert(frame.nonce.length === NONCE_SIZE_BYTES && frame.proof.length === PROOF_SIZE_BYTES, 'challenge sizes');
      writeNodeId(w, frame.from);
      w.raw(frame.nonce).raw(frame.proof);
      break;
    case 'auth':
      assert(frame.proof.length === PROOF_SIZE_BYTES, 'auth proof size');
      w.raw(frame.proof);
      break;
    case 'welcome':
      break;
    case 'refuse':
      w.u8(REFUSAL_CODES.indexOf(frame.code)).str(truncateUtf8(frame.reason, REASON_SIZE_MAX_BYTES), REASON_SIZE_MAX_BYTES);
      break;
    case 'raft':
      writeMessage(w, frame.message);
      break;
    case 'snapshot-offer':
      w.u64(frame.size).u32(frame.checksum);
      writeMessage(w, frame.message);
      break;
    case 'snapshot-ack':
      w.u64(frame.index).u64(frame.term).u8(ACK_STATUSES.indexOf(frame.status)).u64(frame.offset);
      break;
    case 'snapshot-chunk':
      w.u64(frame.index).u64(frame.term).u64(frame.offset).bytes(frame.data);
      break;
    case 'snapshot-done':
      w.u64(frame.index).u64(frame.term).u64(frame.size);
      break;
    case 'request':
      w.u64(frame.id).bytes(frame.payload);
      break;
    case 'response':
      w.u64(frame.id).bool(frame.ok);
      if (frame.ok) w.bytes(frame.payload);
      else {
        w.str(truncateUtf8(frame.code, ERROR_CODE_SIZE_MAX_BYTES), ERROR_CODE_SIZE_MAX_BYTES);
        w.str(truncateUtf8(frame.message, REASON_SIZE_MAX_BYTES), REASON_SIZE_MAX_BYTES);
      }
      break;
    default:
      assertNever(frame, 'frame type');
  }
  w.patchU32(0, w.size - 4);
  return w.finish();
}

/**
 * A snapshot-chunk frame as two buffers, the encoded header and the chunk's data itself, so that
 * the data (a megabyte per frame) is written to the socket without being copied into a frame.
 * Their concatenation equals encodeFrame(frame).
 */
export function encodeSnapshotChunk(frame: Extract<Frame, { type: 'snapshot-chunk' }>): readonly [Buffer, Uint8Array] {
  const header = encodeFrame({ ...frame, data: new Uint8Array(0) });
  // The frame's length prefix and the data's own length prefix (the header's last field).
  header.writeUInt32BE(header.length - 4 + frame.data.length, 0);
  header.writeUInt32BE(frame.data.length, header.length - 4);
  return [header, frame.data];
}

/** Decodes the bytes after the length prefix (version, type, payload). Throws only FrameError. */
export function decodeFrameBody(body: Uint8Array): Frame {
  const r: ByteReader = new ByteReader(body);
  const version = r.u8('protocol version');
  if (version !== PROTOCOL_VERSION) {
    r.fail(`protocol version ${version}; this node speaks ${PROTOCOL_VERSION} (run the same release on all peers)`);
  }
  const code = r.u8('frame type');
  const type = FRAME_TYPES_BY_CODE.get(code);
  if (type === undefined) r.fail(`unknown frame type ${code}`);
  const frame = readFrame(r, type);
  r.end(`${type} frame`);
  return frame;
}

function readFrame(r: ByteReader, type: FrameType): Frame {
  switch (type) {
    case 'hello':
      return {
        type,
        clusterId: r.str('cluster id', CLUSTER_ID_SIZE_MAX_BYTES),
        from: readNodeId(r, 'hello from'),
        to: readNodeId(r, 'hello to'),
        nonce: r.raw(NONCE_SIZE_BYTES, 'nonce'),
        advertise: r.str('advertised address', ADDRESS_SIZE_MAX_BYTES),
      };
    case 'challenge':
      return {
        type,
        from: readNodeId(r, 'challenge from'),
        nonce: r.raw(NONCE_SIZE_BYTES, 'nonce'),
        proof: r.raw(PROOF_SIZE_BYTES, 'proof'),
      };
    case 'auth':
      return { type, proof: r.raw(PROOF_SIZE_BYTES, 'proof') };
    case 'welcome':
      return { type };
    case 'refuse': {
      const c = r.u8('refusal code');
      const refusal = REFUSAL_CODES[c];
      if (refusal === undefined) r.fail(`unknown refusal code ${c}`);
      return { type, code: refusal, reason: r.str('refusal reason', REASON_SIZE_MAX_BYTES) };
    }
    case 'raft':
      return { type, message: readMessage(r) };
    case 'snapshot-offer': {
      const size = r.u64('snapshot size');
      const checksum = r.u32('snapshot checksum');
      const message = readMessage(r);
      if (message.type !== 'install-snapshot') r.fail(`snapshot offer carries a ${message.type} message`);
      return { type, size, checksum, message };
    }
    case 'snapshot-ack': {
      const i = r.u64('snapshot index');
      const t = r.u64('snapshot term');
      const s = r.u8('ack status');
      const status = ACK_STATUSES[s];
      if (status === undefined) r.fail(`unknown snapshot ack status ${s}`);
      return { type, index: i, term: t, status, offset: r.u64('ack offset') };
    }
    case 'snapshot-chunk': {
      const i = r.u64('snapshot index');
      const t = r.u64('snapshot term');
      const offset = r.u64('chunk offset');
      const data = r.bytesField('chunk data', FRAME_SIZE_MAX_BYTES);
      if (!Number.isSafeInteger(offset + data.length)) r.fail('chunk end exceeds the largest safe integer');
      return { type, index: i, term: t, offset, data };
    }
    case 'snapshot-done':
      return { type, index: r.u64('snapshot index'), term: r.u64('snapshot term'), size: r.u64('snapshot size') };
    case 'request':
      return { type, id: r.u64('request id'), payload: r.bytesField('request payload', FRAME_SIZE_MAX_BYTES) };
    case 'response': {
      const id = r.u64('response id');
      if (r.bool('response ok')) return { type, id, ok: true, payload: r.bytesField('response payload', FRAME_SIZE_MAX_BYTES) };
      return {
        type,
        id,
        ok: false,
        code: r.str('error code', ERROR_CODE_SIZE_MAX_BYTES),
        message: r.str('error message', REASON_SIZE_MAX_BYTES),
      };
    }
    default:
      return assertNever(type, 'frame type');
  }
}

/** Cuts a string so that its UTF-8 encoding fits in `maxBytes` (for reasons and messages). */
export function truncateUtf8(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s, 'utf8') <= maxBytes) return s;
  let out = s.slice(0, maxBytes);
  while (Buffer.byteLength(out, 'utf8') > maxBytes) out = out.slice(0, -1);
  // A cut may leave half a surrogate pair, which UTF-8 cannot carry.
  if (/[\uD800-\uDBFF]$/.test(out)) out = out.slice(0, -1);
  return out;
}

/**
 * Splits a byte stream into frames. Each frame's bytes are copied out of the stream once, so
 * decoded frames (and the entry data inside them) own their memory.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  // Length of the frame being assembled, once its prefix has arrived.
  private pendingLength: number | undefined;

  constructor(private frameSizeMaxBytes = FRAME_SIZE_MAX_BYTES) {}

  /** Changes the limit for frames whose length has not arrived yet (raised once a peer is authenticated). */
  setFrameSizeMax(bytes: number): void {
    assert(bytes >= FRAME_HEADER_SIZE_BYTES - 4 && bytes <= FRAME_SIZE_MAX_BYTES, 'frame size limit out of range');
    this.frameSizeMaxBytes = bytes;
  }

  get buffered(): number {
    return this.bufferedBytes;
  }

  /** Feeds bytes; returns the frames they complete. Throws FrameError on the first bad frame. */
  push(chunk: Uint8Array): Frame[] {
    if (chunk.length > 0) {
      this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      this.bufferedBytes += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.pendingLength === undefined) {
        if (this.bufferedBytes < 4) break;
        const prefix = this.take(4);
        const length = new DataView(prefix.buffer, prefix.byteOffset, 4).getUint32(0);
        if (length < FRAME_HEADER_SIZE_BYTES - 4) {
          throw new FrameError('frame-too-large', `frame length ${length} is smaller than a frame header`);
        }
        if (length > this.frameSizeMaxBytes) {
          throw new FrameError(
            'frame-too-large',
            `frame length ${length} exceeds the limit of ${this.frameSizeMaxBytes} bytes`,
          );
        }
        this.pendingLength = length;
      }
      if (this.bufferedBytes < this.pendingLength) break;
      const body = this.take(this.pendingLength, true);
      this.pendingLength = undefined;
      frames.push(decodeFrameBody(body));
    }
    return frames;
  }

  // Removes n buffered bytes from the front. Invariant: n <= bufferedBytes. With `owned`, the
  // bytes are a copy of their own (made once, even when they span many socket reads); without,
  // they may be a view into a socket read.
  private take(n: number, owned = false): Uint8Array {
    assert(n <= this.bufferedBytes, 'take beyond buffered bytes');
    const first = this.chunks[0];
    assert(first !== undefined, 'buffered bytes without chunks');
    let out: Uint8Array;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (owned) {
        const copy = new Uint8Array(n);
        copy.set(out);
        out = copy;
      }
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = new Uint8Array(n);
      let at = 0;
      while (at < n) {
        const chunk = this.chunks[0];
        assert(chunk !== undefined, 'buffered bytes without chunks');
        const part = chunk.subarray(0, n - at);
        out.set(part, at);
        at += part.length;
        if (part.length === chunk.length) this.chunks.shift();
        else this.chunks[0] = chunk.subarray(part.length);
      }
    }
    this.bufferedBytes -= n;
    return out;
  }
}
