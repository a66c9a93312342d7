// Builds the page into context_bot/endpoint/page/, the files the Python package serves.
//
//   node build.mjs            type-check, bundle, write context_bot/endpoint/page/
//   node build.mjs --check    the same into a temporary folder; exit 1 when the committed
//                             files differ (the test suite runs this)
//
// Output: app.js (src/ and its npm dependencies, minified), app.css, index.html (asset URLs
// carry a content hash, so browsers may cache them for a year), licenses.txt (the license
// of every npm package inside app.js, as their licenses ask of a redistribution). Same
// lockfile, same bytes: esbuild's output depends only on its version and its inputs.

import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const committed = join(here, '..', 'context_bot', 'endpoint', 'page');
const check = process.argv.includes('--check');

function typecheck() {
  const tsc = join(here, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', here], { stdio: 'inherit' });
}

async function bundle() {
  const common = {
    absWorkingDir: here, bundle: true, minify: true, write: false, logLevel: 'warning',
    legalComments: 'none', // licenses.txt carries them whole
  };
  const js = await esbuild.build({
    ...common,
    entryPoints: ['src/main.ts'],
    outfile: 'app.js',
    format: 'esm',
    target: ['chrome100', 'firefox100', 'safari15'],
    metafile: true,
    banner: { js: '/* context-bot developer page; bundled licenses: /page/licenses.txt */' },
  });
  const css = await esbuild.build({ ...common, entryPoints: ['style.css'], outfile: 'app.css' });
  const inputs = Object.keys(js.metafile.inputs);
  return { js: js.outputFiles[0].contents, css: css.outputFiles[0].contents, inputs };
}

/** `node_modules/@scope/name/...` or `node_modules/name/...` → the package's folder. */
function packageDirs(inputs) {
  const dirs = new Set();
  for (const input of inputs) {
    const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match) dirs.add(join(here, match[1]));
  }
  return [...dirs];
}

/** The bundled packages and, recursively, their dependencies: livekit-client's dist has
 * its own dependencies (protobuf, sdp-transform, …) compiled in, so their notices are owed
 * too. Type-only `@types/*` packages carry no code. */
function bundledPackages(inputs) {
  const seen = new Map();
  const visit = (dir) => {
    if (!existsSync(join(dir, 'package.json'))) return;
    const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    if (seen.has(meta.name) || meta.name.startsWith('@types/')) return;
    seen.set(meta.name, { dir, meta });
    for (const dependency of Object.keys(meta.dependencies ?? {})) {
      const nested = join(dir, 'node_modules', dependency);
      visit(existsSync(nested) ? nested : join(here, 'node_modules', dependency));
    }
  };
  packageDirs(inputs).forEach(visit);
  return [...seen.values()].sort((a, b) => a.meta.name.localeCompare(b.meta.name));
}

function licenses(inputs) {
  const parts = ['Third-party software bundled into app.js by web/build.mjs, with its licenses.\n'];
  for (const { dir, meta } of bundledPackages(inputs)) {
    const file = readdirSync(dir).sort().find((name) => /^(licen[cs]e|copying)(\.|$)/i.test(name));
    const text = file ? readFileSync(join(dir, file), 'utf8').trim()
      : `(the package ships no license file; its package.json says ${meta.license})`;
    const rule = '='.repeat(78);
    const title = `${meta.name}@${meta.version} (${meta.license ?? 'see below'})`;
    parts.push(`${rule}\n${title}\n${rule}\n\n${text}\n`);
  }
  return parts.join('\n');
}

const hash = (bytes) => createHash('sha256').update(bytes).digest('hex').slice(0, 12);

async function build(out) {
  typecheck();
  const { js, css, inputs } = await bundle();
  const page = readFileSync(join(here, 'index.html'), 'utf8')
    .replace('{{app.js}}', `/page/app.js?v=${hash(js)}`)
    .replace('{{app.css}}', `/page/app.css?v=${hash(css)}`);
  mkdirSync(out, { recursive: true });
  const files = {
    'index.html': page, 'app.js': js, 'app.css': css, 'licenses.txt': licenses(inputs),
  };
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(out, name), bytes);
  return Object.keys(files);
}

if (check) {
  const out = mkdtempSync(join(tmpdir(), 'context-bot-page-'));
  try {
    const names = await build(out);
    const present = existsSync(committed) ? readdirSync(committed).sort() : [];
    const same = (name) => existsSync(join(committed, name))
      && readFileSync(join(out, name)).equals(readFileSync(join(committed, name)));
    const stale = names.filter((name) => !same(name));
    const extra = present.filter((name) => !names.includes(name));
    if (stale.length || extra.length) {
      const where = relative(process.cwd(), committed) || committed;
      const differs = `differs: ${stale.join(', ') || '-'}; not built: ${extra.join(', ') || '-'}`;
      console.error(`${where} is not what web/ builds (${differs}). Run scripts/build-page.`);
      process.exit(1);
    }
    console.log(`${names.length} files in ${relative(process.cwd(), committed)} match web/`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
} else {
  const names = await build(committed);
  for (const name of names) {
    const bytes = readFileSync(join(committed, name));
    const gzip = execFileSync('gzip', ['-9c'], { input: bytes }).length;
    const sizes = `${String(bytes.length).padStart(8)} B  gzip ${String(gzip).padStart(7)} B`;
    console.log(`${name.padEnd(13)} ${sizes}`);
  }
}
