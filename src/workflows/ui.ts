/**
 * What the Temporal Web UI shows of a migration: search attributes (filterable, visible without a
 * worker) and the current details (markdown, through the metadata query).
 */
import { setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import type { MigrationInput, MigrationState } from '../contract/migration';
import { progressLines, progressOf, type Progress } from '../contract/progress';
import { ContractNotBefore, MigrationPaused, MigrationPhase } from '../contract/search-attributes';

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
  const lines = [
    `- table: \`${p.table}\``,
    ...progressLines(p).map((l) => (l.alert ? `- **${l.label}**: ${l.text}` : `- ${l.label}: ${l.text}`)),
  ];
  return [`## ${p.name}: ${p.phase}${p.paused ? ' (paused)' : ''}`, '', ...lines].join('\n');
}
