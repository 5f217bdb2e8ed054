// Shared by this module's tests: a seeded random source and sample messages of every type.
import type { Entry, Message, SnapshotMeta } from '../raft/types.js';
import { index, nodeId, term } from '../raft/types.js';

/** mulberry32: small, fast, and the same sequence for the same seed on every run. */
export function seededRandom(seed: number): { next(): number; int(maxExclusive: number): number } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (maxExclusive) => Math.floor(next() * maxExclusive) };
}

export const A = nodeId('node-a');
export const B = nodeId('node-b');
export const C = nodeId('node-c');

export const sampleSnapshotMeta: SnapshotMeta = {
  index: index(Number.MAX_SAFE_INTEGER - 1),
  term: term(7),
  membership: {
    members: [
      { id: A, address: '127.0.0.1:7001', role: 'voter' },
      { id: B, address: '[::1]:7002', role: 'voter' },
      { id: nodeId('node-ü'), address: 'pod-3.kuberaft.svc:7003', role: 'learner' },
    ],
  },
};

function entries(prevIndex: number): Entry[] {
  return [
    { term: term(3), index: index(prevIndex + 1), kind: 'noop', data: new Uint8Array(0) },
    { term: term(3), index: index(prevIndex + 2), kind: 'normal', data: new Uint8Array([0, 1, 2, 255]) },
    { term: term(4), index: index(prevIndex + 3), kind: 'config', data: new TextEncoder().encode('{"m":1}') },
  ];
}

/** One message of every type from `from` to `to`, with edge values (0, max safe integer, unicode). */
export function sampleMessages(from = A, to = B): Message[] {
  const t = term(5);
  return [
    { type: 'pre-vote', from, to, term: t, lastIndex: index(10), lastTerm: term(4) },
    { type: 'pre-vote-response', from, to, term: t, reject: true },
    { type: 'vote', from, to, term: t, lastIndex: index(0), lastTerm: term(0), transfer: true },
    { type: 'vote-response', from, to, term: term(Number.MAX_SAFE_INTEGER), reject: false },
    { type: 'append', from, to, term: t, prevIndex: index(41), prevTerm: term(3), entries: entries(41), commit: index(40) },
    { type: 'append', from, to, term: t, prevIndex: index(0), prevTerm: term(0), entries: [], commit: index(0) },
    {
      type: 'append-response',
      from,
      to,
      term: t,
      reject: true,
      index: index(44),
      hintIndex: index(2 ** 40),
      hintTerm: term(2),
    },
    { type: 'heartbeat', from, to, term: t, commit: index(40), readRound: 17 },
    { type: 'heartbeat-response', from, to, term: t, readRound: 2 ** 33 },
    { type: 'install-snapshot', from, to, term: t, snapshot: sampleSnapshotMeta },
    { type: 'timeout-now', from, to, term: t },
  ];
}
