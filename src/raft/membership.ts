// Configurations and single-server changes to them. A change copies the configuration, changes the
// copy, checks the invariants and returns it; the caller decides whether the change is allowed now.
import { assert } from './assert.js';
import { RaftError } from './errors.js';
import type { Member, Membership, MembershipChange, NodeId } from './types.js';

export const EMPTY_MEMBERSHIP: Membership = { members: [] };

/** Member ids and addresses are bounded so that a configuration entry stays small. */
export const MEMBER_ID_MAX_LENGTH = 253;
export const MEMBER_ADDRESS_MAX_LENGTH = 1024;
export const MEMBERS_MAX_COUNT = 64;

export function voters(m: Membership): NodeId[] {
  return m.members.filter((x) => x.role === 'voter').map((x) => x.id);
}

export function learners(m: Membership): NodeId[] {
  return m.members.filter((x) => x.role === 'learner').map((x) => x.id);
}

export function findMember(m: Membership, id: NodeId): Member | undefined {
  return m.members.find((x) => x.id === id);
}

export function isVoter(m: Membership, id: NodeId): boolean {
  return findMember(m, id)?.role === 'voter';
}

function checkInvariants(m: Membership): void {
  for (let i = 1; i < m.members.length; i++) {
    const prev = m.members[i - 1];
    const cur = m.members[i];
    assert(prev !== undefined && cur !== undefined && prev.id < cur.id, 'membership: ids must be unique and sorted');
  }
}

function normalize(members: Member[]): Membership {
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const m: Membership = { members: sorted };
  checkInvariants(m);
  return m;
}

function validId(id: string): boolean {
  return id.length > 0 && id.length <= MEMBER_ID_MAX_LENGTH;
}

function validAddress(address: string): boolean {
  return address.length > 0 && address.length <= MEMBER_ADDRESS_MAX_LENGTH;
}

/**
 * Returns the configuration that results from one change, or throws a RaftError saying why the change
 * does not apply to `current`. Liveness rules (quorum, catch-up) are the leader's to check.
 */
export function applyChange(current: Membership, change: MembershipChange): Membership {
  const existing = findMember(current, change.id);
  switch (change.kind) {
    case 'add-learner': {
      if (!validId(change.id)) throw new RaftError('invalid-argument', `member id must be 1..${MEMBER_ID_MAX_LENGTH} characters`);
      if (!validAddress(change.address))
        throw new RaftError('invalid-argument', `member address must be 1..${MEMBER_ADDRESS_MAX_LENGTH} characters`);
      if (existing !== undefined)
        throw new RaftError('member-exists', `member ${change.id} is already a ${existing.role}; remove it first to re-add it`);
      if (current.members.length >= MEMBERS_MAX_COUNT)
        throw new RaftError('invalid-argument', `a cluster has at most ${MEMBERS_MAX_COUNT} members`);
      return normalize([...current.members, { id: change.id, address: change.address, role: 'learner' }]);
    }
    case 'promote': {
      if (existing === undefined) throw new RaftError('unknown-member', `member ${change.id} is not in the configuration; add it as a learner first`);
      if (existing.role !== 'learner') throw new RaftError('wrong-role', `member ${change.id} is already a voter`);
      return normalize(current.members.map((x) => (x.id === change.id ? { ...x, role: 'voter' } : x)));
    }
    case 'remove': {
      if (existing === undefined) throw new RaftError('unknown-member', `member ${change.id} is not in the configuration`);
      const rest = current.members.filter((x) => x.id !== change.id);
      if (existing.role === 'voter' && !rest.some((x) => x.role === 'voter'))
        throw new RaftError('quorum-would-be-lost', `member ${change.id} is the last voter; a cluster needs at least one`);
      return normalize(rest);
    }
    case 'update-address': {
      if (existing === undefined) throw new RaftError('unknown-member', `member ${change.id} is not in the configuration`);
      if (!validAddress(change.address))
        throw new RaftError('invalid-argument', `member address must be 1..${MEMBER_ADDRESS_MAX_LENGTH} characters`);
      return normalize(current.members.map((x) => (x.id === change.id ? { ...x, address: change.address } : x)));
    }
  }
}

/** Builds a configuration from an unsorted list (bootstrap); ids must be unique. */
export function membershipOf(members: readonly Member[]): Membership {
  const ids = new Set(members.map((m) => m.id));
  if (ids.size !== members.length) throw new RaftError('invalid-argument', 'member ids must be unique');
  for (const m of members) {
    if (!validId(m.id)) throw new RaftError('invalid-argument', `member id must be 1..${MEMBER_ID_MAX_LENGTH} characters`);
    if (!validAddress(m.address)) throw new RaftError('invalid-argument', `member ${m.id}: address must not be empty`);
  }
  return normalize([...members]);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The data of a `config` entry. JSON: configuration entries are rare and small. */
export function encodeMembership(m: Membership): Uint8Array {
  return encoder.encode(JSON.stringify({ members: m.members.map((x) => ({ id: x.id, address: x.address, role: x.role })) }));
}

/** Decodes a `config` entry's data. Throws an AssertionError: such entries only come from a leader's own encoding. */
export function decodeMembership(data: Uint8Array): Membership {
  const parsed: unknown = JSON.parse(decoder.decode(data));
  assert(typeof parsed === 'object' && parsed !== null && 'members' in parsed && Array.isArray(parsed.members), 'config entry: no members');
  const members: Member[] = [];
  for (const raw of parsed.members as unknown[]) {
    assert(typeof raw === 'object' && raw !== null, 'config entry: member is not an object');
    const r = raw as Record<string, unknown>;
    assert(typeof r.id === 'string' && typeof r.address === 'string', 'config entry: member id/address');
    assert(r.role === 'voter' || r.role === 'learner', 'config entry: member role');
    members.push({ id: r.id as NodeId, address: r.address, role: r.role });
  }
  return normalize(members);
}

export function sameMembership(a: Membership, b: Membership): boolean {
  return (
    a.members.length === b.members.length &&
    a.members.every((x, i) => {
      const y = b.members[i];
      return y !== undefined && x.id === y.id && x.address === y.address && x.role === y.role;
    })
  );
}
