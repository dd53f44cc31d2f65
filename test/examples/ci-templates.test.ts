/**
 * examples/ci/github-actions.yml and examples/ci/gitlab-ci.yml: valid CI syntax, the same ferry
 * sequence in both, no secret written or echoed, and their shell commands run in order against
 * the local stack (the deploys replaced by a no-op, `npm ci` left to this repository's install,
 * `$FERRY` pointed at bin/ferry.js, the manual approval "clicked") through to `completed`; an
 * aborted migration stops the run before the contract.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createCountedPosts, postColumns, resetCountedPosts, slowPostsMigration, writeMigration } from '../helpers/fixtures';
import { createHarness, type Harness } from '../helpers/harness';
import { githubCommands, gitlabCommands, gitlabJobs, githubJobOrder, runCommands, type CiCommand, type Ran } from './ci-runner';

const ROOT = path.resolve(__dirname, '..', '..');
const GITHUB = fs.readFileSync(path.join(ROOT, 'examples', 'ci', 'github-actions.yml'), 'utf8');
const GITLAB = fs.readFileSync(path.join(ROOT, 'examples', 'ci', 'gitlab-ci.yml'), 'utf8');
const FERRY_HERE = `${process.execPath} ${path.join(ROOT, 'bin', 'ferry.js')}`;
const ROWS = 2000;

type Json = Record<string, unknown>;

/** The commands with `$FERRY` and the migration name abstracted, for comparing the two templates. */
const shape = (commands: CiCommand[]) =>
  commands
    .map((c) => c.command)
    .filter((c) => !c.startsWith('npm ci'))
    .map((c) => c.replace(/\s+#.*$/, '').replace(/ --(by|reason) "[^"]*"/g, ''));

const EXPECTED_SEQUENCE = [
  '$FERRY plan "$MIGRATION" --no-trial',
  '$FERRY start "$MIGRATION" --wait-for expanded',
  './deploy.sh dual-write',
  '$FERRY deployed "$MIGRATION"',
  '$FERRY status "$MIGRATION" --watch --until awaiting-approval',
  './deploy.sh new-shape-only',
  '$FERRY approve "$MIGRATION"',
  '$FERRY status "$MIGRATION" --watch --until completed',
];

describe('syntax and content', () => {
  test('GitHub Actions: on, jobs with runs-on and steps, needs that exist, the approval behind environment protection', () => {
    const wf = parse(GITHUB) as Json;
    expect(wf.on).toHaveProperty('workflow_dispatch');
    const jobs = wf.jobs as Record<string, Json>;
    for (const [name, job] of Object.entries(jobs)) {
      expect([name, typeof job['runs-on']]).toEqual([name, 'string']);
      const steps = job.steps as Json[];
      expect(steps.length).toBeGreaterThan(0);
      for (const step of steps) expect(Number('uses' in step) + Number('run' in step)).toBe(1);
    }
    expect(githubJobOrder(wf)).toEqual(['expand', 'deploy-dual-write', 'backfill', 'deploy-new-shape', 'approve', 'contract']);
    const manual = Object.entries(jobs).filter(([, j]) => j.environment !== undefined);
    expect(manual.map(([name, j]) => [name, j.environment])).toEqual([['approve', 'production-approval']]);
  });

  test('GitLab CI: stages, jobs with stage and script, needs on earlier stages, the approval a blocking manual job', () => {
    const config = parse(GITLAB) as Json;
    const stages = config.stages as string[];
    const jobs = gitlabJobs(config);
    for (const [name, job] of Object.entries(jobs)) {
      expect(stages).toContain(job.stage);
      expect(Array.isArray(job.script) && (job.script as unknown[]).every((l) => typeof l === 'string')).toBe(true);
      for (const need of (job.needs as string[]) ?? []) {
        expect([name, stages.indexOf(jobs[need].stage as string) < stages.indexOf(job.stage as string)]).toEqual([name, true]);
      }
    }
    const manual = gitlabCommands(GITLAB).filter((c) => c.manual);
    expect([...new Set(manual.map((c) => c.job))]).toEqual(['approve']);
    const approveRule = (jobs.approve.rules as Json[])[0];
    expect(approveRule).toMatchObject({ when: 'manual', allow_failure: false });
  });

  test('both run the same sequence: start --wait-for expanded, deploy, deployed, gate, deploy, approve, gate', () => {
    const gh = githubCommands(GITHUB, { secrets: {}, vars: {}, inputs: {} });
    expect(shape(gh)).toEqual(EXPECTED_SEQUENCE);
    expect(shape(gitlabCommands(GITLAB))).toEqual(EXPECTED_SEQUENCE);
    // the approval is the only command behind a person
    expect(shape(gh.filter((c) => c.manual))).toEqual(['$FERRY approve "$MIGRATION"']);
  });

  test('secrets come from the CI secret store, and no command prints them', () => {
    const wf = parse(GITHUB) as { env: Record<string, string> };
    for (const name of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_API_KEY']) expect(wf.env[name]).toBe(`\${{ secrets.${name} }}`);
    expect(wf.env.FERRY).toBe('npx --no-install ferry');
    const gl = parse(GITLAB) as { variables: Record<string, string> };
    expect(Object.keys(gl.variables)).toEqual(['FERRY']); // DATABASE_URL and TEMPORAL_* are CI/CD variables, not in the file
    const all = [...githubCommands(GITHUB, { secrets: {}, vars: {}, inputs: {} }), ...gitlabCommands(GITLAB)].map((c) => c.command);
    for (const command of all) {
      expect(command).not.toMatch(/\$\{\{\s*secrets\./); // only through env, never pasted into a script
      expect(command).not.toMatch(/set -x|printenv|\benv\b|echo .*\$(DATABASE_URL|TEMPORAL_)/);
    }
  });
});

describe('run against the local stack', () => {
  let db: TestDatabase;
  let h: Harness;
  const names: Record<string, string> = {};

  /** A migration that waits for approval after a 1 s cool-off. */
  const source = () => {
    const base = slowPostsMigration({ batchSize: 200, pause: '0ms', approval: true });
    const withCoolOff = base.replace('approval: true }', "approval: true, after: '1s' }");
    expect(withCoolOff).not.toBe(base);
    return withCoolOff;
  };

  beforeAll(async () => {
    db = await createTestDatabase('ci_templates');
    await createCountedPosts(db.pool, ROWS);
    h = createHarness(db, {});
    for (const key of ['github', 'gitlab', 'aborted']) names[key] = writeMigration(h, key, source());
    await h.startWorker();
  });
  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  const ciEnv = (name: string): NodeJS.ProcessEnv => ({
    ...h.env,
    CI: 'true',
    GITHUB_ACTOR: 'octo-ci',
    GITHUB_SHA: 'abc1234',
    GITHUB_RUN_ID: '42',
    GITHUB_REPOSITORY: 'acme/app',
    GITHUB_SERVER_URL: 'https://github.com',
    GITLAB_USER_LOGIN: 'gl-ci',
    CI_PROJECT_PATH: 'acme/app',
    CI_COMMIT_SHORT_SHA: 'abc1234',
    CI_PIPELINE_ID: '7',
    CI_JOB_URL: 'https://gitlab.example/acme/app/-/jobs/9',
    MIGRATION: name,
  });

  const contexts = (name: string) => ({
    secrets: { DATABASE_URL: h.env.DATABASE_URL!, TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS! }, // no TEMPORAL_API_KEY: unset, as locally
    vars: { TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE ?? '' },
    inputs: { migration: name },
  });

  /** Deploys become no-ops; `npm ci` is this repository's install; everything else runs as written. */
  const deploys: string[] = [];
  const substitute = (c: CiCommand) => {
    if (/^npm ci\b/.test(c.command)) return null;
    if (c.command.startsWith('./deploy.sh ')) {
      deploys.push(c.command);
      return 'true';
    }
    return undefined;
  };

  const summary = (ran: Ran[]) => ran.map((r) => `[${r.job}] ${r.command} → ${r.code}\n${r.output}`).join('\n');

  async function expectCompleted(name: string, ran: Ran[]): Promise<void> {
    expect(ran.every((r) => r.code === 0)).toBe(true);
    expect(ran.at(-1)?.command).toMatch(/--until completed/);
    const status = await h.ferry('status', name, '--json');
    expect(JSON.parse(status.stdout).phase).toBe('completed');
    expect(await postColumns(db.pool)).not.toContain('member_id'); // contracted
    expect(ran.map((r) => r.output).join('')).not.toContain(h.env.DATABASE_URL!);
    const history = await h.ferry('history', name);
    expect(history.stdout).toMatch(/approve/);
  }

  test('GitHub Actions: every run step in needs order, through to completed', async () => {
    deploys.length = 0;
    const commands = githubCommands(GITHUB, contexts(names.github));
    const ran = await runCommands(commands, { cwd: ROOT, baseEnv: ciEnv(names.github), overrides: { FERRY: FERRY_HERE }, substitute });
    if (ran.some((r) => r.code !== 0)) throw new Error(summary(ran));
    expect(deploys).toEqual(['./deploy.sh dual-write', './deploy.sh new-shape-only']);
    await expectCompleted(names.github, ran);
  }, 300_000);

  test('GitLab CI: every script line in stages order, the manual job run, through to completed', async () => {
    await resetCountedPosts(db.pool, ROWS);
    deploys.length = 0;
    const ran = await runCommands(gitlabCommands(GITLAB), {
      cwd: ROOT,
      baseEnv: {},
      // CI/CD variables of the project and the pipeline override the file's
      overrides: { ...ciEnv(names.gitlab), FERRY: FERRY_HERE },
      substitute,
    });
    if (ran.some((r) => r.code !== 0)) throw new Error(summary(ran));
    expect(deploys).toEqual(['./deploy.sh dual-write', './deploy.sh new-shape-only']);
    await expectCompleted(names.gitlab, ran);
  }, 300_000);

  test('a migration aborted while the gate waits: the run stops before the contract, and nothing is dropped', async () => {
    await resetCountedPosts(db.pool, ROWS);
    const name = names.aborted;
    const ran = await runCommands(githubCommands(GITHUB, contexts(name)), {
      cwd: ROOT,
      baseEnv: ciEnv(name),
      overrides: { FERRY: FERRY_HERE },
      substitute,
      before: async (c) => {
        if (!c.command.includes('--until awaiting-approval')) return;
        const aborted = await h.ferry('abort', name, '--by', 'oncall', '--reason', 'test', '--rollback');
        expect(aborted.code).toBe(0);
        await h.waitForPhase('aborted', 'aborted');
      },
    });
    const failed = ran.at(-1)!;
    expect(failed.code).not.toBe(0);
    // ferry status --until exits 3 when the migration was aborted; `ferry approve` refuses a closed one
    expect(['backfill', 'approve']).toContain(failed.job);
    if (failed.job === 'backfill') expect(failed.code).toBe(3);
    expect(ran.some((r) => r.job === 'contract')).toBe(false);
    expect(await postColumns(db.pool)).toContain('member_id');
  }, 300_000);
});
