/**
 * The README's examples cannot rot: its migration validates, every handler name it gives the
 * Temporal CLI exists with that kind, and the Temporal CLI really drives a migration with them.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadMigration } from '../src/definition/registry';
import { findTemporalCli } from '../devstack/temporal-cli';
import * as messages from '../src/contract/messages';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createHarness, type Harness } from './helpers/harness';
import { createCountedPosts, slowPostsMigration, writeMigration } from './helpers/fixtures';

const run = promisify(execFile);
const README = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');

test("the README's migration is a valid definition", () => {
  const block = /```ts\n([\s\S]*?defineMigration[\s\S]*?)```/.exec(README)?.[1];
  expect(block).toBeDefined();
  const dir = path.join(__dirname, '..', '.ferry', `readme-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'posts-member-uuid.ts'), block!);
  try {
    const m = loadMigration('posts-member-uuid', dir);
    expect(m.definition.backfill.batchSize).toBe(2000);
    expect(m.definition.contract.after).toBe('7d');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('every handler the README names for the Temporal CLI exists, with that kind', () => {
  const defined = new Map(Object.values(messages).map((d) => [d.name, d.type]));
  const uses = [...README.matchAll(/temporal workflow (signal|update execute|query)\s+-w \S+\s+--name (\w+)/g)];
  expect(uses.length).toBeGreaterThanOrEqual(7);
  for (const [, verb, name] of uses) {
    expect([name, defined.get(name)]).toEqual([name, verb.split(' ')[0]]);
  }
});

describe('the Temporal CLI drives the same handlers', () => {
  let db: TestDatabase;
  let h: Harness;
  let temporal: string;

  beforeAll(async () => {
    db = await createTestDatabase('readme');
    await createCountedPosts(db.pool, 3000);
    h = createHarness(db, {});
    temporal = await findTemporalCli();
    await h.startWorker();
  });

  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  const cli = async (...args: string[]) =>
    JSON.parse((await run(temporal, ['workflow', ...args, '--address', process.env.TEMPORAL_ADDRESS!, '-o', 'json'])).stdout);

  test('pause, query, resume and approve through `temporal workflow`', async () => {
    const name = writeMigration(h, 'via-temporal-cli', slowPostsMigration({ batchSize: 50, pause: '20ms', approval: true }));
    expect((await h.ferry('start', name, '--cool-off', '1s', '--wait-for', 'backfilling')).code).toBe(0);
    const id = `migration/${name}`;
    const paused = await cli('update', 'execute', '-w', id, '--name', 'pause', '--input', '{"by":"ops","reason":"via temporal"}');
    expect(JSON.stringify(paused)).toContain('via temporal');
    const progress = await cli('query', '-w', id, '--name', 'progress');
    expect(JSON.stringify(progress)).toContain('"paused":true');
    await cli('update', 'execute', '-w', id, '--name', 'resume', '--input', '{"by":"ops"}');
    await cli('update', 'execute', '-w', id, '--name', 'approve', '--input', '{"by":"ops"}');
    const done = await h.waitForPhase('via-temporal-cli', 'completed', 90_000);
    expect(done).toMatchObject({ phase: 'completed', approved: { by: 'ops' } });
  }, 120_000);
});
