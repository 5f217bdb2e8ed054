// Where a request goes. Writes and linearizable reads go to the leader directly (no forwarding hop);
// other requests spread over the endpoints. The client learns which endpoint is which node from their
// GET /v1/status (discovery), and who leads from every answer: a leader-bound request is executed by the
// leader, which names itself in X-Kuberaft-Served-By, and a node that cannot serve one names the leader.
// An unknown leader is no obstacle: any node forwards to it.
import type { Endpoint } from './transport.js';

/** Discovery asks each endpoint for its status with this time limit, in ms. */
export const DISCOVERY_TIMEOUT_MS = 2_000;
/** Discovery runs at most this often, in ms (a leader hint naming an unknown node triggers one). */
export const DISCOVERY_INTERVAL_MIN_MS = 1_000;

export interface NodeIdentity {
  readonly id: string;
  readonly role: string;
  readonly leader: string | null;
}

export class Router {
  private leader: Endpoint | undefined;
  private next = 0;
  private discovery: Promise<void> | undefined;
  private discoveredAt = -Infinity;
  private discoveredOnce = false;

  constructor(
    readonly endpoints: readonly Endpoint[],
    private readonly identify: (e: Endpoint, signal: AbortSignal) => Promise<NodeIdentity>,
  ) {
    if (endpoints.length === 0) throw new TypeError('give at least one endpoint');
  }

  /** The leader's endpoint, if known. */
  get knownLeader(): Endpoint | undefined {
    return this.leader;
  }

  /** For a request the leader must execute. */
  forLeader(): Endpoint {
    return this.leader ?? this.any();
  }

  /** Any endpoint, in turn. */
  any(): Endpoint {
    const e = this.endpoints[this.next % this.endpoints.length] as Endpoint;
    this.next++;
    return e;
  }

  /** `servedBy` executed a request that only the leader executes. */
  leaderServed(servedBy: string | undefined): void {
    if (servedBy === undefined || this.leader?.id === servedBy) return;
    this.leaderIs(servedBy);
  }

  /** A node named the leader. */
  leaderIs(id: string): void {
    const e = this.endpoints.find((x) => x.id === id);
    if (e !== undefined) {
      this.leader = e;
      return;
    }
    // Not one we know by id yet (or not one of ours): any node forwards meanwhile.
    this.leader = undefined;
    this.rediscover();
  }

  /** `e` failed to answer: it is not the leader to send to any more. */
  failed(e: Endpoint): void {
    if (this.leader === e) this.leader = undefined;
  }

  /** Learns every endpoint's node id and the leader, once, before the first request (one endpoint needs none). */
  async ready(signal: AbortSignal): Promise<void> {
    if (this.discoveredOnce || this.endpoints.length === 1) return;
    await this.discover(signal);
  }

  private rediscover(): void {
    if (this.endpoints.length === 1 || performance.now() - this.discoveredAt < DISCOVERY_INTERVAL_MIN_MS) return;
    void this.discover(AbortSignal.timeout(DISCOVERY_TIMEOUT_MS));
  }

  private discover(signal: AbortSignal): Promise<void> {
    this.discovery ??= (async () => {
      this.discoveredAt = performance.now();
      const each = AbortSignal.any([signal, AbortSignal.timeout(DISCOVERY_TIMEOUT_MS)]);
      const found = await Promise.all(this.endpoints.map((e) => this.identify(e, each).then((s) => ({ e, s }), () => undefined)));
      let leaderId: string | undefined;
      for (const f of found) {
        if (f === undefined) continue;
        f.e.id = f.s.id;
        if (f.s.role === 'leader') leaderId = f.s.id;
        leaderId ??= f.s.leader ?? undefined;
      }
      if (leaderId !== undefined) this.leader = this.endpoints.find((x) => x.id === leaderId);
      this.discoveredOnce = true;
    })().finally(() => {
      this.discovery = undefined;
    });
    return this.discovery;
  }
}
