import { randomUUID } from 'node:crypto';
import { cancelCampaign, createCampaign } from '../../src/client/campaigns';
import { listSagas } from '../../src/client/sagas';
import { cancelOrder, startTrade } from '../../src/client/trades';
import { executeTransaction } from '../../src/client/transactions';
import { transactionWorkflowId } from '../../src/domain/operations';
import { withdrawCrypto } from '../../src/client/withdrawals';
import { findOrderByClientId } from '../../src/db/queries/orders';
import { fundedAccount, setCampaignDefaults } from '../helpers/campaign-fixtures';
import { ChainSimProcess } from '../helpers/chain-sim';
import { eventually, useTestContext } from '../helpers/context';
import { stackEnv, txmgr } from './cli-process';
import { applyTestConfig, BTC, trader, tradeMarketsTx } from './trade-fixtures';
import { fundedSide, sideOps } from './tx-fixtures';
import { applyWithdrawalRules, codes, customer, gatewayFor, TOTP_KEY } from './withdrawal-fixtures';

/**
 * `txmgr sagas list`, `saga show` and `saga retry-compensation` on every kind: a resting
 * trade, a completed withdrawal, an active campaign and an operation list. A resting order and
 * an active campaign run for days by design: listed with what they wait for, not as stuck.
 */
const ctx = useTestContext();
const sim = new ChainSimProcess(150);

beforeAll(async () => {
  await applyWithdrawalRules(ctx.pool);
  await setCampaignDefaults(ctx.pool);
  await sim.start();
});
afterAll(() => sim.dispose());

test('every kind is listed with its expected time, shown, and refused a retry with the reason', async () => {
  const tq = ctx.taskQueue();
  const env = stackEnv(ctx.databaseUrl, tq);
  const client = ctx.client(tq);
  const seller = await trader(ctx.pool, { BTC: BTC(1), USD: 0n });
  const holder = await customer(ctx.pool);
  const owner = await fundedAccount(ctx.pool, 20_000n);
  const side = await fundedSide(ctx.pool);
  await ctx.withWorker(
    tq,
    async () => {
      await applyTestConfig(ctx, tq, `config-siphon-tool-${randomUUID().slice(0, 8)}`, tradeMarketsTx());
      const trade = await startTrade(client, {
        ...{ owner: seller.owner, market: 'BTC-USD', side: 'sell', quantity: '1', price: '100.00' },
        clientOrderId: 'tool-rest',
      });
      await eventually(async () => (await findOrderByClientId(ctx.pool, seller.owner, 'tool-rest'))?.status === 'open');
      const [, otp] = await codes(holder.secret);
      const withdrawal = await withdrawCrypto(
        client,
        { accountId: holder.accountId, asset: 'BTC', address: holder.address, amount: '0.01', otp, pollSeconds: 0.2 },
        TOTP_KEY,
      );
      const campaign = await createCampaign(client, { ownerAccountId: owner, name: 'tooling', budget: '10.00' });
      const txId = `tool-${randomUUID()}`;
      await executeTransaction(client, { id: txId, operations: sideOps(side, 'ledger', 0) });
      const ids = {
        trade: trade.workflowId,
        withdrawal: `withdrawal-${withdrawal.withdrawalId}`,
        campaign: campaign.workflowId,
        'transaction-atomic': transactionWorkflowId(txId),
      };
      await eventually(async () => (await listSagas(ctx.temporal, { taskQueue: tq })).length >= 4);

      // Everything is overdue against a 1 s allowance; the database tells which waits are by design.
      await new Promise((r) => setTimeout(r, 1_500));
      const listed = await listSagas(ctx.temporal, { taskQueue: tq, expectedMs: 1_000, pool: ctx.pool });
      const byId = new Map(listed.map((l) => [l.workflowId, l]));
      expect(byId.get(ids.trade)).toMatchObject({
        kind: 'trade',
        executionStatus: 'RUNNING',
        waitingFor: expect.stringContaining('a resting order (BTC-USD sell)'),
      });
      expect(byId.get(ids.trade)?.attention).toBeUndefined();
      expect(byId.get(ids.campaign)).toMatchObject({
        kind: 'campaign',
        waitingFor: expect.stringContaining('a active campaign, running until'),
      });
      expect(byId.get(ids.campaign)?.attention).toBeUndefined();
      expect(byId.get(ids.withdrawal)).toMatchObject({ kind: 'withdrawal', status: 'COMPLETED' });
      expect(byId.get(ids['transaction-atomic'])).toMatchObject({ kind: 'transaction-atomic', status: 'COMMITTED' });
      // Without the database nothing tells a resting order from a stuck one.
      const blind = await listSagas(ctx.temporal, { taskQueue: tq, expectedMs: 1_000, attention: true });
      expect(blind.map((l) => l.workflowId).sort()).toEqual([ids.trade, ids.campaign].sort());
      const cli = JSON.parse(
        (await txmgr(['--json', 'sagas', 'list', '--attention', '--expected', '1s'], env)).stdout,
      ) as unknown[];
      expect(cli).toEqual([]);

      for (const [kind, id] of Object.entries(ids)) {
        const shown = await txmgr(['--json', 'saga', 'show', id], env);
        expect({ kind, code: shown.code, stderr: shown.stderr }).toEqual({ kind, code: 0, stderr: '' });
        const view = JSON.parse(shown.stdout) as { saga: { stepsDone: string[] } | null; transaction: { status: string } | null };
        if (kind === 'transaction-atomic') expect(view.transaction).toMatchObject({ status: 'COMMITTED' });
        else expect(view.saga?.stepsDone).toEqual(expect.arrayContaining(['validate']));
        const retry = await txmgr(['saga', 'retry-compensation', id], env);
        expect({ kind, failed: retry.code !== 0 }).toEqual({ kind, failed: true });
        expect(retry.stderr).toMatch(/InvalidState: saga .* (is RUNNING, not COMPENSATION_FAILED|already (COMPLETED|COMMITTED))/);
        expect(retry.stderr).not.toMatch(/Workflow|grpc|Error:/);
      }
      const text = await txmgr(['saga', 'show', ids['transaction-atomic']], env);
      expect(text.stdout).toMatch(/operations +0 ledger\.transfer on ledger: applied; 1 ledger\.hold on ledger: applied/);

      const order = await findOrderByClientId(ctx.pool, seller.owner, 'tool-rest');
      expect(await cancelOrder(client, order!.id, seller.owner)).toMatchObject({ status: 'cancelled' });
      expect(await cancelCampaign(client, campaign.campaignId, 'test over')).toMatchObject({ outcome: 'ended-early' });
    },
    { chain: gatewayFor(sim), totpKey: TOTP_KEY },
  );
}, 300_000);
