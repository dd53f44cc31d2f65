import { formatDuration } from '../contract/duration';
import type { AuditEntry, Progress } from '../contract/migration';
import type { MigrationSummary } from '../client/list';

/** `ferry status` for people. */
export function formatProgress(p: Progress & { status?: string }, uiUrl?: string): string {
  const lines = [
    `migration ${p.name} on ${p.table || '(unknown table)'}`,
    `  phase:     ${p.phase}${p.paused ? ' (PAUSED)' : ''}${p.status && p.status !== 'RUNNING' ? ` [${p.status}]` : ''}`,
  ];
  if (p.paused) lines.push(`  paused:    ${p.pauseReason ?? ''}`);
  if (p.waitingFor) lines.push(`  waiting:   ${p.waitingFor}`);
  lines.push(
    `  backfill:  ${p.rowsDone.toLocaleString('en-US')} / ~${p.rowsEstimated.toLocaleString('en-US')} rows ` +
      `(${p.percent.toFixed(1)}%), ${p.rowsUpdated.toLocaleString('en-US')} changed, ${p.rowsPerSecond.toLocaleString('en-US')} rows/s` +
      (p.etaSeconds ? `, ETA ${formatDuration(p.etaSeconds * 1000)}` : ''),
  );
  if (p.batchSize) lines.push(`  batches:   ${p.batchSize.toLocaleString('en-US')} rows each (adaptive)`);
  if (p.throttledSeconds || p.throttleReason) {
    lines.push(`  throttled: ${formatDuration((p.throttledSeconds ?? 0) * 1000)} in all${p.throttleReason ? `; last: ${p.throttleReason}` : ''}`);
  }
  if (p.deadline) {
    lines.push(`  deadline:  ${p.deadline.at}, needs ${p.deadline.neededRowsPerSec} rows/s: ${p.deadline.onTrack ? 'on track' : `AT RISK: ${p.deadline.note ?? ''}`}`);
  }
  if (p.finalized) lines.push(`  finalized: by ${p.finalized.by} at ${p.finalized.at} (no pacing)`);
  if (p.rowsFailed) lines.push(`  failed:    ${p.rowsFailed} rows skipped (see ferry.failed_rows)`);
  if (p.probe) lines.push(`  probe:     ${p.probe.ok ? 'ok' : `${p.probe.badRows} rows written after the deploy signal lack the new shape`}`);
  if (p.verify) lines.push(`  verify:    ${p.verify.wrongRows} wrong rows, ${p.verify.failedRows} recorded failed rows`);
  if (p.coolOffUntil) lines.push(`  contract:  not before ${p.coolOffUntil}`);
  if (p.approved) lines.push(`  approved:  by ${p.approved.by} at ${p.approved.at}`);
  if (p.abort) lines.push(`  aborted:   by ${p.abort.by}: ${p.abort.reason}${p.abort.rollback ? ' (rollback)' : ''}`);
  if (p.lastError) lines.push(`  error:     ${p.lastError}`);
  if (uiUrl) lines.push(`  web UI:    ${uiUrl}`);
  return lines.join('\n');
}

/** `ferry list` for people. */
export function formatList(rows: MigrationSummary[]): string {
  if (rows.length === 0) return 'no migrations yet; start one with "ferry start <name>"';
  const header = ['NAME', 'TABLE', 'PHASE', 'PAUSED', 'STATUS', 'STARTED'];
  const body = rows.map((r) => [r.name, r.table, r.phase, r.paused ? 'yes' : '', r.status, r.startedAt]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  return [header, ...body].map((row) => row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

/** `ferry history` for people. */
export function formatAudit(entries: AuditEntry[]): string {
  return entries.map((e) => `${e.at}  ${e.action.padEnd(20)} ${e.by}${e.detail ? `  (${e.detail})` : ''}`).join('\n');
}

/** The Web UI page of a migration. */
export function webUiUrl(namespace: string, workflowId: string, base = process.env.FERRY_UI_URL || 'http://localhost:8233'): string {
  return `${base}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
