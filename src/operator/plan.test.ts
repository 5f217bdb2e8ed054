import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NodeMember, NodeStatus } from './admin-client.js';
import { ordinalOf, plan, quorum } from './plan.js';
import type { Action, Observation, PodView } from './plan.js';

const NAME = 'demo';
const CLUSTER_ID = 'c1';

type Role = 'voter' | 'learner';

/** A cluster whose leader is `leader` with configuration `config` (id → role); every pod answers. */
function world(opts: {
  desired: number;
  sts: number;
  config: Record<number, Role>;
  leader?: number;
  commit?: number;
  match?: Record<number, number>;
  pending?: number;
  pods?: number[];
  override?: Record<number, Partial<PodView> & { nodeState?: NodeStatus['state']; nodeClusterId?: string | null }>;
}): Observation {
  const leader = opts.leader ?? 0;
  const commit = opts.commit ?? 10;
  const members: NodeMember[] = Object.entries(opts.config).map(([o, role]) => ({
    id: `${NAME}-${o}`,
    address: `${NAME}-${o}.demo-peers.ns.svc.cluster.local:7001`,
    role,
    matchIndex: opts.match?.[Number(o)] ?? commit,
  }));
  const pods = new Map<number, PodView>();
  for (const o of opts.pods ?? Array.from({ length: opts.sts }, (_, i) => i)) {
    const inConfig = opts.config[o] !== undefined;
    const ov = opts.override?.[o] ?? {};
    const node: NodeStatus = {
      id: `${NAME}-${o}`,
      clusterId: ov.nodeClusterId !== undefined ? ov.nodeClusterId : inConfig ? CLUSTER_ID : null,
      state: ov.nodeState ?? (inConfig ? 'member' : 'joining'),
      role: o === leader ? 'leader' : 'follower',
      term: 3,
      leader: inConfig ? `${NAME}-${leader}` : null,
      commitIndex: commit,
      appliedIndex: commit,
      lastIndex: inConfig ? commit : 0,
      pendingMembershipIndex: o === leader ? (opts.pending ?? 0) : 0,
      members: inConfig ? members : [],
    };
    pods.set(o, { name: `${NAME}-${o}`, ordinal: o, ip: `10.0.0.${o + 2}`, ready: true, terminating: false, volumeMarked: inConfig ? true : undefined, node, ...ov });
  }
  return { name: NAME, namespace: 'ns', desiredReplicas: opts.desired, clusterId: CLUSTER_ID, statefulSetReplicas: opts.sts, pods };
}

function kindOf(a: Action): string {
  switch (a.kind) {
    case 'add-learner':
      return `add-learner ${a.pod.name}`;
    case 'promote':
    case 'remove':
      return `${a.kind} ${a.id}${a.kind === 'remove' && a.lost ? ' (lost)' : ''}`;
    case 'transfer':
      return `transfer ${a.from}->${a.to}`;
    case 'scale-statefulset':
    case 'create-statefulset':
      return `${a.kind} ${a.replicas}`;
    case 'wait':
    case 'degraded':
      return `${a.kind} ${a.reason}`;
    case 'bootstrap':
      return `bootstrap ${a.pod.name}`;
    case 'record-cluster-id':
      return `record ${a.clusterId}`;
    case 'stable':
      return 'stable';
  }
}

const step = (o: Observation): string => kindOf(plan(o).action);

describe('plan: bootstrap', () => {
  test('no StatefulSet: create one with a single pod', () => {
    assert.equal(step({ name: NAME, namespace: 'ns', desiredReplicas: 3, clusterId: undefined, statefulSetReplicas: undefined, pods: new Map() }), 'create-statefulset 1');
  });

  test('an empty pod 0 is bootstrapped; a pod 0 with a cluster is adopted, never bootstrapped again', () => {
    const empty = world({ desired: 3, sts: 1, config: {}, pods: [0] });
    const obs = { ...empty, clusterId: undefined };
    assert.equal(step(obs), 'bootstrap demo-0');
    const founded = world({ desired: 3, sts: 1, config: { 0: 'voter' } });
    assert.equal(step({ ...founded, clusterId: undefined }), `record ${CLUSTER_ID}`);
    const noAnswer = { ...obs, pods: new Map([[0, { ...(obs.pods.get(0) as PodView), node: { error: 'unreachable' } }]]) };
    assert.equal(step(noAnswer), 'wait WaitingForPod');
  });
});

