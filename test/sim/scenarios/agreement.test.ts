// Log agreement: the classic lab cases, message count bounds, and linearizable ReadIndex reads.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RaftError } from '../../../src/raft/errors.js';
import type { NodeId } from '../../../src/raft/types.js';
import { checkOperations, kvModel } from '../../lincheck/index.js';
import { Clients } from '../clients.js';
import type { ReadResult } from '../world.js';
import { ELECTION_TIMEOUT_TICKS, TICK_MS } from '../world.js';
import { appliedCount, one, putCommand, waitLeader, world } from './harness.js';

const ELECTION_TIMEOUT_MS = ELECTION_TIMEOUT_TICKS * TICK_MS;
const dec = new TextDecoder();

/** The values of the put commands node `id` holds in its log, in order. */
function values(w: ReturnType<typeof world>, id: string): string[] {
  return w
    .node(id)
    .disk.entries.filter((e) => e.kind === 'normal')
    .map((e) => (JSON.parse(dec.decode(e.data)) as { input: { value: string } }).input.value);
}

test('basic agreement: each command commits on every node at the next index', () => {
  const w = world(3);
  waitLeader(w);
  let prev = 0;
  for (let i = 1; i <= 3; i++) {
    assert.equal(appliedCount(w, prev + 2), 0, 'nothing committed before the proposal');
    const at = one(w, `v${i}`, 3);
    assert.ok(at > prev);
    prev = at;
  }
  for (const n of w.running()) assert.deepEqual(values(w, n.id), ['v1', 'v2', 'v3']);
});

test('fail-agree: a disconnected follower does not stop agreement and catches up when it returns', () => {
  const w = world(3);
  const leader = waitLeader(w);
  one(w, '101', 3);
  const f = w.running().find((n) => n.id !== leader.id);
  assert.ok(f !== undefined);
  w.network.isolate(f.id);
  for (const v of ['102', '103', '104', '105']) one(w, v, 2);
  assert.ok(f.sm.applied < w.node(leader.id).sm.applied);
  w.network.heal();
  one(w, '106', 3);
  one(w, '107', 3);
  assert.deepEqual(values(w, f.id), ['101', '102', '103', '104', '105', '106', '107']);
});

test('fail-no-agree: without a majority nothing commits; after healing agreement resumes', () => {
  const w = world(5);
  const leader = waitLeader(w);
  one(w, '10', 5);
  const followers = w.running().filter((n) => n.id !== leader.id);
  for (const f of followers.slice(0, 3)) w.network.isolate(f.id);
  const ticket = w.propose(leader.id, putCommand('k', '20'));
  w.runFor(2 * ELECTION_TIMEOUT_MS);
  assert.equal(w.invariants.appliedTerm(ticket.index), undefined, 'committed without a majority');
  assert.equal(appliedCount(w, ticket.index), 0);
  w.network.heal();
  const at = one(w, '1000', 5);
  assert.ok(at > ticket.index - 1);
});

test('concurrent starts: five proposals in one step all commit, at distinct indexes', () => {
  const w = world(3);
  const leader = waitLeader(w);
  const tickets = ['a', 'b', 'c', 'd', 'e'].map((v) => w.propose(leader.id, putCommand('k', v)));
  assert.equal(new Set(tickets.map((t) => t.index)).size, 5);
  assert.ok(w.runUntil(() => tickets.every((t) => appliedCount(w, t.index) === 3), 2000));
  for (const t of tickets) assert.equal(w.invariants.appliedTerm(t.index), t.term);
  assert.deepEqual(values(w, leader.id), ['a', 'b', 'c', 'd', 'e']);
});

test('rejoin: a partitioned leader’s uncommitted entries are replaced when it rejoins', () => {
  const w = world(3);
  const l1 = waitLeader(w);
  one(w, '101', 3);
  w.network.isolate(l1.id);
  for (const v of ['102', '103', '104']) w.propose(l1.id, putCommand('k', v));
  const l2 = waitLeader(w, [l1.id]);
  one(w, '103', 2);
  w.network.heal();
  w.network.isolate(l2.id);
  one(w, '104', 2);
  w.network.heal();
  one(w, '105', 3);
  for (const n of w.running()) assert.deepEqual(values(w, n.id), ['101', '103', '104', '105']);
});

