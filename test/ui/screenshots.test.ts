/**
 * The README's Web UI images, taken in a real browser (Debian's chromium, headless, through
 * puppeteer-core; installed by the set-up with apt-get when missing and run as root) over a
 * migration on the dev server, in a namespace of its own. Asserts what the pages say (the phase,
 * the progress, the ETA, what it waits for, the Migration* columns, the saved view), not pixels.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { msToTs } from '@temporalio/common/lib/time';
import { spawn } from 'node:child_process';
import { ensureChromium } from '../../scripts/screenshots/chromium';
import { postsSql, type Shots } from '../../scripts/screenshots/scenario';
import { MIGRATION_COLUMNS, SAVED_VIEW } from '../../scripts/screenshots/shoot';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createHarness, type Harness } from '../helpers/harness';
import { testTemporal, type TestTemporal } from '../helpers/temporal';

const ROOT = path.resolve(__dirname, '../..');
const EXAMPLE = path.resolve(__dirname, '../../migrations/examples/posts-member-uuid.ts');
const NS = `ferry-ui-${randomBytes(3).toString('hex')}`;
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-web-ui-'));

const chromium = ensureChromium((line) => console.error(`screenshots set-up: ${line}`));
if ('skip' in chromium) console.warn(`test/ui/screenshots.test.ts skipped: ${chromium.skip}`);
const maybe = 'skip' in chromium ? describe.skip : describe;

test("the README's Web UI section gives the saved view's query, the columns and the images the test takes", () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### In the Web UI'), readme.indexOf('### Search attributes'));
  expect(section).toContain(`\`${SAVED_VIEW.query}\``);
  expect(section).toContain(`name it \`${SAVED_VIEW.name}\``);
  for (const column of MIGRATION_COLUMNS) expect(section).toContain(`\`${column}\``);
  for (const image of ['web-ui-waiting', 'web-ui-progress', 'web-ui-list', 'web-ui-saved-view']) {
    expect(section).toContain(`(docs/images/${image}.png)`);
    expect(fs.statSync(path.join(ROOT, 'docs', 'images', `${image}.png`)).size).toBeLessThan(300 * 1024);
  }
});

/**
 * Runs `scripts/screenshots.ts --capture` in a child (tsx): puppeteer-core is an ES module, which
 * jest's CommonJS runtime cannot load. Returns what each page showed.
 */
function captureInChild(name: string, env: NodeJS.ProcessEnv): Promise<Shots> {
  const tsx = path.join(ROOT, 'node_modules', '.bin', 'tsx');
  const proc = spawn(tsx, [path.join(ROOT, 'scripts', 'screenshots.ts'), '--capture', name, OUT], { env, cwd: ROOT });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) =>
    proc.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(stdout.trim().split('\n').pop()!))
        : reject(new Error(`screenshots --capture exited ${code}: ${stderr}`)),
    ),
  );
}

maybe('the Web UI, shown', () => {
  let t: TestTemporal;
  let db: TestDatabase;
  let h: Harness;
  let shots: Shots;

  beforeAll(async () => {
    t = await testTemporal();
    await t.client.workflowService.registerNamespace({ namespace: NS, workflowExecutionRetentionPeriod: msToTs('1 day') });
    db = await createTestDatabase('ui_screens');
    await db.pool.query(postsSql(30_000));
    h = createHarness(db, { 'posts-member-uuid': EXAMPLE }, { TEMPORAL_NAMESPACE: NS, FERRY_USER: 'alice', FERRY_PROBE_WINDOW: '1s' });
    await h.startWorker(); // adds ferry's search attributes to the new namespace
    shots = await captureInChild(h.name('posts-member-uuid'), { ...h.env, FERRY_CHROMIUM: (chromium as { path: string }).path });
  }, 300_000);

  afterAll(async () => {
    await h?.ferry('abort', h.name('posts-member-uuid'), '--reason', 'screenshots taken');
    await h?.close();
    await db?.drop();
    await t?.client.connection.operatorService.deleteNamespace({ namespace: NS }).catch(() => undefined);
    await t?.close();
    fs.rmSync(OUT, { recursive: true, force: true });
  });

  test('a migration waiting for the deploy signal says so in Current Details, beside the summary set at start', () => {
    const name = h.name('posts-member-uuid');
    expect(shots.waiting.text).toContain(`${name}: awaiting-deploy`);
    expect(shots.waiting.text).toMatch(/waiting: the .deployed. signal: deploy the code that writes both shapes/);
    expect(shots.waiting.text).toContain(
      'backfill posts.member_uuid where member_uuid IS NULL AND member_id IS NOT NULL — contract drops member_id after 30s cool-off and approval',
    );
  });

  test('a backfilling migration shows its phase, progress, rate, ETA and deadline', () => {
    const name = h.name('posts-member-uuid');
    expect(shots.progress.text).toContain(`${name}: backfilling`);
    expect(shots.progress.text).toMatch(/backfill: [\d,]+ \/ ~30,000 rows \(\d+\.\d%\), [\d,]+ changed, [\d,]+ rows\/s, ETA /);
    expect(shots.progress.text).toMatch(/deadline: .*needs [\d,]+ rows\/s/);
  });

  test('the list shows the Migration* columns with the phase and table', () => {
    expect(shots.list.text).toMatch(/MigrationPhase\s+MigrationTable\s+MigrationPaused\s+ContractNotBefore/);
    expect(shots.list.text).toMatch(/backfilling\s+"public"\."posts"\s+false/);
  });

  test('the saved view is listed and shows the migration', () => {
    expect(shots.savedView.text).toContain(SAVED_VIEW.name);
    expect(shots.savedView.text).toContain(`migration/${h.name('posts-member-uuid')}`);
  });

  test('each image is a PNG under 300 KB', () => {
    for (const shot of Object.values(shots)) {
      const png = fs.readFileSync(shot.file);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(png.length).toBeGreaterThan(10_000);
      expect(png.length).toBeLessThan(300 * 1024);
    }
  });
});
