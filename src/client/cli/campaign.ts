import fs from 'node:fs';
import type { Command } from 'commander';
import type { CampaignProgress } from '../../domain/campaign';
import { formatAmount } from '../../domain/money';
import {
  cancelCampaign,
  createCampaign,
  getCampaign,
  payRewards,
  type CampaignClient,
  type CampaignView,
  type RewardRequest,
} from '../campaigns';
import { handler, positiveInt, required } from './command';
import { badInput, printJson, printLine, printRecord } from './printer';
import { requireWorker } from './wait';

function printCampaign(v: CampaignView): void {
  const money = (x?: string) => (x === undefined ? undefined : `${x} ${v.asset ?? ''}`.trim());
  printRecord([
    ['campaign', v.campaignId],
    ['name', v.name],
    ['type', v.type],
    ['status', v.status],
    ['owner', v.ownerAccountId],
    ['budget', money(v.budget)],
    ['spent', money(v.spent)],
    ['released', v.status === 'completed' || v.status === 'cancelled' ? money(v.released) : undefined],
    ['reward per user', money(v.rewardPerUser)],
    ['max per user', money(v.maxPerUser)],
    ['rewards paid', v.rewardsPaid],
    ['starts', v.startsAt],
    ['ends', v.endsAt],
    ['reason', v.reason],
    ['saga', v.workflowId],
  ]);
}

/** The campaign as recorded, or — undone before activation — what the saga answered. */
async function shown(c: CampaignClient, p: CampaignProgress): Promise<CampaignView> {
  return getCampaign(c.pool, p.campaignId);
}

/** Reads a rewards file: a JSON list of { accountId, amount } or CSV lines `accountId,amount` (amount optional). */
export function readRewardsFile(file: string): RewardRequest {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw badInput('ValidationError', `cannot read ${file}: ${(err as Error).message}`);
  }
  if (/^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text) as RewardRequest;
    } catch (err) {
      throw badInput(
        'ValidationError',
        `${file} is not valid JSON: ${(err as Error).message}`,
        'give a list of { "accountId", "amount" }',
      );
    }
  }
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^account/i.test(line))
    .map((line) => {
      const [accountId = '', amount] = line.split(/\s*,\s*/);
      return amount ? { accountId, amount } : { accountId };
    });
}

/** `txmgr campaign create | cancel | show | pay`. */
export function registerCampaignCommands(program: Command): void {
  const campaign = program.command('campaign').description('marketing campaigns: create one, pay rewards, cancel it');
  const create = campaign
    .command('create')
    .description('create a campaign: reserves its budget and activates it now or at --starts (returns once set up)')
    .option('--id <uuid>', 'campaign id (default: a new UUID); the same id again joins the same campaign')
    .option('--asset <asset>', 'budget asset (default: the campaign config budget asset)')
    .option('--type <type>', 'referral, cashback, airdrop or promotion', 'promotion')
    .option('--reward <decimal>', 'reward per user (default: the per-user maximum)')
    .option('--max-per-user <decimal>', 'largest reward one user may get (default: the configured maximum)')
    .option('--starts <iso-time>', 'activation time (default: now plus the configured delay)')
    .option('--ends <iso-time>', 'end time (default: the configured duration after the start)')
    .option('--duration <seconds>', 'run for this many seconds from the start, instead of --ends', positiveInt('--duration'));
  required(create, '--owner <uuid>', 'account that funds the budget (a hold on it)');
  required(create, '--name <name>', 'campaign name, unique per owner');
  required(create, '--budget <decimal>', 'budget as a human decimal, e.g. 1000.00');
  create.action(
    handler(async (ctx, out, o: Record<string, string | number | undefined>) => {
      const txmgr = await ctx.txmgr();
      await requireWorker(txmgr.temporal, ctx.taskQueue);
      const setup = await createCampaign(txmgr, {
        campaignId: o.id as string | undefined,
        ownerAccountId: o.owner as string,
        name: o.name as string,
        budget: o.budget as string,
        asset: o.asset as string | undefined,
        type: o.type as never,
        rewardPerUser: o.reward as string | undefined,
        maxPerUser: o.maxPerUser as string | undefined,
        startsAt: o.starts as string | undefined,
        endsAt: o.ends as string | undefined,
        durationSeconds: o.duration as number | undefined,
      });
      const view = await shown(txmgr, setup);
      if (out.json) return printJson(view);
      printCampaign(view);
    }),
  );

  campaign
    .command('cancel <campaignId>')
    .description('before activation: undo the setup; after: end it early, releasing the unspent budget')
    .option('--reason <text>', 'why, recorded with the campaign')
    .action(
      handler(async (ctx, out, id: string, o: { reason?: string }) => {
        const txmgr = await ctx.txmgr();
        const final = await cancelCampaign(txmgr, id, o.reason);
        const view = await shown(txmgr, final);
        if (out.json) return printJson({ ...view, outcome: final.outcome });
        printLine(
          final.outcome === 'cancelled-before-activation'
            ? `campaign ${id} cancelled before activation: its setup was undone, the budget released`
            : `campaign ${id} ended early: ${view.spent} ${view.asset} spent, ${view.released} ${view.asset} released`,
        );
      }),
    );

  campaign
    .command('show <campaignId>')
    .description('a campaign: status, budget, spent, schedule (reads PostgreSQL only)')
    .action(
      handler(async (ctx, out, id: string) => {
        const view = await getCampaign(await ctx.db(), id);
        if (out.json) return printJson(view);
        printCampaign(view);
      }),
    );

  campaign
    .command('pay <campaignId> <file>')
    .description('pay a batch of rewards from a JSON or CSV file, all or nothing (the same batch twice pays once)')
    .option('--batch <id>', 'batch id (default: a digest of the file content)')
    .action(
      handler(async (ctx, out, id: string, file: string, o: { batch?: string }) => {
        const rewards = readRewardsFile(file);
        const txmgr = await ctx.txmgr();
        const result = await payRewards(txmgr, id, rewards, { batchId: o.batch });
        if (out.json) return printJson(result);
        const view = await getCampaign(txmgr.pool, id);
        const scale = await txmgr.assetScale(view.asset ?? 'USD');
        const h = (v: string) => `${formatAmount(BigInt(v), scale)} ${view.asset ?? ''}`;
        const first = result.repeated ? `batch ${result.batchId} was paid before, nothing paid now; then it ` : '';
        printLine(
          `${first}paid ${result.paid} rewards (${h(result.amount)})${result.alreadyPaid ? `, ${result.alreadyPaid} already paid` : ''}; ` +
            `campaign spent ${h(result.spent)}, ${h(result.remaining)} left`,
        );
      }),
    );
}
