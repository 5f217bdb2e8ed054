import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MemberInfo } from '../api/types.js';
import { NodeEventLog, statusEvents, type EventSource } from './events.js';

const m = (id: string, role: MemberInfo['role'] = 'voter', address = `${id}:7001`): MemberInfo => ({ id, address, role });
const at = (leader: string | undefined, members: MemberInfo[], term = 1): EventSource => ({ term, leader, membership: { members } });

describe('events from status changes', () => {
  it('a leader after an election names the one before it, and a re-election is news too', () => {
    const log = new NodeEventLog();
    let s = at('a', [m('a')], 3);
    const changed = log.follow(() => s);
    for (const next of [at(undefined, [m('a')], 4), at('b', [m('a')], 4), at(undefined, [m('a')], 5), at('b', [m('a')], 5)]) {
      s = next;
      changed();
    }
    assert.deepEqual(
      log.after(0).map((e) => [e.kind, e.kind === 'leader-changed' ? e.previous : null, e.kind === 'leader-changed' ? e.leader : null, e.term]),
      [
        ['leader-changed', 'a', 'b', 4],
        ['leader-changed', 'b', 'b', 5],
      ],
    );
  });

  it('a new leader, but not the loss of one', () => {
    assert.deepEqual(statusEvents(at('a', [m('a')]), at(undefined, [m('a')])), []);
    assert.deepEqual(statusEvents(at(undefined, [m('a')]), at('b', [m('a')])), [{ kind: 'leader-changed', leader: 'b', previous: null }]);
    assert.deepEqual(statusEvents(at('a', [m('a')]), at('b', [m('a')])), [{ kind: 'leader-changed', leader: 'b', previous: 'a' }]);
  });

  it('members added, promoted, moved and removed', () => {
    assert.deepEqual(statusEvents(at('a', [m('a'), m('b')]), at('a', [m('a'), m('b'), m('c', 'learner')])), [
      { kind: 'member-added', member: 'c', address: 'c:7001', role: 'learner' },
    ]);
    assert.deepEqual(statusEvents(at('a', [m('a'), m('c', 'learner')]), at('a', [m('a'), m('c', 'voter', 'c2:7001')])), [
      { kind: 'member-promoted', member: 'c' },
      { kind: 'member-address-changed', member: 'c', address: 'c2:7001' },
    ]);
    assert.deepEqual(statusEvents(at('a', [m('a'), m('b')]), at('a', [m('a')])), [{ kind: 'member-removed', member: 'b' }]);
  });

  it("an empty node's first configuration is one event, not one per member", () => {
    assert.deepEqual(statusEvents(at(undefined, []), at(undefined, [m('a'), m('b', 'learner')])), [
      { kind: 'configuration-received', members: [m('a'), m('b', 'learner')] },
    ]);
  });
});

describe('the event ring', () => {
  it('numbers events, keeps the newest `capacity` and answers what follows a seq', () => {
    let now = Date.UTC(2025, 0, 1);
    const log = new NodeEventLog(3, () => now);
    for (let i = 1; i <= 5; i++) {
      now += 1000;
      log.record({ kind: 'snapshot-taken', index: i * 10, sizeBytes: i }, 7);
    }
    assert.equal(log.latestSeq, 5);
    assert.deepEqual(log.after(0).map((e) => e.seq), [3, 4, 5]);
    assert.deepEqual(log.after(3).map((e) => e.seq), [4, 5]);
    assert.deepEqual(log.after(5), []);
    assert.deepEqual(log.after(4)[0], { kind: 'snapshot-taken', index: 50, sizeBytes: 5, seq: 5, at: '2025-01-01T00:00:05.000Z', term: 7 });
  });

  it('follows a status: the starting point is not news, each change is', () => {
    const log = new NodeEventLog();
    let s = at('a', [m('a'), m('b')], 3);
    const changed = log.follow(() => s);
    changed();
    assert.deepEqual(log.after(0), []);
    s = at('b', [m('a'), m('b')], 4);
    changed();
    changed();
    assert.deepEqual(log.after(0).map((e) => [e.kind, e.term]), [['leader-changed', 4]]);
  });
});
