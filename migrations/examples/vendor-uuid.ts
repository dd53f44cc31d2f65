/**
 * Seed 000: the integration moves to a new vendor, whose API maps the legacy integer vendor id to
 * a UUID. Ten million rows means ten million API calls: hours of work that must survive deploys,
 * go no faster than the vendor allows, and skip ids the vendor does not know.
 *
 * Before: accounts(id bigserial PRIMARY KEY, legacy_vendor_id int).
 * The worker reads the vendor's address from VENDOR_API_URL (and any key from its environment):
 * nothing secret goes into the migration or the workflow.
 */
import { defineMigration, type Row, type ProcessContext } from 'ferry';

/** Looks one legacy id up; throws for an id the vendor does not know, which isolates that row. */
async function lookUp(legacyId: unknown, signal: AbortSignal): Promise<string> {
  const base = process.env.VENDOR_API_URL;
  if (!base) throw new Error('VENDOR_API_URL is not set on the worker; set it to the vendor API base URL.');
  const res = await fetch(`${base}/vendors/${encodeURIComponent(String(legacyId))}`, { signal });
  if (!res.ok) throw new Error(`vendor API answered ${res.status} for a legacy id`);
  const body = (await res.json()) as { uuid?: string };
  if (!body.uuid) throw new Error('vendor API answered without a uuid');
  return body.uuid;
}

export default defineMigration({
  table: 'accounts',
  expand: {
    up: 'ALTER TABLE accounts ADD COLUMN IF NOT EXISTS vendor_uuid uuid',
    down: 'ALTER TABLE accounts DROP COLUMN IF EXISTS vendor_uuid',
  },
  backfill: {
    where: 'vendor_uuid IS NULL AND legacy_vendor_id IS NOT NULL',
    // Idempotent: a row already done is not selected again, and the UPDATE re-checks it.
    process: async (rows: Row[], ctx: ProcessContext) => {
      for (const row of rows) {
        await ctx.rateLimit();
        const uuid = await lookUp(row.legacy_vendor_id, ctx.signal);
        await ctx.client.query('UPDATE accounts SET vendor_uuid = $1::uuid WHERE id = $2::bigint AND vendor_uuid IS NULL', [uuid, row.id]);
      }
    },
    batchSize: 50,
    rateLimit: { perSecond: 500 },
    maxFailedRows: 100,
  },
  contract: { up: 'ALTER TABLE accounts DROP COLUMN IF EXISTS legacy_vendor_id' },
});
