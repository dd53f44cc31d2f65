/**
 * What a new user meets first: `ferry --version`, and `ferry` run before `npm install`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runFerry } from './helpers/harness';
import { spawnSync } from 'node:child_process';

const ROOT = path.resolve(__dirname, '..');

test('ferry --version prints the version of package.json', async () => {
  const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const r = await runFerry(['--version'], process.env);
  expect(r.code).toBe(0);
  expect(r.stdout.trim()).toBe(version);
});

test('before npm install, ferry says to run it instead of printing a stack', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-noinstall-'));
  try {
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.copyFileSync(path.join(ROOT, 'bin', 'ferry.js'), path.join(dir, 'bin', 'ferry.js'));
    fs.mkdirSync(path.join(dir, 'src', 'cli'), { recursive: true }); // a checkout: bin/ferry.js runs the source under tsx
    fs.writeFileSync(path.join(dir, 'src', 'cli', 'main.ts'), '');
    const r = spawnSync(process.execPath, [path.join(dir, 'bin', 'ferry.js'), 'dev'], {
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('ferry: its dependencies are not installed (tsx is missing); run "npm install" (or "npm ci") first.');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('output larger than a pipe holds reaches the reader whole before ferry exits', async () => {
  // `ferry plan --json --no-trial` prints the DDL; a 200 KB statement makes the output larger than
  // the 64 KiB a pipe holds. pg_catalog.pg_class (key oid) is a table every database has; --no-trial
  // runs nothing.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-big-output-'));
  try {
    const statement = `ALTER TABLE pg_catalog.pg_class ADD COLUMN IF NOT EXISTS x int /* ${'x'.repeat(200_000)} */`;
    fs.writeFileSync(
      path.join(dir, 'big.ts'),
      `export default ${JSON.stringify({
        table: 'pg_catalog.pg_class',
        key: ['oid'],
        expand: { up: statement, down: 'SELECT 1' },
        backfill: { where: 'false', set: 'relname = relname' },
        contract: { up: 'SELECT 1' },
      })};\n`,
    );
    const env = { ...process.env, FERRY_MIGRATIONS: dir, DATABASE_URL: process.env.FERRY_TEST_ADMIN_URL };
    const r = await runFerry(['plan', 'big', '--no-trial', '--json'], env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).ddl.expand).toEqual([statement]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
