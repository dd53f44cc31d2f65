/**
 * The control loop of a latency budget, in two stages. First the size of its transactions: how
 * long each holds its row locks (`lockMs`, from `backfill.maxLockMs` down to `minLockMs`), with no
 * rest — small transactions committed one after another spare both the application's reads and its
 * commits, where resting after large ones spares only the reads (docs/benchmarks.md, "Why (d)
 * misses"). Then, with transactions at their smallest and still over budget, the share of time the
 * backfill works (its duty cycle), with a rest after each batch.
 *
 * The duty moves by additive increase / multiplicative decrease (AIMD, as TCP adjusts its window),
 * the lock time by multiplicative steps both ways, from the canary's verdict after each batch.
 * Over budget: the lock time halves, then the duty (at most once per `holdMs`;
 * src/engine/latency-control.ts judges only the samples taken since the last decrease, so the
 * canary's window, still full of the samples that caused it, does not halve it again and again).
 * Within budget: the duty grows by `increase` a batch back to 1, then the lock time by a factor of
 * `1 + increase` a batch back to `maxLockMs` (full speed): multiplicative, so that it climbs in
 * fine steps through the few milliseconds where the application feels each one (measured: 1, 1.5,
 * 2 and 3 ms apart, docs/benchmarks.md) and still returns from 2 ms to 25 in about 50 batches. The
 * duty scales the next batch's size and sets the rest after it: a batch of `ms` at duty `d` rests
 * `ms × (1 − d) / d`. Pure; time comes in as `now`.
 */

/**
 * The first stage's floor: 2 ms. Below it a transaction is mostly its fixed cost (~0.5–0.85 ms: the
 * round trip, planning, the commit), so each row costs more commits and WAL flushes. Measured
 * (`engine-sweep.ts --set floor`, three rounds, docs/benchmarks.md): a 1.5 × budget with the floor
 * at 2 ms moved 40,690 rows/s at app p99 ×1.69, at 1 ms 21,504 rows/s at ×1.95.
 */
export const MIN_LOCK_MS = 2;

/** Settings of `dutyCycle`. */
export interface DutyCycleSettings {
  /** The lowest duty (default 0.05): the backfill always moves, so it finishes even under a budget it cannot meet. */
  min?: number;
  /** Added per batch within budget (default 0.05). */
  increase?: number;
  /** Multiplied in when over budget (default 0.5). */
  decrease?: number;
  /** Least time between two decreases (default 1000 ms). */
  holdMs?: number;
  /** Longest rest after one batch (default 5000 ms). */
  maxRestMs?: number;
  /**
   * The first stage's range: transactions of `maxLockMs` (`backfill.maxLockMs`) down to `minLockMs`
   * (default 2: measured gentler than 1 ms at twice the rows/s, see `MIN_LOCK_MS`). Without it, the duty alone.
   */
  lockMs?: { maxLockMs: number; minLockMs?: number };
}

/** A duty-cycle controller; see the module comment. */
export interface DutyCycle {
  /** The share of time to work, `min..1`. */
  duty(): number;
  /** How long a transaction may hold its locks now (`minLockMs..maxLockMs`); undefined without a first stage. */
  lockMs(): number | undefined;
  /** Whether the loop holds the backfill below full speed (smaller transactions or rests). */
  engaged(): boolean;
  /** Feeds the canary's verdict after a batch (undefined: no fresh samples yet, the duty holds). */
  update(over: boolean | undefined, now: number): void;
  /** When the duty was last halved (epoch ms; -Infinity before). */
  lastDecrease(): number;
  /** The rest after a batch of `batchMs` at the current duty. */
  restMs(batchMs: number): number;
}

/**
 * @example
 * const d = dutyCycle();
 * d.update(true, 0); d.duty(); // 0.5
 * d.restMs(100); // 100: work 100 ms, rest 100 ms
 * const t = dutyCycle({ lockMs: { maxLockMs: 25 } });
 * t.update(true, 0); [t.lockMs(), t.duty()]; // [12.5, 1]: smaller transactions first, no rest
 */
export function dutyCycle(settings: DutyCycleSettings = {}): DutyCycle {
  const s = { min: 0.05, increase: 0.05, decrease: 0.5, holdMs: 1000, maxRestMs: 5000, ...settings };
  const maxLock = s.lockMs?.maxLockMs;
  const minLock = Math.min(maxLock ?? MIN_LOCK_MS, s.lockMs?.minLockMs ?? MIN_LOCK_MS);
  let lock = maxLock;
  let duty = 1;
  let lastDecrease = -Infinity;
  const decrease = () => {
    if (lock !== undefined && lock > minLock) lock = Math.max(minLock, lock * s.decrease);
    else duty = Math.max(s.min, duty * s.decrease);
  };
  const increase = () => {
    if (duty < 1 || lock === undefined || maxLock === undefined) duty = Math.min(1, duty + s.increase);
    else lock = Math.min(maxLock, lock * (1 + s.increase));
  };
  return {
    duty: () => duty,
    lockMs: () => lock,
    engaged: () => duty < 1 || lock !== maxLock,
    lastDecrease: () => lastDecrease,
    update(over, now) {
      if (over === undefined) return;
      if (!over) increase();
      else if (now - lastDecrease >= s.holdMs) {
        decrease();
        lastDecrease = now;
      }
    },
    restMs: (batchMs) => (duty >= 1 ? 0 : Math.min(s.maxRestMs, Math.ceil((Math.max(batchMs, 1) * (1 - duty)) / duty))),
  };
}
