/**
 * ferry's error codes, and the ONE table that says for each whether a retry can help and which
 * exit code the CLI gives it. Activities turn a FerryError into a Temporal failure by this table,
 * the workflow's retry policy lists the codes it marks not retryable, and the workflow fails a
 * migration on those and pauses it on any other error once the retries are exhausted.
 */

/** Exit codes of the `ferry` CLI: 0 ok, 1 failed, 2 bad input, 3 conflict. */
export const EXIT = { ok: 0, failed: 1, badInput: 2, conflict: 3 } as const;

/** What a code means for Temporal (retry it?) and for CI (which exit code). */
interface ErrorRule {
  retryable: boolean;
  exit: (typeof EXIT)[keyof typeof EXIT];
}

/**
 * Every code, with why it is (not) retryable. A code absent from this table (a pg error, a
 * network error) is retryable: Temporal retries, then the migration pauses with the error.
 */
export const ERROR_RULES = {
  // The definition is wrong (a field, SQL that PostgreSQL rejects as class 42): fix it and start again.
  INVALID_DEFINITION: { retryable: false, exit: EXIT.badInput },
  // The table or its key is not there: a retry sees the same catalog.
  TABLE_NOT_FOUND: { retryable: false, exit: EXIT.badInput },
  NO_PRIMARY_KEY: { retryable: false, exit: EXIT.badInput },
  // A value ferry was handed is wrong (a duration, a rate, a missing deploy mark): a retry hands it again.
  BAD_INPUT: { retryable: false, exit: EXIT.badInput },
  // A backfill partition without a checkpoint: ferry's tables were changed under it.
  NOT_FOUND: { retryable: false, exit: EXIT.badInput },
  // More failed rows than backfill.maxFailedRows: the data or the definition must change first.
  TOO_MANY_FAILED_ROWS: { retryable: false, exit: EXIT.failed },
  // Another definition under the same name, or a request the migration's phase refuses.
  CONFLICT: { retryable: false, exit: EXIT.conflict },
  // The worker lacks this migration's file, or has another version of it: a rolling deploy may
  // bring the right one, so retry (the CLI's own look-up is a bad name: exit 2).
  UNKNOWN_MIGRATION: { retryable: true, exit: EXIT.badInput },
  SPEC_MISMATCH: { retryable: true, exit: EXIT.conflict },
  // Batches in a row hit lock_timeout/statement_timeout: the blocker may go away.
  BATCH_TIMEOUT: { retryable: true, exit: EXIT.failed },
  // A lock, a connection, a server that did not answer: transient by nature.
  UNAVAILABLE: { retryable: true, exit: EXIT.failed },
  // Wrong rows after verify: the workflow decides (a catch-up pass, then a hold).
  VERIFY_FAILED: { retryable: true, exit: EXIT.failed },
  // Anything else the database refused (not a definition error): worth another attempt.
  FAILED: { retryable: true, exit: EXIT.failed },
} as const satisfies Record<string, ErrorRule>;

/** A code of ferry's own. */
export type FerryErrorCode = keyof typeof ERROR_RULES;

/** The codes a retry cannot fix (the workflow's `nonRetryableErrorTypes`). */
export const NON_RETRYABLE_CODES: readonly FerryErrorCode[] = (Object.keys(ERROR_RULES) as FerryErrorCode[]).filter(
  (code) => !ERROR_RULES[code].retryable,
);

/**
 * Whether a failure of this type is worth retrying; unknown types (errors that are not ferry's) are.
 * @example isRetryable('INVALID_DEFINITION') // false
 */
export function isRetryable(type: string | undefined | null): boolean {
  return type == null || !(type in ERROR_RULES) || ERROR_RULES[type as FerryErrorCode].retryable;
}

/** An error of ferry's own: `message` names the object and the next step. */
export class FerryError extends Error {
  override readonly name = 'FerryError';
  constructor(
    readonly code: FerryErrorCode,
    message: string,
  ) {
    super(message);
  }

  /** The CLI exit code for this error. */
  get exitCode(): number {
    return ERROR_RULES[this.code].exit;
  }

  /** Whether Temporal should retry the activity that threw it. */
  get retryable(): boolean {
    return ERROR_RULES[this.code].retryable;
  }
}
