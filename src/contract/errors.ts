/**
 * Typed errors with stable codes. The CLI maps each code to an exit code; activities turn
 * non-retryable codes into `ApplicationFailure.nonRetryable` so Temporal does not retry them.
 */
export type FerryErrorCode =
  | 'INVALID_DEFINITION'
  | 'UNKNOWN_MIGRATION'
  | 'BAD_INPUT'
  | 'CONFLICT'
  | 'NO_PRIMARY_KEY'
  | 'TABLE_NOT_FOUND'
  | 'VERIFY_FAILED'
  | 'TOO_MANY_FAILED_ROWS'
  | 'NOT_FOUND'
  | 'UNAVAILABLE'
  | 'FAILED';

/** Exit codes of the `ferry` CLI: 0 ok, 1 failed, 2 bad input, 3 conflict. */
export const EXIT = { ok: 0, failed: 1, badInput: 2, conflict: 3 } as const;

const EXIT_BY_CODE: Record<FerryErrorCode, number> = {
  INVALID_DEFINITION: EXIT.badInput,
  UNKNOWN_MIGRATION: EXIT.badInput,
  BAD_INPUT: EXIT.badInput,
  NO_PRIMARY_KEY: EXIT.badInput,
  TABLE_NOT_FOUND: EXIT.badInput,
  NOT_FOUND: EXIT.badInput,
  CONFLICT: EXIT.conflict,
  VERIFY_FAILED: EXIT.failed,
  TOO_MANY_FAILED_ROWS: EXIT.failed,
  UNAVAILABLE: EXIT.failed,
  FAILED: EXIT.failed,
};

/** Codes that a retry cannot fix: the definition or the data must change first. */
export const NON_RETRYABLE_CODES: readonly FerryErrorCode[] = [
  'INVALID_DEFINITION',
  'UNKNOWN_MIGRATION',
  'NO_PRIMARY_KEY',
  'TABLE_NOT_FOUND',
  'TOO_MANY_FAILED_ROWS',
  'CONFLICT',
];

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
    return EXIT_BY_CODE[this.code];
  }
}
