import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { FerryError } from './contract/errors';
import type { HealthKind } from './health/check';

/**
 * Prometheus metrics of the worker. Labels are the migration's name and a fixed set of kinds:
 * never key values, row data or error texts (a label value is a time series of its own).
 */

/** What the backfill records; `createBackfillActivities` takes it through `ActivityDeps.metrics`. */
export interface FerryMetrics {
  /** One committed batch: its rows (scanned), newly failed rows, duration and size. */
  batch(migration: string, b: { rows: number; failedRows: number; seconds: number; size: number }): void;
  /** Time a chunk waited for the database to be healthy, by the kind of signal. */
  throttled(migration: string, kind: HealthKind, seconds: number): void;
  /** What the last verify of a migration counted (before the cool-off, each scheduled re-verify, the contract). */
  verifyWrongRows(migration: string, rows: number): void;
  /**
   * The latency budget after a batch: the canary's p99, the budget, the duty cycle (0..1) and, when
   * the loop has a first stage, how long a transaction may hold its locks (`lockMs`).
   */
  latency(migration: string, l: { p99Ms: number; budgetMs: number; duty: number; lockMs?: number }): void;
  /** The registry the metrics live in. */
  registry: Registry;
}

/** Batch durations a target of 200 ms is judged by: 10 ms .. 30 s. */
const BATCH_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30];

/**
 * Creates the ferry metrics in `registry` (default a new one, so tests and several workers in one
 * process do not clash).
 * @example
 * const metrics = createMetrics();
 * metrics.batch('posts-member-uuid', { rows: 1000, failedRows: 0, seconds: 0.18, size: 1000 });
 */
export function createMetrics(registry = new Registry()): FerryMetrics {
  const registers = [registry];
  const rows = new Counter({
    name: 'ferry_rows_backfilled_total',
    help: 'Rows scanned by committed backfill batches.',
    labelNames: ['migration'],
    registers,
  });
  const failed = new Counter({
    name: 'ferry_failed_rows_total',
    help: 'Rows recorded in ferry.failed_rows and skipped.',
    labelNames: ['migration'],
    registers,
  });
  const duration = new Histogram({
    name: 'ferry_batch_duration_seconds',
    help: 'Duration of committed backfill batches.',
    labelNames: ['migration'],
    buckets: BATCH_BUCKETS,
    registers,
  });
  const size = new Gauge({
    name: 'ferry_batch_size',
    help: 'Rows in the last backfill batch asked for.',
    labelNames: ['migration'],
    registers,
  });
  const throttled = new Counter({
    name: 'ferry_throttled_seconds_total',
    help:
      'Time backfill chunks waited for the database to be healthy, by signal (locks, replica_lag, autovacuum, user_check), ' +
      'or rested for the latency budget (latency).',
    labelNames: ['migration', 'reason_kind'],
    registers,
  });
  const wrong = new Gauge({
    name: 'ferry_verify_wrong_rows',
    help: 'Wrong rows the last verify counted (a scheduled re-verify during the cool-off finding any is drift: a catch-up pass follows).',
    labelNames: ['migration'],
    registers,
  });
  const latency = latencyGauges(registers);
  return {
    registry,
    verifyWrongRows(migration, n) {
      wrong.set({ migration }, n);
    },
    batch(migration, b) {
      rows.inc({ migration }, b.rows);
      if (b.failedRows > 0) failed.inc({ migration }, b.failedRows);
      duration.observe({ migration }, b.seconds);
      size.set({ migration }, b.size);
    },
    throttled(migration, kind, seconds) {
      if (seconds > 0) throttled.inc({ migration, reason_kind: kind }, seconds);
    },
    latency(migration, l) {
      // A failed canary sample makes the p99 infinite: shown as such (Prometheus has +Inf).
      latency.p99.set({ migration }, l.p99Ms / 1000);
      latency.budget.set({ migration }, l.budgetMs / 1000);
      latency.duty.set({ migration }, l.duty);
      if (l.lockMs !== undefined) latency.lock.set({ migration }, l.lockMs / 1000);
    },
  };
}

/**
 * The gauges of `backfill.health.latency`: "throttled: latency p99 4.1 ms > budget 3 ms" is
 * `ferry_latency_p99_seconds` 0.0041 > `ferry_latency_budget_seconds` 0.003, with first
 * `ferry_backfill_transaction_lock_seconds` below `backfill.maxLockMs` (shorter transactions), then
 * `ferry_backfill_duty_cycle` below 1 and `ferry_throttled_seconds_total{reason_kind="latency"}` rising.
 */
function latencyGauges(registers: Registry[]) {
  const gauge = (name: string, help: string) => new Gauge({ name, help, labelNames: ['migration'], registers });
  return {
    p99: gauge(
      'ferry_latency_p99_seconds',
      "p99 of the latency canary over its sliding window: the application's representative read, or the commit probe when it is the worse against its budget.",
    ),
    budget: gauge('ferry_latency_budget_seconds', 'The latency budget the canary p99 is held to (backfill.health.latency).'),
    duty: gauge('ferry_backfill_duty_cycle', 'Share of time the backfill works under its latency budget: 1 is full speed.'),
    lock: gauge(
      'ferry_backfill_transaction_lock_seconds',
      'How long a backfill transaction may hold its row locks under its latency budget: backfill.maxLockMs at full speed, down to 2 ms before the duty cycle falls.',
    ),
  };
}

/** A running `/metrics` server. */
export interface MetricsServer {
  /** The port it listens on (the real one when started on port 0). */
  port: number;
  host: string;
  close(): Promise<void>;
}

/**
 * Serves `registry` at `/metrics` on `host` (default `FERRY_METRICS_HOST`, else 127.0.0.1: the
 * metrics name migrations, so they are not published beyond the machine unless asked).
 * @example const server = await startMetricsServer(9464, metrics.registry); // curl 127.0.0.1:9464/metrics
 */
export async function startMetricsServer(
  port: number,
  registry: Registry,
  host = process.env.FERRY_METRICS_HOST || '127.0.0.1',
): Promise<MetricsServer> {
  const server = http.createServer((req, res) => void serveMetrics(registry, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new FerryError(
          'UNAVAILABLE',
          `cannot serve metrics on ${host}:${port}: ${err.message}; set FERRY_METRICS_PORT to a free port (or FERRY_METRICS_HOST).`,
        ),
      ),
    );
    server.listen(port, host, resolve);
  });
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections(); // a scraper's keep-alive connection must not hold the worker's exit
    });
  return { port: (server.address() as AddressInfo).port, host, close };
}

async function serveMetrics(registry: Registry, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; metrics are at /metrics\n');
    return;
  }
  try {
    const body = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType }).end(body);
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(err as Error).message}\n`);
  }
}

/**
 * The worker's metrics from the environment: none unless `FERRY_METRICS_PORT` is set; then ferry's
 * metrics and Node's process metrics, served on that port.
 * @example const served = await metricsFromEnv(); // { metrics, server } or undefined
 */
export async function metricsFromEnv(env = process.env): Promise<{ metrics: FerryMetrics; server: MetricsServer } | undefined> {
  const text = env.FERRY_METRICS_PORT;
  if (text === undefined || text === '') return undefined;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new FerryError(
      'BAD_INPUT',
      `FERRY_METRICS_PORT "${text}" is not a port; set it to a number 0..65535, or unset it to serve no metrics.`,
    );
  }
  const metrics = createMetrics();
  collectDefaultMetrics({ register: metrics.registry });
  const server = await startMetricsServer(port, metrics.registry, env.FERRY_METRICS_HOST || '127.0.0.1');
  return { metrics, server };
}
