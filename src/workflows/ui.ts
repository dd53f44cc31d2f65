/**
 * What the Temporal Web UI shows of a migration: search attributes (filterable, visible without a
 * worker) and the current details (markdown, through the metadata query).
 */
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { patched, setCurrentDetails, upsertMemo, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { MigrationInput, MigrationState } from '../contract/migration';
import { PROGRESS_MEMO, progressLines, progressOf, type Progress, type ProgressMemo } from '../contract/progress';
import { isFinal } from '../contract/phases';
import { ATTRIBUTES_MEMO, ContractNotBefore, MigrationPaused, MigrationPhase, type AttributesMemo } from '../contract/search-attributes';

/** Publishes the phase, the paused flag and the contract date, and refreshes the details. */
export function publish(input: MigrationInput, state: MigrationState): void {
  const paused = state.paused && !isFinal(state.phase); // an ended migration is not paused
  publishAttributes(input, { phase: state.phase, paused, contractNotBefore: state.coolOffUntil }, [
    { key: MigrationPhase, value: state.phase },
    { key: MigrationPaused, value: paused },
    ...(state.coolOffUntil ? [{ key: ContractNotBefore, value: new Date(state.coolOffUntil) }] : []),
  ]);
  const progress = progressOf(input, state);
  setCurrentDetails(detailsMarkdown(progress));
  if (patched('progress-memo')) publishCounters(progress);
}

/** The attributes a run changes as it goes (the memo mirror adds its name, table and spec hash). */
type Published = Pick<AttributesMemo, 'phase' | 'paused' | 'contractNotBefore'>;

/**
 * Upserts the search attributes the namespace has, and mirrors them in the memo when it lacks
 * some (`missingSearchAttributes`, from the run's input, so replay decides alike): upserting an
 * attribute the namespace does not know would fail every workflow task of the run. The memo is
 * upserted only when it changed (each upsert is an event).
 * @example publishAttributes(input, { phase: 'aborted', paused: false }, [{ key: MigrationPhase, value: 'aborted' }])
 */
export function publishAttributes(
  input: Pick<AttributesMemo, 'name' | 'table' | 'specHash'> & { missingSearchAttributes?: string[] },
  now: Published,
  pairs: SearchAttributeUpdatePair[],
): void {
  const missing = input.missingSearchAttributes ?? [];
  const known = pairs.filter((p) => !missing.includes(p.key.name));
  if (known.length > 0) upsertSearchAttributes(known);
  if (missing.length === 0) return;
  const mirror: AttributesMemo = {
    name: input.name,
    table: input.table,
    specHash: input.specHash,
    phase: now.phase,
    paused: now.paused,
    ...(now.contractNotBefore ? { contractNotBefore: now.contractNotBefore } : {}),
  };
  const last = workflowInfo().memo?.[ATTRIBUTES_MEMO];
  if (JSON.stringify(last) !== JSON.stringify(mirror)) upsertMemo({ [ATTRIBUTES_MEMO]: mirror });
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
