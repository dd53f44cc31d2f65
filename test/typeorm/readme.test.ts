/**
 * The README's "With TypeORM" cannot rot: its shell block runs as written in a copy of the example
 * application (after the entity change it names), the class it shows is the one `ferry generate`
 * writes, its subscriber is the example's, and its DataSource setting is the example's. The
 * migration's name gets a unique suffix, as the harness does for the example migrations, so that
 * workflow ids never clash.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { FAST_ENV } from '../helpers/harness';
import { appEnv, childEnv, copyApp, EXAMPLE_APP, ferryIn, ROOT, typeorm, type Run } from './app';

const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const SECTION = README.slice(README.indexOf('## With TypeORM'), README.indexOf('\n## ', README.indexOf('## With TypeORM') + 1));
const blocks = (lang: string) => [...SECTION.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
const NAME = `users-v2-${randomBytes(3).toString('hex')}`;

let db: TestDatabase;
let app: ReturnType<typeof copyApp>;
let env: NodeJS.ProcessEnv;
const background: ReturnType<typeof spawn>[] = [];

beforeAll(async () => {
  db = await createTestDatabase('typeorm_readme', { store: false });
  app = copyApp('typeorm-readme');
  env = childEnv({ ...appEnv(db), ...FAST_ENV, FERRY_TASK_QUEUE: `ferry-${NAME}`, FERRY_USER: 'jest' });
  expect((await typeorm(app.dir, env, 'migration:run', '-d', 'src/data-source.ts')).code).toBe(0);
  await db.pool.query(`INSERT INTO users (email, full_name) SELECT 'u' || g, 'User ' || g FROM generate_series(1, 500) g`);
});

afterAll(async () => {
  await ferryIn(app.dir, env, 'abort', NAME, '--rollback').catch(() => undefined);
  for (const p of background) p.kill('SIGKILL');
  app?.remove();
  await db?.drop();
});

/** One line of the block, with `npx ferry` and TypeORM's CLI pointing into this repository. */
function command(line: string): string {
  return line
    .replace(/\s+#\s.*$/, '')
    .replace(/^npx ferry /, `node ${path.join(ROOT, 'bin', 'ferry.js')} `)
    .replace(' node_modules/typeorm/cli.js ', ` ${path.join(ROOT, 'node_modules', 'typeorm', 'cli.js')} `)
    .replaceAll('users-v2', NAME);
}

function bash(line: string): Promise<Run> {
  return new Promise((resolve) => {
    const proc = spawn('bash', ['-c', line], { cwd: app.dir, env });
    background.push(proc); // killed by afterAll if the test times out while it runs
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

test("the DataSource setting and the subscriber are the example app's", () => {
  const [dataSource, , subscriber] = blocks('ts');
  expect(dataSource).toContain("migrationsTransactionMode: 'each'");
  expect(fs.readFileSync(path.join(EXAMPLE_APP, 'src', 'data-source.ts'), 'utf8')).toContain("migrationsTransactionMode: 'each',");
  expect(subscriber).toBe(fs.readFileSync(path.join(EXAMPLE_APP, 'changes', 'UserDualWrite.ts'), 'utf8'));
});

test('the shell block runs as written: generate, plan, typeorm migration:run, status, approve', async () => {
  fs.copyFileSync(path.join(app.dir, 'changes', 'User.after.ts'), path.join(app.dir, 'src', 'entities', 'User.ts'));
  const [sh] = blocks('sh');
  const outputs: string[] = [];
  for (const raw of sh.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'))) {
    const line = command(raw);
    const exported = /^export (\w+)=(\S+)/.exec(line);
    if (exported) {
      env[exported[1]] = exported[2];
      continue;
    }
    if (line.trim().endsWith('&')) {
      const proc = spawn('bash', ['-c', `exec ${line.trim().slice(0, -1)}`], { cwd: app.dir, env });
      let out = '';
      proc.stdout!.on('data', (d) => (out += d));
      background.push(proc);
      for (const deadline = Date.now() + 90_000; !out.includes('ferry worker:') && Date.now() < deadline;)
        await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    const started = Date.now();
    const r = await bash(line);
    console.log(`${raw}\n  exit ${r.code} in ${Date.now() - started} ms`); // on a loaded machine: which step took the time
    expect([raw, r.code, r.stderr]).toEqual([raw, 0, '']);
    outputs.push(r.stdout);
  }
  const [generated, , run, status, approved] = outputs; // the worker's line is not among them
  expect(generated).toContain(`wrote ${path.join(app.dir, 'migrations', `${NAME}.ts`)}`);
  expect(run).toMatch(new RegExp(`ferry: migration ${NAME} is now (backfilling|verifying|cooling-off)`));
  expect(status).toMatch(/backfilling|verifying|cooling-off/);
  expect(approved).toContain('approve accepted');

  // The class the README shows is the one generate wrote (its timestamp aside).
  const [, shown] = blocks('ts');
  const file = fs.readdirSync(path.join(app.dir, 'src', 'migrations')).find((f) => /^\d{13}-UsersV2/.test(f))!;
  const written = fs.readFileSync(path.join(app.dir, 'src', 'migrations', file), 'utf8').replaceAll(file.slice(0, 13), '1732900000000');
  expect(written).toBe(
    shown
      .replaceAll("'users-v2'", `'${NAME}'`)
      .replaceAll('UsersV2', `UsersV2${NAME.slice('users-v2-'.length).replace(/^./, (c) => c.toUpperCase())}`),
  );
}, 400_000);
