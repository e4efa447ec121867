import { depositWorkflowId } from '../client';
import { findDepositView } from '../client/deposits';
import { cancelOrder, placeTrade, startTrade, tradeWorkflowId, type TradeClientDeps } from '../client/trades';
import { startWithdrawal, withdrawalWorkflowId } from '../client/withdrawals';
import { DomainError } from '../domain/errors';
import { stepId } from '../domain/ids';
import { formatAmount } from '../domain/money';
import { totpCode } from '../security/totp';
import { outcomeOf, retrying, startOnce, until, type Driver } from './driver';
import type { PlannedScenario } from './plan';
import { GOOD_ADDRESS, REFUSED_ADDRESS, type Accounts } from './setup';

/** The deposit, trade and withdrawal scenarios: each starts its sagas through the client and says what they must end as. */

type Of<K extends PlannedScenario['kind']> = Extract<PlannedScenario, { kind: K }>;

/** A UUID that is the same for the same seed and name. */
export const seededUuid = (d: Driver, name: string): string => stepId(`chaos:${d.names.tag}:${name}`);

/** Decisions and cancels may find their work already done by an earlier attempt whose answer was lost. */
async function alreadyDoneIsFine(what: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await retrying(what, fn);
  } catch (err) {
    if (!(err instanceof DomainError && err.type === 'InvalidState')) throw err;
  }
}

export async function runDeposit(d: Driver, s: Of<'deposit'>, acc: Accounts): Promise<void> {
  const ref = `CHAOS-${d.names.tag}-${s.index}`;
  const accountId = s.variant === 'lock-victim' ? acc.lockVictim : acc.deposit[s.slot % acc.deposit.length]!;
  const review = s.variant === 'review-approved' || s.variant === 'review-rejected';
  // Above the USD review threshold (10,000.00) when the scenario wants a review.
  const minor = BigInt(s.amount + 100) + (review ? 2_000_000n : 0n);
  const refused = s.variant === 'denied' || s.variant === 'review-rejected';
  d.record({
    workflowId: depositWorkflowId(ref),
    kind: 'deposit',
    variant: s.variant,
    externalId: ref,
    expected: refused ? 'failed:ComplianceRejected' : 'CREDITED',
    effects: refused ? [] : [{ resource: 'ledger', accountId, delta: minor }],
  });
  const request = {
    accountId,
    asset: 'USD',
    amount: formatAmount(minor, 2),
    bankReference: ref,
    senderName: s.variant === 'denied' ? 'Mallory Sanctioned' : `Chaos Sender ${s.slot % 97}`,
  };
  const submit = () => retrying('start a deposit', () => d.txmgr.startDeposit(request));
  // A repeated bank reference: the same deposit sent twice at once credits once.
  if (s.variant === 'repeated') await Promise.all([submit(), submit()]);
  else await submit();
  if (review) {
    await until('the deposit in review', async () =>
      (await findDepositView(d.ledger, ref))?.status === 'IN_REVIEW' ? true : undefined,
    );
    const decision = { reviewer: 'chaos-ops', reason: 'chaos run' };
    await alreadyDoneIsFine('decide a deposit', () =>
      s.variant === 'review-approved' ? d.txmgr.approveDeposit(ref, decision) : d.txmgr.rejectDeposit(ref, decision),
    );
  }
}

interface Market {
  symbol: string;
  /** Quote minor units; every order of the run trades within 10% of it (the price band). */
  price: bigint;
  quoteScale: number;
  baseScale: number;
  lot: bigint;
}

export const MARKETS: Market[] = [
  { symbol: 'BTC-USD', price: 5_000_000n, quoteScale: 2, baseScale: 8, lot: 10_000n },
  { symbol: 'ETH-USD', price: 300_000n, quoteScale: 2, baseScale: 18, lot: 10n ** 15n },
];

export const marketOf = (s: PlannedScenario): Market => MARKETS[s.slot % MARKETS.length]!;

/**
 * Trades of one market run one scenario at a time (a lane): a crossing pair then meets only
 * its own maker at the market price; resting bids sit 5% below it and never cross.
 */
