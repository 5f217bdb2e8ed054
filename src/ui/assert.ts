// The page's own assertion helper (the page loads only files of src/ui, so it cannot share the node's).

/** An exhaustive switch's default branch: compile error when a case is missing, bug report at run time. */
export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(x)}`);
}
