// Mutation testing of the simulator: plants known bugs in the Raft core, one at a time, and proves
// that random simulated worlds find each within a stated number of seeds.
//
// Each mutant is an exact source patch of src/raft: every find string must occur exactly once in its
// file, or the run fails, so that a refactor of the core cannot silently turn a mutant into a no-op.
// A mutant is applied in a temporary copy of the repository (node_modules linked), never in the
// working tree, and hunted with the simulator's own command (`test/sim/cli.ts --seeds N --from S`),
// which prints a line per failing seed as it finds it; the hunt stops at the first. The unmutated
// core must then pass every seed a mutant needed, so that no catch is a false alarm.
//
//   npm run sim:mutants                          # every mutant, table on stdout, exit 1 if one survives
//   npm run sim:mutants -- --mutant read-before-own-term-commit --from 1000
//   npm run sim:mutants -- --markdown            # the table as docs/testing.md shows it
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** One exact replacement in one file of the repository. */
export interface SourceEdit {
  /** Relative to the repository root. */
  readonly file: string;
  /** Must occur exactly once in the file. */
  readonly find: string;
  readonly replace: string;
}

export interface Mutant {
  /** Stable, kebab-case: used on the command line and in docs/testing.md. */
  readonly name: string;
  /** The bug in one sentence. */
  readonly bug: string;
  readonly edits: readonly SourceEdit[];
  /** Random worlds (from the first seed) within which the simulator must report a violation. */
  readonly seedsMax: number;
}

const RAFT = 'src/raft/raft.ts';

// Budgets are at least seven times the mean number of seeds a mutant needed from seven starting
// seeds (1, 1001, ..., 6001; see docs/testing.md), so that a change to the worlds that moves the
// first catch to a later seed still finds it within the budget with a probability above 99.9 %.

export const MUTANTS: readonly Mutant[] = [
  {
    name: 'membership-before-own-term-commit',
    bug: 'a new leader accepts a membership change before it has committed an entry of its own term',
    edits: [
      {
        file: RAFT,
        find: `    if (this.log.term(this.log.committed) !== this.term)
      throw new RaftError('membership-change-pending', 'the leader has not committed an entry in its term yet; retry shortly');
`,
        replace: '',
      },
    ],
    seedsMax: 700,
  },
  {
    name: 'learner-counts-for-commit',
    bug: "a learner's acknowledgement counts toward the commit quorum (whose size still comes from the voters)",
    edits: [
      {
        file: RAFT,
        find: `    const vs = voters(this.membership);
    const idx = committedIndex(vs, (id) => (id === this.id ? this.log.lastIndex() : (this.progress.get(id)?.match ?? (0 as LogIndex))));
`,
        replace: `    const vs = voters(this.membership);
    const acked = (id: NodeId): LogIndex => (id === this.id ? this.log.lastIndex() : (this.progress.get(id)?.match ?? (0 as LogIndex)));
    const idx = (this.membership.members.map((x) => acked(x.id)).sort((a, b) => b - a)[quorumSize(vs.length) - 1] ?? 0) as LogIndex;
`,
      },
    ],
    seedsMax: 500,
  },
  {
    name: 'config-on-commit',
    bug: 'a configuration takes effect once its entry is committed, not as soon as it is appended',
    edits: [
      {
        file: RAFT,
        find: `    const m = this.log.membershipAt(this.log.lastIndex());
    this.membership = m.membership;
    this.membershipIndex = m.index;
    if (this.role === 'leader') this.syncProgressWithMembership();
`,
        replace: `    const m = this.log.membershipAt(this.log.committed);
    this.membership = m.membership;
    this.membershipIndex = m.index;
    if (this.role === 'leader') this.syncProgressWithMembership();
`,
      },
      {
        file: RAFT,
        // Commit advances in many places; every Ready picks up the newest committed configuration.
        find: `    assert(this.outstanding === NONE, 'ready() called twice without advance()');
`,
        replace: `    assert(this.outstanding === NONE, 'ready() called twice without advance()');
    this.refreshMembership();
`,
      },
    ],
    seedsMax: 50,
  },
  {
    name: 'ack-before-persist',
    bug: "a follower's append acknowledgement may leave before the entries it acknowledges are durable",
    edits: [
      {
        file: 'src/raft/ready.ts',
        find: `    case 'timeout-now':
      return true;
`,
        replace: `    case 'timeout-now':
    case 'append-response':
      return true;
`,
      },
    ],
    seedsMax: 20,
  },
  {
    name: 'read-before-own-term-commit',
    bug: 'a new leader serves ReadIndex reads before it has committed an entry of its own term',
    edits: [
      {
        file: RAFT,
        find: `    if (this.log.term(this.log.committed) !== this.term) {
      this.reads.hold(context);
      return;
    }
`,
        replace: '',
      },
    ],
    seedsMax: 1000,
  },
  {
    name: 'no-step-down-on-higher-term',
    bug: 'a leader that sees a higher term adopts it but keeps leading',
    edits: [
      {
        file: RAFT,
        find: `        this.becomeFollower(m.term, fromLeader ? m.from : NONE);
`,
        replace: `        if (this.role === 'leader') {
          this.term = m.term;
          this.vote = NONE;
        } else this.becomeFollower(m.term, fromLeader ? m.from : NONE);
`,
      },
    ],
    seedsMax: 50,
  },
];