describe('plan: grow one step at a time', () => {
  test('1 → 3: StatefulSet +1, add learner, wait for catch-up, promote, next', () => {
    assert.equal(step(world({ desired: 3, sts: 1, config: { 0: 'voter' } })), 'scale-statefulset 2');
    assert.equal(step(world({ desired: 3, sts: 2, config: { 0: 'voter' }, pods: [0] })), 'wait WaitingForPod');
    assert.equal(step(world({ desired: 3, sts: 2, config: { 0: 'voter' } })), 'add-learner demo-1');
    assert.equal(step(world({ desired: 3, sts: 2, config: { 0: 'voter', 1: 'learner' }, match: { 1: 4 } })), 'wait WaitingForCatchUp');
    // The leader's match index alone is not enough: the learner itself must say it is a member.
    assert.equal(step(world({ desired: 3, sts: 2, config: { 0: 'voter', 1: 'learner' }, override: { 1: { nodeState: 'joining' } } })), 'wait WaitingForCatchUp');
    assert.equal(step(world({ desired: 3, sts: 2, config: { 0: 'voter', 1: 'learner' } })), 'promote demo-1');
    assert.equal(step(world({ desired: 3, sts: 2, config: { 0: 'voter', 1: 'voter' } })), 'scale-statefulset 3');
    assert.equal(step(world({ desired: 3, sts: 3, config: { 0: 'voter', 1: 'voter', 2: 'voter' } })), 'stable');
  });

  test('the added learner gets its stable DNS name as address', () => {
    const a = plan(world({ desired: 2, sts: 2, config: { 0: 'voter' } })).action;
    assert.equal(a.kind, 'add-learner');
    assert.equal(a.kind === 'add-learner' ? a.address : '', 'demo-1.demo-peers.ns.svc.cluster.local:7001');
    assert.equal(a.kind === 'add-learner' ? a.via.name : '', 'demo-0', 'asked of the leader');
  });

  test('nothing changes while a configuration change is uncommitted', () => {
    assert.equal(step(world({ desired: 3, sts: 2, config: { 0: 'voter', 1: 'learner' }, pending: 12 })), 'wait WaitingForCommit');
  });

  test('a pod holding another cluster\'s data is refused', () => {
    assert.equal(step(world({ desired: 2, sts: 2, config: { 0: 'voter' }, override: { 1: { nodeClusterId: 'other' } } })), 'degraded ForeignData');
  });
});

