// The events this node saw (GET /v1/events): leader changes, membership changes, snapshots taken
// and installed, each with the time this node saw it. A bounded ring in memory: it is for a person
// looking at the cluster page, not a durable audit log, and starts empty when the process starts.
// Leader and membership events come from diffs of the driver's status after each Ready, so the
// driver needs no hook for them; snapshot events come from the storage adapter (run.ts).
import type { MemberInfo, NodeEvent, NodeEventBody } from '../api/types.js';

/** Events kept; the oldest is dropped beyond this (a page polls every second or so, well within it). */
export const NODE_EVENTS_MAX = 256;

/** The part of the driver's status that events are derived from. */
export interface EventSource {
  readonly term: number;
  readonly leader: string | undefined;
  readonly membership: { readonly members: readonly MemberInfo[] };
}

/** The last leader this node knew, and in which term (a node knows none between elections). */
export interface KnownLeader {
  readonly leader: string | undefined;
  readonly term: number;
}

/**
 * The events between two consecutive statuses, in the order they are listed. A leader change is a
 * leader (or a term of leadership) other than the last one known, so that an election in between,
 * when no leader is known, does not hide who led before.
 */
export function statusEvents(prev: EventSource, next: EventSource, known: KnownLeader = prev): NodeEventBody[] {
  const out: NodeEventBody[] = [];
  if (next.leader !== undefined && (next.leader !== known.leader || next.term !== known.term))
    out.push({ kind: 'leader-changed', leader: next.leader, previous: known.leader ?? null });
  const before = prev.membership.members;
  const after = next.membership.members;
  if (before === after) return out;
  if (before.length === 0) {
    if (after.length > 0) out.push({ kind: 'configuration-received', members: after.map((m) => ({ id: m.id, address: m.address, role: m.role })) });
    return out;
  }
  const old = new Map(before.map((m) => [m.id, m]));
  const now = new Map(after.map((m) => [m.id, m]));
  for (const m of after) {
    const o = old.get(m.id);
    if (o === undefined) out.push({ kind: 'member-added', member: m.id, address: m.address, role: m.role });
    else {
      if (o.role === 'learner' && m.role === 'voter') out.push({ kind: 'member-promoted', member: m.id });
      if (o.address !== m.address) out.push({ kind: 'member-address-changed', member: m.id, address: m.address });
    }
  }
  for (const m of before) if (!now.has(m.id)) out.push({ kind: 'member-removed', member: m.id });
  return out;
}

export class NodeEventLog {
  private readonly ring: NodeEvent[] = [];
  private nextSeq = 1;

  constructor(
    readonly capacity: number = NODE_EVENTS_MAX,
    private readonly clock: () => number = Date.now,
  ) {}

  record(body: NodeEventBody, term: number): void {
    this.ring.push({ ...body, seq: this.nextSeq++, at: new Date(this.clock()).toISOString(), term });
    if (this.ring.length > this.capacity) this.ring.shift();
  }

  /** The seq of the newest event, 0 if none. */
  get latestSeq(): number {
    return this.nextSeq - 1;
  }

  /** Events with seq > after, oldest first. */
  after(after: number): NodeEvent[] {
    // seq increases by one per event, so the first wanted one is found by arithmetic, not a scan.
    const first = this.ring[0];
    if (first === undefined) return [];
    return this.ring.slice(Math.max(0, after + 1 - first.seq));
  }

  /**
   * Records the events of every status change. `read` is called now for the starting point (nothing
   * is recorded for it: a restarted node's configuration is not news) and after every change.
   */
  follow(read: () => EventSource): () => void {
    let prev = read();
    let known: KnownLeader = prev;
    return () => {
      const next = read();
      for (const e of statusEvents(prev, next, known)) this.record(e, next.term);
      if (next.leader !== undefined) known = next;
      prev = next;
    };
  }
}