test('backup: 50-entry conflicts are resolved in a few round trips (fast backtracking)', () => {
  let rejects = 0;
  const w = world(5, { trace: (l) => (rejects += l.includes(' deliver ') && l.includes('append-response') && l.includes(' reject=') ? 1 : 0) });
  const l1 = waitLeader(w);
  one(w, 'first', 5);
  const ids = w.running().map((n) => n.id);
  const others = ids.filter((id) => id !== l1.id);
  const [f1, f2, f3, f4] = others as [NodeId, NodeId, NodeId, NodeId];
  // The old leader and one follower collect 50 entries that never commit.
  w.network.partition([[l1.id, f1], [f2, f3, f4]]);
  for (let i = 0; i < 50; i++) w.propose(l1.id, putCommand('k', `lost-${i}`));
  // The majority commits 50 others.
  const l2 = waitLeader(w, [l1.id, f1]);
  let kept = 0;
  for (let i = 0; i < 50; i++) kept = w.propose(l2.id, putCommand('k', `kept-${i}`)).index;
  assert.ok(w.runUntil(() => appliedCount(w, kept) >= 3, 3000));
  // The new leader and one follower collect 50 more that never commit.
  const f = [f2, f3, f4].find((id) => id !== l2.id) as string;
  const third = [f2, f3, f4].find((id) => id !== l2.id && id !== f) as string;
  w.network.partition([[l2.id, f], [l1.id, f1, third]]);
  for (let i = 0; i < 50; i++) w.propose(l2.id, putCommand('k', `lost2-${i}`));
  // The old group (with the one that holds the kept entries) commits 50 more.
  // Only `third` holds the committed entries, so only it can win here.
  assert.ok(w.runUntil(() => w.node(third).role === 'leader', 3000), `${third} did not win`);
  assert.notEqual(w.node(l1.id).role, 'leader');
  rejects = 0;
  let final = 0;
  for (let i = 0; i < 50; i++) final = w.propose(third, putCommand('k', `final-${i}`)).index;
  assert.ok(w.runUntil(() => appliedCount(w, final) >= 3, 3000));
  w.network.heal();
  one(w, 'last', 5);
  for (const id of ids) {
    const v = values(w, id);
    assert.equal(v.length, 1 + 50 + 50 + 1);
    assert.ok(v.includes('kept-49') && v.includes('final-49') && v.at(-1) === 'last');
    assert.ok(!v.some((x) => x.startsWith('lost')), `${id} kept an uncommitted entry`);
  }
  // Each of the four lagging logs needs at most a few rejected probes, not one per entry.
  assert.ok(rejects <= 4 * 4, `${rejects} rejected appends to resolve 50-entry conflicts`);
});

test('message count bounds: an election and 10 agreements use few messages', () => {
  const w = world(3);
  const before = w.network.sentTotal;
  waitLeader(w);
  const election = w.network.sentTotal - before;
  // Pre-vote + vote rounds to 2 peers, their answers, and the new leader's first append round.
  assert.ok(election <= 30, `${election} messages for one election`);
  one(w, 'warm-up', 3);
  const appendsBefore = w.network.sent('append') + w.network.sent('append-response');
  const t0 = w.now;
  for (let i = 0; i < 10; i++) one(w, `c${i}`, 3);
  const appends = w.network.sent('append') + w.network.sent('append-response');
  // About two append round trips per follower per agreement (the entry, then the new commit
  // index), as in the labs' bound of a few RPCs per server per agreement.
  const APPEND_ROUND_TRIPS_PER_AGREEMENT_MAX = 2.5;
  const bound = 10 * 2 * APPEND_ROUND_TRIPS_PER_AGREEMENT_MAX * 2;
  assert.ok(appends - appendsBefore <= bound, `${appends - appendsBefore} append messages for 10 agreements (bound ${bound})`);
  const heartbeatsPerFollower = (w.now - t0) / (2 * TICK_MS) + 2;
  assert.ok(w.network.sent('heartbeat') > 0);
  // Idle: only heartbeats, one round per heartbeat interval.
  const idleBefore = w.network.sentTotal;
  w.runFor(1000);
  const idle = w.network.sentTotal - idleBefore;
  assert.ok(idle <= (1000 / (2 * TICK_MS) + 2) * 2 * 2, `${idle} messages in 1 s idle`);
  assert.ok(heartbeatsPerFollower > 0);
});

test('ReadIndex reads: linearizable under faults, and a deposed leader never serves a stale read', () => {
  const w = world(3, { seed: 11, network: { dropRate: 0.1, duplicateRate: 0.05, delayMinMs: 1, delayMaxMs: 30 } });
  const clients = new Clients(w, w.rng.fork(), 4);
  clients.start();
  for (let i = 0; i < 8; i++) {
    w.runFor(300);
    const l = w.leader();
    if (l !== undefined && i % 3 === 0) w.crash(l.id);
    for (const n of w.nodes.values()) if (n.state === 'crashed' && i % 3 === 1) w.restart(n.id);
  }
  clients.stop();
  for (const n of w.nodes.values()) if (n.state === 'crashed') w.restart(n.id);
  w.runUntil(() => clients.idle, 5000);
  const reads = clients.history.filter((op) => op.input.op === 'get' && op.return !== Infinity);
  assert.ok(reads.length >= 20, `only ${reads.length} reads completed`);
  assert.equal(checkOperations(kvModel, clients.history).kind, 'ok');

  // A leader cut off from the others while a new leader commits a write must not answer a read.
  const w2 = world(3, { seed: 12 });
  const old = waitLeader(w2);
  one(w2, 'v1', 3);
  w2.network.isolate(old.id);
  const fresh = waitLeader(w2, [old.id]);
  w2.propose(fresh.id, putCommand('k', 'v2'));
  w2.runFor(100);
  let result: ReadResult | undefined;
  try {
    w2.read(old.id, 'stale', 'k', (r) => (result = r));
  } catch (err) {
    assert.ok(err instanceof RaftError && err.code === 'not-leader');
    result = { kind: 'dropped' };
  }
  w2.runFor(5 * ELECTION_TIMEOUT_MS);
  assert.notEqual(result?.kind, 'ok', `the deposed leader served a read: ${JSON.stringify(result)}`);
});
