import type { Command } from 'commander';
import { DEFAULT_PREPARED_TIMEOUT_MS, runInvariantChecks } from '../../db/invariants';
import { checkTxcoreInvariants } from '../../db/invariants-txcore';
import { handler, positiveInt } from './command';
import { failed, note, paint, printJson, printLine } from './printer';

/** `txmgr check`: the ledger invariants (DESIGN.md §3) against the live database. */
export function registerCheckCommand(program: Command): void {
  program
    .command('check')
    .description(
      'check the invariants against DATABASE_URL: balanced books, balances equal their transfers and holds, holds within ' +
        'their amounts, open holds owned by running sagas (asks Temporal when TEMPORAL_ADDRESS is set), stale prepared transactions, ' +
        'every change (transfers, holds, saga rows) with its change-log entry',
    )
    .option(
      '--prepared-timeout <seconds>',
      `a prepared transaction older than this is a violation (default ${DEFAULT_PREPARED_TIMEOUT_MS / 1000})`,
      positiveInt('--prepared-timeout'),
    )
    .action(
      handler(async (ctx, out, o: { preparedTimeout?: number }) => {
        const pool = await ctx.db();
        const temporal = ctx.temporalAddress ? await ctx.temporal() : undefined;
        const report = await runInvariantChecks(pool, {
          temporal,
          preparedTimeoutMs: o.preparedTimeout === undefined ? undefined : o.preparedTimeout * 1000,
          extraChecks: [(p) => checkTxcoreInvariants(p)],
        });
        if (out.json) printJson({ ok: report.violations.length === 0, ...report });
        else {
          for (const v of report.violations) printLine(`${paint('red', 'violation')}  ${v}`);
          for (const s of report.skipped) note(`skipped: ${s}`);
          if (report.violations.length === 0) printLine(`all invariants hold on ${ctx.databaseWhere}`);
        }
        if (report.violations.length > 0) {
          const n = report.violations.length;
          throw failed(
            'InvariantViolation',
            `${n} invariant violation${n === 1 ? '' : 's'} on ${ctx.databaseWhere}`,
            'each line above names the ids involved; do not move money until they are explained',
          );
        }
      }),
    );
}
