/**
 * The phases of a migration and every legal move between them, in ONE table (`TRANSITIONS`).
 * The workflow refuses any move that is not in it (`enter` in src/workflows/state.ts), and every
 * question about phases (has the migration reached X? can it still be aborted? finalized? is it
 * over?) is answered from the table, never from the order of `PHASES`.
 */

/**
 * The phases, main path first; `aborted`, `failed` and `cancelled` end a migration early
 * (`cancelled`: Temporal's cancel request, e.g. the Web UI's Request Cancellation).
 */
export const PHASES = [
  'expanding',
  'awaiting-deploy',
  'backfilling',
  'verifying',
  'cooling-off',
  'awaiting-approval',
  'contracting',
  'completed',
  'aborted',
  'failed',
  'cancelled',
] as const;
export type Phase = (typeof PHASES)[number];

/**
 * What an edge is: `forward` moves along the main path (expand → … → completed); `back` returns
 * to an earlier phase to catch up (wrong rows, a failed probe); `end` stops early (abort, failure).
 * Only forward edges count for `hasReached`.
 */
export type EdgeKind = 'forward' | 'back' | 'end';

/** One legal move. */
export interface Transition {
  from: Phase;
  to: Phase;
  kind: EdgeKind;
}

const edge = (from: Phase, to: Phase, kind: EdgeKind): Transition => ({ from, to, kind });

/**
 * Every legal transition, each with when it happens. Staying in a phase is not a transition: a
 * failed probe in awaiting-deploy waits there for another deploy signal, wrong rows found by the
 * contract's re-verify run a catch-up pass inside contracting, drift found by a scheduled
 * re-verify (`verify.every`) runs a catch-up pass inside cooling-off, a migration waiting for
 * others (`after`, the same table's columns) waits inside expanding before its DDL, and pause
 * holds any phase.
 */
export const TRANSITIONS: readonly Transition[] = [
  // expand ran its additive DDL; dualWrite.by = 'app': wait until the application writes both shapes.
  edge('expanding', 'awaiting-deploy', 'forward'),
  // expand ran and installed ferry's dual-write trigger (dualWrite.by = 'trigger'): no deploy to wait for.
  edge('expanding', 'backfilling', 'forward'),
  // describeTarget found the contract already ran (`ferry.completed_migrations`): Temporal forgot an earlier run.
  edge('expanding', 'completed', 'forward'),
  // the "deployed" signal came and the dual-write probe found no rows written in the old shape only.
  edge('awaiting-deploy', 'backfilling', 'forward'),
  // every partition of the pass is done.
  edge('backfilling', 'verifying', 'forward'),
  // verify found no wrong rows.
  edge('verifying', 'cooling-off', 'forward'),
  // verify found wrong rows and, in app dual-write mode, the re-probe still passes: a catch-up pass.
  edge('verifying', 'backfilling', 'back'),
  // verify found wrong rows and the re-probe failed: the application writes the old shape again;
  // wait for a new deploy, then run a catch-up pass.
  edge('verifying', 'awaiting-deploy', 'back'),
  // the cool-off ended and contract.approval is set.
  edge('cooling-off', 'awaiting-approval', 'forward'),
  // the cool-off ended and no approval is needed.
  edge('cooling-off', 'contracting', 'forward'),
  // `ferry approve` (it may have come during the cool-off).
  edge('awaiting-approval', 'contracting', 'forward'),
  // the contract's re-verify found no wrong rows and contract.up ran.
  edge('contracting', 'completed', 'forward'),
  // recorded failed rows (new since the approval) still fail after a re-run: the approval is
  // withdrawn; fix them, or approve accepting them (`ferry approve --accept-failed-rows`).
  edge('contracting', 'awaiting-approval', 'back'),

  // `ferry abort [--rollback]`, legal until the contract starts (contracting drops the old shape:
  // there is nothing left to abort to). With --rollback, expand.down runs first.
  edge('expanding', 'aborted', 'end'),
  edge('awaiting-deploy', 'aborted', 'end'),
  edge('backfilling', 'aborted', 'end'),
  edge('verifying', 'aborted', 'end'),
  edge('cooling-off', 'aborted', 'end'),
  edge('awaiting-approval', 'aborted', 'end'),

  // an activity failed with a code a retry cannot fix (ERROR_RULES in errors.ts), in any phase
  // that is not over. Other errors, once retries are exhausted, pause the phase instead.
  edge('expanding', 'failed', 'end'),
  edge('awaiting-deploy', 'failed', 'end'),
  edge('backfilling', 'failed', 'end'),
  edge('verifying', 'failed', 'end'),
  edge('cooling-off', 'failed', 'end'),
  edge('awaiting-approval', 'failed', 'end'),
  edge('contracting', 'failed', 'end'),

  // Temporal cancelled the workflow (`temporal workflow cancel`, the Web UI's Request
  // Cancellation), in any phase that is not over: running chunks finish their batch and
  // checkpoint, the schema stays as it is. Next: "ferry abort --rollback" removes what expand
  // added, "ferry start" resumes from the checkpoints.
  edge('expanding', 'cancelled', 'end'),
  edge('awaiting-deploy', 'cancelled', 'end'),
  edge('backfilling', 'cancelled', 'end'),
  edge('verifying', 'cancelled', 'end'),
  edge('cooling-off', 'cancelled', 'end'),
  edge('awaiting-approval', 'cancelled', 'end'),
  edge('contracting', 'cancelled', 'end'),
];

