/**
 * `npm test`: typecheck, lint, the formatter's check, then the whole jest suite against real services (jest's
 * globalSetup starts or reuses Temporal and PostgreSQL). Ends with one summary line
 * `jest: N passed, N failed, N skipped` and exits non-zero on any failure.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..');
const bin = (name: string) => path.join(root, 'node_modules', '.bin', name);

function step(title: string, cmd: string, args: string[]): void {
  console.log(`\n== ${title}: ${[path.basename(cmd), ...args].join(' ')}`);
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  console.log(`== ${title}: ${r.status === 0 ? 'ok' : `failed (exit ${r.status})`} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  if (r.status !== 0 && title !== 'jest') process.exit(r.status ?? 1);
}

function summary(resultsFile: string): number {
  if (!fs.existsSync(resultsFile)) {
    console.log('jest: 0 passed, 1 failed');
    return 1;
  }
  const r = JSON.parse(fs.readFileSync(resultsFile, 'utf8'));
  const failed = r.numFailedTests + r.numRuntimeErrorTestSuites;
  console.log(`jest: ${r.numPassedTests} passed, ${failed} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
  return failed > 0 || !r.success ? 1 : 0;
}

const resultsFile = path.join(root, '.ferry', 'jest-results.json');
fs.mkdirSync(path.dirname(resultsFile), { recursive: true });
fs.rmSync(resultsFile, { force: true });
step('typecheck', bin('tsc'), ['--noEmit', '-p', 'tsconfig.json']);
step('lint', bin('eslint'), ['.']);
step('format', bin('prettier'), ['--check', '.']);
step('jest', bin('jest'), ['--json', `--outputFile=${resultsFile}`, ...process.argv.slice(2)]);
process.exit(summary(resultsFile));
