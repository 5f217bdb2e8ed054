// The simulated network: every message gets a random delay (which also reorders), may be dropped
// or duplicated, and is lost at delivery time if a partition or a cut link separates its ends.
// Every decision comes from the world's PRNG.
import { assert } from '../../src/raft/assert.js';
import type { Message, MessageType, NodeId } from '../../src/raft/types.js';
import type { Prng } from './prng.js';

/** A message on the wire; an install-snapshot carries the sender's snapshot bytes beside it. */
export interface Envelope {
  readonly message: Message;
  readonly snapshotBytes: Uint8Array | undefined;
}

export interface NetworkFaults {
  /** Probability that a sent message is lost. */
  dropRate: number;
  /** Probability that a sent message is delivered twice (with independent delays). */
  duplicateRate: number;
  /** Delivery delay bounds in simulated milliseconds (inclusive). */
  delayMinMs: number;
  delayMaxMs: number;
}

export const RELIABLE_NETWORK: Readonly<NetworkFaults> = { dropRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 5 };

/** One scheduled delivery; the world's event queue holds these. */
export interface Delivery {
  readonly envelope: Envelope;
}

export type LossReason = 'drop' | 'partition' | 'cut';

export class Network {
  faults: NetworkFaults;
  /** Partition group per node; nodes absent from the map are in group 0. */
  private readonly groups = new Map<string, number>();
  /** Directed cut links, as "from>to". */
  private readonly cuts = new Set<string>();
  /** Messages handed to the network, by type (duplicates are not counted twice). */
  readonly sentByType = new Map<MessageType, number>();
  sentTotal = 0;
  deliveredTotal = 0;
  lostTotal = 0;

  constructor(
    private readonly rng: Prng,
    private readonly schedule: (atMs: number, delivery: Delivery) => void,
    faults: NetworkFaults = { ...RELIABLE_NETWORK },
  ) {
    this.faults = faults;
  }

  /** Sends at `nowMs`; returns 'drop' if the message was lost at once, else the number of copies. */
  send(nowMs: number, envelope: Envelope): { copies: number } {
    const t = envelope.message.type;
    this.sentByType.set(t, (this.sentByType.get(t) ?? 0) + 1);
    this.sentTotal++;
    if (this.rng.chance(this.faults.dropRate)) {
      this.lostTotal++;
      return { copies: 0 };
    }
    const copies = this.rng.chance(this.faults.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) this.schedule(nowMs + this.delayMs(), { envelope });
    return { copies };
  }

  private delayMs(): number {
    const { delayMinMs, delayMaxMs } = this.faults;
    assert(delayMinMs >= 1 && delayMaxMs >= delayMinMs, `bad delay bounds [${delayMinMs}, ${delayMaxMs}]`);
    return this.rng.between(delayMinMs, delayMaxMs);
  }

  /** Why a message from→to cannot pass right now, or undefined when it can. */
  blocked(from: NodeId, to: NodeId): LossReason | undefined {
    if ((this.groups.get(from) ?? 0) !== (this.groups.get(to) ?? 0)) return 'partition';
    if (this.cuts.has(`${from}>${to}`)) return 'cut';
    return undefined;
  }

  /** Called by the world when a delivery comes due: true if the message reaches its destination. */
  arrive(envelope: Envelope): boolean {
    if (this.blocked(envelope.message.from, envelope.message.to) !== undefined) {
      this.lostTotal++;
      return false;
    }
    this.deliveredTotal++;
    return true;
  }

  /** Splits the nodes into groups that cannot talk to each other; unlisted nodes join group 0. */
  partition(groups: readonly (readonly string[])[]): void {
    this.groups.clear();
    groups.forEach((g, i) => g.forEach((id) => this.groups.set(id, i + 1)));
  }

  /** Cuts the node off from everyone (both directions), keeping other partitions as they are. */
  isolate(id: string): void {
    this.groups.set(id, -1 - this.groups.size);
  }

  /** Cuts one direction of one link. */
  cut(from: NodeId, to: NodeId): void {
    this.cuts.add(`${from}>${to}`);
  }

  heal(): void {
    this.groups.clear();
    this.cuts.clear();
  }

  get partitioned(): boolean {
    return this.groups.size > 0 || this.cuts.size > 0;
  }

  sent(type: MessageType): number {
    return this.sentByType.get(type) ?? 0;
  }
}
