/** The bench logs to stderr, so that `--json` leaves stdout to the one JSON object. */
export function log(line: string): void {
  console.error(`\x1b[1mbench:\x1b[0m ${line}`);
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
