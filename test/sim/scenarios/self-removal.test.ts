// A leader that removes itself hands over before it steps down: the remaining voters must have a new
// leader sooner than an election timeout after the removal commits, instead of waiting one out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RaftError } from '../../../src/raft/errors.js';
import { ELECTION_TIMEOUT_TICKS, TICK_MS } from '../world.js';
import { one, voterIds, waitLeader, world } from './harness.js';

const ELECTION_TIMEOUT_MS = ELECTION_TIMEOUT_TICKS * TICK_MS;
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

for (const nodes of [3, 5]) {
  test(`${nodes} voters: a new leader less than an election timeout after the leader's self-removal commits`, () => {
    const gaps: number[] = [];
    for (const seed of SEEDS) {
      const w = world(nodes, { seed, network: { dropRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 10 } });
      const leader = waitLeader(w);
      one(w, 'before', nodes);
      const termBefore = leader.term;
      let committedAt: number | undefined;
      w.onCommit = (e) => {
        if (e.kind === 'config' && committedAt === undefined) committedAt = w.now;
      };
      const r = w.withCore(leader.id, 'remove itself', (raft) => raft.proposeMembership({ kind: 'remove', id: leader.id }));
      assert.ok(!(r instanceof RaftError), `seed ${seed}: the removal was refused: ${String(r)}`);
      assert.ok(w.runUntil(() => committedAt !== undefined, ELECTION_TIMEOUT_MS), `seed ${seed}: the removal did not commit`);
      const start = committedAt ?? 0;
      const handedOver = w.runUntil(() => w.leaders().some((l) => l.id !== leader.id), ELECTION_TIMEOUT_MS);
      assert.ok(handedOver, `seed ${seed}: no new leader within ${ELECTION_TIMEOUT_MS} ms of the removal committing`);
      gaps.push(w.now - start);
      assert.notEqual(leader.role, 'leader', `seed ${seed}: the removed leader stepped down`);
      const next = waitLeader(w, [leader.id]);
      assert.equal(next.term, termBefore + 1, `seed ${seed}: one election, started by the hand-over`);
      w.stop(leader.id);
      assert.ok(!voterIds(w).includes(leader.id));
      one(w, 'after', nodes - 1);
    }
    assert.ok(Math.max(...gaps) < ELECTION_TIMEOUT_MS, `gaps ${gaps.join(', ')} ms`);
  });
}
