/**
 * Who approved is proven, not typed: on the production-shaped Temporal with mTLS required, the
 * CLI runs as alice, bob and carol, each with a client certificate of their own, configured only
 * through TEMPORAL_* (test/helpers/production-temporal.ts). The migration says
 * `contract.approval: { notBy: 'starter', by: ['CN=alice', 'CN=bob'] }`: alice starts it and may
 * not approve it, whatever `--by` she types; carol is not listed; bob's approval goes through.
 * `ferry history` and Temporal's own history show the certificates' subjects.
 */
import { Client } from '@temporalio/client';
import { postsEndState } from '../helpers/faults';
import { slowPostsMigration, writeMigration } from '../helpers/fixtures';
import { runFerry } from '../helpers/harness';
import { productionTest, useProductionTemporal } from '../helpers/production-temporal';

const ROWS = 500;
const prod = useProductionTemporal({ database: 'approval_identity', rows: ROWS, harnessAs: 'ferry-worker' });

/** The CLI as `cn`: the harness's env with that person's certificate. */
const as = (cn: string, ...args: string[]) => runFerry(args, { ...prod.h.env, ...prod.t.env(cn) });

productionTest(
  'under mTLS: the starter may not approve, an unlisted person may not, a listed second person may; the subjects are recorded',
  async () => {
    const source = slowPostsMigration({ batchSize: 100, pause: '5ms' }).replace(
      'approval: false',
      "approval: { notBy: 'starter', by: ['CN=alice', 'CN=bob'] }",
    );
    const name = writeMigration(prod.h, 'two-people', source);
    await prod.h.startWorker();
    expect(await as('alice', 'start', name, '--wait-for', 'expanded', '--cool-off', '1s')).toMatchObject({ code: 0 });
    expect((await prod.h.waitForPhase('two-people', 'awaiting-approval', 180_000)).phase).toBe('awaiting-approval');

    const byAlice = await as('alice', 'approve', name, '--by', 'bob'); // typing another name changes nothing
    expect(byAlice.code).toBe(3);
    expect(byAlice.stderr).toContain(
      `migration "${name}" was started by "CN=alice", and contract.approval.notBy "starter" needs a second person`,
    );
    const byCarol = await as('carol', 'approve', name);
    expect(byCarol.code).toBe(3);
    expect(byCarol.stderr).toContain(
      `"CN=carol" may not approve migration "${name}": contract.approval.by allows only "CN=alice", "CN=bob"`,
    );
    const audit = JSON.parse((await as('bob', 'history', name, '--json')).stdout) as { action: string }[];
    expect(audit.map((e) => e.action)).not.toContain('approved'); // refusals record nothing

    expect(await as('bob', 'approve', name, '--by', 'bob', '--reason', 'reviewed')).toMatchObject({ code: 0 });
    expect(await prod.h.waitForPhase('two-people', 'completed', 120_000)).toMatchObject({ phase: 'completed', rowsDone: ROWS });
    expect(await postsEndState(prod.db.pool, name, ROWS)).toEqual({ rowsWrong: 0, rowsTwice: 0, rowsLost: 0, failedRows: 0 });

    const trail = JSON.parse((await as('carol', 'history', name, '--json')).stdout) as { action: string; by: string; identity?: string }[];
    expect(trail).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: 'started', identity: 'CN=alice' }),
        expect.objectContaining({ action: 'approved', by: 'bob', identity: 'CN=bob' }),
      ]),
    );
    expect((await as('carol', 'history', name)).stdout).toMatch(/approved\s+bob \[CN=bob\]/);

    // Temporal's own history shows the same identities: the client's `identity` is the subject.
    const connection = await prod.t.connect('auditor');
    try {
      const history = await new Client({ connection, namespace: prod.t.namespace }).workflow.getHandle(`migration/${name}`).fetchHistory();
      const events = history.events ?? [];
      expect(events[0].workflowExecutionStartedEventAttributes?.identity).toBe('CN=alice');
      const accepted = events.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
      expect(accepted.map((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.meta?.identity)).toEqual(['CN=bob']);
      // Neither a key nor a certificate travels with the identity.
      const text = JSON.stringify(history, (key, v) =>
        key === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v,
      );
      expect(text).toContain('reviewed'); // payloads decoded: bob's --reason
      expect(text).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    } finally {
      await connection.close();
    }
  },
  600_000,
);
