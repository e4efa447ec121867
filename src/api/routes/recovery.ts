import { z } from 'zod';
import { listPreparedTransactions } from '../../db/queries/locks';
import { SAGA_STATUS } from '../../temporal/search-attributes';
import { retryCompensationSignal } from '../../workflows';
import { type ApiApp, type ApiDeps } from '../context';
import { ErrorBodySchema } from '../schemas';

const MAX_SAGAS = 500;

const StuckSaga = z.object({ workflowId: z.string(), workflowType: z.string(), startedAt: z.string() });
const TriggerResult = z.object({
  at: z.string(),
  sagasSignalled: z.array(z.string()),
  sagasFailed: z.array(z.object({ workflowId: z.string(), error: z.string() })),
  prepared: z
    .object({ available: z.boolean(), resolved: z.number(), details: z.array(z.unknown()) })
    .describe('in-doubt prepared transactions resolved by the transaction core (when this build has it)'),
});
const StatusResponse = z.object({
  compensationFailed: z.array(StuckSaga).describe('sagas of this task queue parked in COMPENSATION_FAILED'),
  preparedTransactions: z.array(z.object({ gid: z.string(), preparedAt: z.string(), ageSeconds: z.number() })),
  preparedRecoveryAvailable: z.boolean(),
  lastTrigger: TriggerResult.nullable(),
});

/** POST /recovery/trigger and GET /recovery/status: stuck compensations retried, in-doubt transactions resolved. */
export function recoveryRoutes(app: ApiApp, deps: ApiDeps): void {
  const { client } = deps;
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
      request.auditTarget = `${sagas.length} sagas`;
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
      const prepared = deps.extensions.recoverPrepared
        ? { available: true, ...(await deps.extensions.recoverPrepared(client)) }
        : { available: false, resolved: 0, details: [] };
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
      const [sagas, prepared] = await Promise.all([stuckSagas(), listPreparedTransactions(client.pool)]);
      const now = Date.now();
      return {
        compensationFailed: sagas,
        preparedTransactions: prepared.map((p) => ({
          gid: p.gid,
          preparedAt: p.prepared.toISOString(),
          ageSeconds: Math.round((now - p.prepared.getTime()) / 1000),
        })),
        preparedRecoveryAvailable: deps.extensions.recoverPrepared !== undefined,
        lastTrigger,
      };
    },
  );
}
