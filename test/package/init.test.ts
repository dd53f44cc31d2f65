/**
 * `ferry init` in-process: which language the example is written in, that the TypeScript example is
 * a valid definition, and that nothing is ever overwritten. (test/package/pack-install.test.ts runs
 * `npx ferry init` from an installed tarball and the JavaScript example end to end.)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EXAMPLE_NAME, initCommand, nextSteps } from '../../src/cli/init';
import { FerryError } from '../../src/contract/errors';
import { loadMigration } from '../../src/definition/registry';

let app: string;
const saved = process.env.FERRY_MIGRATIONS;

beforeEach(() => {
  app = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-init-'));
  delete process.env.FERRY_MIGRATIONS;
});

afterEach(() => {
  fs.rmSync(app, { recursive: true, force: true });
  if (saved === undefined) delete process.env.FERRY_MIGRATIONS;
  else process.env.FERRY_MIGRATIONS = saved;
});

test('TypeScript when the application has a tsconfig.json; the example is a valid definition', () => {
  fs.writeFileSync(path.join(app, 'tsconfig.json'), '{}');
  const result = initCommand({ cwd: app });
  expect(result).toEqual({ file: path.join(app, 'migrations', `${EXAMPLE_NAME}.ts`), language: 'ts' });
  const m = loadMigration(EXAMPLE_NAME, path.join(app, 'migrations'));
  expect(m.definition).toMatchObject({
    table: 'orders',
    dualWrite: { by: 'trigger' },
    contract: { up: ['ALTER TABLE orders DROP COLUMN IF EXISTS total'], after: '7d', approval: true },
  });
  expect(nextSteps(result, app)).toContain(`Created migrations/${EXAMPLE_NAME}.ts: an example migration in TypeScript.`);
});

test('JavaScript otherwise: ESM under "type": "module", else CommonJS; --js and --ts override the guess', () => {
  expect(initCommand({ cwd: app }).language).toBe('js-commonjs');
  const esm = path.join(app, 'esm');
  fs.mkdirSync(esm);
  fs.writeFileSync(path.join(esm, 'package.json'), '{ "type": "module" }');
  fs.writeFileSync(path.join(esm, 'tsconfig.json'), '{}');
  expect(initCommand({ cwd: esm, language: 'js' })).toEqual({
    file: path.join(esm, 'migrations', `${EXAMPLE_NAME}.js`),
    language: 'js-esm',
  });
  expect(fs.readFileSync(path.join(esm, 'migrations', `${EXAMPLE_NAME}.js`), 'utf8')).toContain("import { defineMigration } from 'ferry';");
  const forced = path.join(app, 'forced');
  fs.mkdirSync(forced);
  expect(initCommand({ cwd: forced, language: 'ts' }).language).toBe('ts');
});

test('never overwrites: an existing example, under any extension, is a conflict (exit 3) and nothing is written', () => {
  const dir = path.join(app, 'migrations', 'nested');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${EXAMPLE_NAME}.mjs`), '// mine');
  let error: unknown;
  try {
    initCommand({ cwd: app, language: 'ts' });
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(FerryError);
  expect((error as FerryError).exitCode).toBe(3);
  expect((error as FerryError).message).toBe(
    `"${path.join(dir, `${EXAMPLE_NAME}.mjs`)}" already exists; ferry init never overwrites a file. ` +
      'Rename or delete it to scaffold the example again; nothing was written.',
  );
  expect(fs.readdirSync(path.join(app, 'migrations'))).toEqual(['nested']);
  expect(fs.readFileSync(path.join(dir, `${EXAMPLE_NAME}.mjs`), 'utf8')).toBe('// mine');
});

test('FERRY_MIGRATIONS chooses the directory', () => {
  process.env.FERRY_MIGRATIONS = path.join(app, 'db', 'migrations');
  expect(initCommand({ cwd: app, language: 'js' }).file).toBe(path.join(app, 'db', 'migrations', `${EXAMPLE_NAME}.js`));
});
