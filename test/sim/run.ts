// One random world from one seed: the seed picks the cluster size, the fault mix, churn and
// snapshots; the world runs with clients and the nemesis, then every fault is repaired and the
// cluster must converge (one leader, all members applied the same state) and the client history
// must be linearizable.
import { checkOperations, kvModel } from '../lincheck/index.js';
import { learners, voters } from '../../src/raft/index.js';
import { Churn } from './churn.js';
import { Clients } from './clients.js';
import type { KvOperation } from './clients.js';
import { InvariantViolation } from './invariants.js';
import { FAULT_INTERVAL_MEAN_MS, Nemesis } from './nemesis.js';
import { Prng } from './prng.js';
import { World } from './world.js';

/** Simulated time with faults, then time to converge after every fault is repaired. */
export const CHAOS_DEFAULT_MS = 3000;
export const CONVERGE_MAX_MS = 4000;
/** Events per world unless the caller says otherwise (guards against a run that never ends). */
export const STEPS_DEFAULT_MAX = 200_000;
export const CLIENTS_PER_WORLD = 3;
export const LINEARIZABILITY_TIMEOUT_MS = 5000;
const CHURN_INTERVAL_MS = 120;
const CONVERGE_POLL_MS = 50;

export interface RandomWorldOptions {
  readonly seed: number;
  /** Founding voters; drawn from the seed (3 or 5) when absent. */
  readonly nodes?: number;
  readonly chaosMs?: number;
  readonly stepsMax?: number;
  readonly trace?: (line: string) => void;
}

export interface RandomWorldResult {
  readonly seed: number;
  readonly violation: InvariantViolation | undefined;
  readonly steps: number;
  readonly history: readonly KvOperation[];
  readonly profile: string;
}

export function runRandomWorld(opts: RandomWorldOptions): RandomWorldResult {
  // The profile comes from its own stream so that it does not shift the world's.
  const pick = new Prng(opts.seed);
  const nodes = opts.nodes ?? pick.pick([3, 3, 5]);
  const dropRateMax = pick.pick([0, 0, 0.05, 0.2]);
  const network = { dropRate: dropRateMax / 2, duplicateRate: pick.pick([0, 0.02, 0.1]), delayMinMs: 1, delayMaxMs: pick.pick([5, 15, 40, 150]) };
  const snapshotEveryEntries = pick.pick([undefined, 5, 20, 60]);
  const mix = { crashes: pick.chance(0.7), partitions: pick.chance(0.6), transfers: pick.chance(0.4), dropRateMax };
  const churn = pick.chance(0.5);
  const profile = `nodes=${nodes} drop<=${dropRateMax} dup=${network.duplicateRate} delay<=${network.delayMaxMs}ms snapshot=${snapshotEveryEntries ?? 'never'} crashes=${mix.crashes} partitions=${mix.partitions} transfers=${mix.transfers} churn=${churn}`;
  opts.trace?.(`world seed=${opts.seed} ${profile}`);

  const world = new World({ seed: opts.seed, nodes, network, snapshotEveryEntries, trace: opts.trace });
  const stepsMax = opts.stepsMax ?? STEPS_DEFAULT_MAX;
  const clients = new Clients(world, world.rng.fork(), CLIENTS_PER_WORLD);
  const nemesis = new Nemesis(world, world.rng.fork(), mix);
  const churner = churn ? new Churn(world, world.rng.fork(), { votersMin: Math.min(3, nodes), votersMax: Math.max(5, nodes) }) : undefined;
  const chaosMs = opts.chaosMs ?? CHAOS_DEFAULT_MS;
  let chaos = true;

  const result = (violation: InvariantViolation | undefined): RandomWorldResult => ({ seed: opts.seed, violation, steps: world.steps, history: clients.history, profile });
  const loop = (label: string, meanMs: number, fn: () => void): void => {
    const again = (): void => {
      if (!chaos) return;
      fn();
      world.later(world.rng.between(1, 2 * meanMs), label, again);
    };
    world.later(world.rng.between(1, 2 * meanMs), label, again);
  };

  try {
    clients.start();
    loop('nemesis', FAULT_INTERVAL_MEAN_MS, () => nemesis.step());
    if (churner !== undefined) loop('churn', CHURN_INTERVAL_MS, () => churner.step());
    const chaosEnd = world.now + chaosMs;
    world.runUntil(() => world.steps >= stepsMax, chaosEnd - world.now);
    chaos = false;
    clients.stop();
    world.later(0, 'repair-all', () => nemesis.repairAll());
    if (!runUntilConverged(world, stepsMax)) {
      return result(new InvariantViolation('liveness', world.steps, `no convergence ${CONVERGE_MAX_MS}ms after all faults were repaired: ${describeCluster(world)}`));
    }
    if (world.steps >= stepsMax) return result(undefined);
    // Let clients still in flight finish or time out.
    world.runUntil(() => clients.idle, 2 * CONVERGE_MAX_MS);
    const lin = checkOperations(kvModel, clients.history, { timeoutMs: LINEARIZABILITY_TIMEOUT_MS });
    if (lin.kind === 'illegal')
      return result(new InvariantViolation('linearizability', world.steps, `client history is not linearizable (key partition ${lin.partition}); longest legal prefix ends: ${lin.longestPrefix.slice(-3).join('; ')}`));
    return result(undefined);
  } catch (err) {
    return result(world.violationFrom(err));
  }
}

/** Checks convergence every CONVERGE_POLL_MS (checking after each step would dominate the run time). */
function runUntilConverged(world: World, stepsMax: number): boolean {
  for (let waited = 0; waited <= CONVERGE_MAX_MS; waited += CONVERGE_POLL_MS) {
    if (world.steps >= stepsMax || converged(world)) return true;
    world.runFor(CONVERGE_POLL_MS);
  }
  return false;
}

/** One leader of the newest term, and every running member applied the leader's commit with equal state. */
export function converged(world: World): boolean {
  const leaders = world.leaders();
  const leader = leaders[0];
  if (leader === undefined || leader.raft === undefined) return false;
  const st = leader.raft.status();
  if (st.pendingMembershipIndex !== 0 || st.commit < st.lastIndex) return false;
  const members = [...voters(st.membership), ...learners(st.membership)];
  const digest = leader.sm.snapshot();
  for (const id of members) {
    const n = world.nodes.get(id);
    if (n === undefined || n.state !== 'running') return false;
    if (n.sm.applied !== st.commit) return false;
    if (!sameBytes(n.sm.snapshot(), digest)) world.invariants.fail('snapshot-agreement', `${id} applied ${n.sm.applied} like the leader but its state differs`);
  }
  return true;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function describeCluster(world: World): string {
  return [...world.nodes.values()]
    .map((n) => {
      const st = n.raft?.status();
      return st === undefined ? `${n.id}:${n.state}` : `${n.id}:${st.role}/t${st.term}/c${st.commit}/a${st.applied}/l${st.lastIndex}`;
    })
    .join(' ');
}
