// The cluster-wide one-change-at-a-time check: a configuration left behind by an earlier leader must
// be unable to elect anyone by the time a new leader appends a configuration of its own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeMembership } from '../../src/raft/index.js';
import type { Entry, NodeId } from '../../src/raft/types.js';
import { index, nodeId, term } from '../../src/raft/types.js';
import { liveRivalConfiguration } from './config-rivals.js';
import type { DiskHolder } from './config-rivals.js';
import { Disk } from './disk.js';
import { memberOf } from './world.js';

const ids = ['a', 'b', 'c', 'd'].map(nodeId);
const [a, b, c, d] = ids as [NodeId, NodeId, NodeId, NodeId];
const config = (i: number, t: number, voters: NodeId[]): Entry => ({ index: index(i), term: term(t), kind: 'config', data: encodeMembership({ members: voters.map((v) => memberOf(v)) }) });
const noop = (i: number, t: number): Entry => ({ index: index(i), term: term(t), kind: 'noop', data: new Uint8Array() });

/** Four voters that share a committed configuration and an entry of term 1. */
function cluster(): Map<NodeId, DiskHolder & { disk: Disk }> {
  const nodes = new Map<NodeId, DiskHolder & { disk: Disk }>();
  for (const id of ids) {
    const disk = new Disk();
    disk.append([config(1, 1, ids), noop(2, 1)]);
    nodes.set(id, { id, disk, state: 'running' });
  }
  return nodes;
}

const disk = (nodes: Map<NodeId, { disk: Disk }>, id: NodeId): Disk => {
  const n = nodes.get(id);
  assert.ok(n);
  return n.disk;
};

test('a sibling configuration that can still win an election is reported', () => {
  const nodes = cluster();
  // a led term 1 and appended "remove d" alone; b leads term 2 and appends "remove a" before its
  // own no-op is committed anywhere: a and c would still elect a under {a, b, c}.
  disk(nodes, a).append([config(3, 1, [a, b, c])]);
  const appended = [noop(3, 2), config(4, 2, [b, c, d])];
  disk(nodes, b).append(appended);
  const why = liveRivalConfiguration(b, term(2), appended, nodes);
  assert.match(why ?? '', /b appended configuration 4 in term 2 while a's configuration 3 of term 1, which b's log does not hold, can still elect it: a, c of its voters a, b, c/);
});

test('once the new leader has an entry of its term on a majority, the sibling is harmless', () => {
  const nodes = cluster();
  disk(nodes, a).append([config(3, 1, [a, b, c])]);
  for (const id of [b, c, d]) disk(nodes, id).append([noop(3, 2)]);
  const appended = [config(4, 2, [b, c, d])];
  disk(nodes, b).append(appended);
  assert.equal(liveRivalConfiguration(b, term(2), appended, nodes), undefined);
});

test('configurations the leader holds, newer terms, non-voters and stopped voters are not rivals', () => {
  const nodes = cluster();
  const appended = [noop(3, 2), config(4, 2, [a, b, c])];
  // c holds the leader's own entries: not a rival.
  for (const id of [b, c]) disk(nodes, id).append(appended);
  assert.equal(liveRivalConfiguration(b, term(2), appended, nodes), undefined);
  // A rival of a newer term is another leader's business (b is stale).
  disk(nodes, d).append([config(3, 5, [a, b, c, d])]);
  assert.equal(liveRivalConfiguration(b, term(2), appended, nodes), undefined);
  // a's rival configuration does not make a a voter: it cannot campaign.
  const fresh = cluster();
  disk(fresh, a).append([config(3, 1, [b, c, d])]);
  disk(fresh, b).append(appended);
  assert.equal(liveRivalConfiguration(b, term(2), appended, fresh), undefined);
  // A stopped voter neither campaigns nor votes.
  const stopped = cluster();
  disk(stopped, a).append([config(3, 1, [a, b, c])]);
  disk(stopped, b).append(appended);
  stopped.set(c, { id: c, disk: disk(stopped, c), state: 'stopped' });
  assert.equal(liveRivalConfiguration(b, term(2), appended, stopped), undefined);
  // Entries without a configuration of the leader's term are not checked.
  assert.equal(liveRivalConfiguration(b, term(2), [noop(3, 2)], nodes), undefined);
});
