import { z } from 'zod';
import { formatAmount } from '../../domain/money';
import { listOpenHolds, listPgLocks } from '../../db/queries/locks';
import { OPERATION_SESSION_PREFIX } from '../../db/transaction';
import { type ApiApp, type ApiDeps } from '../context';

const LIMIT = 500;

const LocksResponse = z.object({
  holds: z.array(
    z.object({
      holdId: z.string(),
      debitAccountId: z.string(),
      creditAccountId: z.string(),
      asset: z.string(),
      remaining: z.string().describe('human decimal in the asset'),
      remainingMinor: z.string(),
      workflowId: z.string().nullable(),
      step: z.string().nullable(),
      createdAt: z.string(),
    }),
  ),
  databaseLocks: z.array(
    z.object({
      locktype: z.string(),
      mode: z.string(),
      relation: z.string().nullable(),
      advisoryKey: z.string().nullable(),
      pid: z.number(),
      operation: z.string().nullable().describe('the txmgr operation whose transaction holds it, when known'),
      market: z
        .string()
        .nullable()
        .describe('the market whose book an advisory lock serialises (trade matching, cancels, halts); null for other locks'),
      applicationName: z.string().nullable(),
      state: z.string().nullable(),
      transactionAgeMs: z.number().nullable(),
    }),
  ),
});

/** GET /locks: open holds (money reserved) and the row, table and advisory locks txmgr's sessions hold now. */
export function lockRoutes(app: ApiApp, deps: ApiDeps): void {
  app.get(
    '/locks',
    {
      config: { scope: 'read' },
      schema: { summary: 'open holds and the PostgreSQL locks held now, by operation', response: { 200: LocksResponse } },
    },
    async () => {
      const [holds, locks] = await Promise.all([listOpenHolds(deps.client.pool, LIMIT), listPgLocks(deps.client.pool, LIMIT)]);
      const now = Date.now();
      return {
        holds: holds.map((h) => {
          const remaining = BigInt(h.amount) - BigInt(h.captured) - BigInt(h.released);
          return {
            holdId: h.id,
            debitAccountId: h.debit_account_id,
            creditAccountId: h.credit_account_id,
            asset: h.asset,
            remaining: formatAmount(remaining, h.scale),
            remainingMinor: remaining.toString(),
            workflowId: h.workflow_id,
            step: h.step,
            createdAt: h.created_at.toISOString(),
          };
        }),
        databaseLocks: locks.map((l) => ({
          locktype: l.locktype,
          mode: l.mode,
          relation: l.relation,
          advisoryKey: l.advisory_key,
          pid: l.pid,
          operation: l.application_name?.startsWith(OPERATION_SESSION_PREFIX)
            ? l.application_name.slice(OPERATION_SESSION_PREFIX.length)
            : null,
          market: l.market,
          applicationName: l.application_name,
          state: l.state,
          transactionAgeMs: l.xact_start ? now - l.xact_start.getTime() : null,
        })),
      };
    },
  );
}
