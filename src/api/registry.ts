import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { z } from 'zod';
import { DepositRequest } from '../client';
import { CampaignRequest, startCampaign } from '../client/campaigns';
import { startTrade, TradeRequest } from '../client/trades';
import { startWithdrawal, WithdrawalRequest, withdrawalWorkflowId } from '../client/withdrawals';
import { DomainError } from '../domain/errors';
import { loadTotpKey } from '../security/secret-box';
import type { ApiDeps } from './context';
import { ApiError } from './errors';

/**
 * Workflow types of POST /execute-workflow: each one's parameters (the client's own zod
 * schema), the Temporal workflow it starts (whose kind makes its outcome readable, see
 * workflow-kinds.ts) and how the client starts it.
 */
export interface WorkflowStart {
  workflowId: string;
  started: boolean;
}

export interface WorkflowType<S extends z.ZodType = z.ZodType> {
  parameters: S;
  description: string;
  /** The Temporal workflow type it starts. */
  workflow: string;
  /** Starts (or joins, for the same request) the saga; never waits for it. */
  start(deps: ApiDeps, parameters: z.output<S>): Promise<WorkflowStart>;
}

export const WORKFLOW_TYPE_NAMES = ['trade_execution', 'fiat_deposit', 'crypto_withdrawal', 'campaign_creation'] as const;
export type WorkflowTypeName = (typeof WORKFLOW_TYPE_NAMES)[number];

const entry = <S extends z.ZodType>(t: WorkflowType<S>): WorkflowType => t as unknown as WorkflowType; // eslint-disable-line @typescript-eslint/no-unnecessary-type-assertion

/** The key sealing one-time codes (TXMGR_TOTP_KEY), the same the worker opens them with. */
function totpKey(deps: ApiDeps): Buffer {
  if (deps.totpKey) return deps.totpKey;
  try {
    return loadTotpKey();
  } catch (err) {
    throw new ApiError(503, 'NotConfigured', `crypto withdrawals are not configured on this server: ${(err as Error).message}`);
  }
}

export const WORKFLOW_TYPES: Record<WorkflowTypeName, WorkflowType> = {
  trade_execution: entry({
    parameters: TradeRequest,
    description:
      'an order: quantity in the base asset and price in the quote asset as human decimal strings; the same owner and clientOrderId join the first order',
    workflow: 'executeTrade',
    start: async ({ client }, p) => {
      const { workflowId, started } = await startTrade(client, p);
      return { workflowId, started };
    },
  }),
  fiat_deposit: entry({
    parameters: DepositRequest,
    description: 'a fiat deposit: amount as a human decimal string in the asset, unique by bankReference',
    workflow: 'depositFiat',
    start: ({ client }, p) => client.startDeposit(p),
  }),
  crypto_withdrawal: entry({
    parameters: WithdrawalRequest,
    description:
      'a crypto withdrawal to an allow-listed address: amount as a human decimal string, otp the 6-digit code of the account; one withdrawal per withdrawalId',
    workflow: 'withdrawCrypto',
    start: async (deps, p) => {
      try {
        const { workflowId } = await startWithdrawal(deps.client, p, totpKey(deps));
        return { workflowId, started: true };
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        // A one-time code is good once: a resubmission is answered by its Idempotency-Key, not by a second start.
        throw new DomainError(
          'IdempotencyConflict',
          `withdrawalId: withdrawal ${p.withdrawalId} was already submitted (workflow ${withdrawalWorkflowId(p.withdrawalId!)}); a new withdrawal needs a new withdrawalId`,
          { field: 'withdrawalId' },
        );
      }
    },
  }),
  campaign_creation: entry({
    parameters: CampaignRequest,
    description:
      'a marketing campaign: budget and rewards as human decimal strings of the asset; the same campaignId joins the first campaign',
    workflow: 'createCampaign',
    start: async ({ client }, p) => {
      const { workflowId, started } = await startCampaign(client, p);
      return { workflowId, started };
    },
  }),
};

/** The request body of POST /execute-workflow, one variant per type. */
export function executeWorkflowBody() {
  const variants = WORKFLOW_TYPE_NAMES.map((name) =>
    z.object({ workflow_type: z.literal(name), parameters: WORKFLOW_TYPES[name].parameters }).strict(),
  );
  return z.discriminatedUnion('workflow_type', variants as unknown as [(typeof variants)[number], ...typeof variants], {
    error: `workflow_type must be one of ${WORKFLOW_TYPE_NAMES.join(', ')}`,
  });
}