/** What `--wait-for` / `--until` take: a phase, or `expanded` (past expanding). */
export type PhaseTarget = Phase | 'expanded';

/** Is `value` the name of a phase? */
export function isPhase(value: string): value is Phase {
  return (PHASES as readonly string[]).includes(value);
}

/** The transition from `from` to `to`, or undefined when the table has no such edge. */
export function transition(from: Phase, to: Phase): Transition | undefined {
  return TRANSITIONS.find((t) => t.from === from && t.to === to);
}

/**
 * Phases with no way out.
 * @example isFinal('aborted') // true
 */
export function isFinal(phase: Phase): boolean {
  return !TRANSITIONS.some((t) => t.from === phase);
}

/** Phases after which nothing happens any more (derived from the table). */
export const FINAL_PHASES: readonly Phase[] = PHASES.filter(isFinal);

/**
 * Has a migration now in `phase` reached `target`: is `target` that phase, or does it lead to it
 * through forward edges? `expanded` means past expanding. A catch-up after verify (a back edge)
 * has not "reached verifying"; an aborted or failed migration has reached only itself.
 * @example hasReached('cooling-off', 'backfilling') // true
 * @example hasReached('backfilling', 'verifying') // false, even during a catch-up after verify
 * @example hasReached('completed', 'expanded') // true
 */
export function hasReached(phase: Phase, target: PhaseTarget): boolean {
  if (target === 'expanded') return phase !== 'expanding' && hasReached(phase, 'expanding');
  const seen = new Set<Phase>([phase]);
  const todo: Phase[] = [phase];
  for (let p = todo.pop(); p !== undefined; p = todo.pop()) {
    if (p === target) return true;
    for (const t of TRANSITIONS) {
      if (t.to === p && t.kind === 'forward' && !seen.has(t.from)) {
        seen.add(t.from);
        todo.push(t.from);
      }
    }
  }
  return false;
}

/**
 * The main path, in order: every phase a completed migration has passed through (forward edges).
 * @example MAIN_PATH[MAIN_PATH.length - 1] // 'completed'
 */
export const MAIN_PATH: readonly Phase[] = PHASES.filter((p) => hasReached('completed', p));

/**
 * Can an operator abort a migration in this phase (is there an edge to `aborted`)?
 * @example canAbort('contracting') // false
 */
export function canAbort(phase: Phase): boolean {
  return transition(phase, 'aborted') !== undefined;
}

/**
 * Can `ferry finalize` still matter: is the backfill still ahead or running (the phase leads to
 * backfilling through forward edges)?
 * @example canFinalize('awaiting-deploy') // true
 * @example canFinalize('verifying') // false
 */
export function canFinalize(phase: Phase): boolean {
  return hasReached('backfilling', phase);
}

/**
 * What watching a migration until `target` (`ferry status --watch --until`, `ferry start
 * --wait-for`) comes to, from its phase and Temporal's status of its workflow (`RUNNING`,
 * `COMPLETED`, `FAILED`, `CANCELLED`, `TERMINATED`, `TIMED_OUT`, `PAUSED`, …): `reached` (exit 0),
 * `failed` (the migration failed: exit 1), `stopped` (aborted, cancelled or terminated before
 * reaching it: exit 3), or `waiting` (still on its way). Reaching the target wins: a migration
 * that completed has reached every phase of the main path.
 * @example untilOutcome('failed', 'FAILED', 'awaiting-approval') // 'failed'
 * @example untilOutcome('backfilling', 'CANCELLED', 'completed') // 'stopped'
 */
export function untilOutcome(phase: Phase, workflowStatus: string, target: PhaseTarget): 'reached' | 'failed' | 'stopped' | 'waiting' {
  if (hasReached(phase, target)) return 'reached';
  if (hasFailed(phase, workflowStatus)) return 'failed';
  const running = workflowStatus === 'RUNNING' || workflowStatus === 'CONTINUED_AS_NEW' || workflowStatus === 'PAUSED';
  if (isFinal(phase) || !running) return 'stopped';
  return 'waiting';
}

/**
 * Did the migration fail (plain `ferry status` then exits 1)? An aborted or cancelled one did not:
 * an operator stopped it.
 * @example hasFailed('backfilling', 'TIMED_OUT') // true
 */
export function hasFailed(phase: Phase, workflowStatus: string): boolean {
  return phase === 'failed' || workflowStatus === 'FAILED' || workflowStatus === 'TIMED_OUT';
}
