import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Command } from 'commander';
import type { Pool } from 'pg';
import type { DepositResult } from '../../domain/deposit';
import { formatAmount } from '../../domain/money';
import { DEPOSIT_STATUSES, findDepositView, listDepositViews, type DepositView } from '../deposits';
import { depositWorkflowId } from '../index';
import { handler, positiveInt, required } from './command';
import { toCliError } from './errors';
import { badInput, failed, printJson, printLine, printRecord, printTable } from './printer';
import { depositWaitingFor } from './saga-view';
import { noWorkerHint, probeSaga, waitForSaga, type SagaProbe } from './wait';

const FINAL = new Set(['CREDITED', 'REJECTED']);
const followDeposit = (ref: string) => `txmgr deposit status ${ref}`;
const shown = (v: DepositView) => `${v.amount} ${v.asset}`;

/** One line a person reads: what became of the deposit. */
const outcomeLine = (v: DepositView) =>
  `deposit ${v.bankReference} ${v.status}: ${shown(v)} to account ${v.accountId}${v.reason ? ` (${v.reason})` : ''}`;

async function waitingFor(pool: Pool, ref: string, probe: SagaProbe): Promise<string | undefined> {
  if (probe.failingTask) return `its workflow task keeps failing: ${probe.failingTask.message}`;
  if (probe.noWorker) return noWorkerHint(probe.taskQueue);
  if (!probe.state) return undefined;
  const view = await findDepositView(pool, ref);
  return depositWaitingFor(probe.state, ref, view?.status === 'IN_REVIEW');
}

/** Follows the deposit's saga to its end, then reads the deposit as recorded. */
async function waitForDeposit(temporal: Client, pool: Pool, ref: string, intro: string, timeout?: number) {
  const result = await waitForSaga<DepositResult>(temporal, {
    workflowId: depositWorkflowId(ref),
    intro,
    timeoutSeconds: timeout,
    followWith: followDeposit(ref),
    waitingFor: (probe) => waitingFor(pool, ref, probe),
  });
  return { result, view: await findDepositView(pool, ref) };
}

function start(deposit: Command): void {
  const cmd = deposit
    .command('start')
    .description('start a fiat deposit and wait for its outcome (shows what it waits for; Ctrl-C leaves it running)')
    .option('--no-wait', 'return once started, printing how to follow the saga')
    .option('--timeout <seconds>', 'stop waiting after this many seconds (the saga goes on)', positiveInt('--timeout'));
  required(cmd, '--account <uuid>', 'account to credit');
  required(cmd, '--asset <asset>', 'asset code, e.g. USD');
  required(cmd, '--amount <decimal>', 'amount as a human decimal, e.g. 250.00');
  required(cmd, '--reference <ref>', 'bank reference, unique per deposit');
  required(cmd, '--sender <name>', "sender's name, screened against the deny list");
  cmd.action(
    handler(
      async (
        ctx,
        out,
        o: { account: string; asset: string; amount: string; reference: string; sender: string; wait: boolean; timeout?: number },
      ) => {
        const txmgr = await ctx.txmgr();
        const request = {
          accountId: o.account,
          asset: o.asset,
          amount: o.amount,
          bankReference: o.reference,
          senderName: o.sender,
        };
        const started = await txmgr.startDeposit(request);
        if (!o.wait) {
          if (out.json) return printJson({ ...started, bankReference: o.reference, followWith: followDeposit(o.reference) });
          printLine(
            `deposit ${o.reference} ${started.started ? 'started' : 'was already started'} as saga ${started.workflowId}`,
          );
          printLine(`follow it with: ${followDeposit(o.reference)}`);
          return;
        }
        const { result, view } = await waitForDeposit(
          txmgr.temporal,
          txmgr.pool,
          o.reference,
          `saga ${started.workflowId} ${started.started ? 'started' : 'was already running'}`,
          o.timeout,
        );
        const scale = await txmgr.assetScale(result.asset);
        const amount = formatAmount(BigInt(result.amount), scale);
        if (out.json) return printJson({ ...result, amount, amountMinor: result.amount });
        if (result.status === 'DUPLICATE') {
          printLine(
            `deposit ${o.reference} was already recorded by saga ${result.originalWorkflowId ?? '?'}; nothing moved twice`,
          );
        } else {
          printLine(view ? outcomeLine(view) : `deposit ${o.reference} ${result.status}: ${amount} ${result.asset}`);
        }
      },
    ),
  );
}

