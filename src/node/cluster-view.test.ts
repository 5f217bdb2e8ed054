import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeStatus } from '../api/types.js';
import type { NodeId } from '../raft/types.js';
import { NodeError } from './errors.js';
import { clusterView, memberReports, type ClusterViewSource } from './cluster-view.js';

function status(id: string, s: Partial<NodeStatus> = {}): NodeStatus {
  const members = ['a', 'b', 'c'].map((m) => ({ id: m, address: `${m}:1`, role: 'voter' as const, matchIndex: null, lastContactMs: null, lagEntries: null, active: null }));
  return {
    id, version: '0', pid: 1, clusterId: 'x', state: 'member', role: 'follower', term: 3, leader: 'a', commitIndex: 10, appliedIndex: 10, lastIndex: 10,
    snapshotIndex: 0, snapshotSizeBytes: 0, pendingMembershipIndex: 0, heartbeatIntervalMs: 100, electionTimeoutMs: 1000, members, ...s,
  };
}

function source(local: NodeStatus, others: Record<string, NodeStatus | Error>): ClusterViewSource & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    caughtUpLagEntriesMax: 100,
    localStatus: () => local,
    memberStatus: (id: NodeId) => {
      asked.push(id);
      if (id === local.id) return Promise.resolve(local);
      const s = others[id];
      return s instanceof Error || s === undefined ? Promise.reject(s ?? new Error('?')) : Promise.resolve(s);
    },
  };
}

describe("the cluster view: this node and its leader's status", () => {
  it("a follower asks the leader and tells how far behind it is", async () => {
    const v = await clusterView(source(status('b', { appliedIndex: 40 }), { a: status('a', { role: 'leader', commitIndex: 500 }) }));
    assert.equal(v.leader?.id, 'a');
    assert.equal(v.behindEntries, 460);
    assert.equal(v.caughtUp, false);
  });

  it('the leader answers with its own status, asking no one', async () => {
    const s = source(status('a', { role: 'leader' }), {});
    const v = await clusterView(s);
    assert.equal(v.leader?.id, 'a');
    assert.equal(v.caughtUp, true);
    assert.deepEqual(s.asked, []);
  });

  it('no leader known, a leader that does not answer, or one that stepped down: no leader view, and why', async () => {
    const none = await clusterView(source(status('b', { leader: null }), {}));
    assert.equal(none.leader, null);
    assert.equal(none.leaderError?.code, 'not-leader');
    assert.equal(none.caughtUp, null);
    const silent = await clusterView(source(status('b'), { a: new NodeError('member-unreachable', 'a did not answer') }));
    assert.deepEqual(silent.leaderError, { code: 'member-unreachable', message: 'a did not answer' });
    const stepped = await clusterView(source(status('b'), { a: status('a', { role: 'follower', term: 4 }) }));
    assert.match(stepped.leaderError?.message ?? '', /a no longer leads \(it is follower in term 4\)/);
  });
});

describe("each member's own status", () => {
  it('asks every member; one that fails is reported, not fatal', async () => {
    const r = await memberReports(source(status('b'), { a: status('a', { role: 'leader' }), c: new NodeError('member-unreachable', 'c did not answer') }));
    assert.deepEqual(
      r.members.map((m) => [m.id, m.status?.id ?? null, m.error?.code ?? null]),
      [['a', 'a', null], ['b', 'b', null], ['c', null, 'member-unreachable']],
    );
  });
});
