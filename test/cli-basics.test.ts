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
