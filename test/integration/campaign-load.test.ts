import { randomUUID } from 'node:crypto';
import { createCampaign, type CampaignRequest } from '../../src/client/campaigns';
import { checkCampaignInvariants } from '../../src/db/invariants-campaign';
import type { CampaignProgress } from '../../src/domain/campaign';
import type { createCampaign as campaignWorkflow } from '../../src/workflows';
import { useTestContext } from '../helpers/context';
import { fundedAccount, setCampaignDefaults } from '../helpers/campaign-fixtures';
import { count } from '../helpers/fixtures';

const ctx = useTestContext();
beforeAll(() => setCampaignDefaults(ctx.pool));
afterEach(async () => expect(await checkCampaignInvariants(ctx.pool)).toEqual([]));

// The figure; TXMGR_TEST_BULK_CAMPAIGNS lowers it on a machine too busy for it.
const BULK = Number(process.env.TXMGR_TEST_BULK_CAMPAIGNS ?? 1000);

const SAGA_OPERATIONS = [
  'activateCampaign',
  'closeCampaign',
  'createCampaignRecord',
  'initCampaignState',
  'reserveCampaignBudget',
  'validateCampaign',
];

/** Every saga committed each of its steps once, each with a successful metrics row; every failed try has its error. */
async function expectMetrics(workflowIds: string[]): Promise<void> {
  const { rows } = await ctx.pool.query<{ workflow_id: string; ops: string[] }>(
    `SELECT workflow_id, array_agg(DISTINCT operation ORDER BY operation) AS ops FROM transaction_metrics
     WHERE workflow_id = ANY($1) AND success GROUP BY workflow_id`,
    [workflowIds],
  );
  expect(rows).toHaveLength(workflowIds.length);
  for (const r of rows) expect(r.ops).toEqual(SAGA_OPERATIONS);
  expect(
    await count(ctx.pool, 'SELECT 1 FROM transaction_metrics WHERE workflow_id = ANY($1) AND NOT success AND error IS NULL', [
      workflowIds,
    ]),
  ).toBe(0);
}

async function expectOnceEach(results: CampaignProgress[], expected: number): Promise<void> {
  const ids = results.map((r) => r.campaignId);
  expect(new Set(ids).size).toBe(expected);
  expect(results.every((r) => r.status === 'completed' && r.released === r.budget)).toBe(true);
  expect(await count(ctx.pool, `SELECT 1 FROM campaigns WHERE id = ANY($1) AND status = 'completed'`, [ids])).toBe(expected);
  // One hold per campaign, released in full: no duplicate reservation.
  const holds = await ctx.pool.query<{ n: number; open: number }>(
    `SELECT COUNT(*)::int AS n, COUNT(*) FILTER (WHERE status = 'open')::int AS open FROM holds WHERE workflow_id = ANY($1)`,
    [results.map((r) => r.workflowId)],
  );
  expect(holds.rows[0]).toEqual({ n: expected, open: 0 });
}

describe('campaigns under concurrency', () => {
  test('20 concurrent submitters × 5 campaigns, each submitted twice: every campaign exactly once, no failures', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const submitters = await Promise.all(Array.from({ length: 20 }, () => fundedAccount(ctx.pool, 100_000n)));
    const results = await ctx.withWorker(tq, () =>
      Promise.all(
        submitters.map(async (owner, s) => {
          const mine: CampaignProgress[] = [];
          for (let i = 0; i < 5; i++) {
            const request: CampaignRequest = {
              campaignId: randomUUID(),
              ownerAccountId: owner,
              name: `submitter-${s}-campaign-${i}`,
              budget: '10.00',
              durationSeconds: 1,
            };
            // A client retry racing its first attempt joins the same saga.
            const [a, b] = await Promise.all([createCampaign(client, request), createCampaign(client, request)]);
            expect(a.campaignId).toBe(b.campaignId);
            mine.push(await ctx.temporal.workflow.getHandle<typeof campaignWorkflow>(a.workflowId).result());
          }
          return mine;
        }),
      ),
    );
    const all = results.flat();
    await expectOnceEach(all, 100);
    await expectMetrics(all.map((r) => r.workflowId));
  });

  test('1,000 campaigns started at once all complete, each exactly once, every transaction measured', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owners = await Promise.all(Array.from({ length: 50 }, () => fundedAccount(ctx.pool, 10_000_000n)));
    const requests: CampaignRequest[] = Array.from({ length: BULK }, (_, i) => ({
      ownerAccountId: owners[i % owners.length] as string,
      name: `bulk-${i}`,
      budget: '1.00',
      durationSeconds: 2,
    }));
    const results = await ctx.withWorker(
      tq,
      async () => {
        // In chunks of 100, each set up (active) before the next: bounded work in flight, no workflow task timeouts.
        const started: string[] = [];
        for (let i = 0; i < requests.length; i += 100) {
          const chunk = await Promise.all(requests.slice(i, i + 100).map((r) => createCampaign(client, r)));
          started.push(...chunk.map((c) => c.workflowId));
        }
        return Promise.all(started.map((id) => ctx.temporal.workflow.getHandle<typeof campaignWorkflow>(id).result()));
      },
      { maxConcurrentActivities: 24 },
    );
    await expectOnceEach(results, BULK);
    await expectMetrics(results.map((r) => r.workflowId));
  }, 600_000);
});
