// Messages come from the network: what is malformed or not meant for this node is ignored, never an
// assertion failure (which would stop the node) and never acknowledged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapState } from './raft.js';
import { id, members, newRaft } from './test-support.js';
import type { AppendRequest, Entry, LogIndex, Term } from './types.js';

const entry = (i: number, t: number): Entry => ({ index: i as LogIndex, term: t as Term, kind: 'normal', data: new Uint8Array([i]) });
const append = (entries: Entry[], prevIndex = 1, term = 2): AppendRequest => ({ type: 'append', from: id('a'), to: id('b'), term: term as Term, prevIndex: prevIndex as LogIndex, prevTerm: 1 as Term, entries, commit: 1 as LogIndex });

test('an append whose entries do not follow its prevIndex, or outrun its term, is ignored', () => {
  const b = newRaft('b', bootstrapState(members('a', 'b', 'c')));
  for (const bad of [append([entry(3, 2)]), append([entry(2, 2), entry(4, 2)]), append([entry(2, 3)])]) {
    b.step(bad);
    const rd = b.ready();
    assert.deepEqual(rd.entries, [], JSON.stringify(bad.entries.map((e) => [e.index, e.term])));
    assert.ok(!rd.messages.some((m) => m.type === 'append-response'), 'no acknowledgement');
    b.advance(rd);
    assert.equal(b.status().lastIndex, 1);
  }
  b.step(append([entry(2, 2)]));
  const rd = b.ready();
  assert.deepEqual(rd.entries.map((e) => e.index), [2], 'a well-formed append is taken');
  b.advance(rd);
});

test('a message for another node, or claiming to come from this one, is ignored', () => {
  const b = newRaft('b', bootstrapState(members('a', 'b', 'c')));
  b.advance(b.ready()); // applies the bootstrap configuration
  b.step({ ...append([entry(2, 2)]), to: id('c') });
  b.step({ ...append([entry(2, 2)]), from: id('b') });
  assert.equal(b.status().term, 1);
  assert.equal(b.status().lastIndex, 1);
  assert.equal(b.hasReady(), false);
});
