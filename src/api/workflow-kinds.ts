import type { WorkflowHandle } from '@temporalio/client';
import type { TxmgrClient } from '../client';
import { findDepositView } from '../client/deposits';
import { marketScales, orderView } from '../client/trades';
import type { CampaignProgress, PayRewardsResult } from '../domain/campaign';
import type { DepositResult } from '../domain/deposit';
import { formatAmount } from '../domain/money';
import type { TransactionResult } from '../domain/operations';
import type { OrderState } from '../domain/trade';
import type { WithdrawalResult } from '../domain/withdrawal';
import { campaignProgressQuery, orderStateQuery, transactionStatusQuery, withdrawalProgressQuery } from '../workflows';

/**
 * What the API knows about each Temporal workflow type it starts: a short kind name, how to
 * read its own live state (its query), and how to make its result readable — human decimals
 * of the asset beside the minor units (`amount: "0.25000000"`, `amountMinor: "25000000"`).
 */
export const WORKFLOW_KIND_NAMES = ['deposit', 'trade', 'withdrawal', 'campaign', 'transaction'] as const;
export type WorkflowKindName = (typeof WORKFLOW_KIND_NAMES)[number];

export interface WorkflowKind {
  kind: WorkflowKindName;
  /** The workflow's own state beyond the saga's (an order, a withdrawal's progress, a transaction's operations). */
  detail?: (client: TxmgrClient, handle: WorkflowHandle, workflowId: string) => Promise<object | null>;
  /** Its result, readable. */
  readable?: (client: TxmgrClient, result: unknown) => Promise<unknown>;
  /** What a failure carries beside its error (the transaction core attaches the transaction's state). */
  failedResult?: (details: unknown[] | undefined) => unknown;
}

type WithMinor<T, K extends keyof T & string> = T & { [P in K as `${P}Minor`]: string };

/** `{ [field]: human, [field]Minor: minor }` for each amount field present (as it is without an asset). */
async function humanAmounts<T extends object, K extends keyof T & string>(
  client: TxmgrClient,
  asset: string | undefined,
  value: T,
  fields: K[],
): Promise<WithMinor<T, K>> {
  const out = { ...value } as Record<string, unknown>;
  const scale = asset ? await client.assetScale(asset) : undefined;
  for (const f of fields) {
    const minor = out[f];
    if (scale === undefined || typeof minor !== 'string' || !/^-?[0-9]+$/.test(minor)) continue;
    out[f] = formatAmount(BigInt(minor), scale);
    out[`${f}Minor`] = minor;
  }
  return out as WithMinor<T, K>;
}

const readableOrder = async (client: TxmgrClient, state: OrderState) =>
  orderView(state, await marketScales(client.pool, state.market));

export const readableCampaign = (client: TxmgrClient, p: CampaignProgress) =>
  humanAmounts(client, p.asset, p, ['budget', 'spent', 'released']);

export const readableRewards = (client: TxmgrClient, asset: string, r: PayRewardsResult) =>
  humanAmounts(client, asset, r, ['amount', 'spent', 'remaining']);

const query = <T>(handle: WorkflowHandle, q: Parameters<WorkflowHandle['query']>[0]) => handle.query(q) as Promise<T>;

export const WORKFLOW_KINDS: Record<string, WorkflowKind> = {
  depositFiat: {
    kind: 'deposit',
    detail: async (client, _handle, workflowId) =>
      (await findDepositView(client.pool, workflowId.replace(/^deposit-/, ''))) ?? null,
    readable: async (client, result) => {
      const r = result as DepositResult;
      return humanAmounts(client, r.asset, r, ['amount']);
    },
  },
  executeTrade: {
    kind: 'trade',
    detail: async (client, handle) => {
      const state = await query<OrderState | undefined>(handle, orderStateQuery);
      return state ? readableOrder(client, state) : null;
    },
    readable: (client, result) => readableOrder(client, result as OrderState),
  },
  withdrawCrypto: {
    kind: 'withdrawal',
    detail: (_client, handle) => query<object>(handle, withdrawalProgressQuery),
    readable: async (client, result) => {
      const r = result as WithdrawalResult;
      return humanAmounts(client, r.asset, r, ['amount', 'fee']);
    },
  },
  createCampaign: {
    kind: 'campaign',
    detail: async (client, handle) => readableCampaign(client, await query<CampaignProgress>(handle, campaignProgressQuery)),
    readable: (client, result) => readableCampaign(client, result as CampaignProgress),
  },
  executeTransaction: {
    kind: 'transaction',
    detail: (_client, handle) => query<TransactionResult>(handle, transactionStatusQuery),
    failedResult: (details) => details?.[0],
  },
};

/** The result made readable by its kind; as it is when the kind has nothing to add. */
export function readableResult(client: TxmgrClient, workflowType: string, result: unknown): Promise<unknown> {
  const readable = WORKFLOW_KINDS[workflowType]?.readable;
  return readable ? readable(client, result) : Promise.resolve(result);
}
