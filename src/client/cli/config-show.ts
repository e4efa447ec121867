import type { Command } from 'commander';
import { CONFIG_AREAS, readConfigView, type ConfigArea } from '../config-view';
import { handler } from './command';
import { badInput, printJson, printLine, printRecord, printTable } from './printer';

/** `txmgr config show [area]`: the current config as tables, read from PostgreSQL. */
export function registerConfigShow(config: Command): void {
  config
    .command('show [area]')
    .description(`the current config, read-only from PostgreSQL; area: ${CONFIG_AREAS.join(', ')} (default: all)`)
    .action(
      handler(async (ctx, out, area?: string) => {
        if (area !== undefined && !(CONFIG_AREAS as readonly string[]).includes(area)) {
          throw badInput('ValidationError', `area must be one of ${CONFIG_AREAS.join(', ')}, got "${area}"`);
        }
        const view = await readConfigView(await ctx.db(), area as ConfigArea | undefined);
        if (out.json) return printJson(view);
        printLine(`config version ${view.version}, last sequence ${view.lastSequence}`);
        const section = (title: string) => printLine(`\n${title}`);
        if (view.markets) {
          section('markets');
          printTable(
            [
              ['symbol', 'SYMBOL'],
              ['status', 'STATUS'],
              ['tickSize', 'TICK'],
              ['lotSize', 'LOT'],
              ['minQuantity', 'MIN QTY'],
              ['maxQuantity', 'MAX QTY'],
              ['priceBandBps', 'BAND BPS'],
              ['makerFeeBps', 'MAKER BPS'],
              ['takerFeeBps', 'TAKER BPS'],
            ],
            view.markets,
          );
        }
        if (view.compliance) {
          section('compliance review thresholds');
          printTable(
            [
              ['asset', 'ASSET'],
              ['reviewThreshold', 'REVIEW ABOVE'],
              ['reviewTimeoutSeconds', 'REVIEW TIMEOUT (S)'],
            ],
            view.compliance,
          );
        }
        if (view.denylist) {
          section('deny list');
          printTable(
            [
              ['name', 'NAME'],
              ['reason', 'REASON'],
            ],
            view.denylist,
          );
        }
        if (view.withdrawals) {
          section('withdrawal rules');
          printTable(
            [
              ['asset', 'ASSET'],
              ['minimum', 'MINIMUM'],
              ['perTransactionLimit', 'PER TRANSACTION'],
              ['dailyLimit', 'DAILY'],
              ['networkFee', 'NETWORK FEE'],
              ['confirmationsRequired', 'CONFIRMATIONS'],
            ],
            view.withdrawals,
          );
        }
        if (view.campaigns !== undefined) {
          section('campaign defaults');
          if (view.campaigns === null) printLine('(none)');
          else
            printRecord([
              ['max budget', view.campaigns.maxBudget],
              ['max reward per user', view.campaigns.maxRewardPerUser],
              ['default duration', `${view.campaigns.defaultDurationDays} days`],
              ['activation delay', `${view.campaigns.activationDelaySeconds} s`],
            ]);
        }
      }),
    );
}