function statusAndList(deposit: Command): void {
  deposit
    .command('status <reference>')
    .description('a deposit by bank reference: its status, amount and what its saga waits for')
    .action(
      handler(async (ctx, out, ref: string) => {
        const pool = await ctx.db();
        const view = await findDepositView(pool, ref);
        let saga: { status: string; waitingFor?: string; stepsDone?: string[] } | undefined;
        let sagaNote: string | undefined;
        if (ctx.temporalAddress) {
          try {
            const temporal = await ctx.temporal();
            const probe = await probeSaga(temporal, view?.workflowId ?? depositWorkflowId(ref));
            saga = {
              status: probe.status,
              stepsDone: probe.state?.stepsDone,
              waitingFor: probe.status === 'RUNNING' ? await waitingFor(pool, ref, probe) : undefined,
            };
          } catch (err) {
            if (!(err instanceof WorkflowNotFoundError)) sagaNote = toCliError(err, ctx).message;
          }
        }
        if (!view && !saga) {
          throw badInput('NotFound', `no deposit with bank reference ${ref}`, 'list them with: txmgr deposit list');
        }
        if (out.json) return printJson({ ...(view ?? { bankReference: ref }), saga: saga ?? null });
        printRecord([
          ['reference', ref],
          ['status', view?.status ?? 'not recorded yet'],
          ['amount', view && shown(view)],
          ['account', view?.accountId],
          ['sender', view?.senderName],
          ['reason', view?.reason],
          ['saga', `${view?.workflowId ?? depositWorkflowId(ref)}${saga ? ` (${saga.status})` : ''}`],
          ['steps done', saga?.stepsDone?.join(' → ')],
          ['waiting for', saga?.waitingFor],
          ['note', sagaNote],
        ]);
      }),
    );

  deposit
    .command('list')
    .description('deposits, those waiting for review first (reads PostgreSQL only)')
    .option('--status <status>', `only this status: ${DEPOSIT_STATUSES.join(', ')}`)
    .option('--limit <n>', 'at most this many', positiveInt('--limit'), 50)
    .action(
      handler(async (ctx, out, o: { status?: string; limit: number }) => {
        const status = o.status?.toUpperCase();
        if (status !== undefined && !(DEPOSIT_STATUSES as readonly string[]).includes(status)) {
          throw badInput('ValidationError', `--status must be one of ${DEPOSIT_STATUSES.join(', ')}, got "${o.status}"`);
        }
        const views = await listDepositViews(await ctx.db(), {
          status: status as DepositView['status'] | undefined,
          limit: o.limit,
        });
        if (out.json) return printJson(views);
        printTable(
          [
            ['bankReference', 'REFERENCE'],
            ['status', 'STATUS'],
            ['shown', 'AMOUNT'],
            ['accountId', 'ACCOUNT'],
            ['senderName', 'SENDER'],
            ['updatedAt', 'UPDATED'],
          ],
          views.map((v) => ({ ...v, shown: shown(v) })),
        );
      }),
    );
}

function decide(deposit: Command, verdict: 'approve' | 'reject'): void {
  const cmd = deposit
    .command(`${verdict} <reference>`)
    .description(`${verdict} a deposit waiting for compliance review, then wait for the outcome`)
    .option('--reason <text>', 'why, recorded with the decision')
    .option('--no-wait', 'return once the decision is sent')
    .option('--timeout <seconds>', 'stop waiting after this many seconds (the saga goes on)', positiveInt('--timeout'));
  required(cmd, '--reviewer <name>', 'who decides');
  cmd.action(
    handler(async (ctx, out, ref: string, o: { reviewer: string; reason?: string; wait: boolean; timeout?: number }) => {
      const txmgr = await ctx.txmgr();
      const before = await findDepositView(txmgr.pool, ref);
      if (before && (FINAL.has(before.status) || before.status === 'APPROVED')) {
        throw failed(
          'InvalidState',
          `deposit ${ref} is already ${before.status}${before.reason ? ` (${before.reason})` : ''}`,
          'nothing left to decide',
        );
      }
      const workflowId = before?.workflowId ?? depositWorkflowId(ref);
      let running: boolean;
      try {
        running = (await txmgr.temporal.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
        throw badInput('NotFound', `no deposit with bank reference ${ref}`, 'list them with: txmgr deposit list');
      }
      if (!running) throw failed('InvalidState', `the saga of deposit ${ref} has already ended`, `see: ${followDeposit(ref)}`);
      const decision = { reviewer: o.reviewer, reason: o.reason };
      await (verdict === 'approve' ? txmgr.approveDeposit(ref, decision) : txmgr.rejectDeposit(ref, decision));
      if (!o.wait) {
        if (out.json) return printJson({ bankReference: ref, decision: verdict, followWith: followDeposit(ref) });
        printLine(
          `${verdict === 'approve' ? 'approval' : 'rejection'} of deposit ${ref} sent — follow it with: ${followDeposit(ref)}`,
        );
        return;
      }
      try {
        await waitForDeposit(
          txmgr.temporal,
          txmgr.pool,
          ref,
          `${verdict === 'approve' ? 'approval' : 'rejection'} sent to saga ${workflowId}`,
          o.timeout,
        );
      } catch (err) {
        // A rejection ends the saga with ComplianceRejected: for `reject` that is the outcome asked for.
        if (toCliError(err, ctx).type !== 'ComplianceRejected') throw err;
      }
      const after = await findDepositView(txmgr.pool, ref);
      if (!after) throw failed('Failed', `deposit ${ref} ended without a record`, `see: txmgr saga ${workflowId}`);
      if (out.json) return printJson(after);
      printLine(outcomeLine(after));
    }),
  );
}

/** `txmgr deposit start | status | list | approve | reject`. */
export function registerDepositCommands(program: Command): void {
  const deposit = program.command('deposit').description('fiat deposits: start one, follow it, review it');
  start(deposit);
  statusAndList(deposit);
  decide(deposit, 'approve');
  decide(deposit, 'reject');
}