/** A mutant's patch no longer matches the source: the core changed and the mutant must follow it. */
export class MutantPatchError extends Error {
  override readonly name = 'MutantPatchError';
}

/** Applies `edits` to the text of `file`; throws unless each find string occurs exactly once. */
export function patchText(file: string, text: string, edits: readonly SourceEdit[]): string {
  let out = text;
  for (const e of edits) {
    const first = out.indexOf(e.find);
    if (first < 0 || out.indexOf(e.find, first + 1) >= 0) {
      const count = first < 0 ? 0 : out.split(e.find).length - 1;
      throw new MutantPatchError(
        `${file}: the mutant's find string occurs ${count} times, it must occur exactly once; update the mutant in scripts/sim-mutants.ts to the current source:\n${e.find}`,
      );
    }
    out = out.slice(0, first) + e.replace + out.slice(first + e.find.length);
  }
  return out;
}

/** The edits of `mutant` grouped by file, checked against the sources under `root`. */
export function mutatedFiles(root: string, mutant: Mutant): Map<string, string> {
  const byFile = new Map<string, SourceEdit[]>();
  for (const e of mutant.edits) byFile.set(e.file, [...(byFile.get(e.file) ?? []), e]);
  const out = new Map<string, string>();
  for (const [file, edits] of byFile) out.set(file, patchText(`${mutant.name}: ${file}`, readFileSync(join(root, file), 'utf8'), edits));
  return out;
}

/** A throwaway copy of what the simulator needs; node_modules is linked, not copied. */
export function copyRepository(root: string): { dir: string; dispose: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'kuberaft-mutants-'));
  for (const p of ['src', 'test', 'package.json', 'tsconfig.json']) cpSync(join(root, p), join(dir, p), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Violation {
  readonly seed: number;
  readonly invariant: string;
  readonly detail: string;
}

export interface HuntResult {
  /** The first failing seed, or undefined when every seed passed. */
  readonly violation: Violation | undefined;
  /** How many seeds ran (to the first failure, or all). */
  readonly seeds: number;
  readonly ms: number;
}

/** Kills a hunt that hangs: far beyond what any budget needs on a slow machine. */
export const HUNT_TIMEOUT_MS = 10 * 60_000;
const FAILURE_LINE = /^seed=(\d+) invariant=([\w-]+) step=\d+: (.*)$/;
const SUMMARY_LINE = /^sim: (\d+) passed, (\d+) failed$/;

/**
 * Runs the simulator's command in `dir` over seeds [from, from + seeds) and stops at the first
 * failure. With `untilFirst` false, runs every seed and reports the first failure (for the baseline).
 */
export function hunt(dir: string, from: number, seeds: number, untilFirst = true): Promise<HuntResult> {
  const started = performance.now();
  const args = ['--import', 'tsx', 'test/sim/cli.ts', '--seeds', String(seeds), '--from', String(from)];
  const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((done, fail) => {
    let violation: Violation | undefined;
    let summary: { passed: number; failed: number } | undefined;
    let buffered = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), HUNT_TIMEOUT_MS);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split(/[\r\n]/);
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const f = FAILURE_LINE.exec(line);
        if (f !== null && violation === undefined) {
          violation = { seed: Number(f[1]), invariant: f[2] as string, detail: f[3] as string };
          if (untilFirst) child.kill('SIGTERM');
        }
        const s = SUMMARY_LINE.exec(line);
        if (s !== null) summary = { passed: Number(s[1]), failed: Number(s[2]) };
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      if (violation !== undefined) return done({ violation, seeds: violation.seed - from + 1, ms });
      if (code === 0 && summary !== undefined && summary.failed === 0) return done({ violation: undefined, seeds, ms });
      fail(new Error(`the simulator in ${dir} ended with ${signal ?? `exit code ${code}`} and no failure line (seeds ${from}..${from + seeds - 1}):\n${stderr}`));
    });
  });
}

