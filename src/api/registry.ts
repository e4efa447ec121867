import { z } from 'zod';
import { DepositRequest, type TxmgrClient } from '../client';
import type { DepositResult } from '../domain/deposit';
import { formatAmount } from '../domain/money';

/**
 * Workflow types of POST /execute-workflow. Wiring a saga in is one entry in
 * WORKFLOW_TYPES: its parameters (the client's own zod schema) and how the client starts it.
 */
export interface WorkflowStart {
  workflowId: string;
  started: boolean;
}

export interface WorkflowType<S extends z.ZodType = z.ZodType> {
  parameters: S;
  description: string;
  /** Starts (or joins, for the same request) the saga; never waits for it. */
  start(client: TxmgrClient, parameters: z.output<S>): Promise<WorkflowStart>;
  /** Makes the saga's result readable (human amounts next to minor units); default: as is. */
  outcome?(client: TxmgrClient, result: unknown): Promise<unknown>;
}

/** Every type the API names; those without an entry answer 501 NotAvailable. */
export const WORKFLOW_TYPE_NAMES = ['trade_execution', 'fiat_deposit', 'crypto_withdrawal', 'campaign_creation'] as const;
export type WorkflowTypeName = (typeof WORKFLOW_TYPE_NAMES)[number];

const entry = <S extends z.ZodType>(t: WorkflowType<S>): WorkflowType => t as unknown as WorkflowType; // eslint-disable-line @typescript-eslint/no-unnecessary-type-assertion

export const WORKFLOW_TYPES: Partial<Record<WorkflowTypeName, WorkflowType>> = {
  fiat_deposit: entry({
    parameters: DepositRequest,
    description: 'a fiat deposit: amount as a human decimal string in the asset, unique by bankReference',
    start: (client, p) => client.startDeposit(p),
    outcome: async (client, result) => {
      const r = result as DepositResult;
      return { ...r, amountMinor: r.amount, amount: formatAmount(BigInt(r.amount), await client.assetScale(r.asset)) };
    },
  }),
};

/** The request body of POST /execute-workflow, one variant per type (unavailable ones take any object). */
export function executeWorkflowBody(types: Partial<Record<WorkflowTypeName, WorkflowType>> = WORKFLOW_TYPES) {
  const variants = WORKFLOW_TYPE_NAMES.map((name) =>
    z
      .object({
        workflow_type: z.literal(name),
        parameters: types[name]?.parameters ?? z.record(z.string(), z.unknown()).describe('not available in this build'),
      })
      .strict(),
  );
  return z.discriminatedUnion('workflow_type', variants as unknown as [(typeof variants)[number], ...typeof variants], {
    error: `workflow_type must be one of ${WORKFLOW_TYPE_NAMES.join(', ')}`,
  });
}
