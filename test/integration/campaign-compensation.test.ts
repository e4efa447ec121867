import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { cancelCampaign, createCampaign, type CampaignRequest } from '../../src/client/campaigns';
import { checkCampaignInvariants } from '../../src/db/invariants-campaign';
import { campaignWorkflowId } from '../../src/domain/campaign';
import { sagaStatusQuery } from '../../src/workflows';
import { useTestContext } from '../helpers/context';
import {
  faultyCampaignActivities,
  fundedAccount,
  INJECTABLE_STEPS,
  setCampaignDefaults,
  type InjectableStep,
} from '../helpers/campaign-fixtures';
import { balances, count } from '../helpers/fixtures';

const ctx = useTestContext();
beforeAll(() => setCampaignDefaults(ctx.pool));
afterEach(async () => expect(await checkCampaignInvariants(ctx.pool)).toEqual([]));

const STEP_OPERATION: Record<InjectableStep, string> = {
  record: 'createCampaignRecord',
  state: 'initCampaignState',
  reserve: 'reserveCampaignBudget',
  activate: 'activateCampaign',
};
const COMPENSATIONS: Record<InjectableStep, string[]> = {
  record: ['deleteCampaignRecord'],
  state: ['cleanCampaignState', 'deleteCampaignRecord'],
  reserve: ['releaseCampaignBudget', 'cleanCampaignState', 'deleteCampaignRecord'],
  activate: ['releaseCampaignBudget', 'cleanCampaignState', 'deleteCampaignRecord'],
};

