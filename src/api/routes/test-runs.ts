import { z } from 'zod';
import { FAULT_KINDS, SAGA_KINDS, workloadDigest } from '../../chaos/plan';
import { renderReport, type ChaosResult } from '../../chaos/report';
import { IN_PROCESS_FAULTS, type InProcessFault } from '../../chaos/target';
import { type ApiApp, type ApiDeps } from '../context';
import { ApiError } from '../errors';
import { ErrorBodySchema } from '../schemas';
import { testRunUrl, TestRuns, type TestRun, type TestRunKind, type TestRunPools } from '../test-runs';

/** The largest run over HTTP; `txmgr chaos` runs more on its own stack. */
const MAX_SAGAS = 500;

const seed = z
  .number({ error: 'seed must be a whole number' })
  .int('seed must be a whole number')
  .min(0, 'seed must be 0 or more')
  .max(999_999_999, 'seed must be at most 999999999')
  .describe('the same seed plans the same workload and fault schedule');
const sagas = z
  .number({ error: 'sagas must be a whole number' })
  .int('sagas must be a whole number')
  .min(7, 'sagas must be at least 7 (every plan holds a deposit and six 2pc transactions)')
  .max(MAX_SAGAS, `sagas must be at most ${MAX_SAGAS} over HTTP (txmgr chaos runs more on its own stack)`)
  .describe('how many sagas to run (a crossing pair of orders may add one)');

const LoadBody = z.object({ seed, sagas }).strict();
const ChaosBody = z
  .object({
    seed,
    sagas,
    faults: z
      .array(z.enum(IN_PROCESS_FAULTS, { error: `a fault must be one of ${IN_PROCESS_FAULTS.join(', ')}` }))
      .min(1, 'faults must name at least one fault (a run without faults is POST /test/load)')
      .max(IN_PROCESS_FAULTS.length, `faults may name each of ${IN_PROCESS_FAULTS.join(', ')} once`)
      .refine((f) => new Set(f).size === f.length, 'faults must not name a fault twice')
      .optional()
      .describe(`the in-process faults to inject; default all: ${IN_PROCESS_FAULTS.join(', ')}`),
  })
  .strict();

const RunParams = z.object({ id: z.string().regex(/^[0-9a-f]{12}$/, 'id must be a test run id (12 hex digits)') }).strict();

const Report = z.object({
  workloadDigest: z.string(),
  sagasPlanned: z.number(),
  sagas: z.number().describe('sagas the run started'),
  sagasByKind: z.array(
    z.object({
      kind: z.enum(SAGA_KINDS),
      outcome: z.string().describe("the saga's outcome: its result's status, or failed:<type>"),
      expected: z.string().describe('the outcome its inputs call for'),
      asExpected: z.enum(['yes', 'allowed', 'no']).describe('allowed: a 2pc rolled back at its deadline, nothing applied'),
      count: z.number(),
    }),
  ),
  faultsInjected: z.array(
    z.object({
      kind: z.enum(FAULT_KINDS),
      plannedMs: z.number(),
      startedMs: z.number(),
      durationMs: z.number(),
      detail: z.string(),
    }),
  ),
  faultsSkipped: z.array(z.object({ kind: z.enum(FAULT_KINDS), plannedMs: z.number(), reason: z.string() })),
  violations: z.array(z.string()),
  notes: z.array(z.string()),
  setupMs: z.number(),
  loadMs: z.number(),
  drainMs: z.number().describe('time to drain: after the load until every saga was terminal'),
  totalMs: z.number(),
  markdown: z.string().describe('the report as txmgr chaos writes it'),
});

const RunView = z.object({
  id: z.string(),
  kind: z.enum(['load', 'chaos']),
  state: z.enum(['running', 'passed', 'failed']),
  seed: z.number(),
  sagas: z.number().describe('as requested'),
  faults: z.array(z.enum(IN_PROCESS_FAULTS)).describe('the in-process faults asked for; none for a load run'),
  statusUrl: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  progress: z.object({
    phase: z.enum(['setup', 'load', 'drain', 'verify', 'done']),
    sagasPlanned: z.number(),
    sagasStarted: z.number(),
    sagasEnded: z.number().describe('counted by the drain'),
    faultsPlanned: z.number(),
    faultsInjected: z.number(),
  }),
  error: z.string().nullable().describe('why a run ended without its checks (its set-up failed)'),
  report: Report.nullable().describe('once the run has ended'),
});

