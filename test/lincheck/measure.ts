// How long the linearizability check of random simulated worlds takes:
//
//   node --import tsx test/lincheck/measure.ts --seeds 2000 [--from 1] [--nodes 7] [--chaos-ms 5000]
//
// Runs the worlds, then checks each world's client history (the fastest of three runs, so that a
// garbage collection does not count) and a copy in which one late read returns a value that had
// already been overwritten when the read began (which the checker must reject, exploring every
// order first). Prints p50, p99 and the maximum of both, and the largest histories.
import { parseArgs } from 'node:util';
import { runRandomWorld } from '../sim/run.js';
import { checkOperations, kvModel } from './index.js';
import type { KvInput, KvOutput, Operation } from './index.js';

type KvOp = Operation<KvInput, KvOutput>;

const REPEATS = 3;
const TIMEOUT_MS = 60_000;

function fastestMs(history: readonly KvOp[]): { ms: number; kind: string } {
  let ms = Infinity;
  let kind = '';
  for (let i = 0; i < REPEATS; i++) {
    const started = performance.now();
    kind = checkOperations(kvModel, history, { timeoutMs: TIMEOUT_MS }).kind;
    ms = Math.min(ms, performance.now() - started);
  }
  return { ms, kind };
}

/** The history with its last read that can be made stale returning an overwritten value, if any. */
export function withStaleRead(history: readonly KvOp[]): KvOp[] | undefined {
  for (let i = history.length - 1; i >= 0; i--) {
    const read = history[i];
    if (read === undefined || read.input.op !== 'get' || read.return === Infinity) continue;
    const key = read.input.key;
    const puts = history.filter((w) => w.input.op === 'put' && w.input.key === key && w.return < read.call);
    const last = puts.reduce<KvOp | undefined>((a, w) => (a === undefined || w.return > a.return ? w : a), undefined);
    const older = puts.find((w) => last !== undefined && w.return < last.call);
    if (older === undefined || older.input.op !== 'put') continue;
    const forged = history.slice();
    forged[i] = { ...read, output: { value: older.input.value } };
    return forged;
  }
  return undefined;
}

function quantiles(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
  return `p50 ${at(0.5).toFixed(2)} ms, p99 ${at(0.99).toFixed(2)} ms, max ${(s[s.length - 1] ?? 0).toFixed(2)} ms`;
}

function main(): void {
  const { values } = parseArgs({ options: { seeds: { type: 'string' }, from: { type: 'string' }, nodes: { type: 'string' }, 'chaos-ms': { type: 'string' } }, strict: true });
  const seeds = Number(values.seeds ?? '2000');
  const from = Number(values.from ?? '1');
  const nodes = values.nodes === undefined ? undefined : Number(values.nodes);
  const chaosMs = values['chaos-ms'] === undefined ? undefined : Number(values['chaos-ms']);
  const legal: number[] = [];
  const stale: number[] = [];
  const sizes: { seed: number; operations: number; timedOut: number }[] = [];
  const wrong: string[] = [];
  for (let seed = from; seed < from + seeds; seed++) {
    const r = runRandomWorld({ seed, nodes, chaosMs });
    const ok = fastestMs(r.history);
    legal.push(ok.ms);
    if (r.violation === undefined && ok.kind !== 'ok') wrong.push(`seed ${seed}: ${ok.kind}`);
    const forged = withStaleRead(r.history);
    if (forged !== undefined) {
      const bad = fastestMs(forged);
      stale.push(bad.ms);
      if (bad.kind !== 'illegal') wrong.push(`seed ${seed} with a stale read: ${bad.kind}`);
    }
    sizes.push({ seed, operations: r.history.length, timedOut: r.history.filter((op) => op.return === Infinity).length });
  }
  console.log(`${seeds} worlds from seed ${from}${nodes === undefined ? '' : `, ${nodes} nodes`}${chaosMs === undefined ? '' : `, ${chaosMs} ms of faults`}`);
  console.log(`recorded histories: ${quantiles(legal)}`);
  console.log(`with a stale read (${stale.length}): ${quantiles(stale)}`);
  const largest = [...sizes].sort((a, b) => b.operations - a.operations)[0];
  console.log(`largest history: ${largest?.operations ?? 0} operations (seed ${largest?.seed}); most timed-out writes in one: ${Math.max(0, ...sizes.map((s) => s.timedOut))}`);
  for (const w of wrong) console.log(`WRONG ${w}`);
  process.exitCode = wrong.length === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) main();