describe('plan: shrink one step at a time', () => {
  const five = { 0: 'voter', 1: 'voter', 2: 'voter', 3: 'voter', 4: 'voter' } as const;

  test('5 → 3: remove the highest ordinal, StatefulSet −1, then the next', () => {
    assert.equal(step(world({ desired: 3, sts: 5, config: five })), 'remove demo-4');
    assert.equal(step(world({ desired: 3, sts: 5, config: { 0: 'voter', 1: 'voter', 2: 'voter', 3: 'voter' } })), 'scale-statefulset 4');
    assert.equal(step(world({ desired: 3, sts: 4, config: { 0: 'voter', 1: 'voter', 2: 'voter', 3: 'voter' } })), 'remove demo-3');
    assert.equal(step(world({ desired: 3, sts: 4, config: { 0: 'voter', 1: 'voter', 2: 'voter' } })), 'scale-statefulset 3');
  });

  test('the leader hands over to a caught-up remaining voter before it is removed', () => {
    assert.equal(step(world({ desired: 3, sts: 5, config: five, leader: 4 })), 'transfer demo-4->demo-0');
    assert.equal(step(world({ desired: 3, sts: 5, config: five, leader: 4, match: { 0: 3 } })), 'transfer demo-4->demo-1');
  });

  test('refuses a removal that would leave fewer healthy voters than a quorum', () => {
    const down = { ready: false, node: { error: 'unreachable' } };
    const obs = world({ desired: 2, sts: 3, config: { 0: 'voter', 1: 'voter', 2: 'voter' }, override: { 1: down } });
    assert.equal(step(obs), 'degraded QuorumWouldBeLost');
    // With all healthy it goes ahead.
    assert.equal(step(world({ desired: 2, sts: 3, config: { 0: 'voter', 1: 'voter', 2: 'voter' } })), 'remove demo-2');
  });

  test('a learner above the wanted size (a grow interrupted by a shrink) is removed, not promoted', () => {
    assert.equal(step(world({ desired: 1, sts: 2, config: { 0: 'voter', 1: 'learner' } })), 'remove demo-1');
  });

  test('a StatefulSet scaled below a member is restored first', () => {
    assert.equal(step(world({ desired: 3, sts: 2, config: { 0: 'voter', 1: 'voter', 2: 'voter' }, pods: [0, 1] })), 'scale-statefulset 3');
  });
});

describe('plan: failures', () => {
  test('no leader: degraded, nothing changed', () => {
    const obs = world({ desired: 3, sts: 3, config: { 0: 'voter', 1: 'voter', 2: 'voter' } });
    const pods = new Map([...obs.pods].map(([o, p]) => [o, { ...p, node: { error: 'timeout' } }] as const));
    const p = plan({ ...obs, pods });
    assert.equal(kindOf(p.action), 'degraded NoQuorum');
    assert.equal(p.live, undefined);
  });

  test('a voter that came back empty, or on a volume the cluster never saw, is removed to be added again', () => {
    const config = { 0: 'voter', 1: 'voter', 2: 'voter' } as const;
    assert.equal(step(world({ desired: 3, sts: 3, config, override: { 2: { nodeState: 'joining', nodeClusterId: null } } })), 'remove demo-2 (lost)');
    assert.equal(step(world({ desired: 3, sts: 3, config, override: { 2: { volumeMarked: false } } })), 'remove demo-2 (lost)');
    // Afterwards it is an ordinary new member.
    assert.equal(step(world({ desired: 3, sts: 3, config: { 0: 'voter', 1: 'voter' } })), 'add-learner demo-2');
  });

  test('a learner still receiving its first entries is not mistaken for a lost member', () => {
    assert.equal(step(world({ desired: 2, sts: 2, config: { 0: 'voter', 1: 'learner' }, override: { 1: { nodeState: 'joining' } } })), 'wait WaitingForCatchUp');
  });

  test('of two nodes claiming leadership, the one with the higher term counts', () => {
    const obs = world({ desired: 2, sts: 2, config: { 0: 'voter', 1: 'voter' }, leader: 1 });
    const p0 = obs.pods.get(0) as PodView;
    const stale = { ...p0, node: { ...(p0.node as NodeStatus), role: 'leader', term: 2 } };
    const p = plan({ ...obs, pods: new Map([...obs.pods, [0, stale]]) });
    assert.equal(p.live?.leaderStatus.id, 'demo-1');
  });
});

test('ordinals and quorum', () => {
  assert.equal(ordinalOf('demo', 'demo-12'), 12);
  assert.equal(ordinalOf('demo', 'other-1'), Number.POSITIVE_INFINITY);
  assert.equal(ordinalOf('demo', 'demo-01'), Number.POSITIVE_INFINITY);
  assert.deepEqual([1, 2, 3, 4, 5].map(quorum), [1, 2, 2, 3, 3]);
});
