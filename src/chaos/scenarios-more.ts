import { cancelCampaign, getCampaign, startCampaign } from '../client/campaigns';
import { submitConfig } from '../client/config';
import { startTransaction } from '../client/transactions';
import { campaignWorkflowId } from '../domain/campaign';
import { DomainError } from '../domain/errors';
import { formatAmount } from '../domain/money';
import { transactionWorkflowId, type TransactionRequest } from '../domain/operations';
import { retrying, startOnce, until, type Driver, type SagaRecord } from './driver';
import type { PlannedScenario } from './plan';
import { seededUuid } from './scenarios';
import type { Accounts } from './setup';

/** The campaign, transaction-core and config scenarios. */

type Of<K extends PlannedScenario['kind']> = Extract<PlannedScenario, { kind: K }>;

export async function runCampaign(d: Driver, s: Of<'campaign'>, acc: Accounts): Promise<void> {
  const campaignId = seededUuid(d, `campaign-${s.index}`);
  const cancelled = s.variant === 'cancelled';
  d.record({
    workflowId: campaignWorkflowId(campaignId),
    kind: 'campaign',
    variant: s.variant,
    externalId: campaignId,
    expected: cancelled ? 'cancelled-before-activation' : 'completed',
  });
  await retrying('start a campaign', () =>
    startCampaign(d.txmgr, {
      campaignId,
      ownerAccountId: acc.campaignOwners[s.slot % acc.campaignOwners.length]!,
      name: `chaos ${d.names.tag} ${s.index}`,
      budget: formatAmount(10_000n + BigInt(s.amount) * 10n, 2),
      rewardPerUser: '1.00',
      maxPerUser: '1.00',
      // A cancelled one is scheduled an hour ahead and cancelled once its budget is reserved.
      ...(cancelled
        ? { startsAt: new Date(Date.now() + 3_600_000).toISOString(), durationSeconds: 3_600 }
        : { durationSeconds: 20 + (s.slot % 40) }),
    }),
  );
  if (!cancelled) return;
  await until('the campaign scheduled', async () =>
    (await getCampaign(d.ledger, campaignId)).status === 'scheduled' ? true : undefined,
  );
  try {
    await retrying('cancel a campaign', () => cancelCampaign(d.txmgr, campaignId, 'chaos run'));
  } catch (err) {
    if (!(err instanceof DomainError && err.type === 'InvalidState')) throw err;
  }
}

/** More than any funded account holds: the operation fails with InsufficientFunds. */
const OVERDRAW = 10n ** 15n;

type Op = TransactionRequest['operations'][number];
const transfer = (resource: 'ledger' | 'custody', from: string, to: string, amount: bigint): Op => ({
  type: 'ledger.transfer',
  resource,
  params: { debitAccountId: from, creditAccountId: to, asset: 'USD', amount: amount.toString() },
});

/** Two different accounts of a list, chosen by the slot. */
const pair = (list: string[], slot: number): [string, string] => {
  const a = slot % list.length;
  return [list[a]!, list[(a + 1 + ((slot >> 3) % (list.length - 1))) % list.length]!];
};

/** The request of a transaction scenario, and the balance changes it makes when it commits. */
export function transactionRequest(
  d: Driver,
  s: Of<'transaction'>,
  acc: Accounts,
): { request: TransactionRequest; effects: NonNullable<SagaRecord['effects']> } {
  const [x, y] = pair(acc.txLedger, s.slot);
  const [u, v] = pair(acc.txCustody, s.slot);
  const a = BigInt(s.amount);
  let operations: Op[];
  let effects: NonNullable<SagaRecord['effects']> = [
    { resource: 'ledger', accountId: x, delta: -a },
    { resource: 'ledger', accountId: y, delta: a },
  ];
  if (s.variant === 'atomic')
    operations = [transfer('ledger', x, y, a), ...(s.fails ? [transfer('ledger', x, y, OVERDRAW)] : [])];
  else if (s.variant === 'saga') {
    operations = [
      transfer('ledger', x, y, a),
      {
        type: 'ledger.hold',
        resource: 'ledger',
        params: { debitAccountId: x, creditAccountId: y, asset: 'USD', amount: a.toString() },
      },
      { type: 'ledger.capture', resource: 'ledger', params: { holdOperation: 1, amount: a.toString() } },
      ...(s.fails ? [transfer('ledger', x, y, OVERDRAW)] : []),
    ];
    effects = [
      { resource: 'ledger', accountId: x, delta: -2n * a },
      { resource: 'ledger', accountId: y, delta: 2n * a },
    ];
  } else {
    operations = [transfer('ledger', x, y, a), transfer('custody', u, v, s.fails ? OVERDRAW : a)];
    effects.push({ resource: 'custody', accountId: u, delta: -a }, { resource: 'custody', accountId: v, delta: a });
  }
  // The business deadline is the longest allowed: an outage is waited out, never turned into a failure.
  const request = { id: `chaos-${d.names.tag}-${s.index}-tx`, mode: s.variant, timeoutSeconds: 3600, operations };
  return { request, effects: s.fails ? [] : effects };
}

export function recordTransaction(d: Driver, s: Of<'transaction'>, acc: Accounts): TransactionRequest {
  const { request, effects } = transactionRequest(d, s, acc);
  d.record({
    workflowId: transactionWorkflowId(request.id),
    kind: 'transaction',
    variant: `${s.variant} ${s.fails ? 'failing' : 'ok'}${s.coordinatorKill ? ' (coordinator kill)' : ''}`,
    externalId: request.id,
    expected: s.fails ? 'failed:InsufficientFunds' : 'COMMITTED',
    alsoAllowed: s.variant === '2pc' && !s.fails ? 'failed:DeadlineExceeded' : undefined,
    effects,
    journal: {
      ledger: s.fails ? 0 : request.operations.filter((o) => o.resource === 'ledger').length,
      custody: s.fails ? 0 : request.operations.filter((o) => o.resource === 'custody').length,
    },
  });
  return request;
}

export async function runTransaction(d: Driver, s: Of<'transaction'>, acc: Accounts): Promise<void> {
  const request = recordTransaction(d, s, acc);
  await startOnce('start a transaction', () => startTransaction({ temporal: d.temporal, taskQueue: d.taskQueue }, request));
}

/** Config transactions go one at a time from one lane: their submission order is the plan's. */
export async function runConfig(d: Driver, s: Of<'config'>): Promise<void> {
  const id = `chaos-${d.names.tag}-${s.index}-cfg`;
  d.record({
    workflowId: d.siphon.workflowId ?? 'config-siphon',
    kind: 'config',
    variant: s.variant,
    externalId: id,
    expected: 'applied',
    configId: id,
  });
  await retrying('submit a config transaction', () =>
    submitConfig(d.siphon, {
      id,
      kind: 'compliance.denyList',
      payload: { add: [{ name: `Chaos Listed ${d.names.tag} ${s.index}`, reason: 'chaos run' }] },
      source: 'chaos',
    }),
  );
}

/** A config transaction's outcome, read from PostgreSQL once the siphon has decided it. */
export function configOutcome(d: Driver, id: string): Promise<string> {
  return until(`config transaction ${id}`, async () => {
    const { rows } = await d.ledger.query<{ status: string }>('SELECT status FROM config_transactions WHERE id = $1', [id]);
    return rows[0] && rows[0].status !== 'pending' ? rows[0].status : undefined;
  });
}
