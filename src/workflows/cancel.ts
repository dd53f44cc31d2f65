/**
 * Temporal's cancel request (`temporal workflow cancel`, the Web UI's Request Cancellation). Runs
 * that recorded the `handle-cancellation` patch end in phase `cancelled` with the schema as it is;
 * runs from before it replay as they ran (the cancellation turned into a pause, then ended the run).
 */
import { isCancellation, patched } from '@temporalio/workflow';

/** The patch id of cancellation handling (0.2). */
export const CANCELLATION_PATCH = 'handle-cancellation';

/**
 * Is `err` Temporal's cancellation, to be handled as such (not as an error that pauses)? Records
 * the patch marker the first time it answers for a new run.
 */
export function handlesCancellation(err: unknown): boolean {
  return isCancellation(err) && patched(CANCELLATION_PATCH);
}
