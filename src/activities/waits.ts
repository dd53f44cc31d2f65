/**
 * `checkTurn`: may a migration expand now? It waits for the migrations named in its `after`
 * (completed, or a named phase reached), then for any migration started earlier that still runs
 * and whose DDL changes the same table's columns.
 *
 * There is no table of claims: a migration holds its columns exactly while its workflow runs, as
 * Temporal says (describe reads the workflow's own record, not the eventually consistent list).
 * So nothing has to be released when a migration completes, fails, is aborted, cancelled or
 * terminated, and no claim can go stale. Migrations changing the same columns take turns in the
 * order their workflow chains started (the name breaks a tie), which both sides compute alike.
 */
import { getClient } from '@temporalio/activity';
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import type { TurnInput, TurnResult } from '../contract/activities';
import type { Wait } from '../contract/migration';
import { hasReached, isPhase, type PhaseTarget } from '../contract/phases';
import { MigrationPhase } from '../contract/search-attributes';
import type { LoadedMigration } from '../definition/registry';
import { overlap, touchedColumns, type Touch } from '../sql/touches';
import { completedRecord } from '../store/completed';
import { withMigration, type ActivityDeps } from './context';

const idOf = (name: string) => `migration/${name}`; // src/config.ts workflowId, which activities may not import

/**
 * The waits activity.
 * @example Worker.create({ activities: { ...createWaitActivities({ pool, migrations }) } })
 */
export function createWaitActivities(deps: ActivityDeps, client: () => Client = getClient) {
  return {
    /** See `MigrationActivities.checkTurn`. Reads only; safe to run again. */
    async checkTurn(input: TurnInput): Promise<TurnResult> {
      return withMigration(deps, input, async ({ definition }) => {
        const c = client();
        const waits: Wait[] = [];
        for (const dep of definition.after) {
          const wait = await afterWait(deps, c, input.name, dep.name, dep.phase);
          if (wait) waits.push(wait);
        }
        if (waits.length === 0) waits.push(...(await columnWaits(deps, c, input)));
        return { ready: waits.length === 0, waits };
      });
    },
  };
}

/** The wait for `other` to reach `target`, or undefined when it has (or completed long ago). */
async function afterWait(deps: ActivityDeps, c: Client, self: string, other: string, target: PhaseTarget): Promise<Wait | undefined> {
  const what = target === 'completed' ? 'to complete' : `to reach ${target}`;
  const found = await describe(c, idOf(other));
  if (!found || found.type !== 'migrationWorkflow') {
    if (await completedRecord(deps.pool, other)) return undefined; // Temporal forgot it; PostgreSQL remembers
    if (!found)
      return {
        migration: other,
        reason: 'after',
        detail: `migration "${other}" ${what}; it has not been started: run "ferry start ${other}"`,
      };
  }
  const phase = found?.typedSearchAttributes.get(MigrationPhase) ?? 'unknown';
  if (isPhase(phase) && hasReached(phase, target)) return undefined;
  const status = found?.status.name ?? 'UNKNOWN';
  const running = status === 'RUNNING';
  const next = running
    ? ''
    : `; its run ended (${status.toLowerCase()}): start it again ("ferry start ${other}"), or abort this one ("ferry abort ${self}")`;
  return { migration: other, reason: 'after', detail: `migration "${other}" ${what} (it is ${phase})${next}` };
}

/**
 * Migrations that run, started before this one, and change the same columns; skipped: those that
 * wait for this one through `after`, directly or through others (waiting for them would never end).
 * Both sides read the start of each chain's first run from Temporal, so they agree on the order.
 */
async function columnWaits(deps: ActivityDeps, c: Client, input: TurnInput): Promise<Wait[]> {
  const mine = await touchesOf(deps.migrations.get(input.name)!);
  const self = await describe(c, input.workflowId);
  const mineAt = self ? await chainStart(c, self) : Number.POSITIVE_INFINITY;
  const waits: Wait[] = [];
  for (const other of deps.migrations.values()) {
    if (other.name === input.name || waitsFor(deps.migrations, other.name, input.name)) continue;
    const shared = overlap(mine, await touchesOf(other));
    if (shared.length === 0) continue;
    const run = await describe(c, idOf(other.name));
    if (!run || run.status.name !== 'RUNNING') continue;
    const started = await chainStart(c, run);
    if (started > mineAt || (started === mineAt && other.name > input.name)) continue;
    const phase = run.typedSearchAttributes.get(MigrationPhase) ?? 'unknown';
    const cols = shared.map((t) => `${t.table} (${t.columns.join(', ')})`).join(', ');
    waits.push({
      migration: other.name,
      reason: 'columns',
      detail: `migration "${other.name}" to end (it is ${phase}): it started first and also changes ${cols}`,
    });
  }
  return waits;
}

/** Does `from` wait for `to` through `after`, directly or through other migrations? */
function waitsFor(all: Map<string, LoadedMigration>, from: string, to: string): boolean {
  const seen = new Set<string>([from]);
  const todo = [from];
  for (let name = todo.pop(); name !== undefined; name = todo.pop()) {
    for (const dep of all.get(name)?.definition.after ?? []) {
      if (dep.name === to) return true;
      if (seen.has(dep.name)) continue;
      seen.add(dep.name);
      todo.push(dep.name);
    }
  }
  return false;
}

const touchCache = new WeakMap<LoadedMigration['definition'], Promise<Touch[]>>();

/** The tables and columns a migration's DDL changes, parsed once per loaded definition. */
function touchesOf(m: LoadedMigration): Promise<Touch[]> {
  let t = touchCache.get(m.definition);
  if (!t) touchCache.set(m.definition, (t = touchedColumns(m.definition)));
  return t;
}

/** The latest run of a workflow id, or undefined when Temporal has none. */
async function describe(c: Client, id: string): Promise<WorkflowExecutionDescription | undefined> {
  try {
    return await c.workflow.getHandle(id).describe();
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError') return undefined;
    throw err;
  }
}

/** When the run's workflow chain started (its first run: continue-as-new keeps the chain). */
async function chainStart(c: Client, run: WorkflowExecutionDescription): Promise<number> {
  const first = run.raw.workflowExecutionInfo?.firstRunId;
  if (!first || first === run.runId) return run.startTime.getTime();
  const firstRun = await c.workflow
    .getHandle(run.workflowId, first)
    .describe()
    .catch(() => undefined); // past retention: the current run's start is the best left
  return (firstRun ?? run).startTime.getTime();
}
