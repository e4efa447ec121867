import { randomUUID } from 'node:crypto';
import { HttpChainGateway } from '../../src/chain/http-gateway';
import { createApiKey } from '../../src/client/api-keys';
import { cancelCampaign, createCampaign } from '../../src/client/campaigns';
import { cancelOrder, startTrade } from '../../src/client/trades';
import { executeTransaction } from '../../src/client/transactions';
import { startWithdrawal } from '../../src/client/withdrawals';
import { DomainError } from '../../src/domain/errors';
import { fundedAccount, setCampaignDefaults } from '../helpers/campaign-fixtures';
import { eventually, useTestContext } from '../helpers/context';
import { count, openUserAccount } from '../helpers/fixtures';
import { INJECTION_STRINGS } from '../helpers/properties';
import { startTestApi } from './api-fixtures';
import { applyTestConfig, fund, tradeMarketsTx } from './trade-fixtures';
import { applyWithdrawalRules, customer, failureOf, TOTP_KEY } from './withdrawal-fixtures';

/**
 * SQL-injection strings in every text field of the trade, withdrawal, campaign and
 * transaction-core sagas and of the HTTP API: free text (names, owners, reasons) is stored
 * exactly as given; identifiers with an alphabet (client order ids, references, transaction
 * ids, addresses, markets, Idempotency-Keys) are refused naming the field. Nothing is executed:
 * every table is still there and the rows say so. (Deposits and config: database-hygiene.test.ts.)
 */
const ctx = useTestContext();

async function tableCount(): Promise<number> {
  return count(ctx.pool, `SELECT 1 FROM information_schema.tables WHERE table_schema = 'public'`);
}

async function refusal(p: Promise<unknown>): Promise<{ type: string; field: unknown }> {
  const err = await p.then(
    (v) => ({ unexpectedlyAccepted: v }),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DomainError);
  return { type: (err as DomainError).type, field: (err as DomainError).details?.field };
}

let tables: number;
beforeAll(async () => {
  await applyWithdrawalRules(ctx.pool);
  await setCampaignDefaults(ctx.pool);
  tables = await tableCount();
});
afterEach(async () => {
  expect(await tableCount()).toBe(tables);
  expect(await count(ctx.pool, `SELECT 1 FROM accounts WHERE kind = 'house'`)).toBeGreaterThan(0);
});

