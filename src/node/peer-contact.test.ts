import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeId } from '../raft/types.js';
import { PeerContact } from './peer-contact.js';

const B = 'b' as NodeId;
const ELECTION_TIMEOUT_MS = 1000;

describe('when the leader last heard from a peer, and whether it counts it active', () => {
  it('is active while heard within the election timeout; noticed down exactly when that passes', () => {
    let now = 0;
    const c = new PeerContact(ELECTION_TIMEOUT_MS, () => now);
    c.heard(B);
    now = 5_000;
    c.leading(true);
    c.heard(B);
    now = 5_999;
    assert.deepEqual(c.of(B), { lastContactMs: 999, active: true });
    now = 6_000;
    assert.deepEqual(c.of(B), { lastContactMs: 1000, active: false });
  });

  it('a new leader presumes every member active for one election timeout, as the core does', () => {
    let now = 0;
    const c = new PeerContact(ELECTION_TIMEOUT_MS, () => now);
    c.heard(B);
    now = 60_000;
    c.leading(true);
    // Last contact is what it is; the grace only affects `active`.
    assert.deepEqual(c.of(B), { lastContactMs: 60_000, active: true });
    now = 60_999;
    assert.equal(c.of(B).active, true);
    now = 61_000;
    assert.equal(c.of(B).active, false);
    // Still leading: the grace does not restart on every status change.
    c.leading(true);
    assert.equal(c.of(B).active, false);
  });

  it('never heard from: no last contact', () => {
    const c = new PeerContact(ELECTION_TIMEOUT_MS, () => 0);
    assert.equal(c.of(B).lastContactMs, undefined);
  });
});
