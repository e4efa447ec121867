import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import { findDepositView } from '../deposits';
import { depositWorkflowId } from '../index';
import { retrySagaCompensation } from '../sagas';
import { SAGA_STATUS } from '../../temporal/search-attributes';
import type { TransactionResult } from '../../domain/operations';
import { transactionStatusQuery } from '../../workflows';
import { handler } from './command';
import type { CliContext } from './context';
import { toCliError } from './errors';
import { badInput, printJson, printLine, printRecord, type Output } from './printer';
import { depositWaitingFor, sagaWaitingFor } from './saga-view';
import { noWorkerHint, probeSaga } from './wait';

async function exists(temporal: Client, workflowId: string): Promise<boolean> {
  try {
    await temporal.workflow.getHandle(workflowId).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/** A workflow id, or a deposit's bank reference (recorded, or the saga id it would have). */
async function resolveSaga(
  ctx: CliContext,
  temporal: Client,
  idOrReference: string,
): Promise<{ workflowId: string; reference?: string }> {
  if (await exists(temporal, idOrReference)) return { workflowId: idOrReference };
  const view = ctx.hasDatabase ? await findDepositView(await ctx.db(), idOrReference) : undefined;
  if (view) return { workflowId: view.workflowId, reference: idOrReference };
  if (await exists(temporal, depositWorkflowId(idOrReference))) {
    return { workflowId: depositWorkflowId(idOrReference), reference: idOrReference };
  }
  throw badInput(
    'NotFound',
    `no saga with workflow id or bank reference ${idOrReference}`,
    'list deposits with: txmgr deposit list',
  );
}

/** A saga by workflow id or bank reference: status, steps done, compensations run, what it waits for. */
async function showSaga(ctx: CliContext, out: Output, idOrReference: string): Promise<void> {
  const temporal = await ctx.temporal();
  const { workflowId, reference } = await resolveSaga(ctx, temporal, idOrReference);
  const description = await temporal.workflow.getHandle(workflowId).describe();
  const probe = await probeSaga(temporal, workflowId);
  let waitingFor: string | undefined;
  if (probe.status === 'RUNNING') {
    if (probe.failingTask) waitingFor = `nothing can run: its workflow task keeps failing: ${probe.failingTask.message}`;
    else if (probe.noWorker) waitingFor = noWorkerHint(probe.taskQueue);
    else if (probe.state && reference) {
      const view = await findDepositView(await ctx.db(), reference);
      waitingFor = depositWaitingFor(probe.state, reference, view?.status === 'IN_REVIEW');
    } else if (probe.state) waitingFor = sagaWaitingFor(probe.state);
  }
  let failure: string | undefined;
  if (probe.status === 'FAILED' || probe.status === 'TERMINATED' || probe.status === 'TIMED_OUT') {
    failure = await temporal.workflow
      .getHandle(workflowId)
      .result()
      .then(
        () => undefined,
        (err: unknown) => {
          const e = toCliError(err, ctx);
          return `${e.type}: ${e.message}`;
        },
      );
  }
  const state = probe.state;
  // An operation list in atomic or 2pc mode is no step-by-step saga: its own query says what each operation did.
  let transaction: TransactionResult | undefined;
  if (!state && description.type === 'executeTransaction' && !probe.noWorker && !probe.failingTask) {
    transaction = await temporal.workflow
      .getHandle(workflowId)
      .query(transactionStatusQuery)
      .catch(() => undefined);
  }
  // The search attribute tells the saga's own status even when no worker can answer the query.
  const sagaStatus = state?.status ?? transaction?.status ?? description.typedSearchAttributes.get(SAGA_STATUS);
  if (out.json) {
    return printJson({
      workflowId,
      workflowType: description.type,
      status: probe.status,
      taskQueue: probe.taskQueue,
      saga: state ?? null,
      transaction: transaction ?? null,
      waitingFor: waitingFor ?? null,
      failure: failure ?? state?.failure ?? null,
    });
  }
  printRecord([
    ['saga', workflowId],
    ['type', description.type],
    ['status', sagaStatus && sagaStatus !== probe.status ? `${probe.status} (saga: ${sagaStatus})` : probe.status],
    ['steps done', state?.stepsDone.join(' → ') || (state ? '(none yet)' : undefined)],
    ['compensated', state?.compensationsRun.join(' → ')],
    ['to undo', state?.compensationsPending.join(' → ')],
    ['operations', transaction?.operations.map((op) => `${op.position} ${op.type} on ${op.resource}: ${op.status}`).join('; ')],
    ['decision', transaction?.decision],
    ['waiting for', waitingFor],
    ['failure', failure ?? state?.failure],
    ['started', description.startTime.toISOString()],
    ['closed', description.closeTime?.toISOString()],
  ]);
}

const SHOW = 'a saga by workflow id or bank reference: status, steps done, compensations run, what it waits for';

/** `txmgr saga <id|reference>` (same as `saga show`), `txmgr saga retry-compensation <id>`. */
export function registerSagaCommands(program: Command): void {
  const saga = program
    .command('saga')
    .argument('<idOrReference>', 'workflow id or bank reference')
    .description(`${SHOW} (same as: saga show)`)
    .action(handler(showSaga));
  saga.command('show <idOrReference>').description(SHOW).action(handler(showSaga));
  saga
    .command('retry-compensation <idOrReference>')
    .description('ask a saga parked in COMPENSATION_FAILED to run its compensations again (after fixing the cause)')
    .action(
      handler(async (ctx, out, idOrReference: string) => {
        const temporal = await ctx.temporal();
        const { workflowId } = await resolveSaga(ctx, temporal, idOrReference);
        await retrySagaCompensation(temporal, workflowId);
        if (out.json) return printJson({ workflowId, signal: 'retryCompensation', followWith: `txmgr saga show ${workflowId}` });
        printLine(`saga ${workflowId} asked to retry its compensations — follow it with: txmgr saga show ${workflowId}`);
      }),
    );
}
