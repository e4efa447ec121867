import type { Command } from 'commander';
import type { WithdrawalResult } from '../../domain/withdrawal';
import { runSimulatorProcess } from '../../chain/sim-process';
import { loadTotpKey } from '../../security/secret-box';
import {
  allowWithdrawalAddress,
  cancelWithdrawal,
  enrollTotp,
  getWithdrawal,
  listAllowedAddresses,
  listWithdrawalViews,
  removeAllowedAddress,
  startWithdrawal,
  withdrawalProgress,
  type WithdrawalView,
} from '../withdrawals';
import { handler, positiveInt, required } from './command';
import { badInput, failed, printJson, printLine, printRecord, printTable } from './printer';
import { noWorkerHint, requireWorker, waitForSaga } from './wait';

const follow = (id: string) => `txmgr withdrawal status ${id}`;

function totpKey(): Buffer {
  try {
    return loadTotpKey();
  } catch (err) {
    throw badInput('ConfigError', (err as Error).message, 'the workers and the CLI must share the same key');
  }
}

function printWithdrawal(v: WithdrawalView, extra: Array<[string, string | number | undefined]> = []): void {
  printRecord([
    ['withdrawal', v.withdrawalId],
    ['status', v.status],
    ['account', v.accountId],
    ['amount', `${v.amount} ${v.asset}`],
    ['network fee', `${v.fee} ${v.asset}`],
    ['to', v.address],
    ['chain tx', v.chainTxId],
    ['confirmations', v.confirmations],
    ['reason', v.reason],
    ...extra,
  ]);
}

