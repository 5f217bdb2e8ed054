#!/usr/bin/env node
// Assembles the cluster page in dist/src/ui, next to the node's compiled code that serves it: the
// page's JavaScript (compiled by `tsc -p tsconfig.ui.build.json` into dist/ui-tsc, which also holds
// the API types it imports, erased) and its static files from src/ui.
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const COMPILED = join('dist', 'ui-tsc');
const PAGE_OUT = join('dist', 'src', 'ui');
const STATIC_FILES = ['index.html', 'page.css'];

const compiledPage = join(COMPILED, 'ui');
if (!existsSync(compiledPage)) {
  console.error(`build-ui: ${compiledPage} is missing; run \`tsc -p tsconfig.ui.build.json\` first`);
  process.exit(1);
}
rmSync(PAGE_OUT, { recursive: true, force: true });
mkdirSync(PAGE_OUT, { recursive: true });
for (const name of readdirSync(compiledPage)) if (name.endsWith('.js')) cpSync(join(compiledPage, name), join(PAGE_OUT, name));
for (const name of STATIC_FILES) cpSync(join('src', 'ui', name), join(PAGE_OUT, name));
rmSync(COMPILED, { recursive: true, force: true });
