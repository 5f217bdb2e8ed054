// The cluster page's files, read once at start and served from memory: the page (src/ui, compiled
// by the build next to this module's own output, dist/src/ui) and the charting library uPlot from
// the node's own dependencies. Nothing is fetched from elsewhere, so the page works air-gapped.
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PageAsset {
  readonly body: Buffer;
  readonly contentType: string;
}

/** By URL path: `/` is the page, everything else is under `/ui/`. */
export type PageAssets = ReadonlyMap<string, PageAsset>;

/** The built page: next to dist/src/node, as dist/src/ui. */
export const PAGE_DIR_DEFAULT = fileURLToPath(new URL('../ui/', import.meta.url));
/** The page is a handful of small files; anything bigger in its directory is not ours to serve. */
const PAGE_FILE_MAX_BYTES = 1024 * 1024;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** uPlot's browser build and stylesheet, resolved in the node's own dependencies. */
const VENDOR_FILES: readonly { readonly module: string; readonly path: string }[] = [
  { module: 'uplot/dist/uPlot.iife.min.js', path: '/ui/vendor/uPlot.iife.min.js' },
  { module: 'uplot/dist/uPlot.min.css', path: '/ui/vendor/uPlot.min.css' },
];

/**
 * Reads the page from `dir`; undefined when it is not there (a node run from sources without
 * `npm run build`): the node then answers GET / with a 404 that says so, and serves its API as always.
 */
export function loadPageAssets(dir: string = PAGE_DIR_DEFAULT): PageAssets | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  if (!names.includes('index.html')) return undefined;
  const assets = new Map<string, PageAsset>();
  const read = (file: string): PageAsset | undefined => {
    const contentType = CONTENT_TYPES[extname(file)];
    if (contentType === undefined) return undefined;
    const body = readFileSync(file);
    if (body.byteLength > PAGE_FILE_MAX_BYTES) throw new Error(`${file} is ${body.byteLength} bytes; page files are at most ${PAGE_FILE_MAX_BYTES}`);
    return { body, contentType };
  };
  for (const name of names) {
    if (name.endsWith('.test.js')) continue;
    const asset = read(join(dir, name));
    if (asset !== undefined) assets.set(name === 'index.html' ? '/' : `/ui/${name}`, asset);
  }
  const require = createRequire(import.meta.url);
  for (const v of VENDOR_FILES) {
    const asset = read(require.resolve(v.module));
    if (asset === undefined) throw new Error(`${v.module}: not a page file type`);
    assets.set(v.path, asset);
  }
  return assets;
}
