import { z } from 'zod';
import { type ApiApp, type ApiDeps } from '../context';
import { ClosedSagaViews, sagaStatusView } from '../saga-view';
import { ErrorBodySchema, Outcome, StatusParams } from '../schemas';

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
  status: z.string().describe("Temporal's status: RUNNING, COMPLETED, FAILED, …"),
  taskQueue: z.string(),
  startedAt: z.string(),
  closedAt: z.string().nullable(),
  saga: SagaStateSchema.describe('state, steps done and compensations run (null when no worker answered)'),
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
        summary: "a saga's state, steps, compensations and outcome",
        params: StatusParams,
        response: { 200: StatusResponse, 404: ErrorBodySchema, 422: ErrorBodySchema },
      },
    },
    async (request) => sagaStatusView(deps.client.temporal, request.params.id, closed),
  );
}
