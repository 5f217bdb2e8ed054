// Assertions for programmer errors. They stay on in production: a broken invariant in a
// consensus engine must stop the process, not corrupt data. Operating errors (bad input,
// lost leadership, full queues) are never assertions: they are typed errors with a code.
//
// This module lives in src/raft because raft is the base layer and may import nothing else
// of ours; the rest of the project imports it from here.

/** Thrown when the program itself is wrong. Never thrown for bad user or network input. */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new AssertionError(typeof message === 'function' ? message() : message);
  }
}

/** Makes a switch over a union exhaustive: the call type-checks only if every case was handled. */
export function assertNever(value: never, what = 'value'): never {
  throw new AssertionError(`unexpected ${what}: ${JSON.stringify(value)}`);
}
