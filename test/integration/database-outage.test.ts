import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { cancelCampaign, createCampaign } from '../../src/client/campaigns';
import { startTrade } from '../../src/client/trades';
import { startWithdrawal, withdrawalProgress } from '../../src/client/withdrawals';
import { checkCampaignInvariants } from '../../src/db/invariants-campaign';
import { checkTradeInvariants } from '../../src/db/invariants-trade';
import { findOrderByClientId } from '../../src/db/queries/orders';
import { campaignProgressQuery } from '../../src/workflows';
import { fundedAccount, setCampaignDefaults } from '../helpers/campaign-fixtures';
import { ChainSimProcess } from '../helpers/chain-sim';
import { eventually, useTestContext } from '../helpers/context';
import { balances } from '../helpers/fixtures';
import { databaseOutage } from '../helpers/outage';
import { applyTestConfig, balanceOf, BTC, trader, tradeMarketsTx, USD } from './trade-fixtures';
import { applyWithdrawalRules, codes, customer, expectAllInvariants, gatewayFor, TOTP_KEY } from './withdrawal-fixtures';

/**
 * Faults are not outcomes: the worker's database becomes unreachable (no new connection is
 * let in and every open one is terminated) in the middle of a resting trade, a taker trade,
 * a withdrawal waiting for confirmations and a campaign waiting for its start, for longer
 * than the old retry budget (8 attempts, about a minute). Once it is back, each saga ends as
 * it would have without the outage.
 */
const ctx = useTestContext();
const sim = new ChainSimProcess(150);
/** The old forward-step policy gave up after this many attempts; the outage lasts past it. */
const OLD_MAXIMUM_ATTEMPTS = 8;

beforeAll(async () => {
  await applyWithdrawalRules(ctx.pool);
  await setCampaignDefaults(ctx.pool);
  await sim.start();
});
afterAll(() => sim.dispose());

/** The highest attempt of the saga's activity that is waiting for the database. */
async function retriedPast(handle: WorkflowHandle, attempts: number): Promise<boolean> {
  const d = await handle.describe();
  if (d.status.name !== 'RUNNING') throw new Error(`${handle.workflowId} is ${d.status.name} during the outage`);
  return (d.raw.pendingActivities ?? []).some((a) => (a.attempt ?? 0) > attempts);
}

test('a database outage longer than the old retry budget in the middle of trades, a withdrawal and a campaign changes no outcome', async () => {
  const tq = ctx.taskQueue();
  // The client (the caller's side) reads as the owner; the worker runs as the application's role.
  const client = ctx.client(tq);
  const seller = await trader(ctx.pool, { BTC: BTC(1), USD: 0n });
  const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(500) });
  const holder = await customer(ctx.pool);
  const owner = await fundedAccount(ctx.pool, 20_000n);
  await ctx.withWorker(
    tq,
    async () => {
      await applyTestConfig(ctx, tq, `config-siphon-outage-${randomUUID().slice(0, 8)}`, tradeMarketsTx());
      const sell = { owner: seller.owner, market: 'BTC-USD', side: 'sell' as const, quantity: '1', price: '100.00' };
      const maker = await startTrade(client, { ...sell, clientOrderId: 'outage-maker', recheckSeconds: 1 });
      await eventually(async () => (await findOrderByClientId(ctx.pool, seller.owner, 'outage-maker'))?.status === 'open');

      const [, otp] = await codes(holder.secret);
      const w = await startWithdrawal(
        client,
        { accountId: holder.accountId, asset: 'BTC', address: holder.address, amount: '0.25', otp, pollSeconds: 3 },
        TOTP_KEY,
      );
      await eventually(async () => (await withdrawalProgress(client, w.withdrawalId)).phase === 'confirming');

      const startsAt = new Date(Date.now() + 15_000).toISOString();
      const endsAt = new Date(Date.now() + 3_600_000).toISOString();
      const campaign = await createCampaign(client, {
        ...{ ownerAccountId: owner, name: `outage-${randomUUID().slice(0, 8)}`, budget: '100.00', rewardPerUser: '5.00' },
        ...{ startsAt, endsAt },
      });
      expect(campaign.status).toBe('scheduled');

      const down = databaseOutage(ctx.pool, ctx.databaseName);
      const taker = await startTrade(client, {
        ...{ owner: buyer.owner, market: 'BTC-USD', side: 'buy', quantity: '1', price: '100.00', tif: 'IOC' },
        clientOrderId: 'outage-taker',
      });
      const handles = [taker.workflowId, w.workflowId, campaign.workflowId].map((id) => ctx.temporal.workflow.getHandle(id));
      try {
        for (const h of handles) await eventually(() => retriedPast(h, OLD_MAXIMUM_ATTEMPTS), 300_000);
      } finally {
        await down.end();
      }

      expect(await handles[0]!.result()).toMatchObject({ status: 'filled' });
      expect(await ctx.temporal.workflow.getHandle(maker.workflowId).result()).toMatchObject({ status: 'filled' });
      expect(await handles[1]!.result()).toMatchObject({ status: 'COMPLETED', amount: '25000000' });
      await eventually(async () => (await handles[2]!.query(campaignProgressQuery)).status === 'active', 120_000);
      expect(await cancelCampaign(client, campaign.campaignId, 'test over')).toMatchObject({
        outcome: 'ended-early',
        released: '10000',
      });
    },
    { pool: ctx.appPool, chain: gatewayFor(sim), totpKey: TOTP_KEY },
  );
  // Each moved its money once: 1 BTC for 100.00 USD (fees 0.20 taker, 0.10 maker), 0.25 BTC + fee out.
  expect(await balanceOf(ctx.pool, buyer.accounts.BTC!)).toEqual({ balance: BTC(1), pending: 0n });
  expect(await balanceOf(ctx.pool, buyer.accounts.USD!)).toEqual({ balance: USD(500) - USD(100) - 20n, pending: 0n });
  expect(await balanceOf(ctx.pool, seller.accounts.USD!)).toEqual({ balance: USD(100) - 10n, pending: 0n });
  expect(await balances(ctx.pool, holder.accountId)).toMatchObject({ balance: 500_000_000n - 25_005_000n, debitsPending: 0n });
  expect(await balances(ctx.pool, owner)).toMatchObject({ balance: 20_000n, debitsPending: 0n });
  await expectAllInvariants(ctx);
  expect(await checkTradeInvariants(ctx.pool)).toEqual([]);
  expect(await checkCampaignInvariants(ctx.pool)).toEqual([]);
}, 600_000);
