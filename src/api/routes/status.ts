import { z } from 'zod';
import { type ApiApp, type ApiDeps } from '../context';
import { ClosedSagaViews, sagaStatusView } from '../saga-view';
import { ErrorBodySchema, Outcome, StatusParams } from '../schemas';
import { WORKFLOW_KIND_NAMES } from '../workflow-kinds';

const SagaStateSchema = z
  .object({
    sagaType: z.string(),
    status: z.string(),
    stepsDone: z.array(z.string()),
    compensationsRun: z.array(z.string()),
    compensationsPending: z.array(z.string()),
    failure: z.string().optional(),
    compensationError: z.string().optional(),
    deadline: z.string(),
    pointOfNoReturn: z.string().optional(),
    cancelRequested: z.boolean(),
  })
  .nullable();

export const StatusResponse = z.object({
  workflowId: z.string(),
  workflowType: z.string(),
  kind: z.enum(WORKFLOW_KIND_NAMES).nullable(),
  status: z.string().describe("Temporal's status: RUNNING, COMPLETED, FAILED, …"),
  taskQueue: z.string(),
  startedAt: z.string(),
  closedAt: z.string().nullable(),
  state: z
    .string()
    .nullable()
    .describe(
      "the saga's status (RUNNING, COMPENSATED, …) or a transaction's (COMMITTED, ROLLED_BACK, …); null when no worker answered",
    ),
  saga: SagaStateSchema.describe(
    'steps done and compensations run; null for atomic and 2pc transactions (no compensations: the database rolls back) or when no worker answered',
  ),
  detail: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe(
      "the workflow's own state, amounts in human decimals beside minor units: the deposit, the order, the withdrawal's progress, the campaign, or the transaction (mode, 2pc decision, each operation's status)",
    ),
  outcome: Outcome.nullable(),
});

/** GET /status/{id}: a saga's state, steps, compensations and outcome. */
export function statusRoutes(app: ApiApp, deps: ApiDeps): void {
  const closed = new ClosedSagaViews();
  app.get(
    '/status/:id',
    {
      config: { scope: 'read' },
      schema: {
        summary: "a saga's or a transaction's state, steps, compensations and outcome",
        params: StatusParams,
        response: { 200: StatusResponse, 404: ErrorBodySchema, 422: ErrorBodySchema },
      },
    },
    async (request) => sagaStatusView(deps.client, request.params.id, closed),
  );
}
