// The fault injector of random worlds: at random times it crashes and restarts nodes (sometimes in
// the middle of a Ready), partitions and heals the network, cuts links, changes the loss rate and
// asks for leadership transfers. Which faults a world sees is itself drawn from the seed.
import { RELIABLE_NETWORK } from './network.js';
import type { CrashPoint, World } from './world.js';
import type { Prng } from './prng.js';
import type { NodeId } from '../../src/raft/types.js';
import { voters } from '../../src/raft/index.js';

export interface FaultMix {
  readonly crashes: boolean;
  readonly partitions: boolean;
  readonly transfers: boolean;
  /** Range of the message loss rate the nemesis switches between. */
  readonly dropRateMax: number;
}

/** Mean pause between two faults, in simulated milliseconds (the actual pause is random up to twice this). */
export const FAULT_INTERVAL_MEAN_MS = 150;
const CRASH_POINTS: readonly CrashPoint[] = ['before-persist', 'before-send', 'before-advance'];

export class Nemesis {
  faults = 0;

  constructor(
    private readonly world: World,
    private readonly rng: Prng,
    private readonly mix: FaultMix,
  ) {}

  /** One fault (or one repair). */
  step(): void {
    const w = this.world;
    const crashed = [...w.nodes.values()].filter((n) => n.state === 'crashed');
    const up = w.running();
    const actions: (() => void)[] = [];
    if (this.mix.crashes) {
      if (up.length > 0) {
        actions.push(() => w.crash(this.rng.pick(up).id));
        actions.push(() => w.armCrash(this.rng.pick(up).id, this.rng.pick(CRASH_POINTS)));
      }
      if (crashed.length > 0) actions.push(() => w.restart(this.rng.pick(crashed).id), () => w.restart(this.rng.pick(crashed).id));
    }
    if (this.mix.partitions) {
      actions.push(() => this.partition(), () => this.heal());
      const leader = w.leader();
      if (leader !== undefined)
        actions.push(() => {
          w.trace(`isolate ${leader.id}`);
          w.network.isolate(leader.id);
        });
      if (up.length >= 2)
        actions.push(() => {
          const [a, b] = [this.rng.pick(up).id, this.rng.pick(up).id];
          if (a === b) return;
          w.trace(`cut ${a}->${b}`);
          w.network.cut(a, b);
        });
    }
    if (this.mix.dropRateMax > 0)
      actions.push(() => {
        w.network.faults.dropRate = this.rng.float() * this.mix.dropRateMax;
        w.trace(`drop-rate ${w.network.faults.dropRate.toFixed(3)}`);
      });
    if (this.mix.transfers) actions.push(() => this.transfer());
    if (actions.length === 0) return;
    this.faults++;
    this.rng.pick(actions)();
  }

  private partition(): void {
    const ids = [...this.world.nodes.values()].filter((n) => n.state !== 'stopped').map((n) => n.id);
    const a: NodeId[] = [];
    const b: NodeId[] = [];
    for (const id of ids) (this.rng.chance(0.5) ? a : b).push(id);
    this.world.trace(`partition [${a.join(',')}] [${b.join(',')}]`);
    this.world.network.partition([a, b]);
  }

  private heal(): void {
    this.world.trace('heal');
    this.world.network.heal();
  }

  private transfer(): void {
    const leader = this.world.leader();
    const st = leader === undefined ? undefined : this.world.status(leader.id);
    if (leader === undefined || st === undefined || st.role !== 'leader') return;
    const others = voters(st.membership).filter((id) => id !== leader.id);
    if (others.length === 0) return;
    const to = this.rng.pick(others);
    this.world.withCore(leader.id, `transfer-leadership to ${to} from`, (raft) => raft.transferLeadership(to));
  }

  /** Undoes every fault: heals the network, makes it reliable, restarts crashed nodes. */
  repairAll(): void {
    const w = this.world;
    w.trace('repair-all');
    w.network.heal();
    // Raft needs round trips well inside the election timeout to make progress: repair the delays too.
    w.network.faults = { ...RELIABLE_NETWORK };
    for (const n of w.nodes.values()) {
      n.crashPoint = undefined;
      if (n.state === 'crashed') w.restart(n.id);
    }
  }
}
