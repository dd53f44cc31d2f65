/**
 * The transition table (src/contract/phases.ts): its facts, the functions derived from it, and
 * proof that the workflow only makes moves the table has (by its source and by recorded histories).
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  canAbort,
  canFinalize,
  FINAL_PHASES,
  hasReached,
  isFinal,
  isPhase,
  MAIN_PATH,
  PHASES,
  TRANSITIONS,
  transition,
  type Phase,
  type PhaseTarget,
} from '../../src/contract/phases';
import type { MigrationState } from '../../src/contract/migration';
import { enter, IllegalTransitionError } from '../../src/workflows/state';

const ROOT = path.join(__dirname, '..', '..');
const edges = (kind?: string) => TRANSITIONS.filter((t) => kind === undefined || t.kind === kind);
const key = (from: string, to: string) => `${from} → ${to}`;

describe('the table', () => {
  test('every phase appears in it, and every edge names known phases', () => {
    const named = new Set(TRANSITIONS.flatMap((t) => [t.from, t.to]));
    expect([...named].sort()).toEqual([...PHASES].sort());
  });

  test('no edge is listed twice and none loops on itself', () => {
    const keys = TRANSITIONS.map((t) => key(t.from, t.to));
    expect(new Set(keys).size).toBe(keys.length);
    expect(TRANSITIONS.filter((t) => t.from === t.to)).toEqual([]);
  });

  test('the final phases are completed, aborted, failed and cancelled, and have no outgoing edges', () => {
    expect(FINAL_PHASES).toEqual(['completed', 'aborted', 'failed', 'cancelled']);
    for (const p of FINAL_PHASES) expect(TRANSITIONS.filter((t) => t.from === p)).toEqual([]);
    expect(PHASES.filter((p) => !isFinal(p))).toEqual([
      'expanding',
      'awaiting-deploy',
      'backfilling',
      'verifying',
      'cooling-off',
      'awaiting-approval',
      'contracting',
    ]);
  });

  test('the main path: the phases that are not over, then completed', () => {
    expect(MAIN_PATH).toEqual([...PHASES.filter((p) => !isFinal(p)), 'completed']);
  });

  test('abort is legal before the contract only; failure from every phase that is not over', () => {
    expect(PHASES.filter(canAbort)).toEqual([
      'expanding',
      'awaiting-deploy',
      'backfilling',
      'verifying',
      'cooling-off',
      'awaiting-approval',
    ]);
    expect(canAbort('contracting')).toBe(false);
    expect(PHASES.filter((p) => transition(p, 'failed'))).toEqual(PHASES.filter((p) => !isFinal(p)));
  });

  test('Temporal can cancel every phase that is not over', () => {
    expect(PHASES.filter((p) => transition(p, 'cancelled'))).toEqual(PHASES.filter((p) => !isFinal(p)));
  });

  test('finalize is legal while the backfill is ahead or running', () => {
    expect(PHASES.filter(canFinalize)).toEqual(['expanding', 'awaiting-deploy', 'backfilling']);
  });

  test('edges into aborted, failed and cancelled are "end" edges; back edges are catch-ups and the failed-rows hold', () => {
    for (const t of TRANSITIONS) expect(t.kind === 'end').toBe(t.to === 'aborted' || t.to === 'failed' || t.to === 'cancelled');
    expect(edges('back').map((t) => key(t.from, t.to))).toEqual([
      'verifying → backfilling',
      'verifying → awaiting-deploy',
      'contracting → awaiting-approval',
    ]);
  });

  test('forward edges form a path without cycles from expanding to completed', () => {
    // Kahn's algorithm over forward edges: every phase on them gets an order, so there is no cycle.
    const forward = edges('forward');
    const nodes = new Set(forward.flatMap((t) => [t.from, t.to]));
    const indegree = new Map([...nodes].map((n) => [n, forward.filter((t) => t.to === n).length]));
    const order: Phase[] = [];
    const ready = [...nodes].filter((n) => indegree.get(n) === 0);
    while (ready.length) {
      const n = ready.shift() as Phase;
      order.push(n);
      for (const t of forward.filter((e) => e.from === n)) {
        indegree.set(t.to, (indegree.get(t.to) ?? 0) - 1);
        if (indegree.get(t.to) === 0) ready.push(t.to);
      }
    }
    expect(order.length).toBe(nodes.size);
    expect(order[0]).toBe('expanding');
    expect(order[order.length - 1]).toBe('completed');
    for (const p of PHASES.filter((q) => !isFinal(q))) expect(hasReached('completed', p)).toBe(true);
  });
});

describe('hasReached', () => {
  const cases: [Phase, PhaseTarget, boolean][] = [
    ['expanding', 'expanding', true],
    ['expanding', 'expanded', false],
    ['awaiting-deploy', 'expanded', true],
    ['backfilling', 'expanded', true],
    ['completed', 'expanded', true],
    ['backfilling', 'awaiting-deploy', true], // trigger mode skips it, but it lies behind
    ['cooling-off', 'backfilling', true],
    ['contracting', 'awaiting-approval', true], // no approval needed: the path went around it
    ['completed', 'contracting', true],
    ['backfilling', 'verifying', false], // a catch-up after verify has not "reached verifying"
    ['awaiting-deploy', 'backfilling', false], // nor has a wait for a new deploy after a failed probe
    ['verifying', 'cooling-off', false],
    ['awaiting-approval', 'completed', false],
    ['aborted', 'aborted', true],
    ['aborted', 'expanding', false],
    ['aborted', 'expanded', false],
    ['failed', 'backfilling', false],
    ['completed', 'aborted', false],
    ['aborted', 'completed', false],
  ];
  test.each(cases)('hasReached(%s, %s) is %s', (phase, target, want) => {
    expect(hasReached(phase, target)).toBe(want);
  });
});

describe('enter', () => {
  const state = (phase: Phase) => ({ phase }) as MigrationState;

  test('moves along a legal edge', () => {
    const s = state('backfilling');
    enter(s, 'verifying');
    expect(s.phase).toBe('verifying');
  });

  test.each<[Phase, Phase]>([
    ['contracting', 'aborted'],
    ['completed', 'failed'],
    ['expanding', 'cooling-off'],
    ['backfilling', 'backfilling'],
    ['verifying', 'contracting'],
  ])('refuses %s → %s with a plain Error and leaves the phase', (from, to) => {
    const s = state(from);
    expect(() => enter(s, to)).toThrow(IllegalTransitionError);
    expect(() => enter(s, to)).toThrow(`illegal phase transition ${from} → ${to}`);
    expect(s.phase).toBe(from);
  });
});

describe('the workflow makes only moves the table has', () => {
  const source = (file: string) => fs.readFileSync(path.join(ROOT, 'src', 'workflows', file), 'utf8');
  const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

  /** `enter(…, 'to')` calls (both arms of a conditional too; other literals are not phases), by the function they are in. */
  function entersByFunction(text: string): Map<string, string[]> {
    const out = new Map<string, string[]>();
    const parts = text.split(/^(?:export )?(?:async )?function (\w+)/m);
    for (let i = 1; i < parts.length; i += 2) {
      const targets = [...parts[i + 1].matchAll(/enter\([\w.]+, ([^;]+)\);/g)]
        .flatMap((m) => [...m[1].matchAll(/'([a-z-]+)'/g)].map((q) => q[1]))
        .filter(isPhase);
      if (targets.length) out.set(parts[i], targets);
    }
    return out;
  }

  test('no other code in src/workflows assigns state.phase', () => {
    for (const file of fs.readdirSync(path.join(ROOT, 'src', 'workflows'))) {
      const assigns = source(file).match(/\.phase = /g) ?? [];
      expect([file, assigns.length]).toEqual([file, file === 'state.ts' ? 1 : 0]);
    }
  });

  test('each phase function of phases.ts enters only phases its table row allows', () => {
    const found = entersByFunction(source('phases.ts'));
    const moves = [...found].flatMap(([fn, targets]) => targets.map((to) => key(kebab(fn), to)));
    expect(moves.sort()).toEqual(
      [
        'expanding → completed',
        'expanding → backfilling',
        'expanding → awaiting-deploy',
        'awaiting-deploy → backfilling',
        'backfilling → verifying',
        'verifying → cooling-off',
        'verifying → awaiting-deploy',
        'verifying → backfilling',
        'cooling-off → awaiting-approval', // failed rows still fail after the cool-off
        'cooling-off → awaiting-approval',
        'cooling-off → contracting',
        'awaiting-approval → contracting',
        'contracting → awaiting-approval', // failed rows since the approval still fail
        'contracting → completed',
      ].sort(),
    );
    const legal = new Set(TRANSITIONS.map((t) => key(t.from, t.to)));
    for (const move of moves) expect([move, legal.has(move)]).toEqual([move, true]);
  });

  test('the main loop enters aborted only where abort is legal, and failed from any phase', () => {
    const found = entersByFunction(source('migration.ts'));
    expect(Object.fromEntries(found)).toEqual({ abort: ['aborted'], cancelled: ['cancelled'], guarded: ['failed'] });
    // abort() runs when `state.abort && canAbort(state.phase)`; guarded() runs in any phase that is not over.
    expect(source('migration.ts')).toMatch(
      /if \(state\.abort && canAbort\(state\.phase\)\) \{\s*await guarded\(ctx, \(\) => abort\(ctx\)\);/,
    );
    for (const p of PHASES.filter(canAbort)) expect(transition(p, 'aborted')).toBeDefined();
    for (const p of PHASES.filter((q) => !isFinal(q))) expect(transition(p, 'failed')).toBeDefined();
  });

  test('every phase change in the recorded histories is an edge of the table', () => {
    const dir = path.join(ROOT, 'test', 'fixtures', 'histories');
    const seen = new Set<string>();
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      const history = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as { events: Record<string, unknown>[] };
      let last: string | undefined;
      for (const event of history.events) {
        const attrs = (event.workflowExecutionStartedEventAttributes ?? event.upsertWorkflowSearchAttributesEventAttributes) as
          { searchAttributes?: { indexedFields?: Record<string, { data: string }> } } | undefined;
        const field = attrs?.searchAttributes?.indexedFields?.MigrationPhase;
        if (!field) continue;
        const phase = JSON.parse(Buffer.from(field.data, 'base64').toString('utf8')) as Phase;
        if (last !== undefined && last !== phase) {
          seen.add(key(last, phase));
          expect([file, key(last, phase), transition(last as Phase, phase)?.kind]).toEqual([file, key(last, phase), expect.any(String)]);
        }
        last = phase;
      }
    }
    expect(seen.size).toBeGreaterThanOrEqual(8);
  });
});