export async function runTrade(d: Driver, s: Of<'trade'>, acc: Accounts): Promise<void> {
  const m = marketOf(s);
  const deps: TradeClientDeps = { temporal: d.temporal, pool: d.ledger, taskQueue: d.taskQueue };
  const a = s.slot % acc.traders.length;
  const maker = acc.traders[a]!;
  const taker = acc.traders[(a + 1 + ((s.slot >> 4) % (acc.traders.length - 1))) % acc.traders.length]!;
  const lots = BigInt(1 + (s.amount % 40));
  const qty = m.lot * lots;
  const px = (bps: bigint) => formatAmount((m.price * bps) / 10_000n, m.quoteScale);
  const q = (v: bigint) => formatAmount(v, m.baseScale);
  const order = (owner: string, part: string, expected: string, filled: bigint) => {
    const clientOrderId = `c${d.names.tag}-${s.index}-${part}`;
    return d.record({
      workflowId: tradeWorkflowId(owner, clientOrderId),
      kind: 'trade',
      variant: `${s.variant} ${part}`,
      externalId: `${owner}/${clientOrderId}`,
      expected,
      order: { owner, clientOrderId, filled: filled.toString() },
    });
  };
  // Placed: its row exists (a resting order's saga goes on). Join-safe: the same client order id joins.
  const place = async (owner: string, part: string, side: 'buy' | 'sell', price: string, quantity: string, tif: 'GTC') =>
    retrying('place an order', async () => {
      try {
        return await placeTrade(deps, {
          owner,
          market: m.symbol,
          side,
          quantity,
          price,
          tif,
          clientOrderId: `c${d.names.tag}-${s.index}-${part}`,
        });
      } catch (err) {
        if (err instanceof DomainError && /was not placed within/.test(err.message)) throw new Error(err.message);
        throw err;
      }
    });
  const take = async (
    owner: string,
    part: string,
    side: 'buy' | 'sell',
    price: string,
    quantity: string,
    tif: 'IOC' | 'FOK' | 'GTC',
  ) => {
    const clientOrderId = `c${d.names.tag}-${s.index}-${part}`;
    await startOnce('start a trade', () =>
      startTrade(deps, { owner, market: m.symbol, side, quantity, price, tif, clientOrderId }),
    );
    await outcomeOf(d, tradeWorkflowId(owner, clientOrderId));
  };
  const cancel = (orderId: string, owner: string) =>
    alreadyDoneIsFine('cancel an order', () => cancelOrder(deps, orderId, owner));

  switch (s.variant) {
    case 'cross-ioc':
    case 'cross-gtc': {
      order(maker, 'maker', 'filled', qty);
      order(taker, 'taker', 'filled', qty);
      await place(maker, 'maker', 'sell', px(10_000n), q(qty), 'GTC');
      await take(taker, 'taker', 'buy', px(10_000n), q(qty), s.variant === 'cross-ioc' ? 'IOC' : 'GTC');
      return;
    }
    case 'fok-rejected': {
      order(maker, 'maker', 'cancelled', 0n);
      order(taker, 'taker', 'cancelled', 0n);
      const resting = await place(maker, 'maker', 'sell', px(10_000n), q(qty), 'GTC');
      await take(taker, 'taker', 'buy', px(10_000n), q(qty * 2n), 'FOK');
      await cancel(resting.orderId, maker);
      return;
    }
    case 'ioc-unfilled': {
      order(taker, 'taker', 'cancelled', 0n);
      await take(taker, 'taker', 'buy', px(9_700n), q(qty), 'IOC');
      return;
    }
    case 'gtc-cancelled':
    case 'gtc-rest': {
      const rec = order(maker, 'bid', 'cancelled', 0n);
      const resting = await place(maker, 'bid', 'buy', px(9_500n), q(qty), 'GTC');
      if (s.variant === 'gtc-cancelled') await cancel(resting.orderId, maker);
      else rec.cancelAtEnd = { orderId: resting.orderId, owner: maker };
      return;
    }
  }
}

/** Cancels a resting order left for the end (after the load, before the drain). */
export function cancelResting(d: Driver, orderId: string, owner: string): Promise<void> {
  const deps: TradeClientDeps = { temporal: d.temporal, pool: d.ledger, taskQueue: d.taskQueue };
  return alreadyDoneIsFine('cancel a resting order', () => cancelOrder(deps, orderId, owner));
}

/** The network fee of the example withdrawal rules (0.00005 BTC). */
export const BTC_NETWORK_FEE = 5_000n;

export async function runWithdrawal(d: Driver, s: Of<'withdrawal'>, acc: Accounts): Promise<void> {
  const w = acc.withdrawal.get(s.index);
  if (!w) throw new Error(`no withdrawal account for scenario ${s.index}`);
  const withdrawalId = seededUuid(d, `withdrawal-${s.index}`);
  const amount = 100_000n + BigInt(s.amount) * 10n;
  const completes = s.variant === 'completed';
  d.record({
    workflowId: withdrawalWorkflowId(withdrawalId),
    kind: 'withdrawal',
    variant: s.variant,
    externalId: withdrawalId,
    expected: completes ? 'COMPLETED' : 'failed:ChainRejected',
    effects: completes ? [{ resource: 'ledger', accountId: w.accountId, delta: -(amount + BTC_NETWORK_FEE) }] : [],
  });
  await startOnce('start a withdrawal', () =>
    startWithdrawal(
      d.txmgr,
      {
        accountId: w.accountId,
        asset: 'BTC',
        address: completes ? GOOD_ADDRESS : REFUSED_ADDRESS,
        amount: formatAmount(amount, 8),
        // The next time step's code: accepted for 60-90 s, as an app a little ahead would give.
        otp: totpCode(w.secret, new Date(Date.now() + 30_000)),
        withdrawalId,
        pollSeconds: 1,
      },
      d.totpKey,
    ),
  );
}
