/**
 * The adaptive batch-size controller, driven by a synthetic cost model: a batch of `n` rows takes
 * `fixed + perRow * n` milliseconds, with deterministic noise.
 */
import { adaptiveBatchSizer, fixedBatchSizer, type BatchSizer } from '../../src/engine/batch-size';
import { backfillTuning } from '../../src/engine/tuning';
import { validateDefinition } from '../../src/definition/define';

/** A deterministic pseudo-random sequence in [0, 1) (an LCG), so the test never flakes. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

/** Runs `batches` batches against the cost model; returns each batch's size and duration. */
function simulate(sizer: BatchSizer, cost: (n: number) => number, batches: number): { size: number; ms: number }[] {
  const trace: { size: number; ms: number }[] = [];
  for (let i = 0; i < batches; i++) {
    const size = sizer.next();
    const ms = cost(size);
    sizer.observe(ms, size, false);
    trace.push({ size, ms });
  }
  return trace;
}

const settings = { start: 1000, targetMs: 200, min: 10, max: 50_000 };

describe('adaptiveBatchSizer', () => {
  it('converges to the target duration on a linear cost model with noise', () => {
    const noise = random(42);
    const cost = (n: number) => (5 + 0.02 * n) * (0.9 + 0.2 * noise()); // 9750 rows take 200 ms
    const trace = simulate(adaptiveBatchSizer(settings), cost, 60);
    const last = trace.slice(-20);
    const meanMs = last.reduce((s, b) => s + b.ms, 0) / last.length;
    expect(meanMs).toBeGreaterThan(170);
    expect(meanMs).toBeLessThan(230);
    for (const b of last) expect(b.size).toBeGreaterThan(7500);
    for (const b of last) expect(b.size).toBeLessThan(12_000);
  });

  it('shrinks towards the target when rows get more expensive', () => {
    let perRow = 0.02;
    const sizer = adaptiveBatchSizer(settings);
    simulate(sizer, (n) => 5 + perRow * n, 40);
    perRow = 0.1; // e.g. the table got busy: 1950 rows now take 200 ms
    const trace = simulate(sizer, (n) => 5 + perRow * n, 40);
    expect(trace[trace.length - 1].ms).toBeGreaterThan(170);
    expect(trace[trace.length - 1].ms).toBeLessThan(230);
  });

  it('aims at a new target: a lower one at once, a higher one batch by batch; converges either way', () => {
    const cost = (n: number) => 0.4 + 0.008 * n; // a transaction: 0.4 ms fixed, 0.008 ms a row
    const sizer = adaptiveBatchSizer({ start: 1000, targetMs: 25, min: 10, max: 50_000 });
    const before = simulate(sizer, cost, 30).slice(-5);
    for (const b of before) expect(b.ms).toBeCloseTo(25, 0);
    sizer.aim?.(1);
    expect(sizer.next()).toBeLessThanOrEqual(Math.round(1 / 0.008)); // at once, at the cost per row it knows
    const small = simulate(sizer, cost, 30).slice(-5);
    for (const b of small) expect(b.size).toBeGreaterThanOrEqual(70); // (1 − 0.4) / 0.008 = 75 rows
    for (const b of small) expect(b.size).toBeLessThanOrEqual(80);
    sizer.aim?.(25);
    const trace = simulate(sizer, cost, 30);
    for (let i = 1; i < trace.length; i++) expect(trace[i].size).toBeLessThanOrEqual(Math.ceil(trace[i - 1].size * 1.5));
    expect(trace[trace.length - 1].ms).toBeCloseTo(25, 0);
  });

  it('grows at most ×1.5 a batch, however cheap the rows', () => {
    const trace = simulate(adaptiveBatchSizer(settings), () => 1, 30);
    for (let i = 1; i < trace.length; i++) expect(trace[i].size).toBeLessThanOrEqual(Math.ceil(trace[i - 1].size * 1.5));
    expect(trace.map((b) => b.size).slice(0, 4)).toEqual([1000, 1500, 2250, 3375]);
    expect(trace[trace.length - 1].size).toBe(50_000); // and stops at max
  });

  it('halves at once on a timeout, and on a batch over twice the target', () => {
    const sizer = adaptiveBatchSizer(settings);
    sizer.observe(2000, 0, true); // lock_timeout: the batch rolled back
    expect(sizer.next()).toBe(500);
    sizer.observe(10, 500, false);
    expect(sizer.next()).toBe(750);
    sizer.observe(450, 750, false); // > 2 × 200 ms
    expect(sizer.next()).toBe(375);
  });

  it('stays within min and max', () => {
    const sizer = adaptiveBatchSizer({ ...settings, start: 40 });
    for (let i = 0; i < 10; i++) sizer.observe(5000, 0, true);
    expect(sizer.next()).toBe(10);
    const trace = simulate(sizer, (n) => 100 * n, 10); // 100 ms a row: even 10 rows are too slow
    expect(trace.every((b) => b.size === 10)).toBe(true);
    expect(adaptiveBatchSizer({ ...settings, start: 1_000_000 }).next()).toBe(50_000);
  });

  it('learns the cost of a row from short batches too (the end of a range, or paced ones)', () => {
    const sizer = adaptiveBatchSizer({ ...settings, start: 100 });
    for (let i = 0; i < 3; i++) sizer.observe(100, 50, false); // 2 ms a row: 100 rows make the target
    expect(sizer.next()).toBe(100);
    sizer.observe(1, 30, false); // a cheap short batch does not swing the median
    expect(sizer.next()).toBe(100);
  });

  it('does not change its state when asked for the next size', () => {
    const sizer = adaptiveBatchSizer(settings);
    sizer.observe(10, 1000, false);
    expect([sizer.next(), sizer.next()]).toEqual([1500, 1500]);
    expect(fixedBatchSizer(7).next()).toBe(7);
  });
});

