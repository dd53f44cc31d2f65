import type { Pool } from 'pg';
import { withTransaction } from '../pg/transaction';
import { HEALTHY, unhealthy, type HealthCheck, type HealthVerdict } from './check';

/** A check from `backfill.health.checks`: SQL returning one boolean, or a function; true = healthy. */
export type UserCheckDefinition = { name: string; sql?: string; fn?: () => Promise<boolean> | boolean };

/**
 * The author's check. SQL runs in a READ ONLY transaction under `statement_timeout`; either kind
 * must answer a boolean, and anything else (an error, no row, a non-boolean) is unhealthy.
 * @example userCheck({ name: 'business-hours', sql: "SELECT extract(hour FROM now()) NOT BETWEEN 9 AND 17" })
 */
export function userCheck(def: UserCheckDefinition): HealthCheck {
  const label = `check "${def.name}"`;
  return {
    kind: 'user_check',
    label,
    async run(pool: Pool, timeoutMs: number): Promise<HealthVerdict> {
      const answer = def.fn ? await def.fn() : await sqlAnswer(pool, def.sql ?? '', timeoutMs);
      if (typeof answer !== 'boolean') throw new Error(`answered ${describe(answer)}; it must answer one boolean (true = healthy)`);
      return answer ? HEALTHY : unhealthy('user_check', `${label} returned false`);
    },
  };
}

/** The single value the check's SQL returns (undefined when it returns no row). */
async function sqlAnswer(pool: Pool, text: string, timeoutMs: number): Promise<unknown> {
  const result = await withTransaction(pool, (client) => client.query(text), {
    readOnly: true,
    settings: { statement_timeout: `${Math.ceil(timeoutMs)}ms` },
  });
  if (result.rows.length !== 1 || result.fields.length !== 1) {
    throw new Error(
      `returned ${result.rows.length} rows of ${result.fields.length} columns; it must return one row with one boolean column`,
    );
  }
  return result.rows[0][result.fields[0].name];
}

function describe(value: unknown): string {
  return value === null || value === undefined ? String(value) : `a ${typeof value}`;
}