export interface MutantOutcome {
  readonly mutant: Mutant;
  readonly result: HuntResult;
  /** Caught within its budget. */
  readonly caught: boolean;
}

export interface SuiteReport {
  readonly outcomes: readonly MutantOutcome[];
  /** The unmutated core over every seed a mutant needed. */
  readonly baseline: HuntResult;
  readonly ok: boolean;
}

export interface SuiteOptions {
  readonly root: string;
  readonly mutants: readonly Mutant[];
  readonly from: number;
  readonly log?: (line: string) => void;
}

export async function runMutationSuite(opts: SuiteOptions): Promise<SuiteReport> {
  // Every patch must apply before anything runs: a stale mutant fails at once, not after minutes.
  const patches = opts.mutants.map((m) => ({ mutant: m, files: mutatedFiles(opts.root, m) }));
  const copy = copyRepository(opts.root);
  try {
    const outcomes: MutantOutcome[] = [];
    for (const { mutant, files } of patches) {
      const originals = new Map<string, string>();
      for (const [file, text] of files) {
        originals.set(file, readFileSync(join(copy.dir, file), 'utf8'));
        writeFileSync(join(copy.dir, file), text);
      }
      try {
        const result = await hunt(copy.dir, opts.from, mutant.seedsMax);
        const caught = result.violation !== undefined;
        outcomes.push({ mutant, result, caught });
        opts.log?.(outcomeLine({ mutant, result, caught }));
      } finally {
        for (const [file, text] of originals) writeFileSync(join(copy.dir, file), text);
      }
    }
    const seeds = Math.max(1, ...outcomes.map((o) => o.result.seeds));
    const baseline = await hunt(copy.dir, opts.from, seeds, false);
    opts.log?.(
      baseline.violation === undefined
        ? `unmutated core: seeds ${opts.from}..${opts.from + seeds - 1} pass (${(baseline.ms / 1000).toFixed(1)} s)`
        : `unmutated core FAILS seed ${baseline.violation.seed} (${baseline.violation.invariant}: ${baseline.violation.detail}): the catches above may be false alarms`,
    );
    return { outcomes, baseline, ok: baseline.violation === undefined && outcomes.every((o) => o.caught) };
  } finally {
    copy.dispose();
  }
}

function outcomeLine(o: MutantOutcome): string {
  const v = o.result.violation;
  const time = `${(o.result.ms / 1000).toFixed(1)} s`;
  return v === undefined
    ? `SURVIVED ${o.mutant.name}: no violation in ${o.mutant.seedsMax} seeds (${time})`
    : `caught   ${o.mutant.name}: seed ${v.seed} (${o.result.seeds} of ${o.mutant.seedsMax} seeds, ${time}) by ${v.invariant}: ${truncate(v.detail, 160)}`;
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/** The rows of the table in docs/testing.md. */
export function markdownTable(report: SuiteReport, from: number): string {
  const rows = ['| mutant | the planted bug | seeds needed (budget) | caught by |', '| --- | --- | ---: | --- |'];
  for (const o of report.outcomes) {
    const v = o.result.violation;
    rows.push(`| \`${o.mutant.name}\` | ${o.mutant.bug} | ${v === undefined ? 'survived' : o.result.seeds} (${o.mutant.seedsMax}) | ${v === undefined ? '—' : `\`${v.invariant}\`, seed ${v.seed}`} |`);
  }
  rows.push('', `Seeds from ${from}; the unmutated core passes all of them.`);
  return rows.join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { mutant: { type: 'string', multiple: true }, from: { type: 'string' }, markdown: { type: 'boolean', default: false } },
    strict: true,
  });
  const from = Number(values.from ?? '1');
  if (!Number.isInteger(from) || from < 0) {
    console.error(`sim:mutants: --from must be an integer >= 0, got "${values.from}"`);
    return 2;
  }
  const names = values.mutant ?? MUTANTS.map((m) => m.name);
  const unknown = names.filter((n) => !MUTANTS.some((m) => m.name === n));
  if (unknown.length > 0) {
    console.error(`sim:mutants: unknown mutant ${unknown.join(', ')}; known: ${MUTANTS.map((m) => m.name).join(', ')}`);
    return 2;
  }
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const report = await runMutationSuite({ root, from, mutants: MUTANTS.filter((m) => names.includes(m.name)), log: (l) => console.log(l) });
  if (values.markdown) console.log(`\n${markdownTable(report, from)}`);
  const survivors = report.outcomes.filter((o) => !o.caught).length;
  console.log(`sim:mutants: ${report.outcomes.length - survivors} caught, ${survivors} survived; unmutated core ${report.baseline.violation === undefined ? 'passes' : 'FAILS'}`);
  return report.ok ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2));
}
