#!/usr/bin/env node
// The package's command. The TypeScript sources are compiled to dist/ by `npm run build`,
// which `npm ci` runs through the `prepare` script.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write('kuberaft: dist/ is missing; run `npm ci` (or `npm run build`) in the checkout first\n');
  process.exit(1);
}
await import(main);
