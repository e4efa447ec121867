import { z } from 'zod';
import { recoveryRun, recoveryStatus } from '../../client/transactions';
import { SAGA_STATUS } from '../../temporal/search-attributes';
import { retryCompensationSignal } from '../../workflows';
import { type ApiApp, type ApiDeps } from '../context';
import { ErrorBodySchema } from '../schemas';

const MAX_SAGAS = 500;

const StuckSaga = z.object({ workflowId: z.string(), workflowType: z.string(), startedAt: z.string() });
const InDoubt = z.object({
  gid: z.string(),
  resource: z.enum(['ledger', 'custody']),
  database: z.string(),
  preparedAt: z.string(),
  ageSeconds: z.number(),
  transactionId: z.string().optional(),
  workflowId: z.string().optional(),
  decision: z.enum(['commit', 'rollback']).optional().describe("the coordinating workflow's recorded decision"),
  deadlineAt: z.string().optional(),
  workflowRunning: z.boolean().optional(),
  action: z.enum(['commit', 'rollback', 'wait']),
  reason: z.string(),
});
const Resolved = InDoubt.extend({
  outcome: z.enum(['committed', 'rolled back', 'left', 'failed']),
  error: z.string().optional(),
});
const TriggerResult = z.object({
  at: z.string(),
  sagasSignalled: z.array(z.string()),
  sagasFailed: z.array(z.object({ workflowId: z.string(), error: z.string() })),
  prepared: z
    .array(Resolved)
    .describe(
      'in-doubt prepared transactions: committed or rolled back from their decision; orphans and expired ones rolled back',
    ),
});
const StatusResponse = z.object({
  compensationFailed: z.array(StuckSaga).describe('sagas of this task queue parked in COMPENSATION_FAILED'),
  preparedTransactions: z.array(InDoubt).describe('prepared transactions of txmgr, with what recovery would do'),
  custodyChecked: z.boolean().describe('false when the server has no CUSTODY_DATABASE_URL: only the ledger is checked'),
  lastTrigger: TriggerResult.nullable(),
});

/** POST /recovery/trigger and GET /recovery/status: stuck compensations retried, in-doubt transactions resolved. */
export function recoveryRoutes(app: ApiApp, deps: ApiDeps): void {
  const { client } = deps;
  const target = { ledger: client.pool, custody: deps.custodyPool, temporal: client.temporal };
  let lastTrigger: z.infer<typeof TriggerResult> | null = null;

  async function stuckSagas(): Promise<Array<z.infer<typeof StuckSaga>>> {
    const query = `${SAGA_STATUS.name} = 'COMPENSATION_FAILED' AND ExecutionStatus = 'Running' AND TaskQueue = '${client.taskQueue.replace(/'/g, '')}'`;
    const found: Array<z.infer<typeof StuckSaga>> = [];
    for await (const w of client.temporal.workflow.list({ query })) {
      found.push({ workflowId: w.workflowId, workflowType: w.type, startedAt: w.startTime.toISOString() });
      if (found.length >= MAX_SAGAS) break;
    }
    return found;
  }

  app.post(
    '/recovery/trigger',
    {
      config: { scope: 'operate' },
      schema: {
        summary: 'retry the compensations of sagas in COMPENSATION_FAILED and resolve in-doubt prepared transactions',
        body: z.object({}).strict().nullish(),
        response: { 200: TriggerResult, 403: ErrorBodySchema },
      },
    },
    async (request) => {
      const sagas = await stuckSagas();
      const signalled: string[] = [];
      const failed: Array<{ workflowId: string; error: string }> = [];
      for (const s of sagas) {
        try {
          await client.temporal.workflow.getHandle(s.workflowId).signal(retryCompensationSignal);
          signalled.push(s.workflowId);
        } catch (err) {
          failed.push({ workflowId: s.workflowId, error: String((err as Error)?.message ?? err) });
        }
      }
      const prepared = await recoveryRun(target);
      request.auditTarget = `${sagas.length} sagas, ${prepared.length} prepared transactions`;
      lastTrigger = { at: new Date().toISOString(), sagasSignalled: signalled, sagasFailed: failed, prepared };
      return lastTrigger;
    },
  );

  app.get(
    '/recovery/status',
    {
      config: { scope: 'read' },
      schema: { summary: 'what recovery would act on now, and its last run', response: { 200: StatusResponse } },
    },
    async () => {
      const [sagas, prepared] = await Promise.all([stuckSagas(), recoveryStatus(target)]);
      return {
        compensationFailed: sagas,
        preparedTransactions: prepared,
        custodyChecked: deps.custodyPool !== undefined,
        lastTrigger,
      };
    },
  );
}
