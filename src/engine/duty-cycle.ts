/**
 * The control loop of a latency budget: the share of time the backfill works (its duty cycle),
 * adjusted by additive increase / multiplicative decrease (AIMD, as TCP adjusts its window) from
 * the canary's verdict after each batch. Over budget: the duty halves (at most once per
 * `holdMs`; and src/engine/latency-control.ts judges only the samples taken since the last halving,
 * so the canary's window, still full of the samples that caused it, does not halve it again and
 * again). Within budget: it grows by `increase` a batch, back to 1 (full speed). The duty
 * scales the next batch's size and sets the rest after it: a batch of `ms` at duty `d` rests
 * `ms × (1 − d) / d`. Pure; time comes in as `now`.
 */

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
}

/** A duty-cycle controller; see the module comment. */
export interface DutyCycle {
  /** The share of time to work, `min..1`. */
  duty(): number;
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
 */
export function dutyCycle(settings: DutyCycleSettings = {}): DutyCycle {
  const s = { min: 0.05, increase: 0.05, decrease: 0.5, holdMs: 1000, maxRestMs: 5000, ...settings };
  let duty = 1;
  let lastDecrease = -Infinity;
  return {
    duty: () => duty,
    lastDecrease: () => lastDecrease,
    update(over, now) {
      if (over === undefined) return;
      if (!over) duty = Math.min(1, duty + s.increase);
      else if (now - lastDecrease >= s.holdMs) {
        duty = Math.max(s.min, duty * s.decrease);
        lastDecrease = now;
      }
    },
    restMs: (batchMs) => (duty >= 1 ? 0 : Math.min(s.maxRestMs, Math.ceil((Math.max(batchMs, 1) * (1 - duty)) / duty))),
  };
}
