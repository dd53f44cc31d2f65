/**
 * Reads the CI templates in examples/ci/ the way their CI would order them, and runs their shell
 * commands here: GitHub Actions jobs in `needs` order and their steps' `run`; GitLab CI jobs in
 * `stages` order (after `extends`) and their `before_script` + `script` lines. `uses:` steps
 * (checkout, setup-node) are the runner's business and are not run.
 */
import { spawn } from 'node:child_process';
import { parse } from 'yaml';

/** One shell command of a template, with the job it belongs to. */
export interface CiCommand {
  job: string;
  command: string;
  /** The job waits for a person: GitHub `environment:` protection or GitLab `when: manual`. */
  manual: boolean;
  /** Environment the template gives it (`${{ ... }}` already replaced by the caller's values). */
  env: Record<string, string>;
}

type Json = Record<string, unknown>;

/** Replaces `${{ context.name }}` with `contexts[context][name]`; anything else is an error. */
function evaluate(value: unknown, contexts: Record<string, Record<string, string>>): string {
  return String(value).replace(/\$\{\{\s*([\w-]+)\.([\w-]+)\s*\}\}/g, (_, ctx: string, name: string) => {
    const found = contexts[ctx];
    if (!found) throw new Error(`the test does not know the context "${ctx}" (in "${value}")`);
    return found[name] ?? ''; // GitHub: an undefined secret or variable is the empty string
  });
}

/** The jobs of a GitHub Actions workflow in an order its `needs` allow (file order among ready ones). */
export function githubJobOrder(workflow: Json): string[] {
  const jobs = workflow.jobs as Record<string, Json>;
  const needs = (name: string) => {
    const n = jobs[name].needs;
    return n === undefined ? [] : Array.isArray(n) ? (n as string[]) : [n as string];
  };
  const order: string[] = [];
  while (order.length < Object.keys(jobs).length) {
    const next = Object.keys(jobs).find((name) => !order.includes(name) && needs(name).every((n) => order.includes(n)));
    if (!next) throw new Error(`jobs ${Object.keys(jobs).filter((j) => !order.includes(j))} wait on each other or on a missing job`);
    order.push(next);
  }
  return order;
}

/** Every `run` of a GitHub Actions workflow, in order, with `env` (workflow, job, step) evaluated. */
export function githubCommands(text: string, contexts: Record<string, Record<string, string>>): CiCommand[] {
  const workflow = parse(text) as Json;
  const jobs = workflow.jobs as Record<string, Json>;
  const envOf = (o: Json | undefined) =>
    Object.fromEntries(Object.entries((o?.env as Json) ?? {}).map(([k, v]) => [k, evaluate(v, contexts)]));
  return githubJobOrder(workflow).flatMap((name) => {
    const job = jobs[name];
    return (job.steps as Json[])
      .filter((step) => step.run !== undefined)
      .map((step) => ({
        job: name,
        command: String(step.run).trim(),
        manual: job.environment !== undefined,
        env: { ...envOf(workflow), ...envOf(job), ...envOf(step) },
      }));
  });
}

const GITLAB_KEYWORDS = [
  'stages',
  'variables',
  'default',
  'workflow',
  'include',
  'image',
  'services',
  'cache',
  'before_script',
  'after_script',
];

/** GitLab jobs with `extends` merged (shallow, as GitLab merges top-level keys). */
export function gitlabJobs(config: Json): Record<string, Json> {
  const resolve = (name: string, seen: string[] = []): Json => {
    if (seen.includes(name)) throw new Error(`extends loop at "${name}"`);
    const job = config[name] as Json | undefined;
    if (!job) throw new Error(`extends: no job "${name}"`);
    const parents = job.extends === undefined ? [] : Array.isArray(job.extends) ? (job.extends as string[]) : [job.extends as string];
    return Object.assign({}, ...parents.map((p) => resolve(p, [...seen, name])), job);
  };
  return Object.fromEntries(
    Object.keys(config)
      .filter((key) => !GITLAB_KEYWORDS.includes(key) && !key.startsWith('.'))
      .map((key) => [key, resolve(key)]),
  );
}

/** Every script line of a GitLab CI file, jobs in `stages` order, with the file's variables. */
export function gitlabCommands(text: string): CiCommand[] {
  const config = parse(text) as Json;
  const stages = config.stages as string[];
  const jobs = gitlabJobs(config);
  const order = Object.keys(jobs).sort((a, b) => stages.indexOf(jobs[a].stage as string) - stages.indexOf(jobs[b].stage as string));
  const globals = (config.variables as Record<string, string>) ?? {};
  const defaults = (config.default as Json) ?? {};
  return order.flatMap((name) => {
    const job = jobs[name];
    const rules = (job.rules as Json[] | undefined) ?? [];
    const manual = job.when === 'manual' || rules.some((r) => r.when === 'manual');
    const env = { ...globals, ...((job.variables as Record<string, string>) ?? {}) };
    const before = (job.before_script ?? defaults.before_script ?? []) as string[];
    return [...before, ...(job.script as string[])].map((command) => ({ job: name, command, manual, env }));
  });
}

/** What one command did. */
export interface Ran {
  job: string;
  command: string;
  code: number;
  output: string;
}

/**
 * Runs `commands` in order with bash (`-eo pipefail`, as both CIs do), each with `baseEnv`, then
 * the template's env, then `overrides`; stops at the first that fails. `substitute` may return a
 * replacement command (e.g. `true` for the deploy) or `null` to leave a command out.
 */
export async function runCommands(
  commands: CiCommand[],
  opts: {
    cwd: string;
    baseEnv: NodeJS.ProcessEnv;
    overrides: NodeJS.ProcessEnv;
    substitute(c: CiCommand): string | null | undefined;
    before?(c: CiCommand): Promise<void>;
  },
): Promise<Ran[]> {
  const ran: Ran[] = [];
  for (const c of commands) {
    const replaced = opts.substitute(c);
    if (replaced === null) continue;
    await opts.before?.(c);
    const env = { ...opts.baseEnv, ...c.env, ...opts.overrides };
    const result = await new Promise<{ code: number; output: string }>((resolve) => {
      const proc = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', replaced ?? c.command], { cwd: opts.cwd, env });
      let output = '';
      proc.stdout.on('data', (d) => (output += d));
      proc.stderr.on('data', (d) => (output += d));
      proc.on('close', (code) => resolve({ code: code ?? -1, output }));
    });
    ran.push({ job: c.job, command: c.command, ...result });
    if (result.code !== 0) break;
  }
  return ran;
}
