import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InstallSnapshotRequest } from '../raft/types.js';
import { FRAME_SIZE_MAX_BYTES, NONCE_SIZE_BYTES, PROOF_SIZE_BYTES } from './constants.js';
import { FrameError } from './errors.js';
import type { Frame } from './frame.js';
import { FrameDecoder, encodeFrame, encodeSnapshotChunk, truncateUtf8 } from './frame.js';
import { A, B, sampleMessages, seededRandom } from './test-support.js';

const snapshotMessage = sampleMessages().find((m) => m.type === 'install-snapshot') as InstallSnapshotRequest;

function sampleFrames(): Frame[] {
  const nonce = new Uint8Array(NONCE_SIZE_BYTES).fill(7);
  const proof = new Uint8Array(PROOF_SIZE_BYTES).fill(9);
  return [
    { type: 'hello', clusterId: 'c-1', from: A, to: B, nonce, advertise: '127.0.0.1:7001' },
    { type: 'hello', clusterId: '', from: A, to: B, nonce, advertise: '' },
    { type: 'challenge', from: B, nonce, proof },
    { type: 'auth', proof },
    { type: 'welcome' },
    { type: 'refuse', code: 'bad-proof', reason: 'the peer could not prove the cluster secret' },
    ...sampleMessages().map((message): Frame => ({ type: 'raft', message })),
    { type: 'snapshot-offer', size: 5 * 1024 * 1024, checksum: 0xdeadbeef, message: snapshotMessage },
    { type: 'snapshot-ack', index: 9, term: 2, status: 'resume', offset: 1024 },
    { type: 'snapshot-ack', index: 9, term: 2, status: 'committed', offset: 0 },
    { type: 'snapshot-ack', index: 9, term: 2, status: 'rejected', offset: 0 },
    { type: 'snapshot-chunk', index: 9, term: 2, offset: 4096, data: new Uint8Array([1, 2, 3]) },
    { type: 'snapshot-done', index: 9, term: 2, size: 4099 },
    { type: 'request', id: 1, payload: new Uint8Array([42]) },
    { type: 'response', id: 1, ok: true, payload: new Uint8Array(0) },
    { type: 'response', id: 2, ok: false, code: 'not-leader', message: 'ask node-c' },
  ];
}

function framesEqual(actual: Frame[], expected: Frame[]): void {
  // Decoded byte fields are plain Uint8Arrays; compare through a re-encoding, then structurally.
  assert.equal(actual.length, expected.length);
  actual.forEach((f, i) => assert.deepEqual(encodeFrame(f), encodeFrame(expected[i]!)));
}

describe('framing', () => {
  it('round-trips every frame type, whole and split at every byte', () => {
    const frames = sampleFrames();
    const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));
    framesEqual(new FrameDecoder().push(stream), frames);

    const decoder = new FrameDecoder();
    const out: Frame[] = [];
    for (let i = 0; i < stream.length; i++) out.push(...decoder.push(stream.subarray(i, i + 1)));
    framesEqual(out, frames);
    assert.equal(decoder.buffered, 0);
  });

  it('decoded frames own their bytes (reusing the input buffer does not change them)', () => {
    const chunk: Frame = { type: 'snapshot-chunk', index: 1, term: 1, offset: 0, data: new Uint8Array([5, 6, 7]) };
    const bytes = Buffer.from(encodeFrame(chunk));
    const [decoded] = new FrameDecoder().push(bytes);
    bytes.fill(0);
    assert.ok(decoded?.type === 'snapshot-chunk');
    assert.deepEqual([...decoded.data], [5, 6, 7]);
  });

  it('a snapshot chunk encoded as header and data is the same bytes as the whole frame, and decodes across reads', () => {
    const rng = seededRandom(17);
    const data = Uint8Array.from({ length: 300_000 }, () => rng.int(256));
    const frame: Frame = { type: 'snapshot-chunk', index: 12, term: 3, offset: 5 * 1024 * 1024, data };
    const [header, body] = encodeSnapshotChunk(frame);
    const wire = Buffer.concat([header, body]);
    assert.ok(wire.equals(encodeFrame(frame)));
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    // Socket-sized reads, the last one carrying the start of a next frame.
    const stream = Buffer.concat([wire, encodeFrame({ type: 'welcome' })]);
    for (let at = 0; at < stream.length; at += 65_536) frames.push(...decoder.push(stream.subarray(at, at + 65_536)));
    assert.deepStrictEqual(frames, [frame, { type: 'welcome' }]);
    stream.fill(0);
    assert.deepStrictEqual(frames[0], frame, 'decoded chunks own their bytes');
  });

  it('rejects an oversized length prefix before buffering the frame', () => {
    const decoder = new FrameDecoder();
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(FRAME_SIZE_MAX_BYTES + 1);
    assert.throws(
      () => decoder.push(prefix),
      (e: unknown) => e instanceof FrameError && e.code === 'frame-too-large',
    );
    const tiny = Buffer.from([0, 0, 0, 1, 1]);
    assert.throws(() => new FrameDecoder().push(tiny), FrameError);
  });

  it('rejects a wrong protocol version and unknown frame types', () => {
    const welcome = Buffer.from(encodeFrame({ type: 'welcome' }));
    welcome[4] = 2;
    assert.throws(() => new FrameDecoder().push(welcome), /protocol version 2; this node speaks 1/);
    const unknown = Buffer.from(encodeFrame({ type: 'welcome' }));
    unknown[5] = 99;
    assert.throws(() => new FrameDecoder().push(unknown), /unknown frame type 99/);
  });

  it('fuzz: mutated streams and random bytes yield valid frames or FrameError', () => {
    const rng = seededRandom(77);
    const valid = sampleFrames().map((f) => encodeFrame(f));
    for (let i = 0; i < 10_000; i++) {
      const base = Buffer.from(valid[rng.int(valid.length)]!);
      const bytes =
        rng.int(5) === 0 ? Buffer.from(Array.from({ length: rng.int(64) }, () => rng.int(256))) : base;
      for (let k = rng.int(4); k > 0; k--) bytes[rng.int(bytes.length)] = rng.int(256);
      const decoder = new FrameDecoder();
      try {
        let at = 0;
        while (at < bytes.length) {
          const n = 1 + rng.int(16);
          for (const f of decoder.push(bytes.subarray(at, at + n))) encodeFrame(f);
          at += n;
        }
      } catch (e) {
        if (!(e instanceof FrameError)) throw e;
      }
    }
  });

  it('truncates reasons to whole characters', () => {
    assert.equal(truncateUtf8('aé€', 4), 'aé');
    assert.equal(truncateUtf8('a😀', 3), 'a');
    assert.equal(truncateUtf8('short', 100), 'short');
  });
});
