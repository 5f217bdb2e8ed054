// The binary encoding of every Raft message. Layout (big-endian):
//
//   u8 codec version | u8 message type | str from | str to | u64 term | fields of the type
//
// str = u16 length + UTF-8; terms, indexes and read rounds are u64 holding safe integers.
// Decoding validates everything it reads and throws only FrameError, so bytes from any peer
// either become a well-formed Message or close the connection that sent them.
import { assert, assertNever } from '../raft/assert.js';
import type {
  Entry,
  EntryKind,
  InstallSnapshotRequest,
  Member,
  MemberRole,
  Membership,
  Message,
  MessageType,
  NodeId,
  SnapshotMeta,
} from '../raft/types.js';
import { index, nodeId, term } from '../raft/types.js';
import { ByteReader, ByteWriter } from './bytes.js';
import {
  ADDRESS_SIZE_MAX_BYTES,
  CODEC_VERSION,
  FRAME_SIZE_MAX_BYTES,
  MEMBERSHIP_MEMBERS_MAX,
  NODE_ID_SIZE_MAX_BYTES,
} from './constants.js';

const MESSAGE_TYPE_CODES: Record<MessageType, number> = {
  'pre-vote': 1,
  'pre-vote-response': 2,
  vote: 3,
  'vote-response': 4,
  append: 5,
  'append-response': 6,
  heartbeat: 7,
  'heartbeat-response': 8,
  'install-snapshot': 9,
  'timeout-now': 10,
};
const MESSAGE_TYPES_BY_CODE = new Map<number, MessageType>(
  Object.entries(MESSAGE_TYPE_CODES).map(([k, v]) => [v, k as MessageType]),
);
const ENTRY_KINDS: readonly EntryKind[] = ['normal', 'noop', 'config'];
const MEMBER_ROLES: readonly MemberRole[] = ['voter', 'learner'];
// term + index + kind + data length: the smallest an encoded entry can be.
const ENTRY_SIZE_MIN_BYTES = 8 + 8 + 1 + 4;
// id length + address length + role.
const MEMBER_SIZE_MIN_BYTES = 2 + 2 + 1;

export function writeNodeId(w: ByteWriter, id: NodeId): void {
  assert(id.length > 0, 'node ids are never empty');
  w.str(id, NODE_ID_SIZE_MAX_BYTES);
}

export function readNodeId(r: ByteReader, what: string): NodeId {
  const s = r.str(what, NODE_ID_SIZE_MAX_BYTES);
  if (s.length === 0) r.fail(`${what} is empty`);
  return nodeId(s);
}

export function writeSnapshotMeta(w: ByteWriter, meta: SnapshotMeta): void {
  w.u64(meta.index).u64(meta.term);
  writeMembership(w, meta.membership);
}

export function readSnapshotMeta(r: ByteReader): SnapshotMeta {
  const i = index(r.u64('snapshot index'));
  const t = term(r.u64('snapshot term'));
  return { index: i, term: t, membership: readMembership(r) };
}

function writeMembership(w: ByteWriter, m: Membership): void {
  assert(m.members.length <= MEMBERSHIP_MEMBERS_MAX, 'membership too large to encode');
  w.u16(m.members.length);
  let previous: string | undefined;
  for (const member of m.members) {
    // Invariant (types.ts): ids unique and sorted; the decoder checks the same order.
    assert(previous === undefined || previous < member.id, () => `membership not sorted by id at ${member.id}`);
    previous = member.id;
    writeNodeId(w, member.id);
    w.str(member.address, ADDRESS_SIZE_MAX_BYTES);
    w.u8(MEMBER_ROLES.indexOf(member.role));
  }
}

function readMembership(r: ByteReader): Membership {
  const count = r.u16('member count');
  if (count > MEMBERSHIP_MEMBERS_MAX) r.fail(`${count} members exceed the limit of ${MEMBERSHIP_MEMBERS_MAX}`);
  if (count * MEMBER_SIZE_MIN_BYTES > r.remaining) r.fail(`member count ${count} exceeds the bytes present`);
  const members: Member[] = [];
  let previous: string | undefined;
  for (let i = 0; i < count; i++) {
    const id = readNodeId(r, 'member id');
    if (previous !== undefined && !(previous < id)) r.fail(`members not sorted by unique id at "${id}"`);
    previous = id;
    const address = r.str('member address', ADDRESS_SIZE_MAX_BYTES);
    const roleCode = r.u8('member role');
    const role = MEMBER_ROLES[roleCode];
    if (role === undefined) r.fail(`unknown member role ${roleCode}`);
    members.push({ id, address, role });
  }
  return { members };
}

function writeEntries(w: ByteWriter, entries: readonly Entry[]): void {
  w.u32(entries.length);
  for (const e of entries) {
    w.u64(e.term).u64(e.index).u8(ENTRY_KINDS.indexOf(e.kind));
    w.bytes(e.data);
  }
}

