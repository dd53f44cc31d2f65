import { loadConfig, webUiBase } from '../config';
import { progressLines, type Progress } from '../contract/progress';
import type { AuditEntry } from '../contract/migration';
import type { MigrationSummary } from '../client/list';

/** `ferry status` for people: the header, then the same lines the Web UI shows. */
export function formatProgress(p: Progress & { status?: string }, uiUrl?: string): string {
  const status = p.status && p.status !== 'RUNNING' ? ` [${p.status}]` : '';
  const lines = [
    `migration ${p.name} on ${p.table || '(unknown table)'}`,
    `  phase:     ${p.phase}${p.paused ? ' (PAUSED)' : ''}${status}`,
  ];
  for (const l of progressLines(p)) lines.push(`  ${`${l.label}:`.padEnd(10)} ${l.text}`);
  if (uiUrl) lines.push(`  web UI:    ${uiUrl}`);
  return lines.join('\n');
}

/** `ferry list` for people. */
export function formatList(rows: MigrationSummary[]): string {
  if (rows.length === 0) return 'no migrations yet; start one with "ferry start <name>"';
  const header = ['NAME', 'TABLE', 'PHASE', 'PAUSED', 'STATUS', 'STARTED'];
  const body = rows.map((r) => [r.name, r.table, r.phase, r.paused ? 'yes' : '', r.status, r.startedAt]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  return [header, ...body]
    .map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `ferry history` for people: who typed (`--by`), and in brackets the identity their credentials gave (when it differs). */
export function formatAudit(entries: AuditEntry[]): string {
  return entries
    .map(
      (e) =>
        `${e.at}  ${e.action.padEnd(20)} ${e.by}${e.identity && e.identity !== e.by ? ` [${e.identity}]` : ''}${e.detail ? `  (${e.detail})` : ''}`,
    )
    .join('\n');
}

/**
 * The Web UI page of a migration, on the UI of the server ferry talks to (`webUiBase`); undefined
 * when that UI is not known (a remote server and no `FERRY_UI_URL`).
 * @example webUiUrl('default', 'migration/x', 'https://cloud.temporal.io') // 'https://cloud.temporal.io/namespaces/default/workflows/migration%2Fx'
 */
export function webUiUrl(namespace: string, workflowId: string, base = webUiBase(loadConfig().address)): string | undefined {
  if (base === undefined) return undefined;
  return `${base}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

/** What `ferry start` prints for the Web UI: the link, or how to get one. */
export function webUiLine(url: string | undefined): string {
  return url ?? 'unknown for this server; set FERRY_UI_URL to its Web UI (e.g. https://temporal.example.com)';
}