/** `txmgr withdraw`, `txmgr withdrawal …`, `txmgr totp enroll` and `txmgr chain-sim`. */
export function registerWithdrawalCommands(program: Command): void {
  const withdraw = program
    .command('withdraw')
    .description('withdraw crypto to an allow-listed address and wait for the outcome (Ctrl-C leaves it running)')
    .option('--id <uuid>', 'withdrawal id (default: a new UUID)')
    .option('--no-wait', 'return once started')
    .option('--timeout <seconds>', 'stop waiting after this many seconds (the saga goes on)', positiveInt('--timeout'));
  required(withdraw, '--account <uuid>', 'account to withdraw from');
  required(withdraw, '--asset <asset>', 'asset code, BTC or ETH');
  required(withdraw, '--address <address>', 'destination (on the allow-list, past its cooling-off)');
  required(withdraw, '--amount <decimal>', 'amount as a human decimal, e.g. 0.25 (the network fee comes on top)');
  required(withdraw, '--otp <code>', 'the 6-digit code from the authenticator app');
  withdraw.action(
    handler(
      async (
        ctx,
        out,
        o: {
          account: string;
          asset: string;
          address: string;
          amount: string;
          otp: string;
          id?: string;
          wait: boolean;
          timeout?: number;
        },
      ) => {
        const txmgr = await ctx.txmgr();
        await requireWorker(txmgr.temporal, ctx.taskQueue);
        const request = {
          accountId: o.account,
          asset: o.asset,
          address: o.address,
          amount: o.amount,
          otp: o.otp,
          withdrawalId: o.id,
        };
        const { withdrawalId, workflowId } = await startWithdrawal(txmgr, request, totpKey());
        if (!o.wait) {
          if (out.json) return printJson({ withdrawalId, workflowId, followWith: follow(withdrawalId) });
          return printLine(`withdrawal ${withdrawalId} started — follow it with: ${follow(withdrawalId)}`);
        }
        const result = await waitForSaga<WithdrawalResult>(txmgr.temporal, {
          workflowId,
          intro: `withdrawal ${withdrawalId} started`,
          timeoutSeconds: o.timeout,
          followWith: follow(withdrawalId),
          waitingFor: async (probe) => {
            if (probe.noWorker) return noWorkerHint(probe.taskQueue);
            const p = await withdrawalProgress(txmgr, withdrawalId).catch(() => undefined);
            return (
              p &&
              `${p.phase}${p.phase === 'confirming' ? ` (${p.confirmations} of ${p.confirmationsRequired} confirmations)` : ''}`
            );
          },
        });
        const view = await getWithdrawal(txmgr.pool, result.withdrawalId);
        if (out.json) return printJson(view);
        if (view)
          printLine(
            `withdrawal ${view.withdrawalId} COMPLETED: ${view.amount} ${view.asset} to ${view.address} (tx ${view.chainTxId}, fee ${view.fee} ${view.asset})`,
          );
      },
    ),
  );

  const w = program
    .command('withdrawal')
    .description('crypto withdrawals: status, list, cancel, and the allow-list of destinations');
  w.command('status <withdrawalId>')
    .description("a withdrawal's state (PostgreSQL) and, while it runs, its saga's progress")
    .action(
      handler(async (ctx, out, id: string) => {
        const view = await getWithdrawal(await ctx.db(), id);
        const progress = ctx.temporalAddress ? await withdrawalProgress(await ctx.txmgr(), id).catch(() => undefined) : undefined;
        if (!view && !progress)
          throw badInput('NotFound', `no withdrawal ${id} holds funds (refused, or not started)`, `txmgr saga withdrawal-${id}`);
        if (out.json) return printJson({ ...view, progress });
        if (view) printWithdrawal(view, [['saga', progress?.phase]]);
        else
          printRecord([
            ['withdrawal', id],
            ['saga', progress?.phase],
          ]);
      }),
    );
  w.command('list')
    .description('recent withdrawals, newest first')
    .option('--account <uuid>', 'only this account')
    .option('--limit <n>', 'at most this many', positiveInt('--limit'))
    .action(
      handler(async (ctx, out, o: { account?: string; limit?: number }) => {
        const rows = await listWithdrawalViews(await ctx.db(), { accountId: o.account, limit: o.limit });
        if (out.json) return printJson(rows);
        printTable(
          [
            ['withdrawalId', 'withdrawal'],
            ['status', 'status'],
            ['amount', 'amount'],
            ['address', 'to'],
            ['confirmations', 'conf'],
          ],
          rows.map((r) => ({ ...r, amount: `${r.amount} ${r.asset}` })),
        );
      }),
    );
  w.command('cancel <withdrawalId>')
    .description('cancel a withdrawal before its broadcast (the hold is released); after it, says why not')
    .option('--reason <text>', 'why')
    .action(
      handler(async (ctx, out, id: string, o: { reason?: string }) => {
        const answer = await cancelWithdrawal(await ctx.txmgr(), id, o.reason);
        if (out.json) return printJson(answer);
        if (!answer.cancelled) throw failed('InvalidState', answer.reason, follow(id));
        printLine(`withdrawal ${id} ${answer.reason}`);
      }),
    );
  w.command('allow <accountId> <asset> <address>')
    .description('put a destination on the allow-list; usable after the cooling-off period')
    .option('--cooling-off <seconds>', 'default TXMGR_ALLOWLIST_COOLING_OFF_SECONDS or 86400', (v) =>
      positiveInt('--cooling-off')(v),
    )
    .action(
      handler(async (ctx, out, accountId: string, asset: string, address: string, o: { coolingOff?: number }) => {
        const entry = await allowWithdrawalAddress(await ctx.db(), {
          accountId,
          asset,
          address,
          coolingOffSeconds: o.coolingOff,
        });
        if (out.json) return printJson(entry);
        printLine(
          `allowed ${entry.address} for ${entry.asset} withdrawals from ${entry.accountId}, usable from ${entry.usableFrom}`,
        );
      }),
    );
  w.command('allowed <accountId>')
    .description("the account's allow-listed destinations")
    .action(
      handler(async (ctx, out, accountId: string) => {
        const rows = await listAllowedAddresses(await ctx.db(), accountId);
        if (out.json) return printJson(rows);
        printTable(
          [
            ['asset', 'asset'],
            ['address', 'address'],
            ['usableFrom', 'usable from'],
          ],
          rows as never,
        );
      }),
    );
  w.command('remove <accountId> <asset> <address>')
    .description('take a destination off the allow-list')
    .action(
      handler(async (ctx, out, accountId: string, asset: string, address: string) => {
        const removed = await removeAllowedAddress(await ctx.db(), { accountId, asset, address });
        if (out.json) return printJson({ removed });
        if (!removed) throw badInput('NotFound', `${address} is not on the allow-list of ${accountId} for ${asset}`);
        printLine(`removed ${address} from the allow-list of ${accountId}`);
      }),
    );

  program
    .command('totp')
    .description('one-time codes for withdrawals')
    .command('enroll <accountId>')
    .description('enrol an account; prints its otpauth:// URI once (scan it into an authenticator app)')
    .action(
      handler(async (ctx, out, accountId: string) => {
        const { uri } = await enrollTotp(await ctx.db(), accountId, totpKey());
        if (out.json) return printJson({ accountId, uri });
        printLine(uri);
      }),
    );

  program
    .command('chain-sim')
    .description(
      'run the simulated chain node (HTTP; state in CHAIN_SIM_DATABASE_URL, else the database chainsim beside DATABASE_URL)',
    )
    .option('--port <port>', 'port to listen on (default 18443)', positiveInt('--port'))
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--block-ms <ms>', 'milliseconds per block (default 2000)', positiveInt('--block-ms'))
    .action(async (o: { port?: number; host: string; blockMs?: number }) => {
      await runSimulatorProcess({ port: o.port ?? 18443, host: o.host, blockMs: o.blockMs ?? 2000 });
    });
}
