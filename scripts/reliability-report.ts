/**
 * Writes docs/reliability.md from the fault suite's results (`.ferry/fault-results.json`, one row
 * per scenario, written by test/faults). With `--run` it first runs the suite
 * (`jest test/faults test/production/faults.test.ts --runInBand`) on a fresh results file, so the document is the output of one
 * real run on this machine.
 *
 * @example npm run reliability            # run test/faults, then write docs/reliability.md
 * @example npx tsx scripts/reliability-report.ts   # only rewrite the document from the last results
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FaultResult } from '../test/helpers/faults';

const root = path.resolve(__dirname, '..');
const resultsFile = path.join(root, '.ferry', 'fault-results.json');
const docFile = path.join(root, 'docs', 'reliability.md');
const run = process.argv.includes('--run');

let jestStatus = 'not run by this command (results of an earlier run)';
if (run) {
  fs.rmSync(resultsFile, { force: true });
  const started = Date.now();
  const r = spawnSync(path.join(root, 'node_modules', '.bin', 'jest'), ['test/faults', 'test/production/faults.test.ts', '--runInBand'], {
    cwd: root,
    stdio: 'inherit',
  });
  jestStatus = `${r.status === 0 ? 'passed' : `FAILED (exit ${r.status})`} in ${Math.round((Date.now() - started) / 1000)} s`;
  if (r.status !== 0) process.exitCode = 1;
}

if (!fs.existsSync(resultsFile)) {
  console.error(`no results in ${resultsFile}: run the fault suite first (npm run reliability).`);
  process.exit(1);
}
const results = Object.values(JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as Record<string, FaultResult>);
const seconds = (ms: number) => (ms > 0 ? `${(ms / 1000).toFixed(1)} s` : '—');
const rows = results
  .sort((a, b) => a.at.localeCompare(b.at))
  .map(
    (r) =>
      `| ${r.scenario} | ${r.recovered ? 'yes' : '**no**'} | ${r.rows.toLocaleString('en-US')} | ${r.rowsLost} | ${r.rowsTwice} | ` +
      `${r.rowsWrong} | ${r.failedRows} | ${r.phase} | ${seconds(r.recoveryMs)} |`,
  );
const faults = results.map((r) => `- **${r.scenario}**: ${r.faults}.`);
const cpus = os.cpus();
const doc = `# Reliability: the fault suite

Produced by \`npm run reliability\` (\`tsx scripts/reliability-report.ts --run\`: runs \`jest test/faults test/production/faults.test.ts --runInBand\`, then
writes this file from \`.ferry/fault-results.json\`). Do not edit by hand; run it again.

- Date: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC
- Machine: ${os.platform()} ${os.release()}, ${cpus.length} × ${cpus[0]?.model.trim() ?? 'cpu'}, Node ${process.version}; shared with other test runs
- Suite: ${jestStatus}

Every scenario runs a real \`ferry worker\` process against real PostgreSQL and a real Temporal dev server, through
backfill, verify, cool-off, \`ferry approve\` and contract, then checks every row exactly: *lost* = rows the backfill
never updated, *twice* = rows it updated more than once (a trigger counts every UPDATE per row), *wrong* = rows whose
new value differs from the expected one, *failed rows* = rows recorded in \`ferry.failed_rows\`. *Recovered* means
phase \`completed\` with none lost, twice or wrong. *Recovery* is the longest time from a fault until the migration
made progress again (for the contract and the cool-off: until the next phase was reached; for the Temporal restart:
from the server's return, after 20 s down); it includes the
heartbeat timeout (4 s in the suite, \`FERRY_HEARTBEAT_TIMEOUT\`) and Temporal's retry back-off.

| scenario | recovered | rows | lost | twice | wrong | failed rows | final phase | recovery |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

## What each scenario does

${faults.join('\n')}
`;
fs.writeFileSync(docFile, doc);
console.log(`wrote ${path.relative(root, docFile)} (${results.length} scenarios)`);