describe('campaign compensation', () => {
  test('a failure injected after each step leaves nothing behind and the saga ends COMPENSATED; rollback time comes from the metrics rows', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const faults = new Map<string, InjectableStep>();
    const PER_STEP = 3;
    const runs = await Promise.all(
      [...INJECTABLE_STEPS.flatMap((s) => Array.from({ length: PER_STEP }, () => s)), undefined, undefined].map(async (step) => {
        const owner = await fundedAccount(ctx.pool, 10_000n);
        const campaignId = randomUUID();
        if (step) faults.set(campaignId, step);
        return { step, owner, campaignId };
      }),
    );
    const outcomes = await ctx.withWorker(
      tq,
      () =>
        Promise.all(
          runs.map(async (r) => {
            const request: CampaignRequest = {
              campaignId: r.campaignId,
              ownerAccountId: r.owner,
              name: 'faulty',
              budget: '50.00',
            };
            const outcome = await createCampaign(client, request).then(
              (v) => ({ ok: v }),
              (e: unknown) => ({ err: e }),
            );
            const saga = await ctx.temporal.workflow.getHandle(campaignWorkflowId(r.campaignId)).query(sagaStatusQuery);
            if (!r.step) await cancelCampaign(client, r.campaignId);
            return { ...r, ...outcome, saga };
          }),
        ),
      { extraActivities: faultyCampaignActivities({ pool: ctx.pool, logger: ctx.logger }, faults) },
    );

    for (const o of outcomes) {
      const wf = campaignWorkflowId(o.campaignId);
      if (!o.step) {
        expect(o).toMatchObject({ ok: { status: 'active' }, saga: { status: 'RUNNING' } });
        continue;
      }
      expect('err' in o && o.err).toBeInstanceOf(WorkflowFailedError);
      const cause = (o as { err: WorkflowFailedError }).err.cause as ApplicationFailure;
      expect(cause.type).toBe('InjectedFault');
      expect(o.saga).toMatchObject({ status: 'COMPENSATED', compensationsRun: COMPENSATIONS[o.step] });
      expect(await count(ctx.pool, 'SELECT 1 FROM campaigns WHERE id = $1', [o.campaignId])).toBe(0);
      expect(await count(ctx.pool, 'SELECT 1 FROM campaign_state WHERE campaign_id = $1', [o.campaignId])).toBe(0);
      expect(await count(ctx.pool, `SELECT 1 FROM holds WHERE workflow_id = $1 AND status = 'open'`, [wf])).toBe(0);
      expect(await count(ctx.pool, 'SELECT 1 FROM campaign_tombstones WHERE campaign_id = $1', [o.campaignId])).toBe(1);
      expect(await balances(ctx.pool, o.owner)).toMatchObject({ debitsPending: 0n, balance: 10_000n });
    }

    // Rollback: from the failing step's transaction to the last compensation's commit, per saga.
    const failed = outcomes.filter((o) => o.step);
    const { rows } = await ctx.pool.query<{ workflow_id: string; compensations: number; rollback_ms: number }>(
      `SELECT f.workflow_id, COUNT(c.*)::int AS compensations,
         EXTRACT(EPOCH FROM MAX(c.created_at) - f.created_at) * 1000 AS rollback_ms
       FROM transaction_metrics f
       JOIN transaction_metrics c ON c.workflow_id = f.workflow_id AND c.success
         AND c.operation IN ('releaseHold', 'cleanCampaignState', 'deleteCampaignRecord')
       WHERE f.workflow_id = ANY($1) AND f.success AND f.operation = ANY($2)
         AND f.created_at = (SELECT MAX(created_at) FROM transaction_metrics m WHERE m.workflow_id = f.workflow_id AND m.operation = ANY($2))
       GROUP BY f.workflow_id, f.created_at`,
      [failed.map((o) => campaignWorkflowId(o.campaignId)), Object.values(STEP_OPERATION)],
    );
    expect(rows).toHaveLength(failed.length);
    for (const o of failed) {
      const row = rows.find((r) => r.workflow_id === campaignWorkflowId(o.campaignId));
      expect(row?.compensations).toBe(COMPENSATIONS[o.step as InjectableStep].length);
      expect(Number.isFinite(Number(row?.rollback_ms))).toBe(true);
      expect(Number(row?.rollback_ms)).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('campaign bad input', () => {
  test.each<[string, Partial<CampaignRequest> | ((r: CampaignRequest) => unknown), RegExp]>([
    ['an empty name', { name: '  ' }, /name: name must not be empty/],
    ['an oversized name', { name: 'x'.repeat(121) }, /name: name must be at most 120/],
    ['an oversized name of wide characters', { name: '🎉'.repeat(121) }, /name: name must be at most 120 characters/],
    ['a megabyte of name', { name: 'x'.repeat(1_000_000) }, /name: name must be at most 120/],
    ['a name with a NUL character', { name: 'spring\u0000sale' }, /name: name must not contain NUL characters/],
    ['a name with a line break', { name: 'spring\nsale' }, /name: name must not contain control characters/],
    ['a zero budget', { budget: '0' }, /budget must be greater than zero/],
    ['a negative budget', { budget: '-5.00' }, /budget must be a plain positive decimal/],
    ['a budget beyond the scale', { budget: '1.001' }, /budget has 3 decimal places but the asset allows 2/],
    ['a budget over the configured maximum', { budget: '100000.01' }, /budget: 100000\.01 USD is over the configured maximum/],
    ['an unknown asset', { asset: 'XYZ' }, /asset: unknown asset "XYZ"/],
    ['an asset other than the budget asset', { asset: 'EUR' }, /asset: campaigns are budgeted in USD/],
    [
      'an end before the start',
      { startsAt: '2031-01-02T00:00:00Z', endsAt: '2031-01-01T00:00:00Z' },
      /endsAt: the schedule ends before it starts/,
    ],
    ['an end in the past', { startsAt: '2020-01-01T00:00:00Z', endsAt: '2020-02-01T00:00:00Z' }, /endsAt: .* is in the past/],
    ['a start that is no time', { startsAt: 'tomorrow' }, /startsAt: startsAt must be an ISO 8601 time/],
    [
      'a per-user maximum over the config',
      { maxPerUser: '50.01' },
      /maxPerUser: 50\.01 USD is over the configured maximum reward/,
    ],
    [
      'a reward above the per-user maximum',
      { rewardPerUser: '6.00', maxPerUser: '5.00' },
      /rewardPerUser: 6\.00 USD is over the per-user maximum/,
    ],
    ['an unknown type', { type: 'lottery' as never }, /type: type must be one of/],
    ['a budget as a number', { budget: 100 as never }, /budget: must be a decimal string/],
    ['a malformed owner', { ownerAccountId: 'owner-1' }, /ownerAccountId: must be a UUID/],
    ['an unknown owner', { ownerAccountId: randomUUID() }, /ownerAccountId: no user account/],
    ['an unknown field', (r) => ({ ...r, colour: 'red' }), /Unrecognized key.*colour/],
  ])('%s is refused with a ValidationError naming the field, and nothing is written', async (_what, change, message) => {
    const owner = await fundedAccount(ctx.pool, 10_000n);
    const campaignId = randomUUID();
    const base: CampaignRequest = { campaignId, ownerAccountId: owner, name: 'autumn', budget: '10.00' };
    const request = typeof change === 'function' ? change(base) : { ...base, ...change };
    const tq = ctx.taskQueue();
    const err = await createCampaign(ctx.client(tq), request as CampaignRequest).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'ValidationError', message: expect.stringMatching(message) });
    expect(await count(ctx.pool, 'SELECT 1 FROM campaigns WHERE owner_account_id = $1', [owner])).toBe(0);
    expect(
      await ctx.temporal.workflow
        .getHandle(campaignWorkflowId(campaignId))
        .describe()
        .catch((e: unknown) => e),
    ).toBeInstanceOf(WorkflowNotFoundError);
  });

  test('a duplicate name for the owner is refused, in any letter case; another owner may use it', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owner = await fundedAccount(ctx.pool, 10_000n);
    const other = await fundedAccount(ctx.pool, 10_000n);
    await ctx.withWorker(tq, async () => {
      const first = await createCampaign(client, { ownerAccountId: owner, name: 'Winter Sale', budget: '10.00' });
      await expect(createCampaign(client, { ownerAccountId: owner, name: 'winter sale', budget: '10.00' })).rejects.toMatchObject(
        {
          type: 'ValidationError',
          message: expect.stringMatching(/name: the owner already has a campaign named "Winter Sale"/),
        },
      );
      const second = await createCampaign(client, { ownerAccountId: other, name: 'Winter Sale', budget: '10.00' });
      expect(await count(ctx.pool, 'SELECT 1 FROM campaigns WHERE lower(name) = $1', ['winter sale'])).toBe(2);
      for (const c of [first, second]) {
        await ctx.temporal.workflow.getHandle(c.workflowId).executeUpdate('cancelCampaign', { args: [{}] });
      }
    });
  });

  test('a name is counted in characters and compared in NFC: 120 emoji fit; "Café" typed decomposed is the same name', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owner = await fundedAccount(ctx.pool, 10_000n);
    await ctx.withWorker(tq, async () => {
      const wide = await createCampaign(client, { ownerAccountId: owner, name: '🎉'.repeat(120), budget: '10.00' });
      const composed = await createCampaign(client, { ownerAccountId: owner, name: 'Caf\u00e9', budget: '10.00' });
      await expect(createCampaign(client, { ownerAccountId: owner, name: 'Cafe\u0301', budget: '10.00' })).rejects.toMatchObject({
        type: 'ValidationError',
        message: expect.stringMatching(/name: the owner already has a campaign/),
      });
      const { rows } = await ctx.pool.query<{ chars: number }>(
        'SELECT length(name) AS chars FROM campaigns WHERE owner_account_id = $1 ORDER BY chars DESC',
        [owner],
      );
      expect(rows).toEqual([{ chars: 120 }, { chars: 4 }]);
      for (const c of [wide, composed]) await cancelCampaign(client, c.campaignId);
    });
  });

  test('bad input that reaches the workflow fails its validate step: FAILED, nothing written, the failed transaction has a metrics row with its error', async () => {
    const tq = ctx.taskQueue();
    const owner = await fundedAccount(ctx.pool, 10_000n);
    const campaignId = randomUUID();
    const wf = campaignWorkflowId(campaignId);
    const err = await ctx
      .withWorker(tq, () =>
        ctx.temporal.workflow.execute('createCampaign', {
          taskQueue: tq,
          workflowId: wf,
          args: [{ campaignId, ownerAccountId: owner, name: 'raw', budget: '-1' }],
        }),
      )
      .catch((e: unknown) => e);
    expect(((err as WorkflowFailedError).cause as ApplicationFailure).type).toBe('ValidationError');
    expect(((err as WorkflowFailedError).cause as ApplicationFailure).message).toMatch(
      /budget: amount must be a positive whole number/,
    );
    expect(await count(ctx.pool, 'SELECT 1 FROM campaigns WHERE id = $1', [campaignId])).toBe(0);
    const { rows } = await ctx.pool.query('SELECT operation, success, error FROM transaction_metrics WHERE workflow_id = $1', [
      wf,
    ]);
    expect(rows).toEqual([
      { operation: 'validateCampaign', success: false, error: expect.stringMatching(/ValidationError: .*budget/) },
    ]);
  });
});
