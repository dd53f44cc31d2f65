/**
 * The Web UI, shown: each function opens one view of the Temporal Web UI in headless chromium,
 * waits until it shows what the README says, saves a PNG and returns the page's text (frames
 * included: the UI renders markdown in frames), so that a test can assert on words, not pixels.
 */
import type { Page } from 'puppeteer-core';

/** Where a migration is: the Web UI, its namespace, the migration's name. */
export interface UiTarget {
  uiUrl: string;
  namespace: string;
  name: string;
}

/** The columns the README adds to the list, and the one it removes. */
export const MIGRATION_COLUMNS = ['MigrationPhase', 'MigrationTable', 'MigrationPaused', 'ContractNotBefore'];
const REMOVED_COLUMNS = ['Run ID', 'Type', 'End'];

/** The saved view of the README: ferry's migrations, newest first. */
export const SAVED_VIEW = { name: 'Migrations', query: 'WorkflowType = "migrationWorkflow" OR WorkflowType = "rollbackWorkflow"' };

const listUrl = (t: UiTarget, query?: string) =>
  `${t.uiUrl}/namespaces/${encodeURIComponent(t.namespace)}/workflows${query ? `?query=${encodeURIComponent(query)}` : ''}`;

/** All the text the page shows, its frames included. */
export async function pageText(page: Page): Promise<string> {
  // A string, evaluated in the page: this project compiles without the DOM's types.
  const texts = await Promise.all(
    page.frames().map((f) => f.evaluate<[], () => string>('document.body ? document.body.innerText : ""').catch(() => '')),
  );
  return texts.join('\n');
}

/** Waits until the page's text matches every pattern (the UI polls and renders late); returns the text. */
export async function waitForText(page: Page, patterns: RegExp[], timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    text = await pageText(page);
    if (patterns.every((p) => p.test(text))) return text;
    await new Promise((r) => setTimeout(r, 500));
  }
  const missing = patterns.filter((p) => !p.test(text)).join(', ');
  throw new Error(`the Web UI at ${page.url()} did not show ${missing} within ${timeoutMs} ms; it showed:\n${text.slice(0, 1500)}`);
}

/**
 * Clicks the visible element with this test id (the UI keeps hidden modals with the same ids).
 * An element the UI re-renders between finding and clicking it ("Node is either not clickable or
 * not an Element") is looked for again, until `timeoutMs`.
 */
async function clickTestId(page: Page, id: string, timeoutMs = 30_000): Promise<void> {
  const selector = `[data-testid="${id}"]`;
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    for (const handle of await page.$$(selector)) {
      if (!(await handle.isVisible().catch(() => false))) continue;
      try {
        return await handle.click();
      } catch (err) {
        lastError = `; the last click failed: ${err instanceof Error ? err.message : err}`;
      }
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no visible ${selector} on ${page.url()} could be clicked within ${timeoutMs} ms${lastError}`);
}

/**
 * A migration's page, on its User Metadata tab: the summary and details set at start, and the
 * current details (phase, progress, ETA, what it waits for) from the worker.
 */
export async function shootMigration(page: Page, t: UiTarget, file: string, expect: RegExp[]): Promise<string> {
  await page.goto(`${t.uiUrl}/namespaces/${encodeURIComponent(t.namespace)}/workflows/${encodeURIComponent(`migration/${t.name}`)}`);
  await clickTestId(page, 'user-metadata-tab');
  const text = await waitForText(page, [/Current Details/, ...expect]);
  await page.screenshot({ path: file });
  return text;
}

/** Adds the Migration* columns to the list (and removes Run ID and Type), as the README says, through the UI. */
export async function addMigrationColumns(page: Page, t: UiTarget): Promise<void> {
  await page.goto(listUrl(t));
  await clickTestId(page, 'workflows-summary-table-configuration-button');
  for (const column of MIGRATION_COLUMNS) await clickTestId(page, `orderable-list-item-${column}-add-button`);
  for (const column of REMOVED_COLUMNS) await clickTestId(page, `orderable-list-item-${column}-remove-button`);
  await clickTestId(page, 'drawer-close-button');
}

/** The list of workflows with the Migration* columns. */
export async function shootList(page: Page, t: UiTarget, file: string, expect: RegExp[]): Promise<string> {
  await page.goto(listUrl(t));
  const text = await waitForText(page, [/MigrationPhase/, /MigrationTable/, ...expect]);
  await page.screenshot({ path: file });
  return text;
}

/** Saves the README's view (its query, then "Save as New") and shoots the list it shows. */
export async function shootSavedView(page: Page, t: UiTarget, file: string, expect: RegExp[]): Promise<string> {
  await page.goto(listUrl(t, SAVED_VIEW.query));
  await clickTestId(page, 'create-view-button');
  const input = 'input[placeholder="Name of view"]';
  await page.waitForSelector(input, { visible: true, timeout: 30_000 });
  await page.type(input, SAVED_VIEW.name);
  await clickTestId(page, 'confirm-modal-button');
  const text = await waitForText(page, [new RegExp(SAVED_VIEW.name), ...expect]);
  await page.screenshot({ path: file });
  return text;
}
