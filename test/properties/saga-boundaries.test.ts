import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { HttpChainGateway } from '../../src/chain/http-gateway';
import { createActivities } from '../../src/activities';
import { startCampaign } from '../../src/client/campaigns';
import { startTrade } from '../../src/client/trades';
import { startWithdrawal } from '../../src/client/withdrawals';
import { DomainError } from '../../src/domain/errors';
import { PinoSdkLogger } from '../../src/temporal/sdk-logger';
import { parseTransaction } from '../../src/domain/operations';
import { fundedAccount, setCampaignDefaults } from '../helpers/campaign-fixtures';
import { useTestContext } from '../helpers/context';
import {
  badHumanAmount,
  blank,
  INJECTION,
  mutate,
  notString,
  notUuid,
  numRuns,
  tooLong,
  unknownKey,
  withNul,
  type Mutation,
} from '../helpers/properties';
import { applyTestConfig, BTC, trader, tradeMarketsTx, USD, type Trader } from '../integration/trade-fixtures';
import { applyWithdrawalRules, customer, TOTP_KEY, type Customer } from '../integration/withdrawal-fixtures';

/**
 * The trade, withdrawal, campaign and transaction-core boundaries under generated bad input:
 * the client refuses before a saga starts, the saga's validate step refuses with a
 * non-retryable failure; each names the field, and nothing is written or started.
 */
const ctx = useTestContext();

const TABLES = [
  'accounts',
  'transfers',
  'holds',
  'orders',
  'fills',
  'withdrawals',
  'campaigns',
  'campaign_state',
  'tx_operations',
];
async function rowCounts(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const t of TABLES) counts[t] = Number((await ctx.pool.query(`SELECT COUNT(*) AS n FROM ${t}`)).rows[0].n);
  return counts;
}

/** The rejection of `p`: a DomainError (client side) naming `field`, or anything else failing the property. */
async function expectRefusedAt(p: Promise<unknown>, field: string): Promise<void> {
  const err = await p.then(
    (value: unknown) => ({ unexpectedlyAccepted: value }),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DomainError);
  expect({ type: (err as DomainError).type, field: (err as DomainError).details?.field }).toEqual({
    type: 'ValidationError',
    field,
  });
}

