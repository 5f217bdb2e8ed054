import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterView, MemberStatus, NodeStatus } from '../api/types.js';
import { memberRows, selfSummary } from './members.js';

function member(id: string, m: Partial<MemberStatus> = {}): MemberStatus {
  return { id, address: `${id}:7001`, role: 'voter', matchIndex: null, lastContactMs: null, lagEntries: null, active: null, ...m };
}

function status(id: string, s: Partial<NodeStatus> = {}): NodeStatus {
  return {
    id, version: '0.1.0', pid: 1, clusterId: 'c', state: 'member', role: 'follower', term: 2, leader: 'a', commitIndex: 100, appliedIndex: 100,
    lastIndex: 100, snapshotIndex: 0, snapshotSizeBytes: 0, pendingMembershipIndex: 0, heartbeatIntervalMs: 100, electionTimeoutMs: 1000,
    members: [member('a'), member('b'), member('c')], ...s,
  };
}

const leader = status('a', {
  role: 'leader',
  members: [
    member('a', { matchIndex: 100, lastContactMs: 0, lagEntries: 0, active: true }),
    member('b', { matchIndex: 90, lastContactMs: 40, lagEntries: 10, active: true }),
    member('c', { matchIndex: 50, lastContactMs: 1200, lagEntries: 50, active: false, role: 'learner' }),
  ],
});

describe('the members table', () => {
  it("shows the leader's view with each member's own report", () => {
    const view: ClusterView = { node: status('b', { appliedIndex: 88 }), leader, leaderError: null, behindEntries: 12, caughtUp: true };
    const rows = memberRows(view, {
      members: [
        { id: 'b', status: status('b', { appliedIndex: 88, snapshotIndex: 40, snapshotSizeBytes: 4096 }), error: null },
        { id: 'c', status: null, error: { code: 'member-unreachable', message: 'c did not answer' } },
      ],
    });
    assert.deepEqual(
      rows.map((r) => [r.id, r.health, r.isLeader, r.isSelf, r.role, r.lagEntries, r.appliedIndex, r.snapshotSizeBytes, r.reportError]),
      [
        ['a', 'up', true, false, 'voter', 0, null, null, null],
        ['b', 'up', false, true, 'voter', 10, 88, 4096, null],
        ['c', 'down', false, false, 'learner', 50, null, null, 'c did not answer'],
      ],
    );
  });

  it("without a leader's view it lists this node's members with unknown health", () => {
    const view: ClusterView = { node: status('b', { leader: null }), leader: null, leaderError: { code: 'not-leader', message: 'no leader' }, behindEntries: null, caughtUp: null };
    assert.deepEqual(memberRows(view, undefined).map((r) => [r.id, r.health, r.matchIndex]), [['a', 'unknown', null], ['b', 'unknown', null], ['c', 'unknown', null]]);
    assert.match(selfSummary(view), /knows no leader: no leader/);
  });

  it('says which node serves the page and whether it is behind', () => {
    assert.equal(selfSummary({ node: leader, leader, leaderError: null, behindEntries: 0, caughtUp: true }), 'a is the leader');
    assert.equal(selfSummary({ node: status('b'), leader, leaderError: null, behindEntries: 0, caughtUp: true }), 'b is a follower, caught up');
    assert.match(selfSummary({ node: status('b'), leader, leaderError: null, behindEntries: 5000, caughtUp: false }), /^b is a follower, behind: 5000 entries/);
  });
});