function reportOf(r: ChaosResult): z.infer<typeof Report> {
  const groups = new Map<string, z.infer<typeof Report>['sagasByKind'][number]>();
  for (const rec of r.records) {
    const outcome = rec.observed ?? 'never';
    const asExpected = outcome === rec.expected ? 'yes' : outcome === rec.alsoAllowed ? 'allowed' : 'no';
    const key = `${rec.kind}|${outcome}|${rec.expected}|${asExpected}`;
    const g = groups.get(key) ?? { kind: rec.kind, outcome, expected: rec.expected, asExpected, count: 0 };
    g.count++;
    groups.set(key, g);
  }
  return {
    workloadDigest: workloadDigest(r.plan),
    sagasPlanned: r.plan.sagas,
    sagas: r.records.length,
    sagasByKind: [...groups.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, g]) => g),
    faultsInjected: r.faults,
    faultsSkipped: r.skipped ?? [],
    violations: r.violations,
    notes: r.notes,
    setupMs: r.setupMs,
    loadMs: r.loadMs,
    drainMs: r.drainMs,
    totalMs: r.totalMs,
    markdown: renderReport(r),
  };
}

function viewOf(run: TestRun): z.infer<typeof RunView> {
  const p = run.progress;
  return {
    id: run.id,
    kind: run.kind,
    state: run.state,
    seed: run.seed,
    sagas: run.sagas,
    faults: run.faults,
    statusUrl: testRunUrl(run.id),
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt?.toISOString() ?? null,
    progress: {
      phase: p.phase,
      sagasPlanned: p.sagasPlanned,
      sagasStarted: p.records.length,
      sagasEnded: p.records.filter((r) => r.observed !== undefined).length,
      faultsPlanned: p.faultsPlanned,
      faultsInjected: p.faults.length,
    },
    error: run.error ?? null,
    report: run.result ? reportOf(run.result) : null,
  };
}

/**
 * The test routes (TXMGR_API_TEST_ROUTES=on): POST /test/load and /test/chaos run `txmgr chaos`'s
 * workload on this server's own stack, in the background, one at a time; GET /test/runs/{id}
 * reports on a run.
 */
export function testRunRoutes(app: ApiApp, deps: ApiDeps, o: { siphonWorkflowId?: string; pools?: TestRunPools } = {}): void {
  const runs = new TestRuns(deps, o);
  app.addHook('onClose', () => runs.stop());
  const responses = { 202: RunView, 409: ErrorBodySchema, 422: ErrorBodySchema, 503: ErrorBodySchema };
  const start = (kind: TestRunKind, body: { seed: number; sagas: number; faults?: InProcessFault[] }) =>
    runs.start(kind, {
      seed: body.seed,
      sagas: body.sagas,
      faults: body.faults ?? (kind === 'load' ? [] : [...IN_PROCESS_FAULTS]),
    });

  app.post(
    '/test/load',
    {
      config: { scope: 'admin' },
      schema: {
        summary: "txmgr chaos's workload on this server's stack, without faults; 202 with the run's URL",
        body: LoadBody,
        response: responses,
      },
    },
    async (request, reply) => {
      const run = await start('load', request.body);
      request.auditTarget = `test run ${run.id}`;
      return reply.code(202).header('location', testRunUrl(run.id)).send(viewOf(run));
    },
  );

  app.post(
    '/test/chaos',
    {
      config: { scope: 'admin' },
      schema: {
        summary:
          "txmgr chaos's workload on this server's stack, with the faults a client can inject (sessions terminated, chain faults); 202 with the run's URL",
        body: ChaosBody,
        response: responses,
      },
    },
    async (request, reply) => {
      const run = await start('chaos', request.body);
      request.auditTarget = `test run ${run.id}`;
      return reply.code(202).header('location', testRunUrl(run.id)).send(viewOf(run));
    },
  );

  app.get(
    '/test/runs/:id',
    {
      config: { scope: 'read' },
      schema: {
        summary: "a test run's state (running, passed, failed), progress and, once ended, its report",
        params: RunParams,
        response: { 200: RunView, 404: ErrorBodySchema, 422: ErrorBodySchema },
      },
    },
    async (request) => {
      const run = runs.get(request.params.id);
      if (!run) {
        throw new ApiError(
          404,
          'NotFound',
          `no test run ${request.params.id} on this server (runs are kept in its memory, the last 20)`,
          'id',
        );
      }
      return viewOf(run);
    },
  );
}
