// `npm run sim -- --seeds N [--from S] [--nodes K] [--steps M]`: runs N seeded random worlds, prints
// one line per failure and a summary, exits non-zero on any failure.
// `npm run sim -- --replay S --trace`: replays one seed, printing one line per event.
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { runRandomWorld } from './run.js';
import type { RandomWorldResult } from './run.js';

export interface SimArgs {
  readonly seeds: number;
  readonly from: number;
  readonly nodes: number | undefined;
  readonly steps: number | undefined;
  readonly replay: number | undefined;
  readonly trace: boolean;
}

export const SEEDS_DEFAULT = 100;
export const FROM_DEFAULT = 1;

function int(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${v}"`);
  return n;
}

export function parseSimArgs(argv: readonly string[]): SimArgs {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      seeds: { type: 'string' },
      from: { type: 'string' },
      nodes: { type: 'string' },
      steps: { type: 'string' },
      replay: { type: 'string' },
      trace: { type: 'boolean', default: false },
    },
    strict: true,
  });
  return {
    seeds: int('seeds', values.seeds, 1) ?? SEEDS_DEFAULT,
    from: int('from', values.from, 0) ?? FROM_DEFAULT,
    nodes: int('nodes', values.nodes, 1),
    steps: int('steps', values.steps, 1),
    replay: int('replay', values.replay, 0),
    trace: values.trace ?? false,
  };
}

export function failureLine(r: RandomWorldResult): string {
  const v = r.violation;
  return v === undefined ? `seed=${r.seed} ok` : `seed=${r.seed} invariant=${v.invariant} step=${v.step}: ${v.detail} [${r.profile}]`;
}

/** Runs the command; returns the exit code. `out` receives every line printed. */
export function main(argv: readonly string[], out: (line: string) => void): number {
  let args: SimArgs;
  try {
    args = parseSimArgs(argv);
  } catch (err) {
    out(`sim: ${err instanceof Error ? err.message : String(err)}`);
    out('usage: npm run sim -- --seeds N [--from S] [--nodes K] [--steps M] | --replay S [--trace]');
    return 2;
  }
  if (args.replay !== undefined) {
    const hash = createHash('sha256');
    const r = runRandomWorld({
      seed: args.replay,
      nodes: args.nodes,
      stepsMax: args.steps,
      trace: (line) => {
        hash.update(line).update('\n');
        if (args.trace) out(line);
      },
    });
    out(failureLine(r));
    out(`trace sha256=${hash.digest('hex')} steps=${r.steps} operations=${r.history.length}`);
    return r.violation === undefined ? 0 : 1;
  }
  let failed = 0;
  for (let seed = args.from; seed < args.from + args.seeds; seed++) {
    const r = runRandomWorld({ seed, nodes: args.nodes, stepsMax: args.steps });
    if (r.violation !== undefined) {
      failed++;
      out(failureLine(r));
    }
  }
  out(`sim: ${args.seeds - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = main(process.argv.slice(2), (line) => console.log(line));
}
