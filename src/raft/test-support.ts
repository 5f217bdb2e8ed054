// Shared by the core's unit tests: a tiny synchronous driver for a few cores, with a network that can
// cut nodes off, drop chosen messages, or hold them back to deliver late. The simulator (test/sim) is
// the main evidence; these drivers make single flows easy to set up and read.
import { assert } from './assert.js';
import { Raft, bootstrapState, type RaftBootState } from './raft.js';
import type { Entry, HardState, Member, Message, NodeId, RandomSource, ReadState } from './types.js';

export const id = (s: string): NodeId => s as NodeId;

export function lcg(seed: number): RandomSource {
  let x = seed >>> 0;
  return { nextInt: (max: number) => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) % max) };
}

/** The timing every test cluster uses: an election timeout of 10 ticks, a heartbeat every tick. */
export const TEST_ELECTION_TIMEOUT_TICKS = 10;
const STABILIZE_ROUNDS_MAX = 10_000;

export interface TestNode {
  raft: Raft;
  hard: HardState;
  log: Entry[];
  applied: Entry[];
  reads: ReadState[];
  droppedReads: string[];
}

export function newRaft(name: string, boot: RaftBootState): Raft {
  return new Raft({ id: id(name), electionTimeoutTicks: TEST_ELECTION_TIMEOUT_TICKS, heartbeatIntervalTicks: 1, random: lcg(name.charCodeAt(0)) }, boot);
}

export class Cluster {
  nodes = new Map<NodeId, TestNode>();
  queue: Message[] = [];
  /** Nodes whose messages, in and out, are lost. */
  cut = new Set<NodeId>();
  /** Messages for which this returns true are lost. */
  drop: (m: Message) => boolean = () => false;
  /** Messages for which this returns true wait in `held` until the test delivers them. */
  hold: (m: Message) => boolean = () => false;
  held: Message[] = [];
  /** Every message sent, in order. */
  sent: Message[] = [];

  add(name: string, boot: RaftBootState): TestNode {
    const n: TestNode = { raft: newRaft(name, boot), hard: boot.hardState, log: [...boot.entries], applied: [], reads: [], droppedReads: [] };
    this.nodes.set(id(name), n);
    return n;
  }

  get(name: string): TestNode {
    const n = this.nodes.get(id(name));
    assert(n !== undefined, `no test node ${name}`);
    return n;
  }

  /** Processes every Ready and delivers every message until nothing moves. */
  stabilize(): void {
    for (let round = 0; round < STABILIZE_ROUNDS_MAX; round++) {
      let moved = false;
      for (const n of this.nodes.values()) {
        while (n.raft.hasReady()) {
          moved = true;
          const rd = n.raft.ready();
          for (const e of rd.entries) {
            n.log.length = e.index - 1;
            n.log.push(e);
          }
          if (rd.hardState) n.hard = rd.hardState;
          for (const m of [...rd.messagesBeforePersist, ...rd.messages]) {
            this.sent.push(m);
            this.queue.push(m);
          }
          n.applied.push(...rd.committedEntries);
          n.reads.push(...rd.readStates);
          n.droppedReads.push(...rd.droppedReads);
          n.raft.advance(rd);
        }
      }
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) {
        if (this.cut.has(m.from) || this.cut.has(m.to) || this.drop(m)) continue;
        if (this.hold(m)) {
          this.held.push(m);
          continue;
        }
        moved = true;
        this.nodes.get(m.to)?.raft.step(m);
      }
      if (!moved) return;
    }
    assert(false, 'test cluster did not stabilize');
  }

  /** Delivers the held messages now (they may well be stale), then stabilizes. */
  releaseHeld(): void {
    const late = this.held;
    this.held = [];
    for (const m of late) this.nodes.get(m.to)?.raft.step(m);
    this.stabilize();
  }

  tickAll(times: number, only?: readonly string[]): void {
    for (let i = 0; i < times; i++) {
      for (const n of this.nodes.values()) if (only === undefined || only.includes(n.raft.id)) n.raft.tick();
      this.stabilize();
    }
  }

  leader(): TestNode | undefined {
    const ls = [...this.nodes.values()].filter((n) => n.raft.status().role === 'leader' && !this.cut.has(n.raft.id));
    assert(ls.length <= 1, 'at most one reachable leader');
    return ls[0];
  }
}

export const members = (...names: string[]): Member[] => names.map((n) => ({ id: id(n), address: `${n}:1`, role: 'voter' as const }));
export const data = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (e: Entry): string => new TextDecoder().decode(e.data);

/** Three founding voters a, b, c, no leader yet. */
export function threeNodes(): Cluster {
  const c = new Cluster();
  for (const n of ['a', 'b', 'c']) c.add(n, bootstrapState(members('a', 'b', 'c')));
  return c;
}
