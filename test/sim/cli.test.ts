import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { main, parseSimArgs } from './cli.js';

function run(argv: string[]): { code: number; lines: string[] } {
  const lines: string[] = [];
  const code = main(argv, (l) => lines.push(l));
  return { code, lines };
}

test('arguments: defaults, values and errors', () => {
  assert.deepEqual(parseSimArgs(['--seeds', '5', '--from', '10', '--nodes', '3', '--steps', '900']), { seeds: 5, from: 10, nodes: 3, steps: 900, replay: undefined, trace: false });
  assert.equal(parseSimArgs([]).seeds, 100);
  assert.equal(parseSimArgs(['--replay', '4', '--trace']).trace, true);
  assert.throws(() => parseSimArgs(['--seeds', '0']), /--seeds must be an integer >= 1/);
  assert.throws(() => parseSimArgs(['--bogus']));
  const bad = run(['--seeds', 'many']);
  assert.equal(bad.code, 2);
  assert.match(bad.lines.join('\n'), /usage:/);
});

test('a batch prints the summary line last and exits 0 when every world passes', () => {
  const r = run(['--seeds', '4', '--from', '20']);
  assert.equal(r.code, 0);
  assert.deepEqual(r.lines, ['sim: 4 passed, 0 failed']);
});

test('a step budget too small to converge is not a failure, and --nodes sets the cluster size', () => {
  const r = run(['--replay', '3', '--nodes', '7', '--steps', '50', '--trace']);
  assert.equal(r.code, 0);
  assert.match(r.lines[0] ?? '', /^world seed=3 nodes=7 /);
  assert.match(r.lines.at(-1) ?? '', /steps=50 /);
});

test('a replay is byte-for-byte reproducible and its trace shows the events', () => {
  const hash = (lines: string[]) => createHash('sha256').update(lines.join('\n')).digest('hex');
  const first = run(['--replay', '6', '--trace']);
  const second = run(['--replay', '6', '--trace']);
  assert.equal(first.code, 0);
  assert.equal(hash(first.lines), hash(second.lines));
  assert.ok(first.lines.length > 500);
  const other = run(['--replay', '8', '--trace']);
  assert.notEqual(hash(first.lines), hash(other.lines));
  const text = first.lines.join('\n');
  for (const kind of [' tick ', ' deliver ', ' propose ', ' commit ', ' role ', ' crash', ' restart ', 'drop'])
    assert.ok(text.includes(kind), `the trace of seed 6 shows "${kind.trim()}" events`);
  assert.match(first.lines.at(-1) ?? '', /^trace sha256=[0-9a-f]{64} steps=\d+ operations=\d+$/);
});
