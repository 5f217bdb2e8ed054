import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeStatus } from './admin-client.js';
import type { RaftClusterStatus } from './api.js';
import type { Action, Plan, PodView } from './plan.js';
import { canonicalJson, computeStatus, statusPatch } from './status.js';

const leaderStatus: NodeStatus = {
  id: 'demo-0', clusterId: 'c1', state: 'member', role: 'leader', term: 4, leader: 'demo-0', commitIndex: 20, appliedIndex: 20,
  lastIndex: 20, pendingMembershipIndex: 0,
  members: [
    { id: 'demo-0', address: 'a', role: 'voter', matchIndex: 20 },
    { id: 'demo-1', address: 'b', role: 'voter', matchIndex: 20 },
    { id: 'demo-2', address: 'c', role: 'learner', matchIndex: 3 },
  ],
};
const pod0: PodView = { name: 'demo-0', ordinal: 0, ip: '10.0.0.2', ready: true, terminating: false, volumeMarked: true, node: leaderStatus };

function planOf(action: Action, healthy = [true, true, false]): Plan {
  return { action, live: { leader: pod0, leaderStatus, members: leaderStatus.members.map((m, i) => ({ ...m, healthy: healthy[i] ?? false })) } };
}

const base = { paused: false, generation: 7, selector: 'sel', clusterId: 'c1', previous: undefined, stepError: undefined, now: new Date('2030-01-01T00:00:00Z') };

test('a step in progress: counts voters only, Progressing names the step, Degraded names unhealthy members', () => {
  const s = computeStatus({ ...base, plan: planOf({ kind: 'wait', reason: 'WaitingForCatchUp', message: 'learner demo-2 has 3 of 20' }) });
  assert.equal(s.replicas, 2);
  assert.equal(s.readyReplicas, 2);
  assert.equal(s.leader, 'demo-0');
  assert.equal(s.term, 4);
  assert.equal(s.commitIndex, 20);
  assert.equal(s.observedGeneration, 7);
  const c = Object.fromEntries((s.conditions ?? []).map((x) => [x.type, `${x.status}/${x.reason}`]));
  assert.deepEqual(c, { Available: 'True/QuorumAvailable', Progressing: 'True/WaitingForCatchUp', Degraded: 'True/MembersUnhealthy' });
});

test('stable, paused and no-quorum states', () => {
  const stable = computeStatus({ ...base, plan: planOf({ kind: 'stable' }, [true, true, true]) });
  assert.deepEqual(stable.conditions?.map((x) => `${x.type}=${x.status}/${x.reason}`), ['Available=True/QuorumAvailable', 'Progressing=False/Stable', 'Degraded=False/Healthy']);
  const paused = computeStatus({ ...base, paused: true, plan: planOf({ kind: 'stable' }, [true, true, true]) });
  assert.equal(paused.conditions?.[1]?.reason, 'Paused');
  const prev: RaftClusterStatus = { replicas: 3, members: [{ id: 'demo-0', role: 'voter', address: 'a', healthy: true }] };
  const down = computeStatus({ ...base, previous: prev, plan: { action: { kind: 'degraded', reason: 'NoQuorum', message: 'no leader' }, live: undefined } });
  assert.equal(down.replicas, 3, 'the last known size is kept');
  assert.equal(down.readyReplicas, 0);
  assert.deepEqual(down.members, [{ id: 'demo-0', role: 'voter', address: 'a', healthy: false }]);
  assert.deepEqual(down.conditions?.map((x) => `${x.type}=${x.status}/${x.reason}`), ['Available=False/NoQuorum', 'Progressing=False/NoQuorum', 'Degraded=True/NoQuorum']);
});

test('transition times survive unchanged statuses; the patch is empty when nothing changed and nulls removed fields', () => {
  const first = computeStatus({ ...base, plan: planOf({ kind: 'stable' }, [true, true, true]) });
  // The API server returns keys sorted: the comparison must not care.
  const stored = JSON.parse(canonicalJson(first)) as RaftClusterStatus;
  const later = computeStatus({ ...base, previous: stored, now: new Date('2030-01-02T00:00:00Z'), plan: planOf({ kind: 'stable' }, [true, true, true]) });
  assert.equal(later.conditions?.[0]?.lastTransitionTime, '2030-01-01T00:00:00.000Z');
  assert.equal(statusPatch(stored, later), undefined);
  const noLeader = computeStatus({ ...base, previous: stored, plan: { action: { kind: 'degraded', reason: 'NoQuorum', message: 'x' }, live: undefined } });
  const patch = statusPatch(stored, noLeader);
  assert.equal(patch?.leader, null);
  assert.equal(patch?.readyReplicas, 0);
  assert.equal(patch?.selector, undefined, 'unchanged fields are not sent');
});
