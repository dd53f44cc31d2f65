import { cancellationSignal, cancelled, heartbeat } from '@temporalio/activity';
import type { RangeTotals } from '../engine/range-scan';

/**
 * Runs a range scan (verify, the dual-write probe), heartbeating `details(totals)` after each
 * range and every 5 s while a statement runs, and stopping between ranges when the activity is
 * cancelled. Heartbeats carry counts only.
 * @example await scanWithHeartbeat((onRange) => countByRanges(pool, sql, { ...opts, onRange }), (t) => t)
 */
export async function scanWithHeartbeat(
  scan: (onRange: (t: RangeTotals) => Promise<void>) => Promise<RangeTotals>,
  details: (t: RangeTotals) => Record<string, number>,
): Promise<RangeTotals> {
  let last: RangeTotals = { checkedRows: 0, matchedRows: 0, ranges: 0 };
  heartbeat(details(last));
  const timer = setInterval(() => heartbeat(details(last)), 5000);
  try {
    return await scan(async (t) => {
      last = t;
      heartbeat(details(t));
      if (cancellationSignal().aborted) await cancelled();
    });
  } finally {
    clearInterval(timer);
  }
}
