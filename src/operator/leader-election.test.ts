import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import type { V1Lease } from '@kubernetes/client-node';
import { silentLogger } from '../log/logger.js';
import { LeaderElector } from './leader-election.js';
import type { LeaseApi } from './leader-election.js';

/** A lease store with the API server's optimistic concurrency: a write naming a stale resourceVersion is a 409. */
class LeaseStore implements LeaseApi {
  lease: V1Lease | undefined;
  version = 0;
  /** Delays every call, to let rounds overlap with stop(). */
  delayMs = 0;
  async getLease(): Promise<V1Lease | undefined> {
    await this.pause();
    return this.lease === undefined ? undefined : structuredClone(this.lease);
  }
  async createLease(body: V1Lease): Promise<V1Lease> {
    await this.pause();
    if (this.lease !== undefined) throw new ApiException(409, 'exists', {}, {});
    return this.store(body);
  }
  async replaceLease(body: V1Lease): Promise<V1Lease> {
    await this.pause();
    if (body.metadata?.resourceVersion !== String(this.version)) throw new ApiException(409, 'conflict', {}, {});
    return this.store(body);
  }
  private store(body: V1Lease): V1Lease {
    this.version++;
    this.lease = JSON.parse(JSON.stringify({ ...body, metadata: { ...body.metadata, resourceVersion: String(this.version) } })) as V1Lease;
    return structuredClone(this.lease);
  }
  private pause(): Promise<void> {
    return new Promise((r) => setTimeout(r, this.delayMs));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function elector(store: LeaseStore, identity: string, events: string[]): LeaderElector {
  return new LeaderElector({
    kube: store,
    namespace: 'ns',
    identity,
    log: silentLogger(),
    leaseDurationSeconds: 2,
    renewIntervalMs: 50,
    onStartedLeading: () => events.push(`${identity}+`),
    onStoppedLeading: () => events.push(`${identity}-`),
  });
}

test('of two replicas one leads; when it stops it releases the lease and the other takes over at once', async () => {
  const store = new LeaseStore();
  const events: string[] = [];
  const a = elector(store, 'a', events);
  const b = elector(store, 'b', events);
  a.start();
  await sleep(30);
  b.start();
  await sleep(300);
  assert.deepEqual(events, ['a+']);
  assert.equal(store.lease?.spec?.holderIdentity, 'a');
  await a.stop();
  await sleep(200);
  assert.deepEqual(events, ['a+', 'b+'], 'released: no wait for the 2 s lease');
  assert.equal(b.leading, true);
  await b.stop();
  assert.equal(store.lease?.spec?.holderIdentity, '');
});

test('a silent holder loses the lease only after a whole lease duration', async () => {
  const store = new LeaseStore();
  const events: string[] = [];
  const now = new Date();
  store.lease = { metadata: { name: 'kuberaft-operator', namespace: 'ns', resourceVersion: '0' }, spec: { holderIdentity: 'gone', leaseDurationSeconds: 1, renewTime: now } };
  const b = elector(store, 'b', events);
  b.start();
  await sleep(600);
  assert.deepEqual(events, [], 'not before the holder has been silent for its duration');
  await sleep(900);
  assert.deepEqual(events, ['b+']);
  assert.equal(store.lease?.spec?.leaseTransitions, 1);
  await b.stop();
});

test('stop() during a round that takes the lease: never starts leading, and gives the lease back', async () => {
  const store = new LeaseStore();
  store.delayMs = 40;
  const events: string[] = [];
  const a = elector(store, 'a', events);
  a.start();
  await sleep(50); // the round has read (no lease) and is creating it
  await a.stop();
  await sleep(100);
  assert.deepEqual(events, []);
  assert.equal(store.lease?.spec?.holderIdentity, '');
});
