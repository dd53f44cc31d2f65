/**
 * The application load, in a process of its own so that the bench's other work never delays its
 * timers. Requests arrive on a fixed schedule, `ratePerSecond` in all (three point reads by
 * primary key, then one single-row update of `created_at`, a column the backfill does not touch),
 * whether or not earlier ones have finished, and each takes a connection from a pool of
 * `connections`, as a web application's requests do, until the parent says stop or `maxSeconds` pass.
 *
 * Latency is measured from when a request was due if it had to wait for a connection (so a stall
 * counts for every request it delays), and from when it was sent otherwise (so the generator's
 * own timer jitter does not count).
 */
import fs from 'node:fs';
import { Pool } from 'pg';

/** The load's settings, passed as JSON in `FERRY_BENCH_LOAD`. */
export interface LoadConfig {
  url: string;
  rows: number;
  /** The pool's size. */
  connections: number;
  /** Requests per second, all connections together. */
  ratePerSecond: number;
  maxSeconds: number;
  /** Where the samples go when the load stops. */
  out: string;
}

/** One request: epoch ms when it ended, latency as above, service time (connection in hand → answered), 1 for an update. */
export type LoadSample = [endMs: number, latencyMs: number, serviceMs: number, update: 0 | 1];

const READ = 'SELECT id, member_id, member_uuid, body FROM posts WHERE id = $1::bigint';
const UPDATE = 'UPDATE posts SET created_at = now() WHERE id = $1::bigint';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const epochMs = (now: number) => performance.timeOrigin + now;

/** One request, due at `due` (performance.now() time). */
async function request(pool: Pool, config: LoadConfig, n: number, due: number, samples: LoadSample[]): Promise<void> {
  const fired = performance.now();
  const free = pool.idleCount > 0 || pool.totalCount < config.connections;
  const client = await pool.connect();
  const acquired = performance.now();
  try {
    const update = n % 4 === 3;
    await client.query(update ? UPDATE : READ, [1 + Math.floor(Math.random() * config.rows)]);
    const done = performance.now();
    samples.push([epochMs(done), done - (free ? fired : due), done - acquired, update ? 1 : 0]);
  } finally {
    client.release();
  }
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.FERRY_BENCH_LOAD ?? '') as LoadConfig;
  const samples: LoadSample[] = [];
  const pool = new Pool({ connectionString: config.url, max: config.connections, application_name: 'ferry-bench-app' });
  const warm = await Promise.all(Array.from({ length: config.connections }, () => pool.connect()));
  warm.forEach((c) => c.release());
  let running = true;
  process.on('message', (m) => void (m === 'stop' && (running = false)));
  process.send?.('ready');
  const interval = 1000 / config.ratePerSecond;
  const start = performance.now();
  const deadline = start + config.maxSeconds * 1000;
  const inFlight = new Set<Promise<void>>();
  for (let n = 0; running && start + n * interval < deadline; n++) {
    const due = start + n * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const p = request(pool, config, n, due, samples).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await Promise.allSettled(inFlight);
  await pool.end();
  fs.writeFileSync(config.out, JSON.stringify(samples));
  process.send?.('done');
  process.disconnect?.();
}

main().catch((err) => {
  console.error(`bench load: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
