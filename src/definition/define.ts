import type { PoolClient } from 'pg';
import { z } from 'zod';
import { FerryError } from '../contract/errors';
import { parseDuration } from '../contract/duration';
import { MAIN_PATH, type PhaseTarget } from '../contract/phases';

/** What `process(rows, ctx)` receives besides the rows. */
export interface ProcessContext {
  /** A client inside the batch's transaction: writes commit together with the checkpoint. */
  client: PoolClient;
  /** Logs to the worker's log (never to Temporal's history). */
  log: (message: string, fields?: Record<string, unknown>) => void;
  /** Resolves when the next call is allowed under `backfill.rateLimit`; call it once per external call. */
  rateLimit: () => Promise<void>;
  /**
   * Runs `call`, the external call for `row` (one of the rows `process` got), under the rate
   * limit, at most once per row of the batch: when a failing batch is retried by halves to
   * isolate its bad rows, a row whose call already succeeded gets that result back instead of a
   * second call. A call that throws is not kept (it runs again on the retry).
   * @example const res = await ctx.once(row, () => api.lookup(row.url));
   */
  once: <T>(row: Row, call: () => Promise<T>) => Promise<T>;
  /** Aborted when the worker shuts down or the migration is paused. */
  signal: AbortSignal;
}

/** A row as `pg` returns it. */
export type Row = Record<string, unknown>;

