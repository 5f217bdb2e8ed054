import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Message, NodeId } from '../../src/raft/types.js';
import { nodeId, term } from '../../src/raft/types.js';
import type { Envelope } from './network.js';
import { Network } from './network.js';
import { Prng } from './prng.js';
import { EventQueue } from './queue.js';

const [a, b, c] = [nodeId('a'), nodeId('b'), nodeId('c')];

function msg(from: NodeId, to: NodeId): Envelope {
  const message: Message = { type: 'timeout-now', from, to, term: term(1) };
  return { message, snapshotBytes: undefined };
}

function setup(faults = { dropRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 10 }): { net: Network; q: EventQueue<Envelope> } {
  const q = new EventQueue<Envelope>();
  const net = new Network(new Prng(1), (at, d) => q.push(at, d.envelope), faults);
  return { net, q };
}

test('messages arrive after a delay within bounds, reordered by their delays', () => {
  const { net, q } = setup();
  for (let i = 0; i < 200; i++) net.send(100, msg(a, b));
  assert.equal(q.size, 200);
  let prev = 0;
  const times = new Set<number>();
  for (let e = q.pop(); e !== undefined; e = q.pop()) {
    assert.ok(e.time >= 101 && e.time <= 110, `delivery at ${e.time}`);
    assert.ok(e.time >= prev, 'the queue pops in time order');
    prev = e.time;
    times.add(e.time);
  }
  assert.ok(times.size > 5, 'delays vary');
});

test('drop and duplicate rates apply', () => {
  const { net, q } = setup({ dropRate: 1, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 1 });
  for (let i = 0; i < 50; i++) assert.equal(net.send(0, msg(a, b)).copies, 0);
  assert.equal(q.size, 0);
  assert.equal(net.lostTotal, 50);
  net.faults = { dropRate: 0, duplicateRate: 1, delayMinMs: 1, delayMaxMs: 1 };
  net.send(0, msg(a, b));
  assert.equal(q.size, 2);
  assert.equal(net.sent('timeout-now'), 51);
});

test('partitions and cuts block delivery until healed; cuts are one-way', () => {
  const { net } = setup();
  net.partition([[a], [b, c]]);
  assert.equal(net.blocked(a, b), 'partition');
  assert.equal(net.blocked(b, c), undefined);
  assert.equal(net.arrive(msg(b, a)), false);
  net.heal();
  assert.equal(net.arrive(msg(b, a)), true);
  net.cut(a, b);
  assert.equal(net.blocked(a, b), 'cut');
  assert.equal(net.blocked(b, a), undefined);
  net.isolate(c);
  assert.equal(net.blocked(a, c), 'partition');
  assert.equal(net.blocked(c, b), 'partition');
  net.heal();
  assert.equal(net.partitioned, false);
});
