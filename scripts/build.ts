/**
 * `npm run build` (and `prepack`): compiles ferry into `dist/`, the JavaScript and `.d.ts` files
 * that the npm package ships.
 *
 *   dist/            src/ compiled: dist/index.js (the `ferry` export), dist/cli/main.js (bin/ferry.js),
 *                    dist/workflows/index.js (what a worker bundles), dist/typeorm/index.js
 *   dist/store/migrations/*.sql   ferry's schema files, read at run time by src/store/files.ts
 *   dist/devstack/   devstack/ compiled, for `ferry dev`
 *
 * tsc compiles src/ and devstack/ together (tsconfig.build.json, into .ferry/build/{src,devstack});
 * the two trees are then laid out as above, and the few imports between them (`../src/...` in
 * devstack, `../../devstack/...` in src/cli/dev.ts) are pointed at the new layout. Each rewritten
 * import is checked to resolve, so a new cross-tree import fails the build instead of the user.
 * Its one line of output goes to stderr: `npm pack --json` prints the JSON on stdout.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const BUILD = path.join(ROOT, '.ferry', 'build');
const DIST = path.join(ROOT, 'dist');

/** Replaces `require("<from>...")` by `require("<to>...")` in `file`; checks every target resolves. */
function repoint(file: string, from: string, to: string): number {
  const text = fs.readFileSync(file, 'utf8');
  let count = 0;
  const out = text.replace(new RegExp(`require\\("${from.replace(/[./]/g, '\\$&')}([^"]+)"\\)`, 'g'), (_, rest: string) => {
    count++;
    const target = `${to}${rest}`;
    if (!resolves(path.resolve(path.dirname(file), target))) throw new Error(`build: ${file} imports ${target}, which dist/ lacks`);
    return `require("${target}")`;
  });
  fs.writeFileSync(file, out);
  return count;
}

/** Whether `require(file)` would find a module (a `.js` file, or a directory with an index.js). */
function resolves(file: string): boolean {
  try {
    require.resolve(file);
    return true;
  } catch {
    return false;
  }
}

/** Relative imports in dist/ that do not resolve inside it (package.json aside: it ships beside dist/). */
function outsideDist(): string[] {
  const bad: string[] = [];
  for (const f of (fs.readdirSync(DIST, { recursive: true }) as string[]).filter((f) => f.endsWith('.js'))) {
    const file = path.join(DIST, f);
    const code = fs
      .readFileSync(file, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '') // JSDoc examples show require() calls that are not code
      .replace(/^\s*\/\/.*$/gm, '');
    for (const [, spec] of code.matchAll(/require\(["'](\.[^"']*)["']\)/g)) {
      const target = path.resolve(path.dirname(file), spec);
      if (target === path.join(ROOT, 'package.json')) continue;
      if (!target.startsWith(DIST + path.sep) || !resolves(target)) bad.push(`${f} → ${spec}`);
    }
  }
  return bad;
}

function build(): void {
  const started = Date.now();
  fs.rmSync(BUILD, { recursive: true, force: true });
  fs.rmSync(DIST, { recursive: true, force: true });
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json')], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  fs.renameSync(path.join(BUILD, 'src'), DIST);
  fs.mkdirSync(path.join(DIST, 'devstack'));
  for (const f of fs.readdirSync(path.join(BUILD, 'devstack')).filter((f) => f.endsWith('.js'))) {
    fs.renameSync(path.join(BUILD, 'devstack', f), path.join(DIST, 'devstack', f));
  }
  fs.rmSync(BUILD, { recursive: true, force: true });
  fs.cpSync(path.join(ROOT, 'src', 'store', 'migrations'), path.join(DIST, 'store', 'migrations'), {
    recursive: true,
    filter: (f) => !path.extname(f) || f.endsWith('.sql'),
  });

  let crossings = repoint(path.join(DIST, 'cli', 'dev.js'), '../../devstack/', '../devstack/');
  for (const f of fs.readdirSync(path.join(DIST, 'devstack'))) crossings += repoint(path.join(DIST, 'devstack', f), '../src/', '../');
  const outside = outsideDist();
  if (outside.length) throw new Error(`build: imports that leave dist/: ${outside.join(', ')}; teach scripts/build.ts the new layout.`);
  console.error(
    `build: dist/ written in ${((Date.now() - started) / 1000).toFixed(1)}s (${crossings} imports between src/ and devstack/ repointed)`,
  );
}

build();
