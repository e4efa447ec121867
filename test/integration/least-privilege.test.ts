import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { loadApiConfig } from '../../src/api/config';
import { startApiServer } from '../../src/api/server';
import { TxmgrClient } from '../../src/client';
import { createApiKey } from '../../src/client/api-keys';
import { cancelCampaign, createCampaign } from '../../src/client/campaigns';
import { executeTrade, startTrade } from '../../src/client/trades';
import { executeTransaction, TransactionFailedError } from '../../src/client/transactions';
import { withdrawCrypto } from '../../src/client/withdrawals';
import { checkCampaignInvariants } from '../../src/db/invariants-campaign';
import { checkTradeInvariants } from '../../src/db/invariants-trade';
import { checkTxcoreInvariants } from '../../src/db/invariants-txcore';
import { findOrderByClientId } from '../../src/db/queries/orders';
import { sagaStatusQuery } from '../../src/workflows';
import { fundedAccount, setCampaignDefaults } from '../helpers/campaign-fixtures';
import { ChainSimProcess } from '../helpers/chain-sim';
import { eventually, useTestContext } from '../helpers/context';
import { count, openUserAccount } from '../helpers/fixtures';
import { applyTestConfig, BTC, trader, tradeMarketsTx, USD } from './trade-fixtures';
import { fundedSide, overdraw, sideOps, snapshot } from './tx-fixtures';
import { applyWithdrawalRules, codes, customer, expectAllInvariants, gatewayFor, TOTP_KEY } from './withdrawal-fixtures';

/**
 * The worker, the client and the API connected as the application's login role (a member of
 * txmgr_app, as the embedded stack and docker-compose.yml run them): every saga and the
 * transaction core work, and the role can change neither the schema nor a money row.
 */
const ctx = useTestContext({ custody: true });
const sim = new ChainSimProcess(150);

beforeAll(async () => {
  await applyWithdrawalRules(ctx.pool);
  await setCampaignDefaults(ctx.pool);
  await sim.start();
});
afterAll(() => sim.dispose());

async function refused(pool: Pool, sql: string): Promise<string | undefined> {
  return pool.query(sql).then(
    () => undefined,
    (e: { code?: string }) => e.code,
  );
}

