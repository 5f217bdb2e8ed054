import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AssertionError, assert as check, assertNever } from './assert.js';

test('assert throws an AssertionError with the message when the condition is false', () => {
  assert.throws(() => check(false, 'broken invariant'), (e: unknown) => e instanceof AssertionError && e.message === 'broken invariant');
  assert.doesNotThrow(() => check(true, 'fine'));
});

test('assertNever names the unexpected value', () => {
  assert.throws(() => assertNever('x' as never, 'role'), /unexpected role: "x"/);
});
