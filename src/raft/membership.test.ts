// Configuration changes as pure functions: each refusal says why, and update-address keeps the role.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftError, type RaftErrorCode } from './errors.js';
import { MEMBERS_MAX_COUNT, MEMBER_ID_MAX_LENGTH, applyChange, decodeMembership, encodeMembership, membershipOf } from './membership.js';
import { id, members, threeNodes } from './test-support.js';
import type { Membership, MembershipChange } from './types.js';

const refused = (code: RaftErrorCode, pattern: RegExp) => (e: unknown) => e instanceof RaftError && e.code === code && pattern.test(e.message);
const withLearner: Membership = membershipOf([...members('a', 'b'), { id: id('l'), address: 'l:1', role: 'learner' }]);

test('every change that does not apply to the configuration is refused with its reason', () => {
  const cases: [MembershipChange, RaftErrorCode, RegExp][] = [
    [{ kind: 'add-learner', id: id(''), address: 'x:1' }, 'invalid-argument', /member id must be 1\.\.253/],
    [{ kind: 'add-learner', id: id('x'.repeat(MEMBER_ID_MAX_LENGTH + 1)), address: 'x:1' }, 'invalid-argument', /member id/],
    [{ kind: 'add-learner', id: id('x'), address: '' }, 'invalid-argument', /member address must be/],
    [{ kind: 'add-learner', id: id('a'), address: 'a:2' }, 'member-exists', /already a voter; remove it first/],
    [{ kind: 'promote', id: id('x') }, 'unknown-member', /add it as a learner first/],
    [{ kind: 'promote', id: id('a') }, 'wrong-role', /already a voter/],
    [{ kind: 'remove', id: id('x') }, 'unknown-member', /not in the configuration/],
    [{ kind: 'update-address', id: id('x'), address: 'x:1' }, 'unknown-member', /not in the configuration/],
    [{ kind: 'update-address', id: id('a'), address: '' }, 'invalid-argument', /member address/],
  ];
  for (const [change, code, pattern] of cases) assert.throws(() => applyChange(withLearner, change), refused(code, pattern), JSON.stringify(change));
  const lastVoter = membershipOf(members('a'));
  assert.throws(() => applyChange(lastVoter, { kind: 'remove', id: id('a') }), refused('quorum-would-be-lost', /last voter/));
  const full = membershipOf(members(...Array.from({ length: MEMBERS_MAX_COUNT }, (_, i) => `m${i}`)));
  assert.throws(() => applyChange(full, { kind: 'add-learner', id: id('one-more'), address: 'x:1' }), refused('invalid-argument', /at most 64 members/));
});

test('a change returns a new sorted configuration and leaves the old one alone', () => {
  const added = applyChange(withLearner, { kind: 'add-learner', id: id('0'), address: '0:1' });
  assert.deepEqual(added.members.map((m) => m.id), ['0', 'a', 'b', 'l']);
  assert.deepEqual(withLearner.members.map((m) => m.id), ['a', 'b', 'l']);
  const moved = applyChange(withLearner, { kind: 'update-address', id: id('l'), address: 'l.new:2' });
  assert.deepEqual(moved.members.find((m) => m.id === 'l'), { id: 'l', address: 'l.new:2', role: 'learner' });
  assert.deepEqual(decodeMembership(encodeMembership(moved)), moved);
  // A learner may be removed even if it is the only other member: voters are what quorum needs.
  assert.deepEqual(applyChange(withLearner, { kind: 'remove', id: id('l') }).members.map((m) => m.id), ['a', 'b']);
});

test('a configuration built from a list refuses duplicates and bad members', () => {
  assert.throws(() => membershipOf(members('a', 'a')), refused('invalid-argument', /unique/));
  assert.throws(() => membershipOf([{ id: id(''), address: 'x:1', role: 'voter' }]), refused('invalid-argument', /member id/));
  assert.throws(() => membershipOf([{ id: id('a'), address: '', role: 'voter' }]), refused('invalid-argument', /address must not be empty/));
});

test('update-address reaches every member and changes no role', () => {
  const c = threeNodes();
  const a = c.get('a').raft;
  a.campaign();
  c.stabilize();
  a.proposeMembership({ kind: 'update-address', id: id('b'), address: 'b.moved:7000' });
  c.tickAll(2);
  for (const n of ['a', 'b', 'c']) {
    const m = c.get(n).raft.status().membership;
    assert.deepEqual(m.members.find((x) => x.id === 'b'), { id: 'b', address: 'b.moved:7000', role: 'voter' }, n);
    assert.equal(m.members.length, 3);
  }
  assert.equal(a.status().pendingMembershipIndex, 0);
});
