/**
 * The migration the README's Web UI images show, driven through the ferry CLI while a browser
 * looks at it: started (waiting for the deploy signal), then backfilling under a deadline, with
 * the Migration* columns added to the list and a saved view created, as the README tells.
 */
import path from 'node:path';
import type { Browser } from 'puppeteer-core';
import { addMigrationColumns, shootList, shootMigration, shootSavedView, type UiTarget } from './shoot';

/** What the scenario needs: where the migration is, a way to run `ferry`, where PNGs go, which chromium. */
export interface Scenario {
  target: UiTarget;
  ferry(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  outDir: string;
  chromium: string;
}

/** One image: its file and the text the page showed when it was taken. */
export interface Shot {
  file: string;
  text: string;
}

/** The images, by what they show. */
export type Shots = Record<'waiting' | 'progress' | 'list' | 'savedView', Shot>;

/**
 * Headless chromium at `executablePath`, sized for the README's images. puppeteer-core is an ES
 * module: loaded when called (by tsx), so that jest can import this file's other exports.
 */
export async function launchChromium(executablePath: string): Promise<Browser> {
  const { default: puppeteer } = await import('puppeteer-core');
  return puppeteer.launch({
    executablePath,
    headless: true,
    // root (CI containers, this machine) needs --no-sandbox; /dev/shm is small in containers.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    defaultViewport: { width: 1600, height: 760 },
  });
}

/** The SQL that makes the example's tables: members and `rows` posts pointing at them. */
export function postsSql(rows: number): string {
  return `
    CREATE TABLE members (id serial PRIMARY KEY, uuid uuid NOT NULL DEFAULT gen_random_uuid());
    INSERT INTO members SELECT FROM generate_series(1, 1000);
    CREATE TABLE posts (id bigserial PRIMARY KEY, member_id int REFERENCES members, body text);
    INSERT INTO posts (member_id, body) SELECT 1 + (g % 1000), 'post ' || g FROM generate_series(1, ${rows}) g;
    ANALYZE members; ANALYZE posts;`;
}

async function must(run: Promise<{ code: number; stdout: string; stderr: string }>, what: string): Promise<string> {
  const r = await run;
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** Polls `ferry status --json` until the backfill is at least `percent` done. */
async function backfilledTo(s: Scenario, percent: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = await must(s.ferry('status', s.target.name, '--json'), 'ferry status');
    const p = JSON.parse(last) as { phase: string; percent: number };
    if (p.phase === 'backfilling' && p.percent >= percent) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`migration "${s.target.name}" did not reach ${percent}% of its backfill in ${timeoutMs} ms: ${last}`);
}

/**
 * Runs the migration (`posts-member-uuid`, dual write by the application, a 2-minute deadline) and
 * takes the README's images into `outDir`; returns what each page showed. Leaves it backfilling.
 */
export async function captureWebUi(s: Scenario): Promise<Shots> {
  const { name } = s.target;
  const file = (base: string) => path.join(s.outDir, base);
  await must(s.ferry('start', name, '--cool-off', '30s', '--deadline', '2m', '--wait-for', 'expanded'), 'ferry start');
  const browser = await launchChromium(s.chromium);
  try {
    const page = await browser.newPage();
    const waitingFile = file('web-ui-waiting.png');
    const waiting = await shootMigration(page, s.target, waitingFile, [
      new RegExp(`${name}: awaiting-deploy`),
      /waiting: the .deployed. signal/,
    ]);
    await must(s.ferry('deployed', name, '--reason', 'release 42 writes both shapes'), 'ferry deployed');
    await backfilledTo(s, 20);
    const progressFile = file('web-ui-progress.png');
    const progress = await shootMigration(page, s.target, progressFile, [
      new RegExp(`${name}: backfilling`),
      /rows \(\d+\.\d%\)/,
      /ETA/,
      /deadline/,
    ]);
    await addMigrationColumns(page, s.target);
    const listFile = file('web-ui-list.png');
    const list = await shootList(page, s.target, listFile, [/backfilling/, new RegExp(name)]);
    const viewFile = file('web-ui-saved-view.png');
    const savedView = await shootSavedView(page, s.target, viewFile, [/backfilling/]);
    return {
      waiting: { file: waitingFile, text: waiting },
      progress: { file: progressFile, text: progress },
      list: { file: listFile, text: list },
      savedView: { file: viewFile, text: savedView },
    };
  } finally {
    await browser.close();
  }
}
