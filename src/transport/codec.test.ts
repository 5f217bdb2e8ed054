import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AssertionError } from '../raft/assert.js';
import type { Message } from '../raft/types.js';
import { index, nodeId, term } from '../raft/types.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { FrameError } from './errors.js';
import { sampleMessages, seededRandom } from './test-support.js';

const MESSAGE_TYPES = [
  'pre-vote',
  'pre-vote-response',
  'vote',
  'vote-response',
  'append',
  'append-response',
  'heartbeat',
  'heartbeat-response',
  'install-snapshot',
  'timeout-now',
];

function rejects(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(() => decodeMessage(bytes), (e: unknown) => e instanceof FrameError && e.code === 'malformed-frame' && pattern.test(e.message));
}

describe('message codec', () => {
  it('round-trips every message type byte for byte', () => {
    const messages = sampleMessages(nodeId('a'), nodeId('ñode-β'));
    assert.deepEqual(new Set(messages.map((m) => m.type)), new Set(MESSAGE_TYPES));
    for (const m of messages) {
      const bytes = encodeMessage(m);
      const decoded = decodeMessage(bytes);
      assert.deepStrictEqual(decoded, m, m.type);
      assert.deepEqual(encodeMessage(decoded), bytes);
    }
  });

  it('refuses to encode invalid messages (a programmer error)', () => {
    const bad = { type: 'heartbeat', from: nodeId('a'), to: nodeId('b'), term: term(-1), commit: index(0), readRound: 0 } as Message;
    assert.throws(() => encodeMessage(bad), AssertionError);
    const gap: Message = {
      type: 'append',
      from: nodeId('a'),
      to: nodeId('b'),
      term: term(1),
      prevIndex: index(5),
      prevTerm: term(1),
      commit: index(0),
      entries: [{ term: term(1), index: index(7), kind: 'normal', data: new Uint8Array() }],
    };
    assert.throws(() => encodeMessage(gap), AssertionError);
  });

  it('rejects out-of-range integers, bad enums, bad UTF-8, gaps and trailing bytes', () => {
    const hb = encodeMessage(sampleMessages()[7]!);
    // The term is the 8 bytes after version, type and the two ids ("node-a", "node-b").
    const termAt = 2 + 2 + 6 + 2 + 6;
    const unsafe = Buffer.from(hb);
    unsafe.writeUInt32BE(0x00200000, termAt);
    rejects(unsafe, /term exceeds the largest safe integer/);

    const version = Buffer.from(hb);
    version[0] = 9;
    rejects(version, /codec version 9/);

    const type = Buffer.from(hb);
    type[1] = 200;
    rejects(type, /unknown message type 200/);

    const utf8 = Buffer.from(hb);
    utf8[4] = 0xff;
    rejects(utf8, /not valid UTF-8/);

    rejects(Buffer.concat([hb, Buffer.from([0])]), /trailing bytes/);
    rejects(hb.subarray(0, hb.length - 1), /truncated/);

    const vote = Buffer.from(encodeMessage(sampleMessages()[2]!));
    vote[vote.length - 1] = 2;
    rejects(vote, /transfer must be 0 or 1/);

    const append = Buffer.from(encodeMessage(sampleMessages()[4]!));
    // The first entry's index follows prevIndex, prevTerm, commit, count and the entry's term.
    const firstIndexAt = termAt + 8 + 24 + 4 + 8;
    append.writeUInt32BE(43, firstIndexAt + 4);
    rejects(append, /entry index 43 breaks the run/);
  });

  it('rejects huge counts without allocating for them', () => {
    const append = Buffer.from(encodeMessage(sampleMessages()[5]!));
    append.writeUInt32BE(0xffffffff, append.length - 4);
    rejects(append, /entry count 4294967295 exceeds the bytes present/);
  });

  it('rejects unsorted or duplicate members', () => {
    const m = sampleMessages()[9]!;
    assert.equal(m.type, 'install-snapshot');
    if (m.type !== 'install-snapshot') return;
    const [first] = m.snapshot.membership.members;
    const dup = Buffer.from(
      encodeMessage({ ...m, snapshot: { ...m.snapshot, membership: { members: [first!] } } }),
    );
    // Duplicate the member by patching the count and appending its bytes again.
    const memberBytes = dup.subarray(dup.length - (2 + 6 + 2 + 14 + 1));
    const countAt = dup.length - memberBytes.length - 2;
    const twice = Buffer.concat([dup, memberBytes]);
    twice.writeUInt16BE(2, countAt);
    rejects(twice, /not sorted by unique id/);
  });

  it('fuzz: mutated, truncated and random bytes decode to a valid message or throw FrameError', () => {
    const rng = seededRandom(20240611);
    const valid = sampleMessages().map((m) => encodeMessage(m));
    let decoded = 0;
    for (let i = 0; i < 20_000; i++) {
      const base = valid[rng.int(valid.length)]!;
      let bytes: Uint8Array;
      switch (rng.int(4)) {
        case 0: {
          bytes = Buffer.from(base);
          for (let k = 1 + rng.int(4); k > 0; k--) bytes[rng.int(bytes.length)] = rng.int(256);
          break;
        }
        case 1:
          bytes = base.subarray(0, rng.int(base.length));
          break;
        case 2: {
          const at = rng.int(base.length);
          const extra = Buffer.from(Array.from({ length: 1 + rng.int(8) }, () => rng.int(256)));
          bytes = Buffer.concat([base.subarray(0, at), extra, base.subarray(at)]);
          break;
        }
        default:
          bytes = Buffer.from(Array.from({ length: rng.int(80) }, () => rng.int(256)));
      }
      try {
        const m = decodeMessage(bytes);
        // Valid means our own encoder accepts it and reproduces the input exactly.
        assert.deepEqual(encodeMessage(m), Buffer.from(bytes));
        decoded++;
      } catch (e) {
        if (!(e instanceof FrameError)) throw e;
      }
    }
    // Single-byte mutations of ids and values keep many messages valid: the fuzz reached both paths.
    assert.ok(decoded > 100, `only ${decoded} mutated inputs decoded`);
  });
});