describe('the application role', () => {
  test('is refused schema changes and any change to money rows, in the ledger and in custody', async () => {
    const statements = [
      'CREATE TABLE stolen (id int)',
      'DROP TABLE transfers',
      'ALTER TABLE transfers ADD COLUMN note text',
      'ALTER TABLE accounts DROP CONSTRAINT accounts_debits_within_credits',
      'TRUNCATE transfers',
      'DELETE FROM transfers',
      'DELETE FROM holds',
      'DELETE FROM accounts',
      'DELETE FROM change_log',
      'UPDATE transfers SET amount = amount + 1',
      'UPDATE fills SET quantity = quantity + 1',
      "UPDATE change_log SET change = 'x'",
      'DROP TABLE tx_operations',
      'CREATE ROLE intruder',
    ];
    for (const [name, pool] of [
      ['ledger', ctx.appPool],
      ['custody', ctx.appCustodyPool!],
    ] as const) {
      const who = await pool.query<{ u: string }>('SELECT current_user AS u');
      expect(who.rows[0]?.u).toBe('txmgr_worker');
      for (const sql of statements) expect({ name, sql, code: await refused(pool, sql) }).toEqual({ name, sql, code: '42501' });
    }
    const tables = await ctx.pool.query<{ n: string }>(
      `SELECT COUNT(*)::text AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name = ANY($1)`,
      [['accounts', 'transfers', 'holds', 'fills', 'change_log', 'tx_operations']],
    );
    expect(tables.rows[0]?.n).toBe('6');
  });

  test('runs a trade, a withdrawal, a campaign undone before activation and the transaction core in all three modes', async () => {
    const tq = ctx.taskQueue();
    const client = new TxmgrClient(ctx.temporal, ctx.appPool, tq);
    const seller = await trader(ctx.pool, { BTC: BTC(1), USD: 0n });
    const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(500) });
    const holder = await customer(ctx.pool);
    const campaignOwner = await fundedAccount(ctx.pool, 20_000n);
    const ledger = await fundedSide(ctx.pool);
    const custody = await fundedSide(ctx.custodyPool!);
    const before = await snapshot(ledger);
    await ctx.withWorker(
      tq,
      async () => {
        // Config through the siphon, applied by the worker as the role.
        await applyTestConfig(ctx, tq, `config-siphon-lp-${randomUUID().slice(0, 8)}`, tradeMarketsTx());

        const sell = { owner: seller.owner, market: 'BTC-USD', side: 'sell' as const, quantity: '1', price: '100.00' };
        const maker = await startTrade(client, { ...sell, clientOrderId: 'lp-maker' });
        await eventually(async () => (await findOrderByClientId(ctx.pool, seller.owner, 'lp-maker'))?.status === 'open');
        const taker = await executeTrade(client, {
          ...{ owner: buyer.owner, market: 'BTC-USD', side: 'buy', quantity: '1', price: '100.00', tif: 'IOC' },
        });
        expect(taker).toMatchObject({ status: 'filled' });
        expect(await ctx.temporal.workflow.getHandle(maker.workflowId).result()).toMatchObject({ status: 'filled' });

        const [, otp] = await codes(holder.secret);
        const withdrawal = await withdrawCrypto(
          client,
          { accountId: holder.accountId, asset: 'BTC', address: holder.address, amount: '0.25', otp, pollSeconds: 0.2 },
          TOTP_KEY,
        );
        expect(withdrawal).toMatchObject({ status: 'COMPLETED', amount: '25000000' });

        const soon = (s: number) => new Date(Date.now() + s * 1000).toISOString();
        const campaign = await createCampaign(client, {
          ...{ ownerAccountId: campaignOwner, name: `lp-${randomUUID().slice(0, 8)}`, budget: '100.00' },
          ...{ rewardPerUser: '5.00', startsAt: soon(3600), endsAt: soon(7200) },
        });
        expect(campaign.status).toBe('scheduled');
        expect(await cancelCampaign(client, campaign.campaignId, 'least privilege')).toMatchObject({
          outcome: 'cancelled-before-activation',
        });
        expect(await ctx.temporal.workflow.getHandle(campaign.workflowId).query(sagaStatusQuery)).toMatchObject({
          status: 'COMPENSATED',
          compensationsRun: ['releaseCampaignBudget', 'cleanCampaignState', 'deleteCampaignRecord'],
        });
        expect(await count(ctx.pool, 'SELECT 1 FROM campaigns WHERE id = $1', [campaign.campaignId])).toBe(0);

        const target = { temporal: ctx.temporal, taskQueue: tq };
        const atomic = await executeTransaction(target, { id: `lp-${randomUUID()}`, operations: sideOps(ledger, 'ledger', 0) });
        expect(atomic.status).toBe('COMMITTED');
        const undone = await executeTransaction(target, {
          id: `lp-${randomUUID()}`,
          mode: 'saga',
          operations: [...sideOps(ledger, 'ledger', 0), overdraw(ledger, 'ledger')],
        }).catch((e: unknown) => e);
        expect(undone).toBeInstanceOf(TransactionFailedError);
        expect((undone as TransactionFailedError).transaction).toMatchObject({ status: 'ROLLED_BACK' });
        const twoPhase = await executeTransaction(target, {
          id: `lp-${randomUUID()}`,
          mode: '2pc',
          operations: [...sideOps(ledger, 'ledger', 0), ...sideOps(custody, 'custody', 4)],
        });
        expect(twoPhase.status).toBe('COMMITTED');
      },
      { pool: ctx.appPool, custodyPool: ctx.appCustodyPool, chain: gatewayFor(sim), totpKey: TOTP_KEY },
    );
    // Two committed batches: 2 × (100 transferred + 50 captured) left the user.
    expect(await snapshot(ledger)).not.toBe(before);
    expect(await count(ctx.pool, 'SELECT 1 FROM pg_prepared_xacts WHERE database = $1', [ctx.databaseName])).toBe(0);
    await expectAllInvariants(ctx);
    expect(await checkTradeInvariants(ctx.pool)).toEqual([]);
    expect(await checkCampaignInvariants(ctx.pool)).toEqual([]);
    expect(await checkTxcoreInvariants(ctx.pool)).toEqual([]);
    expect(await checkTxcoreInvariants(ctx.custodyPool!)).toEqual([]);
  });

  test('serves the API: a refused request frees its Idempotency-Key, so the corrected request can use it', async () => {
    const tq = ctx.taskQueue();
    const { app, url } = await startApiServer({
      client: new TxmgrClient(ctx.temporal, ctx.appPool, tq),
      config: { ...loadApiConfig({}), host: '127.0.0.1', port: 0 },
      logger: ctx.logger,
      siphonWorkflowId: `siphon-${tq}`,
    });
    try {
      const { key } = await createApiKey(ctx.appPool, { name: 'least-privilege', scopes: ['read', 'execute'] });
      const accountId = await openUserAccount(ctx.pool);
      const post = (amount: string) =>
        fetch(`${url}/api/v1/transactions/execute-workflow`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'idempotency-key': 'lp-1', 'content-type': 'application/json' },
          body: JSON.stringify({
            workflow_type: 'fiat_deposit',
            parameters: { accountId, asset: 'USD', amount, bankReference: 'LP-API-1', senderName: 'Ann' },
          }),
        });
      expect((await post('ten dollars')).status).toBe(422);
      const accepted = await post('10.00');
      expect(accepted.status).toBeLessThan(300);
      expect(await count(ctx.pool, `SELECT 1 FROM api_audit WHERE api_key_id IS NOT NULL`)).toBe(2);
    } finally {
      await app.close();
      await ctx.temporal.workflow
        .getHandle('deposit-LP-API-1')
        .terminate('test done')
        .catch(() => undefined);
    }
  });
});
