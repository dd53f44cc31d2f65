/**
 * What the Temporal Web UI shows of a migration: search attributes (filterable, visible without a
 * worker) and the current details (markdown, through the metadata query).
 */
import { patched, setCurrentDetails, upsertMemo, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { MigrationInput, MigrationState } from '../contract/migration';
import { PROGRESS_MEMO, progressLines, progressOf, type Progress, type ProgressMemo } from '../contract/progress';
import { isFinal } from '../contract/phases';
import { ContractNotBefore, MigrationPaused, MigrationPhase } from '../contract/search-attributes';

/** Publishes the phase, the paused flag and the contract date, and refreshes the details. */
export function publish(input: MigrationInput, state: MigrationState): void {
  upsertSearchAttributes([
    { key: MigrationPhase, value: state.phase },
    { key: MigrationPaused, value: state.paused && !isFinal(state.phase) }, // an ended migration is not paused
    ...(state.coolOffUntil ? [{ key: ContractNotBefore, value: new Date(state.coolOffUntil) }] : []),
  ]);
  const progress = progressOf(input, state);
  setCurrentDetails(detailsMarkdown(progress));
  if (patched('progress-memo')) publishCounters(progress);
}

/**
 * Keeps the row counters in the memo (counts only), so that `ferry status` shows the last known
 * progress when no worker answers its query. Upserted only when they moved: each upsert is an event.
 */
function publishCounters(p: Progress): void {
  const counts = { rowsDone: p.rowsDone, rowsUpdated: p.rowsUpdated, rowsEstimated: p.rowsEstimated, rowsFailed: p.rowsFailed };
  const last = workflowInfo().memo?.[PROGRESS_MEMO] as Partial<ProgressMemo> | undefined;
  if (last && (Object.keys(counts) as (keyof typeof counts)[]).every((k) => last[k] === counts[k])) return;
  upsertMemo({ [PROGRESS_MEMO]: { ...counts, at: new Date().toISOString() } satisfies ProgressMemo });
}

/** The current details: one screen that says what the migration is doing and waits for. */
export function detailsMarkdown(p: Progress): string {
  const lines = [
    `- table: \`${p.table}\``,
    ...progressLines(p).map((l) => (l.alert ? `- **${l.label}**: ${l.text}` : `- ${l.label}: ${l.text}`)),
  ];
  return [`## ${p.name}: ${p.phase}${p.paused ? ' (paused)' : ''}`, '', ...lines].join('\n');
}
