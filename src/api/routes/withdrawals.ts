import { WorkflowNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import { cancelWithdrawal, getWithdrawal, withdrawalWorkflowId } from '../../client/withdrawals';
import { uuid } from '../../domain/schemas';
import { type ApiApp, type ApiDeps, statusUrl, waitSeconds } from '../context';
import { ApiError } from '../errors';
import { waitForOutcome } from '../saga-view';
import { ErrorBodySchema, Outcome, ReasonBody, WaitQuery } from '../schemas';

const CancelWithdrawalResponse = z.object({
  withdrawalId: z.string(),
  workflowId: z.string(),
  cancelled: z.literal(true),
  reason: z.string(),
  statusUrl: z.string(),
  outcome: Outcome.nullable().describe('set when ?wait=true saw the saga finish (FAILED, WithdrawalCancelled)'),
});

/** POST /withdrawals/{withdrawalId}/cancel: before the broadcast the hold is released; after it, 409 with the reason. */
export function withdrawalRoutes(app: ApiApp, deps: ApiDeps): void {
  app.post(
    '/withdrawals/:withdrawalId/cancel',
    {
      config: { scope: 'execute' },
      schema: {
        summary: 'cancel a withdrawal before its broadcast (its hold is released); refused after the broadcast, with the reason',
        params: z.object({ withdrawalId: uuid.describe('the withdrawal id') }).strict(),
        querystring: WaitQuery,
        body: ReasonBody,
        response: {
          200: CancelWithdrawalResponse,
          202: CancelWithdrawalResponse,
          404: ErrorBodySchema,
          409: ErrorBodySchema,
          422: ErrorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const { withdrawalId } = request.params;
      const workflowId = withdrawalWorkflowId(withdrawalId);
      request.auditTarget = workflowId;
      let answer;
      try {
        answer = await cancelWithdrawal(deps.client, withdrawalId, request.body?.reason);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) throw await endedOrMissing(deps, withdrawalId, workflowId);
        throw err;
      }
      if (!answer.cancelled) throw new ApiError(409, 'InvalidState', answer.reason, 'withdrawalId');
      const wait = waitSeconds(deps.config, request.query);
      const outcome = wait === undefined ? undefined : await waitForOutcome(deps.client, workflowId, wait, 'withdrawCrypto');
      return reply.code(outcome ? 200 : 202).send({
        withdrawalId,
        workflowId,
        cancelled: true as const,
        reason: answer.reason,
        statusUrl: statusUrl(workflowId),
        outcome: outcome ?? null,
      });
    },
  );
}

/** No running saga to ask: one that ended says how (from its row or Temporal), else there is no such withdrawal. */
async function endedOrMissing(deps: ApiDeps, withdrawalId: string, workflowId: string): Promise<ApiError> {
  const row = await getWithdrawal(deps.client.pool, withdrawalId);
  if (row) {
    return new ApiError(
      409,
      'InvalidState',
      `withdrawal ${withdrawalId} is already ${row.status}${row.reason ? ` (${row.reason})` : ''}; nothing left to cancel`,
      'withdrawalId',
    );
  }
  const ended = await deps.client.temporal.workflow
    .getHandle(workflowId)
    .describe()
    .then((d) => d.status.name)
    .catch(() => undefined);
  return ended
    ? new ApiError(409, 'InvalidState', `the saga of withdrawal ${withdrawalId} already ended ${ended}`, 'withdrawalId')
    : new ApiError(404, 'NotFound', `no withdrawal ${withdrawalId}`, 'withdrawalId');
}
