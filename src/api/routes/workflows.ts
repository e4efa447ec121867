import { z } from 'zod';
import { ApiError } from '../errors';
import { type ApiApp, type ApiDeps, statusUrl, waitSeconds } from '../context';
import { executeWorkflowBody } from '../registry';
import { waitForOutcome } from '../saga-view';
import { ErrorBodySchema, StartedResponse, WaitQuery } from '../schemas';

const errors = { 401: ErrorBodySchema, 403: ErrorBodySchema, 409: ErrorBodySchema, 422: ErrorBodySchema, 501: ErrorBodySchema };

/** POST /execute-workflow and POST /execute: start a saga (202) or wait, bounded, for its outcome (200). */
export function workflowRoutes(app: ApiApp, deps: ApiDeps): void {
  app.post(
    '/execute-workflow',
    {
      config: { scope: 'execute' },
      schema: {
        summary: 'start a saga of one of the workflow types',
        description: `workflow_type is one of ${Object.keys(deps.workflowTypes).join(', ')} in this build; others answer 501.`,
        body: executeWorkflowBody(deps.workflowTypes),
        querystring: WaitQuery,
        response: { 200: StartedResponse, 202: StartedResponse, ...errors },
      },
    },
    async (request, reply) => {
      const { workflow_type: name, parameters } = request.body;
      const type = deps.workflowTypes[name];
      if (!type) {
        throw new ApiError(501, 'NotAvailable', `workflow_type ${name} is not available in this build`, 'workflow_type');
      }
      const { workflowId, started } = await type.start(deps.client, parameters);
      request.auditTarget = workflowId;
      const wait = waitSeconds(deps.config, request.query);
      const outcome =
        wait === undefined
          ? undefined
          : await waitForOutcome(deps.client, workflowId, wait, (r) => type.outcome?.(deps.client, r) ?? Promise.resolve(r));
      return reply.code(outcome ? 200 : 202).send({
        workflowId,
        workflowType: name,
        started,
        statusUrl: statusUrl(workflowId),
        outcome: outcome ?? null,
        ...(wait === undefined ? {} : { waitedSeconds: wait }),
      });
    },
  );

  const execute = deps.extensions.execute;
  app.post(
    '/execute',
    {
      config: { scope: 'execute' },
      schema: {
        summary: 'run an operation list as one transaction (atomic, saga or 2pc mode)',
        description: execute ? undefined : 'not available in this build: answers 501',
        body: execute?.body ?? z.record(z.string(), z.unknown()),
        querystring: WaitQuery,
        response: { 200: StartedResponse, 202: StartedResponse, ...errors },
      },
    },
    async (request, reply) => {
      if (!execute)
        throw new ApiError(501, 'NotAvailable', 'POST /execute (operation lists) is not available in this build', null);
      const { workflowId, started, workflowType } = await execute.start(deps.client, request.body);
      request.auditTarget = workflowId;
      const wait = waitSeconds(deps.config, request.query);
      const outcome = wait === undefined ? undefined : await waitForOutcome(deps.client, workflowId, wait);
      return reply.code(outcome ? 200 : 202).send({
        workflowId,
        workflowType,
        started,
        statusUrl: statusUrl(workflowId),
        outcome: outcome ?? null,
        ...(wait === undefined ? {} : { waitedSeconds: wait }),
      });
    },
  );
}
