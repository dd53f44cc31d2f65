/**
 * What the Temporal Web UI shows of a migration: search attributes (filterable, visible without a
 * worker) and the current details (markdown, through the metadata query).
 */
import { setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import { ContractNotBefore, MigrationPaused, MigrationPhase } from '../contract/search-attributes';
import { progressOf } from './state';
import type { MigrationInput, MigrationState, Progress } from '../contract/migration';

/** Publishes the phase, the paused flag and the contract date, and refreshes the details. */
export function publish(input: MigrationInput, state: MigrationState): void {
  upsertSearchAttributes([
    { key: MigrationPhase, value: state.phase },
    { key: MigrationPaused, value: state.paused },
    ...(state.coolOffUntil ? [{ key: ContractNotBefore, value: new Date(state.coolOffUntil) }] : []),
  ]);
  setCurrentDetails(detailsMarkdown(progressOf(input, state)));
}

/** The current details: one screen that says what the migration is doing and waits for. */
export function detailsMarkdown(p: Progress): string {
  const lines = [`Table: \`${p.table}\``];
  if (p.paused) lines.push(`**Paused**: ${p.pauseReason ?? 'no reason given'}. Resume with \`ferry resume ${p.name}\`.`);
  if (p.waitingFor) lines.push(`**Waiting for**: ${p.waitingFor}`);
  lines.push(
    `Backfill: ${p.rowsDone.toLocaleString('en-US')} of ~${p.rowsEstimated.toLocaleString('en-US')} rows` +
      ` (${p.percent.toFixed(1)}%), ${p.rowsPerSecond} rows/s` +
      (p.etaSeconds !== null && p.etaSeconds > 0 ? `, ETA ${p.etaSeconds}s` : ''),
  );
  if (p.batchSize) lines.push(`Batch size: ${p.batchSize} rows (adaptive)`);
  if (p.throttledSeconds > 0 || p.throttleReason) {
    lines.push(`Throttled: ${p.throttledSeconds}s in all${p.throttleReason ? `; last reason: ${p.throttleReason}` : ''}`);
  }
  if (p.deadline) lines.push(`Deadline: ${p.deadline.at} (${p.deadline.neededRowsPerSec} rows/s needed): ${p.deadline.onTrack ? 'on track' : `**at risk**: ${p.deadline.note ?? ''}`}`);
  if (p.finalized) lines.push(`Finalized by ${p.finalized.by}: running without pacing`);
  if (p.rowsFailed > 0) lines.push(`Failed rows (skipped, see ferry.failed_rows): ${p.rowsFailed}`);
  if (p.probe) lines.push(`Dual-write probe: ${p.probe.ok ? 'ok' : `**${p.probe.badRows} rows written after the deploy signal lack the new shape**`}`);
  if (p.verify) lines.push(`Verify: ${p.verify.wrongRows} wrong rows, ${p.verify.failedRows} recorded failed rows`);
  if (p.coolOffUntil) lines.push(`Contract not before: ${p.coolOffUntil}`);
  if (p.approved) lines.push(`Approved by ${p.approved.by} at ${p.approved.at}`);
  if (p.abort) lines.push(`Aborted by ${p.abort.by}: ${p.abort.reason}${p.abort.rollback ? ' (rollback)' : ''}`);
  if (p.lastError) lines.push(`Last error: ${p.lastError}`);
  return [`## ${p.name}: ${p.phase}${p.paused ? ' (paused)' : ''}`, '', ...lines.map((l) => `- ${l}`)].join('\n');
}
