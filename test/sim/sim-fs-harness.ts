// A minimal event clock for tests of SimFs and of the storage on it: operations complete only
// when the test steps the clock, so a test can stop (crash) after any number of completions.
import { assert } from '../../src/raft/assert.js';
import type { SimScheduler } from './sim-fs.js';

/** Bound on events a single runUntil() may run: a stalled test fails instead of hanging. */
export const HARNESS_STEPS_MAX = 100_000;

interface Event {
  readonly atMs: number;
  readonly seq: number;
  readonly run: () => void;
}

export class StepClock {
  nowMs = 0;
  /** Events run so far. */
  stepsRun = 0;
  private seq = 0;
  private queue: Event[] = [];

  readonly schedule: SimScheduler = (delayMs, run) => {
    this.queue.push({ atMs: this.nowMs + delayMs, seq: this.seq++, run });
  };

  get pending(): number {
    return this.queue.length;
  }

  /** Runs the earliest event (ties in scheduling order); false when there is none. */
  step(): boolean {
    if (this.queue.length === 0) return false;
    let best = 0;
    for (let k = 1; k < this.queue.length; k++) {
      const e = this.queue[k] as Event;
      const b = this.queue[best] as Event;
      if (e.atMs < b.atMs || (e.atMs === b.atMs && e.seq < b.seq)) best = k;
    }
    const [event] = this.queue.splice(best, 1) as [Event];
    this.nowMs = event.atMs;
    this.stepsRun++;
    event.run();
    return true;
  }
}

/** Lets every promise reaction that is ready run (the code under test reacts to the last completion). */
export function drain(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Steps `clock` until `promise` settles; returns its value or throws its error. */
export async function runUntil<T>(clock: StepClock, promise: Promise<T>): Promise<T> {
  let settled = false;
  const observed = promise.then(
    (value) => {
      settled = true;
      return value;
    },
    (e: unknown) => {
      settled = true;
      throw e;
    },
  );
  observed.catch(() => undefined);
  await drain();
  for (let steps = 0; !settled; steps++) {
    assert(steps < HARNESS_STEPS_MAX, 'runUntil: too many steps');
    assert(clock.step(), 'runUntil: nothing left to run, but the promise has not settled');
    await drain();
  }
  return observed;
}

/** Runs up to `count` events; returns how many ran. */
export async function runSteps(clock: StepClock, count: number): Promise<number> {
  await drain();
  let ran = 0;
  while (ran < count && clock.step()) {
    ran++;
    await drain();
  }
  return ran;
}