test('trade owners, campaign names and reasons, and freeze reasons are stored verbatim; identifiers are refused by field', async () => {
  const tq = ctx.taskQueue();
  const client = ctx.client(tq);
  const chain = new HttpChainGateway({ baseUrl: 'http://127.0.0.1:9', network: 'mainnet' });
  await ctx.withWorker(
    tq,
    async () => {
      await applyTestConfig(ctx, tq, `config-siphon-inj-${randomUUID().slice(0, 8)}`, tradeMarketsTx());
      for (const text of INJECTION_STRINGS) {
        // Trade: the owner is free text; the client order id and the market have an alphabet.
        const btc = await openUserAccount(ctx.pool, 'BTC', text);
        await openUserAccount(ctx.pool, 'USD', text);
        await fund(ctx.pool, btc, 'BTC', 100_000_000n);
        const sell = { owner: text, market: 'BTC-USD', side: 'sell' as const, quantity: '1', price: '100.00' };
        const clientOrderId = `inj-${randomUUID().slice(0, 8)}`;
        await startTrade(client, { ...sell, clientOrderId });
        await eventually(
          async () => (await count(ctx.pool, `SELECT 1 FROM orders WHERE owner = $1 AND status = 'open'`, [text])) === 1,
        );
        const { rows: orders } = await ctx.pool.query<{ id: string; owner: string }>(
          'SELECT id, owner FROM orders WHERE owner = $1',
          [text],
        );
        expect(orders.map((o) => o.owner)).toEqual([text]);
        // The row is open a moment before the workflow rests and takes cancels.
        let cancelled: unknown;
        await eventually(async () => {
          cancelled = await cancelOrder(client, orders[0]!.id, text);
          return true;
        });
        expect(cancelled).toMatchObject({ status: 'cancelled' });
        expect(await refusal(startTrade(client, { ...sell, clientOrderId: text }))).toEqual({
          type: 'ValidationError',
          field: 'clientOrderId',
        });
        expect(await refusal(startTrade(client, { ...sell, market: text }))).toEqual({
          type: 'ValidationError',
          field: 'market',
        });

        // Campaign: the name and the cancel reason are free text.
        const owner = await fundedAccount(ctx.pool, 10_000n);
        const campaign = await createCampaign(client, { ownerAccountId: owner, name: text.slice(0, 120), budget: '10.00' });
        const ended = await cancelCampaign(client, campaign.campaignId, text);
        expect(ended).toMatchObject({ outcome: 'ended-early' });
        const { rows: campaigns } = await ctx.pool.query<{ name: string; reason: string | null }>(
          'SELECT name, reason FROM campaigns WHERE id = $1',
          [campaign.campaignId],
        );
        expect(campaigns).toEqual([{ name: text.slice(0, 120), reason: expect.stringContaining(text) }]);

        // Withdrawal: an address carrying SQL is refused by the saga's validation; nothing is held.
        const holder = await customer(ctx.pool);
        const w = await startWithdrawal(
          client,
          { accountId: holder.accountId, asset: 'BTC', address: text, amount: '0.01', otp: '123456' },
          TOTP_KEY,
        );
        const failure = await failureOf(ctx.temporal.workflow.getHandle(w.workflowId).result());
        expect({ type: failure.type, field: (failure.details?.[0] as { field?: string })?.field }).toEqual({
          type: 'ValidationError',
          field: 'address',
        });
        expect(await count(ctx.pool, 'SELECT 1 FROM withdrawals WHERE id = $1', [w.withdrawalId])).toBe(0);

        // Transaction core: the id has an alphabet; a freeze reason is free text.
        expect(await refusal(executeTransaction(client, { id: text, operations: [] }))).toEqual({
          type: 'ValidationError',
          field: 'id',
        });
        const frozen = await openUserAccount(ctx.pool);
        const tx = await executeTransaction(client, {
          id: `inj-${randomUUID()}`,
          operations: [{ type: 'account.freeze', params: { accountId: frozen, reason: text } }],
        });
        expect(tx.status).toBe('COMMITTED');
        const { rows: accounts } = await ctx.pool.query<{ frozen_reason: string }>(
          'SELECT frozen_reason FROM accounts WHERE id = $1',
          [frozen],
        );
        expect(accounts).toEqual([{ frozen_reason: text }]);
      }
    },
    { chain, totpKey: TOTP_KEY },
  );
});

test('the API: key names and sender names stored verbatim; a reference or Idempotency-Key carrying SQL is refused by field', async () => {
  const tq = ctx.taskQueue();
  const api = await startTestApi(ctx, tq);
  try {
    await ctx.withWorker(tq, async () => {
      for (const text of INJECTION_STRINGS) {
        const { key, id } = await createApiKey(ctx.pool, { name: text, scopes: ['read', 'execute'] });
        const { rows: keys } = await ctx.pool.query<{ name: string }>('SELECT name FROM api_keys WHERE id = $1', [id]);
        expect(keys).toEqual([{ name: text }]);
        const account = await openUserAccount(ctx.pool);
        const reference = `INJ-${randomUUID().slice(0, 8)}`;
        const parameters = { accountId: account, asset: 'USD', amount: '12.00', bankReference: reference, senderName: text };
        const post = (body: unknown, idempotencyKey = randomUUID()) =>
          api.call('POST', 'execute-workflow?wait=true', { key, idempotencyKey, body });
        const credited = await post({ workflow_type: 'fiat_deposit', parameters });
        expect(credited.status).toBe(200);
        const { rows: deposits } = await ctx.pool.query<{ sender_name: string }>(
          'SELECT sender_name FROM deposits WHERE bank_reference = $1',
          [reference],
        );
        expect(deposits).toEqual([{ sender_name: text }]);

        const badReference = await post({ workflow_type: 'fiat_deposit', parameters: { ...parameters, bankReference: text } });
        // The HTTP schema would say parameters.bankReference; the client's own check says bankReference.
        expect({
          status: badReference.status,
          field: String(badReference.body?.error?.field).replace(/^parameters\./, ''),
        }).toEqual({
          status: 422,
          field: 'bankReference',
        });
        const badKey = await api.call('POST', 'execute-workflow', {
          key,
          idempotencyKey: text.replace(/[^\x20-\x7e]/g, ''),
          body: { workflow_type: 'fiat_deposit', parameters },
        });
        expect({ status: badKey.status, field: badKey.body?.error?.field }).toEqual({ status: 422, field: 'Idempotency-Key' });
      }
    });
  } finally {
    await api.close();
  }
});