const sqlText = z.string().trim().min(1, 'must not be empty');
const sqlList = z.union([sqlText, z.array(sqlText).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]));
// A duration is text with its unit ('5s', '500ms'); a bare number is refused (5 ms or 5 min?),
// except 0, which means "none".
const duration = z.union([z.string(), z.number()]).superRefine((v, ctx) => {
  if (typeof v === 'number' && v !== 0) {
    ctx.addIssue({ code: 'custom', message: `${v} has no unit; write it like '5s' or '500ms' (a bare number is allowed only as 0)` });
    return;
  }
  try {
    parseDuration(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

/** The most rows a batch may have (`batchSize`, `minBatchSize`, `maxBatchSize`; `ferry generate --batch-size`). */
export const MAX_BATCH_ROWS = 1_000_000;

const batchRows = (what: string) =>
  z
    .number({ message: `must be a number of rows (${what})` })
    .int('must be a whole number of rows')
    .min(1)
    .max(MAX_BATCH_ROWS)
    .optional();

/** A user health check: SQL returning one boolean, or a function; true means healthy. */
const healthCheckSchema = z
  .object({
    name: sqlText,
    sql: sqlText.optional(),
    fn: z
      .custom<() => Promise<boolean> | boolean>((v) => typeof v === 'function', { message: 'must be a function () => Promise<boolean>' })
      .optional(),
  })
  .strict()
  .refine((c) => (c.sql === undefined) !== (c.fn === undefined), {
    message: 'give exactly one of "sql" (a query returning one boolean, true = healthy) or "fn" (async () => boolean)',
  });

/**
 * A latency budget: one probe or two, each run on a connection of its own at a steady rate. The
 * read probe runs the application's own representative read (`query`, read-only); the commit probe
 * (`commit: true`, default false) writes a row of ferry's own (`ferry.latency_probes`) with
 * `synchronous_commit = on` and times the commit, which waits for the WAL flush as the
 * application's writes do (a read does not see the WAL a backfill writes). Give `query`,
 * `commit: true`, or both. With `p99Ms`, each probe's p99 must keep under that same fixed budget;
 * with `ratio`, each under `ratio` × its OWN p99 measured before the backfill's first batch. While
 * any probe does not, the backfill slows down.
 */
const latencyBudgetSchema = z
  .object({
    query: sqlText.optional(),
    commit: z.boolean({ message: "must be true or false (true: also time a commit of ferry's own row)" }).optional(),
    p99Ms: z.number({ message: 'must be a number of milliseconds, e.g. 5' }).positive().max(60_000).optional(),
    ratio: z
      .number({ message: 'must be a factor of the baseline p99, e.g. 1.5' })
      .min(1, 'must be at least 1 (the baseline itself)')
      .max(1000)
      .optional(),
  })
  .strict()
  .refine((b) => b.query !== undefined || b.commit === true, {
    message: 'give "query" (the application\'s representative read), "commit: true" (time a commit), or both',
  })
  .refine((b) => (b.p99Ms === undefined) !== (b.ratio === undefined), {
    message: 'give exactly one of "p99Ms" (a fixed budget, e.g. 5) or "ratio" (× the p99 measured before the backfill, e.g. 1.5)',
  });

/** What the backfill waits for before each batch. */
const healthSchema = z
  .object({
    latency: latencyBudgetSchema.optional(),
    maxReplicaLag: duration.default('5s'),
    maxBlockedBackends: z.number().int().min(0, 'must be 0 or more (0: any backend blocked on the table throttles)').default(0),
    autovacuum: z.boolean().default(true),
    checks: z
      .array(healthCheckSchema)
      .refine((cs) => new Set(cs.map((c) => c.name)).size === cs.length, { message: 'check names must be unique' })
      .default([]),
  })
  .strict();

const backfillSchema = z
  .object({
    where: sqlText,
    set: sqlText.optional(),
    process: z
      .custom<(...args: never[]) => unknown>((v) => typeof v === 'function', { message: 'must be a function (rows, ctx) => Promise<void>' })
      .optional(),
    batchSize: z.number().int().min(1).max(MAX_BATCH_ROWS).default(1000),
    pause: duration.default(0),
    maxFailedRows: z.number().int().min(0).default(100),
    rateLimit: z.object({ perSecond: z.number().positive() }).strict().optional(),
    concurrency: z.number().int().min(1).max(64).default(1),
    targetBatchMs: z
      .number({ message: 'must be a number of milliseconds, e.g. 200' })
      .min(10, 'must be at least 10 ms')
      .max(60_000, 'must be at most 60000 ms; a batch is one transaction and holds its row locks that long')
      .default(200),
    // A batch runs as transactions of about this long, each with its own checkpoint: how long
    // row locks are held, apart from the batch's size (throughput, health checks, heartbeats).
    maxLockMs: z
      .number({ message: 'must be a number of milliseconds, e.g. 25' })
      .min(1, 'must be at least 1 ms')
      .max(60_000, 'must be at most 60000 ms; row locks are held that long')
      .default(25),
    // Default false: the batch transactions commit with synchronous_commit = off (no wait for the
    // WAL flush; safe, the checkpoint commits with its rows). true: as the session's setting says
    // (on unless the database sets it otherwise). See `batchSettings` in src/engine/batch.ts.
    synchronousCommit: z
      .boolean({ message: 'must be false (synchronous_commit = off) or true (commit as the session says)' })
      .default(false),
    minBatchSize: batchRows('default 10'),
    maxBatchSize: batchRows('default 50000'),
    lockTimeout: duration.default('2s'),
    // Default: 10 × targetBatchMs and at least 5 s (filled in below, as it depends on the target).
    statementTimeout: duration.optional(),
    health: healthSchema.default(() => healthSchema.parse({})),
    /** Finish the backfill within this long after it starts, paced for the least load (`ferry start --deadline` overrides). */
    deadline: duration.optional(),
  })
  .strict()
  .refine((b) => (b.set === undefined) !== (b.process === undefined), {
    message: 'give exactly one of "set" (SQL assignments) or "process" (a function)',
  })
  .transform((b) => ({
    ...b,
    // Bounds default to 10 and 50,000 rows, widened to include batchSize.
    minBatchSize: b.minBatchSize ?? Math.min(10, b.batchSize),
    maxBatchSize: b.maxBatchSize ?? Math.max(50_000, b.batchSize),
    // Text with its unit, so that a validated definition validates again (a registry re-checks it).
    statementTimeout: b.statementTimeout ?? `${Math.max(5000, 10 * b.targetBatchMs)}ms`,
  }))
  .refine((b) => b.minBatchSize <= b.maxBatchSize, {
    error: (issue) => {
      const b = issue.input as { minBatchSize: number; maxBatchSize: number };
      return `minBatchSize (${b.minBatchSize}) must not be greater than maxBatchSize (${b.maxBatchSize})`;
    },
    path: ['minBatchSize'],
  });

/**
 * `contract.approval`: `true` (a person approves the contract, anyone who can reach the namespace),
 * `false` (no approval), or who may approve: `{ notBy: 'starter' }` needs a second person,
 * `{ by: ['CN=alice', 'api-key:ci-bot'] }` names the identities allowed (src/contract/approval.ts).
 */
const approvalSchema = z.union([
  z.boolean(),
  z
    .object({
      notBy: z.literal('starter').optional(),
      by: z.array(z.string().trim().min(1)).min(1, 'list at least one identity, e.g. "CN=alice"').optional(),
    })
    .strict(),
]);

/** What `after` names: a migration, and the phase to wait for (default `completed`). */
export type AfterPhase = Exclude<PhaseTarget, 'expanding' | 'aborted' | 'failed' | 'cancelled'>;

/** A phase `after` may name: one of the main path past expanding, or `expanded` (past expanding). */
const AFTER_PHASES = ['expanded', ...MAIN_PATH.filter((p) => p !== 'expanding')] as [AfterPhase, ...AfterPhase[]];

/** `'other-migration'` (wait until it completed) or `{ name, phase }` (until it reached that phase). */
const afterEntry = z.preprocess(
  (v) => (typeof v === 'string' ? { name: v } : v),
  z
    .object({
      name: z.string({ message: 'must name a migration' }).trim().min(1, 'must name a migration'),
      phase: z.enum(AFTER_PHASES, { message: `must be one of ${AFTER_PHASES.join(', ')}` }).default('completed'),
    })
    .strict(),
);

/**
 * One dangerous-DDL check the author overrides (`src/ddl/checks.ts` lists the checks), with why it
 * is safe here; `ferry plan` shows the reason and `ferry start` records it in the audit trail.
 */
const unsafeSchema = z
  .object({
    check: sqlText,
    reason: z
      .string()
      .trim()
      .min(10, 'say why this is safe here (at least 10 characters); it is shown by "ferry plan" and kept in the audit trail'),
  })
  .strict();

export const definitionSchema = z
  .object({
    table: sqlText,
    key: z.array(sqlText).min(1).optional(),
    expand: z.object({ up: sqlList, down: sqlList }).strict(),
    dualWrite: z
      .discriminatedUnion('by', [
        z.object({ by: z.literal('app') }).strict(),
        z.object({ by: z.literal('trigger'), body: sqlText }).strict(),
      ])
      .default({ by: 'app' }),
    backfill: backfillSchema,
    verify: z
      .object({
        where: sqlText.optional(),
        /** Re-verify this often during the cool-off; drift starts a catch-up pass (0: only at the contract). */
        every: duration.default('6h'),
      })
      .strict()
      .default(() => ({ every: '6h' })),
    contract: z.object({ up: sqlList, after: duration.default('7d'), approval: approvalSchema.default(true) }).strict(),
    /** Migrations this one waits for before it expands: completed, or a named phase reached. */
    after: z.array(afterEntry).default([]),
    unsafe: z
      .array(unsafeSchema)
      .refine((list) => new Set(list.map((u) => u.check)).size === list.length, { message: 'each check may be overridden once' })
      // No default: absent stays absent, so that the version 1 spec hash (of the validated definition) does not change.
      .optional(),
  })
  .strict();

/** What a migration author writes; see `defineMigration`. */
export type MigrationDefinitionInput = z.input<typeof definitionSchema> & {
  backfill: { process?: (rows: Row[], ctx: ProcessContext) => Promise<void> };
  /** Migrations to wait for before expand: a name (until it completed) or `{ name, phase }`. */
  after?: (string | { name: string; phase?: AfterPhase })[];
};

/** A validated definition with defaults filled in. */
export type MigrationDefinition = Omit<z.output<typeof definitionSchema>, 'backfill'> & {
  backfill: Omit<z.output<typeof backfillSchema>, 'process'> & {
    process?: (rows: Row[], ctx: ProcessContext) => Promise<void>;
  };
};

/**
 * Declares one migration. The file that default-exports it names the migration
 * (`migrations/posts-member-uuid.ts` → `posts-member-uuid`), and it must not import
 * application models: it runs for days, across deploys of the application.
 *
 * Every phase must be safe to run twice, because a crash can repeat any of them:
 * `expand.up`/`down` and `contract.up` use `IF [NOT] EXISTS`; `backfill.where` selects only rows
 * still to do, so a batch applied again changes nothing; `process` must be idempotent too.
 *
 * @example
 * export default defineMigration({
 *   table: 'posts',
 *   expand: {
 *     up: 'ALTER TABLE posts ADD COLUMN IF NOT EXISTS member_uuid uuid',
 *     down: 'ALTER TABLE posts DROP COLUMN IF EXISTS member_uuid',
 *   },
 *   backfill: {
 *     where: 'member_uuid IS NULL AND member_id IS NOT NULL',
 *     set: 'member_uuid = (SELECT m.uuid FROM members m WHERE m.id = posts.member_id)',
 *   },
 *   contract: { up: 'ALTER TABLE posts DROP COLUMN IF EXISTS member_id', after: '7d' },
 * });
 */
export function defineMigration(input: MigrationDefinitionInput): MigrationDefinition {
  const definition = validateDefinition(input, 'this migration');
  // What the author wrote, for the spec hash (src/definition/spec-hash.ts); not enumerable, so
  // validation and JSON never see it.
  Object.defineProperty(definition, Symbol.for('ferry.definition.input'), { value: input, enumerable: false });
  return definition;
}

/**
 * Validates a definition; throws FerryError INVALID_DEFINITION naming each bad field.
 * @example validateDefinition(require('./migrations/x').default, 'x')
 */
export function validateDefinition(input: unknown, name: string): MigrationDefinition {
  const result = definitionSchema.safeParse(input);
  if (result.success) return result.data as MigrationDefinition;
  const problems = result.error.issues.map((i) => `  - ${i.path.join('.') || '(definition)'}: ${i.message}`);
  throw new FerryError(
    'INVALID_DEFINITION',
    `migration "${name}" is invalid:\n${problems.join('\n')}\nFix the definition and run the command again; nothing was changed.`,
  );
}
