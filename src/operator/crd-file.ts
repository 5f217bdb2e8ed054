// Renders the CRD YAML from api.ts. `npm run crds` writes it to crds/; crd-file.test.ts fails when
// the committed file differs, so the types and the installed schema cannot drift apart.
import { dumpYaml } from '@kubernetes/client-node';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CRD_NAME, crdManifest } from './api.js';

export const CRD_FILE = fileURLToPath(new URL(`../../crds/${CRD_NAME}.yaml`, import.meta.url));

const HEADER = `# Generated from src/operator/api.ts by \`npm run crds\`; do not edit by hand.\n`;

export function renderCrdYaml(): string {
  return HEADER + dumpYaml(crdManifest(), { noRefs: true, lineWidth: 160 });
}

export function committedCrdYaml(): string {
  return readFileSync(CRD_FILE, 'utf8');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(CRD_FILE, renderCrdYaml());
  process.stdout.write(`wrote ${CRD_FILE}\n`);
}