function readEntries(r: ByteReader, prevIndex: number): Entry[] {
  const count = r.u32('entry count');
  if (count * ENTRY_SIZE_MIN_BYTES > r.remaining) r.fail(`entry count ${count} exceeds the bytes present`);
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const t = term(r.u64('entry term'));
    const at = r.u64('entry index');
    // Invariant of AppendRequest: entries are contiguous from prevIndex + 1.
    if (at !== prevIndex + 1 + i) r.fail(`entry index ${at} breaks the run starting after ${prevIndex}`);
    const kindCode = r.u8('entry kind');
    const kind = ENTRY_KINDS[kindCode];
    if (kind === undefined) r.fail(`unknown entry kind ${kindCode}`);
    const data = r.bytesField('entry data', FRAME_SIZE_MAX_BYTES);
    entries.push({ term: t, index: index(at), kind, data });
  }
  return entries;
}

export function writeMessage(w: ByteWriter, m: Message): void {
  w.u8(CODEC_VERSION).u8(MESSAGE_TYPE_CODES[m.type]);
  writeNodeId(w, m.from);
  writeNodeId(w, m.to);
  w.u64(m.term);
  switch (m.type) {
    case 'pre-vote':
      w.u64(m.lastIndex).u64(m.lastTerm);
      return;
    case 'vote':
      w.u64(m.lastIndex).u64(m.lastTerm).bool(m.transfer);
      return;
    case 'pre-vote-response':
    case 'vote-response':
      w.bool(m.reject);
      return;
    case 'append':
      assert(
        m.entries.every((e, i) => e.index === m.prevIndex + 1 + i),
        'append entries must be contiguous from prevIndex + 1',
      );
      w.u64(m.prevIndex).u64(m.prevTerm).u64(m.commit);
      writeEntries(w, m.entries);
      return;
    case 'append-response':
      w.bool(m.reject).u64(m.index).u64(m.hintIndex).u64(m.hintTerm);
      return;
    case 'heartbeat':
      w.u64(m.commit).u64(m.readRound);
      return;
    case 'heartbeat-response':
      w.u64(m.readRound);
      return;
    case 'install-snapshot':
      writeSnapshotMeta(w, m.snapshot);
      return;
    case 'timeout-now':
      return;
    default:
      assertNever(m, 'message type');
  }
}

/** Reads one message; the caller checks that the reader is then at its end. */
export function readMessage(r: ByteReader): Message {
  const version = r.u8('codec version');
  if (version !== CODEC_VERSION) r.fail(`message codec version ${version}; this node speaks ${CODEC_VERSION}`);
  const code = r.u8('message type');
  const type = MESSAGE_TYPES_BY_CODE.get(code);
  if (type === undefined) r.fail(`unknown message type ${code}`);
  const from = readNodeId(r, 'from');
  const to = readNodeId(r, 'to');
  const t = term(r.u64('term'));
  const base = { from, to, term: t };
  switch (type) {
    case 'pre-vote':
      return { ...base, type, lastIndex: index(r.u64('lastIndex')), lastTerm: term(r.u64('lastTerm')) };
    case 'vote':
      return {
        ...base,
        type,
        lastIndex: index(r.u64('lastIndex')),
        lastTerm: term(r.u64('lastTerm')),
        transfer: r.bool('transfer'),
      };
    case 'pre-vote-response':
    case 'vote-response':
      return { ...base, type, reject: r.bool('reject') };
    case 'append': {
      const prevIndex = index(r.u64('prevIndex'));
      const prevTerm = term(r.u64('prevTerm'));
      const commit = index(r.u64('commit'));
      const entries = readEntries(r, prevIndex);
      return { ...base, type, prevIndex, prevTerm, entries, commit };
    }
    case 'append-response':
      return {
        ...base,
        type,
        reject: r.bool('reject'),
        index: index(r.u64('index')),
        hintIndex: index(r.u64('hintIndex')),
        hintTerm: term(r.u64('hintTerm')),
      };
    case 'heartbeat':
      return { ...base, type, commit: index(r.u64('commit')), readRound: r.u64('readRound') };
    case 'heartbeat-response':
      return { ...base, type, readRound: r.u64('readRound') };
    case 'install-snapshot':
      return { ...base, type, snapshot: readSnapshotMeta(r) };
    case 'timeout-now':
      return { ...base, type };
    default:
      return assertNever(type, 'message type');
  }
}

/** A standalone encoding of one message (the payload of a raft frame). */
export function encodeMessage(m: Message): Buffer {
  const w = new ByteWriter(64);
  writeMessage(w, m);
  return w.finish();
}

/** Decodes untrusted bytes; throws only FrameError. Entry data are views into `bytes`. */
export function decodeMessage(bytes: Uint8Array): Message {
  const r: ByteReader = new ByteReader(bytes);
  const m = readMessage(r);
  r.end('message');
  return m;
}

export function isInstallSnapshot(m: Message): m is InstallSnapshotRequest {
  return m.type === 'install-snapshot';
}
