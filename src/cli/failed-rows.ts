/**
 * `ferry approve` and `ferry retry-failed`: an approval is refused (exit 3) while recorded failed
 * rows still fail, unless `--accept-failed-rows` says to contract without them.
 */
import type { Command } from 'commander';
import { FerryError } from '../contract/errors';
import { defaultActor } from '../config';
import type { FerryClient } from '../client/connect';
import { control, getProgress } from '../client/control';
import * as msg from '../contract/messages';
import type { Progress } from '../contract/progress';
import { formatProgress } from './output';

type WithClient = <T>(fn: (fc: FerryClient) => Promise<T>) => Promise<T>;
type Print = (json: boolean | undefined, value: unknown, text: string) => void;

/** Phases in which the workflow re-runs failed rows on request (the `retryFailed` validator's). */
const RETRY_PHASES: readonly Progress['phase'][] = ['cooling-off', 'awaiting-approval'];

/**
 * Re-runs the failed rows when the migration has some and is past verify; returns the progress
 * after the re-run, or undefined when there was nothing to re-run yet.
 */
async function recheck(fc: FerryClient, name: string, by: string): Promise<Progress | undefined> {
  const p = await getProgress(fc, name);
  const known = p.failedRows?.remaining ?? p.verify?.failedRows ?? p.rowsFailed;
  if (!RETRY_PHASES.includes(p.phase) || known === 0) return undefined;
  return control(fc, name, msg.retryFailedUpdate, { by });
}

/** The refusal of an approval while rows still fail: the count, the query and the next steps. */
function stillFailing(name: string, p: Progress): FerryError {
  const f = p.failedRows!;
  return new FerryError(
    'CONFLICT',
    `migration "${name}" has ${f.remaining} recorded failed rows that still fail (${f.fixed} fixed by the re-run just now); ` +
      `they would never be migrated. List them with ${f.query}; fix them and run "ferry approve ${name}" again ` +
      `(or "ferry retry-failed ${name}" to re-run them), or "ferry approve ${name} --accept-failed-rows" to contract without them.`,
  );
}

/** Registers `approve [--accept-failed-rows]` and `retry-failed`. */
export function addFailedRowsCommands(program: Command, withClient: WithClient, print: Print): void {
  program
    .command('approve <name>')
    .description('allow the contract once the cool-off has passed; refused (exit 3) while recorded failed rows still fail')
    .option('--by <who>', 'who does it (audit trail)')
    .option('--reason <text>', 'why (audit trail)')
    .option(
      '--accept-failed-rows',
      'contract although recorded failed rows still fail (they are never migrated; recorded in the audit trail)',
    )
    .option('--json', 'print JSON')
    .action((name: string, o) =>
      withClient(async (fc) => {
        const by = o.by ?? defaultActor(process.env, fc.caller);
        const accept = o.acceptFailedRows === true;
        if (!accept) {
          const checked = await recheck(fc, name, by);
          if (checked?.failedRows && checked.failedRows.remaining > 0) throw stillFailing(name, checked);
        }
        const p = await control(fc, name, msg.approveUpdate, { by, reason: o.reason, acceptFailedRows: accept || undefined });
        print(o.json, p, `migration ${name}: approve accepted\n${formatProgress(p)}`);
      }),
    );

  program
    .command('retry-failed <name>')
    .description('re-run the recorded failed rows now (fixed ones leave the list); prints how many still fail')
    .option('--by <who>', 'who does it (audit trail)')
    .option('--json', 'print JSON')
    .action((name: string, o) =>
      withClient(async (fc) => {
        const p = await control(fc, name, msg.retryFailedUpdate, { by: o.by ?? defaultActor(process.env, fc.caller) });
        const f = p.failedRows;
        const summary = f ? `${f.fixed} fixed, ${f.remaining} still fail${f.remaining > 0 ? ` (${f.query})` : ''}` : 'done';
        print(o.json, p, `migration ${name}: failed rows re-run: ${summary}\n${formatProgress(p)}`);
      }),
    );
}
