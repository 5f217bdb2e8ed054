// Persistence across crashes, Figure 8 of the Raft paper, and churn: the lab cases that restart
// nodes from what they made durable.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RaftError } from '../../../src/raft/errors.js';
import { Clients } from '../clients.js';
import { Nemesis } from '../nemesis.js';
import type { World } from '../world.js';
import { logValues, one, putCommand, repair, waitLeader, world } from './harness.js';

function others(w: World, id: string): string[] {
  return [...w.nodes.keys()].filter((x) => x !== id);
}

function assertSameLogs(w: World, expected: string[]): void {
  for (const id of w.nodes.keys()) assert.deepEqual(logValues(w, id), expected, `${id}'s log`);
}

test('persistence 1: crash and restart all, the leader, a follower; nothing committed is lost', () => {
  const w = world(3);
  one(w, '11', 3);
  for (const id of [...w.nodes.keys()]) w.crash(id);
  for (const id of [...w.nodes.keys()]) w.restart(id);
  one(w, '12', 3);
  const l1 = waitLeader(w).id;
  w.crash(l1);
  w.restart(l1);
  one(w, '13', 3);
  const l2 = waitLeader(w).id;
  w.crash(l2);
  one(w, '14', 2);
  w.restart(l2);
  const f = others(w, waitLeader(w).id)[0] as string;
  w.crash(f);
  one(w, '15', 2);
  w.restart(f);
  one(w, '16', 3);
  assertSameLogs(w, ['11', '12', '13', '14', '15', '16']);
});

test('persistence 2: five rounds of losing a majority by crashes and coming back', () => {
  const w = world(5);
  const expected: string[] = [];
  for (let round = 0; round < 5; round++) {
    expected.push(`${10 + round}`);
    one(w, `${10 + round}`, 5);
    const leader = waitLeader(w).id;
    const [a, b, c, d] = others(w, leader) as [string, string, string, string];
    w.crash(a);
    w.crash(b);
    expected.push(`${100 + round}`);
    one(w, `${100 + round}`, 3);
    w.crash(leader);
    w.crash(c);
    w.crash(d);
    w.restart(a);
    w.restart(b);
    w.restart(c);
    w.runFor(500);
    w.restart(d);
    w.restart(leader);
  }
  expected.push('1000');
  one(w, '1000', 5);
  assertSameLogs(w, expected);
});

test('persistence 3: a partitioned follower returns while the old leader restarts', () => {
  const w = world(3);
  one(w, '101', 3);
  const leader = waitLeader(w).id;
  const [f1, f2] = others(w, leader) as [string, string];
  w.network.isolate(f2);
  one(w, '102', 2);
  w.crash(leader);
  w.crash(f1);
  w.network.heal();
  w.restart(leader);
  one(w, '103', 2);
  w.restart(f1);
  one(w, '104', 3);
  assertSameLogs(w, ['101', '102', '103', '104']);
});

/** Figure 8: leaders crash right after proposing, so entries of old terms are replicated by later leaders. */
function figure8(w: World, unreliable: boolean): void {
  one(w, 'start', 1);
  let proposals = 0;
  const isolated = new Set<string>();
  for (let iter = 0; iter < 1000; iter++) {
    for (const n of w.leaders()) {
      try {
        w.propose(n.id, putCommand('k', `f${iter}`));
        proposals++;
      } catch (err) {
        if (!(err instanceof RaftError)) throw err;
      }
    }
    w.runFor(w.rng.chance(0.1) ? w.rng.between(0, 500) : w.rng.between(0, 15));
    const leader = w.leaders().find((l) => !isolated.has(l.id));
    if (leader !== undefined && w.rng.chance(0.5)) {
      if (unreliable) {
        isolated.add(leader.id);
        w.network.partition([...isolated].map((id) => [id]));
      } else w.crash(leader.id);
    }
    const down = unreliable ? [...isolated] : [...w.nodes.values()].filter((n) => n.state === 'crashed').map((n) => n.id);
    if (down.length > 2) {
      const back = w.rng.pick(down);
      if (unreliable) {
        isolated.delete(back);
        w.network.partition([...isolated].map((id) => [id]));
      } else w.restart(back);
    }
  }
  repair(w);
  w.network.faults = { dropRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 5 };
  one(w, 'end', 5, 10_000);
  assert.ok(proposals > 50, `only ${proposals} proposals were accepted`);
  assert.ok(w.invariants.termsWithLeader >= 10, `only ${w.invariants.termsWithLeader} terms had a leader`);
  const first = logValues(w, 'n1');
  assertSameLogs(w, first);
  assert.equal(first.at(-1), 'end');
}

test('Figure 8: leaders crash right after proposing; old-term entries never commit by counting', () => {
  figure8(world(5, { seed: 8 }), false);
});

test('Figure 8 (unreliable): the same with partitions, loss, duplicates and long delays', () => {
  figure8(world(5, { seed: 88, network: { dropRate: 0.1, duplicateRate: 0.05, delayMinMs: 1, delayMaxMs: 60 } }), true);
});

function churn(w: World, unreliable: boolean): void {
  const clients = new Clients(w, w.rng.fork(), 3);
  const nemesis = new Nemesis(w, w.rng.fork(), { crashes: true, partitions: true, transfers: false, dropRateMax: unreliable ? 0.2 : 0 });
  clients.start();
  for (let i = 0; i < 50; i++) {
    nemesis.step();
    w.runFor(w.rng.between(50, 300));
  }
  clients.stop();
  nemesis.repairAll();
  w.runUntil(() => clients.idle, 5000);
  one(w, 'end', 5, 10_000);
  const acknowledged = clients.history.filter((op) => op.input.op !== 'get' && op.return !== Infinity && op.input.op === 'put').map((op) => (op.input.op === 'put' ? op.input.value : ''));
  assert.ok(acknowledged.length >= 20, `only ${acknowledged.length} acknowledged puts`);
  const log = new Set(logValues(w, 'n1'));
  for (const v of acknowledged) assert.ok(log.has(v), `acknowledged put ${v} is missing from the log`);
  assertSameLogs(w, logValues(w, 'n1'));
  assert.ok(nemesis.faults >= 50);
}

test('reliable churn: crashes, restarts and partitions under client load lose no acknowledged write', () => {
  churn(world(5, { seed: 21 }), false);
});

test('unreliable churn: the same with message loss and duplicates', () => {
  churn(world(5, { seed: 22, network: { dropRate: 0.1, duplicateRate: 0.1, delayMinMs: 1, delayMaxMs: 30 } }), true);
});
