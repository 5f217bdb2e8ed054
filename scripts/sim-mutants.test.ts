// The mutation suite of the simulator (scripts/sim-mutants.ts), run by `npm test` with the sim suite:
// every planted bug must be found within its budget of random worlds, and the unmutated core must pass
// the same worlds.
import assert from 'node:assert/strict';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MUTANTS, MutantPatchError, mutatedFiles, patchText, runMutationSuite } from './sim-mutants.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

test('a mutant patch applies only where its text occurs exactly once', () => {
  assert.equal(patchText('f', 'a b c', [{ file: 'f', find: 'b', replace: 'x' }]), 'a x c');
  assert.equal(patchText('f', 'a b c', [{ file: 'f', find: 'b', replace: 'x' }, { file: 'f', find: 'x c', replace: '' }]), 'a ');
  assert.throws(() => patchText('f', 'a b c', [{ file: 'f', find: 'd', replace: 'x' }]), (e: unknown) => e instanceof MutantPatchError && /occurs 0 times/.test(e.message));
  assert.throws(() => patchText('f', 'b b', [{ file: 'f', find: 'b', replace: 'x' }]), (e: unknown) => e instanceof MutantPatchError && /occurs 2 times/.test(e.message));
});

test('every mutant still matches the core exactly once and changes it', () => {
  assert.equal(new Set(MUTANTS.map((m) => m.name)).size, MUTANTS.length, 'mutant names are unique');
  for (const m of MUTANTS) {
    const files = mutatedFiles(root, m);
    assert.ok(files.size > 0, m.name);
    assert.ok(m.seedsMax > 0, `${m.name} has a budget`);
  }
});

test('random worlds catch every planted bug within its budget, and the unmutated core passes them', async () => {
  const lines: string[] = [];
  const report = await runMutationSuite({ root, from: 1, mutants: MUTANTS, log: (l) => lines.push(l) });
  assert.ok(report.ok, lines.join('\n'));
  assert.equal(report.outcomes.length, MUTANTS.length);
});