/** The validate activity's refusal: a non-retryable ValidationError naming `field`. */
async function expectFailedAt(p: Promise<unknown>, field: string): Promise<void> {
  const err = await p.then(
    (value: unknown) => ({ unexpectedlyAccepted: value }),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  const f = err as ApplicationFailure;
  expect({ type: f.type, nonRetryable: f.nonRetryable, field: (f.details?.[0] as { field?: string })?.field }).toEqual({
    type: 'ValidationError',
    nonRetryable: true,
    field,
  });
}

const notWorkflowStarted = async (workflowId: string) => {
  const described = await ctx.temporal.workflow
    .getHandle(workflowId)
    .describe()
    .then(() => 'started')
    .catch(() => 'not started');
  expect(described).toBe('not started');
};

let seller: Trader;
let holder: Customer;
let campaignOwner: string;
let before: Record<string, number>;

beforeAll(async () => {
  const tq = ctx.taskQueue();
  await ctx.withWorker(tq, () => applyTestConfig(ctx, tq, `config-siphon-props-${randomUUID().slice(0, 8)}`, tradeMarketsTx()));
  await applyWithdrawalRules(ctx.pool);
  await setCampaignDefaults(ctx.pool);
  seller = await trader(ctx.pool, { BTC: BTC(1), USD: USD(100) });
  holder = await customer(ctx.pool);
  campaignOwner = await fundedAccount(ctx.pool, 50_000n);
  before = await rowCounts();
}, 120_000);

afterEach(async () => {
  expect(await rowCounts()).toEqual(before);
});

describe('trade requests', () => {
  const bad: fc.Arbitrary<Mutation> = fc.oneof(
    mutate('owner', fc.oneof(notString, blank, tooLong(200), withNul)),
    mutate('market', fc.oneof(notString, INJECTION, fc.constantFrom('BTCUSD', 'btc_usd', '', 'BTC-USD-EUR'))),
    mutate('side', fc.oneof(notString, fc.constantFrom('BUY ', 'short', ''), INJECTION)),
    mutate('type', fc.oneof(notString, fc.constantFrom('stop', 'LIMIT', ''))),
    mutate('quantity', badHumanAmount),
    mutate('price', badHumanAmount),
    mutate('tif', fc.oneof(notString, fc.constantFrom('ioc', 'GTX', ''))),
    mutate('postOnly', fc.oneof(fc.string(), fc.integer(), fc.constant(null))),
    mutate('clientOrderId', fc.oneof(notString, blank, tooLong(64), INJECTION, fc.constantFrom('-x', 'a b', 'ref;1'))),
    mutate('recheckSeconds', fc.oneof(fc.constantFrom(0, -1, 1.5, 3601, Number.NaN), fc.string())),
    unknownKey,
  );
  const valid = () => ({
    owner: seller.owner,
    market: 'BTC-USD',
    side: 'sell',
    quantity: '0.5',
    price: '100.00',
    tif: 'IOC',
    clientOrderId: `p-${randomUUID().slice(0, 8)}`,
  });

  test('the client refuses each bad field by name and starts no saga', async () => {
    const client = ctx.client(ctx.taskQueue());
    await fc.assert(
      fc.asyncProperty(bad, async (m) => {
        const request = { ...valid(), [m.field]: m.value };
        await expectRefusedAt(startTrade(client, request as never), m.expectField);
        await notWorkflowStarted(`trade-${seller.owner}-${String(request.clientOrderId)}`);
      }),
      { numRuns: numRuns(100) },
    );
  });

  test('validateTrade, the saga input boundary, fails non-retryably naming the field', async () => {
    const activities = createActivities({ pool: ctx.pool, logger: ctx.logger });
    const minorBad = fc.oneof(notString, fc.constantFrom('0', '-5', '1.5', '1e9', ' 12', `1${'0'.repeat(38)}`), INJECTION);
    const workflowBad = fc.oneof(
      bad.filter((m) => !['quantity', 'price', 'market'].includes(m.field)),
      mutate('quantity', minorBad),
      mutate('price', minorBad),
      mutate('market', fc.oneof(notString, fc.constantFrom('BTCUSD', ''))),
      mutate('expiresAt', fc.oneof(notString, fc.constantFrom('tomorrow', '2026-13-01T00:00:00Z'))),
    );
    await fc.assert(
      fc.asyncProperty(workflowBad, async (m) => {
        const input = { ...valid(), quantity: '50000000', price: '10000', [m.field]: m.value };
        // The activity's context names the workflow that runs it (the order's owner of record).
        const env = new MockActivityEnvironment(
          { workflowExecution: { workflowId: `trade-${randomUUID()}`, runId: randomUUID() } },
          { logger: new PinoSdkLogger(ctx.logger) },
        );
        await expectFailedAt(env.run(activities.validateTrade, input as never), m.expectField);
      }),
      { numRuns: numRuns(60) },
    );
  });
});

describe('withdrawal requests', () => {
  const bad: fc.Arbitrary<Mutation> = fc.oneof(
    mutate('accountId', notUuid),
    mutate('asset', fc.oneof(notString, fc.constantFrom('us d', 'E', ''))),
    mutate(
      'address',
      notString.filter((v) => v !== null),
    ),
    mutate('amount', badHumanAmount),
    mutate('otp', fc.oneof(notString, fc.constantFrom('12345', '1234567', 'abcdef', ''), INJECTION)),
    mutate('withdrawalId', notUuid),
    mutate('pollSeconds', fc.oneof(fc.string(), fc.constantFrom(0, -1, 3601))),
    mutate('deadlineSeconds', fc.oneof(fc.string(), fc.constantFrom(1.5))),
    unknownKey,
  );
  const valid = () => ({
    accountId: holder.accountId,
    asset: 'BTC',
    address: holder.address,
    amount: '0.01',
    otp: '123456',
    withdrawalId: randomUUID(),
  });

  test('the client refuses each bad field by name and starts no saga', async () => {
    const client = ctx.client(ctx.taskQueue());
    await fc.assert(
      fc.asyncProperty(bad, async (m) => {
        const request = { ...valid(), [m.field]: m.value };
        await expectRefusedAt(startWithdrawal(client, request, TOTP_KEY), m.expectField);
      }),
      { numRuns: numRuns(80) },
    );
  });

  test('validateWithdrawal, the saga input boundary, fails non-retryably naming the field', async () => {
    // The gateway is asked only for its network here; nothing is sent to it.
    const chain = new HttpChainGateway({ baseUrl: 'http://127.0.0.1:9', network: 'mainnet' });
    const activities = createActivities({ pool: ctx.pool, logger: ctx.logger, totpKey: TOTP_KEY, chain });
    const workflowBad = fc.oneof(
      mutate('withdrawalId', notUuid),
      mutate('accountId', notUuid),
      mutate('accountId', fc.constant(randomUUID())),
      mutate('asset', fc.oneof(notString, fc.constantFrom('ZZZ', 'E'))),
      mutate('address', fc.oneof(notString, blank, tooLong(128), INJECTION, fc.constantFrom('bc1qnotachecksum', '0x1234'))),
      mutate('amount', fc.oneof(notString, fc.constantFrom('0', '-5', '1.5', '1'), INJECTION)),
      mutate('otpCiphertext', fc.oneof(notString, fc.constant(''), tooLong(512))),
      unknownKey,
    );
    await fc.assert(
      fc.asyncProperty(workflowBad, async (m) => {
        const input = { ...valid(), amount: '1000000', otpCiphertext: 'sealed', [m.field]: m.value };
        delete (input as { otp?: string }).otp;
        await expectFailedAt(activities.validateWithdrawal(input), m.expectField);
      }),
      { numRuns: numRuns(60) },
    );
  });
});

describe('campaign requests', () => {
  const time = fc.oneof(
    notString.filter((v) => v !== null),
    fc.constantFrom('soon', '2026-02-30T00:00:00Z', ''),
  );
  const bad: fc.Arbitrary<Mutation> = fc.oneof(
    mutate('campaignId', notUuid),
    mutate('ownerAccountId', notUuid),
    mutate('ownerAccountId', fc.constant(randomUUID())),
    mutate('name', fc.oneof(notString, blank, tooLong(200), withNul)),
    mutate('type', fc.oneof(notString, fc.constantFrom('PROMO', 'airdrop!'))),
    mutate('asset', fc.oneof(notString, fc.constantFrom('ZZZ', 'E'))),
    mutate('budget', badHumanAmount),
    mutate(
      'rewardPerUser',
      badHumanAmount.filter((v) => v !== undefined),
    ),
    mutate(
      'maxPerUser',
      badHumanAmount.filter((v) => v !== undefined),
    ),
    mutate('startsAt', time),
    mutate('endsAt', time),
    mutate('durationSeconds', fc.oneof(fc.string(), fc.constantFrom(0, -1, 1.5, 400 * 365 * 86_400))),
    unknownKey,
  );
  const valid = () => ({ ownerAccountId: campaignOwner, name: `p-${randomUUID().slice(0, 8)}`, budget: '10.00' });

  test('the client refuses each bad field by name and starts no saga', async () => {
    const client = ctx.client(ctx.taskQueue());
    await fc.assert(
      fc.asyncProperty(bad, async (m) => {
        const campaignId = randomUUID();
        await expectRefusedAt(startCampaign(client, { campaignId, ...valid(), [m.field]: m.value }), m.expectField);
        await notWorkflowStarted(`campaign-${campaignId}`);
      }),
      { numRuns: numRuns(80) },
    );
  });

  test('validateCampaign, the saga input boundary, fails non-retryably naming the field', async () => {
    const activities = createActivities({ pool: ctx.pool, logger: ctx.logger });
    const workflowBad = fc.oneof(
      bad.filter((m) => !['budget', 'rewardPerUser', 'maxPerUser'].includes(m.field)),
      mutate('budget', fc.oneof(notString, fc.constantFrom('0', '-5', '1.5', '10.00'), INJECTION)),
    );
    await fc.assert(
      fc.asyncProperty(workflowBad, async (m) => {
        const input = { campaignId: randomUUID(), ...valid(), budget: '1000', [m.field]: m.value };
        await expectFailedAt(activities.validateCampaign(input), m.expectField);
      }),
      { numRuns: numRuns(60) },
    );
  });
});

describe('transaction-core requests', () => {
  const op = (amount: unknown = '100') => ({
    type: 'ledger.transfer',
    resource: 'ledger',
    params: { debitAccountId: randomUUID(), creditAccountId: randomUUID(), asset: 'USD', amount },
  });
  const bad: fc.Arbitrary<Mutation> = fc.oneof(
    mutate('id', fc.oneof(notString, blank, tooLong(128), INJECTION, fc.constantFrom('-x', 'a b'))),
    mutate('mode', fc.oneof(notString, fc.constantFrom('ATOMIC', '3pc', ''))),
    mutate('timeoutSeconds', fc.oneof(fc.string(), fc.constantFrom(0, -1, 1.5, 10 ** 9))),
    mutate('operations', fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.string(), fc.object(), fc.constant([]))),
    mutate('operations', fc.oneof(notString, fc.constantFrom('ledger.steal', '')), 'operations.0.type').map((m) => ({
      ...m,
      value: [{ ...op(), type: m.value }],
    })),
    mutate('operations', fc.oneof(notString, fc.constantFrom('mainframe', 'LEDGER')), 'operations.0.resource').map((m) => ({
      ...m,
      value: [{ ...op(), resource: m.value }],
    })),
    mutate('operations', badHumanAmount, 'operations.0.params.amount').map((m) => ({ ...m, value: [op(m.value)] })),
    mutate('operations', notUuid, 'operations.0.params.debitAccountId').map((m) => ({
      ...m,
      value: [{ ...op(), params: { ...op().params, debitAccountId: m.value } }],
    })),
    unknownKey,
  );

  test('parseTransaction, used by the client, the API and the validate step, refuses by field', () => {
    fc.assert(
      fc.property(bad, (m) => {
        let err: unknown;
        try {
          parseTransaction({ id: `p-${randomUUID()}`, operations: [op()], [m.field]: m.value });
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(DomainError);
        expect({ type: (err as DomainError).type, field: (err as DomainError).details?.field }).toEqual({
          type: 'ValidationError',
          field: m.expectField,
        });
      }),
      { numRuns: numRuns(150) },
    );
  });

  test('validateTransaction, the saga input boundary, fails non-retryably naming the field', async () => {
    const activities = createActivities({ pool: ctx.pool, logger: ctx.logger });
    await fc.assert(
      fc.asyncProperty(bad, async (m) => {
        const input = { id: `p-${randomUUID()}`, mode: 'atomic', timeoutSeconds: 60, operations: [op()], [m.field]: m.value };
        await expectFailedAt(activities.validateTransaction(input as never), m.expectField);
      }),
      { numRuns: numRuns(40) },
    );
  });
});
