/**
 * Why a ferry batch runs as statements of at most `SET_STATEMENT_ROWS` rows: the hand loop's
 * batch statement (scripts/bench/methods.ts) on fresh copies of one generated table, one row
 * count per run, side by side, then transactions of several such statements.
 *
 *   npx tsx scripts/bench/statement-size.ts [--rows 1000000] [--repeat 2]
 *
 * Prints rows/s per variant (the median of the repeats) and its ratio to 2,000-row statements.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { SET_STATEMENT_ROWS } from '../../src/engine/set-mode';
import { ensurePostgres } from '../../devstack/postgres';
import { createTemplate, dropDatabases, freshCopy } from './databases';
import { HAND_LOOP_BATCH } from './methods';
import { median } from './stats';

/** A transaction of `rows` rows, as statements of at most `perStatement` rows. */
interface Variant {
  label: string;
  rows: number;
  perStatement: number;
}

const VARIANTS: Variant[] = [
  ...[2000, 5000, 10_000, 20_000, 30_000].map((n) => ({ label: `${n} rows, 1 statement`, rows: n, perStatement: n })),
  ...[20_000, 30_000].map((n) => ({
    label: `${n} rows, ${n / SET_STATEMENT_ROWS} statements`,
    rows: n,
    perStatement: SET_STATEMENT_ROWS,
  })),
];

/** Runs the whole table in transactions of `v.rows`; answers rows per second. */
async function runVariant(url: string, v: Variant): Promise<number> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    let last = '0';
    let scanned = 0;
    let done = false;
    const t0 = performance.now();
    while (!done) {
      await db.query('BEGIN');
      for (let n = 0; n < v.rows && !done; n += v.perStatement) {
        const r = (await db.query(HAND_LOOP_BATCH, [last, v.perStatement])).rows[0];
        scanned += r.scanned;
        done = r.scanned < v.perStatement;
        last = r.last_id ?? last;
      }
      await db.query('COMMIT');
    }
    return scanned / ((performance.now() - t0) / 1000);
  } finally {
    await db.end();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000000' }, repeat: { type: 'string', default: '2' } } });
  const rows = Number(values.rows);
  const repeat = Number(values.repeat);
  const stack = await ensurePostgres({ stateDir: process.env.FERRY_STATE_DIR ?? path.resolve(__dirname, '../../.ferry') });
  const stamp = `ferry_stmt_${Date.now()}`;
  const made = [`${stamp}_template`];
  const rates = new Map<string, number[]>(VARIANTS.map((v) => [v.label, []]));
  try {
    await createTemplate(stack.url, made[0], rows);
    for (let r = 0; r < repeat; r++) {
      for (const [i, v] of VARIANTS.entries()) {
        const name = `${stamp}_${r}_${i}`;
        made.push(name);
        rates.get(v.label)!.push(await runVariant(await freshCopy(stack.url, made[0], name), v));
        await dropDatabases(stack.url, [name]);
      }
    }
  } finally {
    await dropDatabases(stack.url, made);
    await stack.stop();
  }
  const base = median(rates.get(VARIANTS[0].label)!);
  console.log(`${rows.toLocaleString('en-US')} rows, median of ${repeat} runs each:`);
  for (const v of VARIANTS) {
    const rate = median(rates.get(v.label)!);
    console.log(`  ${v.label.padEnd(28)} ${Math.round(rate).toLocaleString('en-US').padStart(9)} rows/s  ×${(rate / base).toFixed(3)}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