describe('adaptiveBatchSizer under contention', () => {
  const cost = (n: number) => 5 + 0.007 * n; // ~28,000 rows make the 200 ms target

  /**
   * Batches against `cost` while the application updates `writesPerSec` random rows of a
   * 1M-row table: a batch blocks a session when one of them lands on its rows while it runs.
   */
  function contended(sizer: BatchSizer, batches: number, writesPerSec: number, rnd: () => number) {
    const trace: { size: number; ms: number; blocked: number }[] = [];
    for (let i = 0; i < batches; i++) {
      const size = sizer.next();
      const ms = cost(size);
      const expected = writesPerSec * (ms / 1000) * (size / 1_000_000);
      const blocked = rnd() < 1 - Math.exp(-expected) ? 1 : 0;
      sizer.observe(ms, size, false, blocked);
      trace.push({ size, ms, blocked });
    }
    return trace;
  }

  it('halves at once on a batch that blocked someone and holds a ceiling that relaxes with uncontended time', () => {
    const sizer = adaptiveBatchSizer({ ...settings, start: 20_000, relaxMs: 1000 });
    sizer.observe(100, 20_000, false, 2);
    expect(sizer.next()).toBe(10_000);
    sizer.observe(10, 10_000, false); // cheap: without the ceiling it would grow ×1.5
    expect(sizer.next()).toBeLessThanOrEqual(Math.ceil(10_000 * 2 ** (10 / 1000)));
    for (let i = 0; i < 10; i++) sizer.observe(100, sizer.next(), false); // 1 s uncontended: the ceiling doubles
    expect(sizer.next()).toBeGreaterThan(19_000);
    expect(sizer.next()).toBeLessThanOrEqual(20_200); // 1.01 s of batches: ×2.01
  });

  it('keeps batches short under application writes and grows back to the target after', () => {
    const rnd = random(7);
    const sizer = adaptiveBatchSizer(settings);
    simulate(sizer, cost, 30); // idle: at the target
    expect(sizer.next()).toBeGreaterThan(20_000);
    const busy = contended(sizer, 600, 100, rnd).slice(-300);
    const busyMs = busy.map((b) => b.ms).sort((a, b) => a - b);
    expect(busyMs[Math.floor(busyMs.length / 2)]).toBeLessThan(50); // locks held tens of ms, not 200
    expect(busy.some((b) => b.blocked > 0)).toBe(true);
    const idle = simulate(sizer, cost, 400);
    expect(idle[idle.length - 1].ms).toBeGreaterThan(170);
  });

  it('ignores contention it is not told about (blocked absent or 0)', () => {
    const sizer = adaptiveBatchSizer(settings);
    sizer.observe(20, 1000, false, 0);
    expect(sizer.next()).toBe(1500);
  });
});

describe('backfillTuning', () => {
  const definition = (backfill: Record<string, unknown>) =>
    validateDefinition(
      { table: 't', expand: { up: 'x', down: 'y' }, backfill: { where: 'true', set: 'a = 1', ...backfill }, contract: { up: 'z' } },
      'm',
    ).backfill;

  it('fills in the defaults', () => {
    expect(backfillTuning(definition({}))).toEqual({
      startSize: 1000,
      targetBatchMs: 200,
      maxLockMs: 25,
      minBatchSize: 10,
      maxBatchSize: 50_000,
      lockTimeoutMs: 2000,
      statementTimeoutMs: 5000,
    });
  });

  it('takes the settings, with statement_timeout at ten times the target and bounds widened to batchSize', () => {
    expect(backfillTuning(definition({ targetBatchMs: 1000, batchSize: 5, lockTimeout: '500ms' }))).toMatchObject({
      statementTimeoutMs: 10_000,
      minBatchSize: 5,
      lockTimeoutMs: 500,
    });
    expect(backfillTuning(definition({ batchSize: 100_000, statementTimeout: '30s' }))).toMatchObject({
      maxBatchSize: 100_000,
      statementTimeoutMs: 30_000,
    });
  });

  it('rejects bounds the wrong way round, naming both', () => {
    expect(() => definition({ minBatchSize: 500, maxBatchSize: 100 })).toThrow(
      'minBatchSize (500) must not be greater than maxBatchSize (100)',
    );
    expect(() => definition({ targetBatchMs: 5 })).toThrow('backfill.targetBatchMs: must be at least 10 ms');
  });
});
