import { WorkflowNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import { findDepositView } from '../../client/deposits';
import { depositWorkflowId } from '../../client';
import { ReviewDecisionInput } from '../../domain/deposit';
import { bankReference } from '../../domain/schemas';
import { ApiError } from '../errors';
import { type ApiApp, type ApiDeps, statusUrl, waitSeconds } from '../context';
import { waitForOutcome } from '../saga-view';
import { ErrorBodySchema, Outcome, WaitQuery } from '../schemas';

const DecisionResponse = z.object({
  bankReference: z.string(),
  decision: z.enum(['approve', 'reject']),
  workflowId: z.string(),
  statusUrl: z.string(),
  outcome: Outcome.nullable(),
});

const Params = z.object({ reference: bankReference.describe("the deposit's bank reference") }).strict();

/** POST /deposits/{reference}/approve|reject: a reviewer's decision on a deposit waiting for review. */
export function depositRoutes(app: ApiApp, deps: ApiDeps): void {
  for (const decision of ['approve', 'reject'] as const) {
    app.post(
      `/deposits/:reference/${decision}`,
      {
        config: { scope: 'operate' },
        schema: {
          summary: `${decision} a deposit waiting for compliance review`,
          params: Params,
          querystring: WaitQuery,
          body: ReviewDecisionInput,
          response: {
            200: DecisionResponse,
            202: DecisionResponse,
            404: ErrorBodySchema,
            409: ErrorBodySchema,
            422: ErrorBodySchema,
          },
        },
      },
      async (request, reply) => {
        const ref = request.params.reference;
        request.auditTarget = ref;
        const view = await findDepositView(deps.client.pool, ref);
        if (view && ['CREDITED', 'REJECTED', 'APPROVED'].includes(view.status)) {
          throw new ApiError(
            409,
            'InvalidState',
            `deposit ${ref} is already ${view.status}; nothing left to decide`,
            'reference',
          );
        }
        const workflowId = view?.workflowId ?? depositWorkflowId(ref);
        let running: boolean;
        try {
          running = (await deps.client.temporal.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
        } catch (err) {
          if (err instanceof WorkflowNotFoundError)
            throw new ApiError(404, 'NotFound', `no deposit with bank reference ${ref}`, 'reference');
          throw err;
        }
        if (!running) throw new ApiError(409, 'InvalidState', `the saga of deposit ${ref} has already ended`, 'reference');
        await (decision === 'approve'
          ? deps.client.approveDeposit(ref, request.body)
          : deps.client.rejectDeposit(ref, request.body));
        const wait = waitSeconds(deps.config, request.query);
        const outcome = wait === undefined ? undefined : await waitForOutcome(deps.client, workflowId, wait, 'depositFiat');
        return reply
          .code(outcome ? 200 : 202)
          .send({ bankReference: ref, decision, workflowId, statusUrl: statusUrl(workflowId), outcome: outcome ?? null });
      },
    );
  }
}
