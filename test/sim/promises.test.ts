// A vote or an acknowledgement that leaves before what it promises is durable must be reported.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Entry, Message } from '../../src/raft/types.js';
import { index, nodeId, term } from '../../src/raft/types.js';
import { Disk } from './disk.js';
import { brokenPromise } from './promises.js';

const [n1, n2] = [nodeId('n1'), nodeId('n2')];
const e = (i: number, t: number): Entry => ({ index: index(i), term: term(t), kind: 'normal', data: new Uint8Array() });
const ack = (i: number, reject = false): Message => ({ type: 'append-response', from: n2, to: n1, term: term(2), reject, index: index(i), hintIndex: index(0), hintTerm: term(0) });
const grant = (reject = false): Message => ({ type: 'vote-response', from: n2, to: n1, term: term(3), reject });

test('an acknowledgement promises that the entries up to its index are durable', () => {
  const d = new Disk();
  d.append([e(1, 1), e(2, 2)]);
  assert.equal(brokenPromise(ack(2), d), undefined);
  assert.match(brokenPromise(ack(3), d) ?? '', /n2 acknowledged entries up to 3 to n1 while its disk holds them up to 2/);
  assert.equal(brokenPromise(ack(3, true), d), undefined, 'a refusal promises nothing');
  d.installSnapshot({ meta: { index: index(5), term: term(2), membership: { members: [] } }, bytes: new Uint8Array() });
  assert.equal(brokenPromise(ack(5), d), undefined, 'a snapshot holds what it covers');
});

test('a vote promises that the vote is durable', () => {
  const d = new Disk();
  d.hardState = { term: term(2), vote: undefined, commit: index(0) };
  assert.match(brokenPromise(grant(), d) ?? '', /granted its vote to n1 in term 3 while its disk holds term 2, vote none/);
  assert.equal(brokenPromise(grant(true), d), undefined);
  d.hardState = { term: term(3), vote: n1, commit: index(0) };
  assert.equal(brokenPromise(grant(), d), undefined);
  const preVote: Message = { type: 'pre-vote-response', from: n2, to: n1, term: term(9), reject: false };
  assert.equal(brokenPromise(preVote, d), undefined, 'a pre-vote changes nothing');
});
