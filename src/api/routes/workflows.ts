import { startTransaction } from '../../client/transactions';
import { TransactionRequestSchema, transactionWorkflowId, type TransactionRequest } from '../../domain/operations';
import { type ApiApp, type ApiDeps, statusUrl, waitSeconds } from '../context';
import { executeWorkflowBody, WORKFLOW_TYPE_NAMES, WORKFLOW_TYPES } from '../registry';
import { waitForOutcome } from '../saga-view';
import { ErrorBodySchema, StartedResponse, WaitQuery } from '../schemas';

const errors = { 401: ErrorBodySchema, 403: ErrorBodySchema, 409: ErrorBodySchema, 422: ErrorBodySchema };

const TRANSACTION_WORKFLOW = 'executeTransaction';

/** 202 with the workflow id, or after a bounded wait 200 with its outcome (202 still when the wait ran out). */
async function answer(
  deps: ApiDeps,
  query: { wait?: 'true' | 'false'; waitSeconds?: number },
  started: { workflowId: string; started: boolean; workflowType: string; temporalType: string },
) {
  const wait = waitSeconds(deps.config, query);
  const outcome =
    wait === undefined ? undefined : await waitForOutcome(deps.client, started.workflowId, wait, started.temporalType);
  return {
    code: outcome ? 200 : 202,
    body: {
      workflowId: started.workflowId,
      workflowType: started.workflowType,
      started: started.started,
      statusUrl: statusUrl(started.workflowId),
      outcome: outcome ?? null,
      ...(wait === undefined ? {} : { waitedSeconds: wait }),
    },
  };
}

/** POST /execute-workflow and POST /execute: start a saga or a transaction (202) or wait, bounded, for its outcome (200). */
export function workflowRoutes(app: ApiApp, deps: ApiDeps): void {
  app.post(
    '/execute-workflow',
    {
      config: { scope: 'execute' },
      schema: {
        summary: 'start a saga of one of the workflow types',
        description: WORKFLOW_TYPE_NAMES.map((n) => `${n}: ${WORKFLOW_TYPES[n].description}`).join('; '),
        body: executeWorkflowBody(),
        querystring: WaitQuery,
        response: { 200: StartedResponse, 202: StartedResponse, ...errors },
      },
    },
    async (request, reply) => {
      const { workflow_type: name, parameters } = request.body;
      const type = WORKFLOW_TYPES[name];
      const { workflowId, started } = await type.start(deps, parameters);
      request.auditTarget = workflowId;
      const a = await answer(deps, request.query, { workflowId, started, workflowType: name, temporalType: type.workflow });
      return reply.code(a.code).send(a.body);
    },
  );

  app.post(
    '/execute',
    {
      config: { scope: 'execute' },
      schema: {
        summary: 'run an operation list as one transaction (atomic, saga or 2pc mode)',
        description:
          'operations: { type, resource, params } with type one of ledger.transfer, ledger.hold, ledger.capture, ledger.release, ' +
          'account.freeze, account.unfreeze; amounts in minor units as decimal strings. atomic (the default) runs on one resource; ' +
          'saga and 2pc may span ledger and custody. The same id again joins the first transaction; with other operations, 409.',
        body: TransactionRequestSchema,
        querystring: WaitQuery,
        response: { 200: StartedResponse, 202: StartedResponse, ...errors },
      },
    },
    async (request, reply) => {
      // Known before it starts, so a refused request's audit row names it too.
      request.auditTarget = transactionWorkflowId(request.body.id);
      const { workflowId, started } = await startTransaction(deps.client, request.body as TransactionRequest);
      const t = TRANSACTION_WORKFLOW;
      const a = await answer(deps, request.query, { workflowId, started, workflowType: t, temporalType: t });
      return reply.code(a.code).send(a.body);
    },
  );
}
