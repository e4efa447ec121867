import type { Command } from 'commander';
import { readBalance } from '../balances';
import type { Balance } from '../index';
import { handler, required } from './command';
import { requireWorker } from './wait';
import { printJson, printRecord } from './printer';

function printBalance(b: Balance): void {
  printRecord([
    ['account', b.accountId],
    ['owner', b.owner],
    ['asset', b.asset],
    ['balance', `${b.balanceDisplay} ${b.asset}`],
    ['available', `${b.availableDisplay} ${b.asset}`],
  ]);
}

/** `txmgr account open` and `txmgr balance`: ledger accounts. */
export function registerAccountCommands(program: Command): void {
  const account = program.command('account').description('ledger accounts: open one, read its balance');
  const open = account
    .command('open')
    .description('open a user account for one asset (the same --id again returns the same account)')
    .option('--id <uuid>', 'account id (default: a new UUID); lets a script know the id beforehand');
  required(open, '--owner <owner>', 'who owns the account');
  required(open, '--asset <asset>', 'asset code, e.g. USD');
  open.action(
    handler(async (ctx, out, o: { owner: string; asset: string; id?: string }) => {
      const txmgr = await ctx.txmgr();
      await requireWorker(txmgr.temporal, ctx.taskQueue);
      const opened = await txmgr.openAccount({ owner: o.owner, asset: o.asset, accountId: o.id });
      const balance = await readBalance(txmgr.pool, opened.accountId);
      if (out.json) return printJson(balance);
      printBalance(balance);
    }),
  );

  const showBalance = handler(async (ctx, out, accountId: string) => {
    const balance = await readBalance(await ctx.db(), accountId);
    if (out.json) return printJson(balance);
    printBalance(balance);
  });
  account
    .command('balance <accountId>')
    .description("an account's balance and available amount (reads PostgreSQL only)")
    .action(showBalance);
  program
    .command('balance <accountId>')
    .description("an account's balance and available amount (reads PostgreSQL only; same as account balance)")
    .action(showBalance);
}
