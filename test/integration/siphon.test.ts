import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  applyConfig,
  configHistory,
  getSiphonState,
  prepareConfigTransaction,
  shutdownSiphon,
  submitConfig,
} from '../../src/client/config';
import { MAX_PAYLOAD_BYTES } from '../../src/domain/config';
import type { DomainError } from '../../src/domain/errors';
import { ConfigCache } from '../../src/db/config-cache';
import { checkConfigInvariants } from '../../src/db/queries/config';
import { SIPHON_STATE } from '../../src/temporal/search-attributes';
import { applyConfigUpdate, configSiphon, reloadSiphonSignal, siphonStateQuery, submitConfigSignal } from '../../src/workflows';
import { eventually, useTestContext } from '../helpers/context';
import { balances, openUserAccount } from '../helpers/fixtures';
import { expectContiguous, haltUnknownMarketTx, marketTx, rowsFor, settled, siphonTarget, thresholdTx } from './siphon-fixtures';

const ctx = useTestContext();
const uid = () => randomUUID().slice(0, 8);

afterEach(async () => {
  expect(await checkConfigInvariants(ctx.pool)).toEqual([]);
});

describe('config siphon', () => {
  test('a failing transaction in the middle is marked failed with its reason; those after it are applied', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const p = uid();
    const ids = [`${p}-1`, `${p}-2`, `${p}-bad`, `${p}-4`, `${p}-5`];
    await ctx.withWorker(tq, async () => {
      await submitConfig(target, thresholdTx(ids[0]!, 101));
      await submitConfig(target, thresholdTx(ids[1]!, 102));
      await submitConfig(target, haltUnknownMarketTx(ids[2]!));
      await submitConfig(target, thresholdTx(ids[3]!, 104));
      const last = await applyConfig(target, thresholdTx(ids[4]!, 105));
      expect(last).toMatchObject({ status: 'applied', duplicate: false });
    });
    const rows = await rowsFor(ctx.pool, ids);
    expect(rows.map((r) => [r.id, r.status])).toEqual([
      [ids[0], 'applied'],
      [ids[1], 'applied'],
      [ids[2], 'failed'],
      [ids[3], 'applied'],
      [ids[4], 'applied'],
    ]);
    expectContiguous(rows);
    expect(rows[2]!.error).toMatch(/payload\.symbol: market EUR-ETH does not exist/);
    // The failure changed nothing: versions are consecutive over the applied ones.
    const versions = rows.filter((r) => r.status === 'applied').map((r) => r.config_version!);
    expect(versions).toEqual(versions.map((_, i) => versions[0]! + i));
    const { rows: settings } = await ctx.pool.query(`SELECT review_threshold FROM compliance_settings WHERE asset = 'USD'`);
    expect(settings[0].review_threshold).toBe('105');
  });

  test('the same transaction submitted twice is applied once and the first outcome is returned', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const id = `dup-${uid()}`;
    const [first, second, third] = await ctx.withWorker(tq, async () => {
      const a = await applyConfig(target, thresholdTx(id, 2001));
      // Same id, same content: the first outcome, nothing applied again.
      const b = await applyConfig(target, thresholdTx(id, 2001));
      await submitConfig(target, thresholdTx(id, 2001));
      const c = await applyConfig(target, thresholdTx(`after-${id}`, 2002));
      return [a, b, c];
    });
    expect(first).toMatchObject({ id, status: 'applied', duplicate: false });
    expect(second).toEqual({ ...first, duplicate: true });
    expect(third).toMatchObject({ status: 'applied', sequence: first.sequence + 1 });
    const { rows } = await ctx.pool.query(`SELECT COUNT(*)::int AS n FROM config_changes WHERE transaction_id = $1`, [id]);
    expect(rows[0].n).toBe(1);
    expect((await rowsFor(ctx.pool, [id]))[0]).toMatchObject({ status: 'applied' });
  });

  test('continueAsNew forced mid-stream keeps order and loses nothing', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq, { continueAsNewAfter: 5 });
    const p = uid();
    const ids = Array.from({ length: 32 }, (_, i) => `${p}-${String(i).padStart(3, '0')}`);
    const { state, firstRunId } = await ctx.withWorker(tq, async () => {
      const started = await submitConfig(target, thresholdTx(ids[0]!, 1));
      // Signals and updates interleaved, so updates are in flight when runs rotate.
      const updates: Array<Promise<unknown>> = [];
      for (let i = 1; i < ids.length; i++) {
        if (i % 4 === 0) updates.push(applyConfig(target, thresholdTx(ids[i]!, i + 1)));
        else await submitConfig(target, thresholdTx(ids[i]!, i + 1));
        // An update's place in the order is where it was accepted; wait for that before the next one.
        if (i % 4 === 0) await eventually(async () => (await rowsFor(ctx.pool, [ids[i]!])).length === 1);
      }
      await Promise.all(updates);
      await settled(ctx.pool, ids);
      return { state: await getSiphonState(target), firstRunId: started.runId };
    });
    const rows = await rowsFor(ctx.pool, ids);
    expect(rows.map((r) => r.id)).toEqual(ids);
    expect(rows.every((r) => r.status === 'applied')).toBe(true);
    expectContiguous(rows);
    // A run may apply a few more than 5 while it answers updates already queued, so not exactly 7 runs.
    expect(state?.run).toBeGreaterThanOrEqual(3);
    expect(state?.processedTotal).toBe(ids.length);

    // The first run ended in continueAsNew (test/replay/record-siphon-histories.ts keeps one for replay).
    const history = await ctx.temporal.workflow.getHandle(target.workflowId!, firstRunId).fetchHistory();
    expect(history.events?.[history.events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
  });

  test('shutdown drains and completes; a later submission starts a new run that continues the sequence', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const p = uid();
    await ctx.withWorker(tq, async () => {
      const first = await applyConfig(target, thresholdTx(`${p}-a`, 301));
      const handle = ctx.temporal.workflow.getHandle(target.workflowId!);
      const described = await handle.describe();
      expect(described.typedSearchAttributes.get(SIPHON_STATE)).toBe('running');
      await submitConfig(target, thresholdTx(`${p}-b`, 302));
      await shutdownSiphon(target);
      const summary = await handle.result();
      expect(summary).toMatchObject({ processedTotal: 2, lastSequence: first.sequence + 1 });
      expect((await handle.describe()).typedSearchAttributes.get(SIPHON_STATE)).toBe('stopped');
      expect(await getSiphonState(target)).toBeUndefined();

      const next = await applyConfig(target, thresholdTx(`${p}-c`, 303));
      expect(next.sequence).toBe(first.sequence + 2);
      const newRun = await ctx.temporal.workflow.getHandle(target.workflowId!).describe();
      expect(newRun.runId).not.toBe(described.runId);
      expect(await getSiphonState(target)).toMatchObject({ state: 'running', lastSequence: next.sequence, processedTotal: 1 });
    });
    expectContiguous(await rowsFor(ctx.pool, [`${p}-a`, `${p}-b`, `${p}-c`]));
  });

  test('two clients submitting concurrently: each client keeps its own order', async () => {
    const tq = ctx.taskQueue();
    const connection = await Connection.connect({ address: process.env.TXMGR_TEST_TEMPORAL_ADDRESS! });
    const second = new Client({ connection, namespace: ctx.temporal.options.namespace });
    const workflowId = `config-siphon-${uid()}`;
    const targets = [
      { client: ctx.temporal, taskQueue: tq, workflowId },
      { client: second, taskQueue: tq, workflowId },
    ];
    const idsOf = (c: number) => Array.from({ length: 40 }, (_, i) => `c${c}-${workflowId}-${String(i).padStart(2, '0')}`);
    await ctx.withWorker(tq, async () => {
      await Promise.all(
        targets.map(async (target, c) => {
          for (const [i, id] of idsOf(c).entries()) {
            // One client signals, the other waits for each update: both must keep their order.
            if (c === 0) {
              await submitConfig(target, thresholdTx(id, 1000 + i, 'EUR'));
              await new Promise((r) => setTimeout(r, 10)); // spread out, so the two streams overlap
            } else {
              await applyConfig(target, thresholdTx(id, 2000 + i, 'BTC'));
            }
          }
        }),
      );
      await settled(ctx.pool, [...idsOf(0), ...idsOf(1)]);
    });
    await connection.close();
    const all = await rowsFor(ctx.pool, [...idsOf(0), ...idsOf(1)]);
    expectContiguous(all);
    for (const c of [0, 1]) {
      expect(all.filter((r) => r.id.startsWith(`c${c}-`)).map((r) => r.id)).toEqual(idsOf(c));
    }
    // The two streams really interleaved.
    const switches = all.slice(1).filter((r, i) => r.id.slice(0, 2) !== all[i]!.id.slice(0, 2)).length;
    expect(switches).toBeGreaterThan(1);
  });

  test('a bad signal payload is recorded failed and the siphon goes on', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const p = uid();
    await ctx.withWorker(tq, async () => {
      await submitConfig(target, thresholdTx(`${p}-ok1`, 11));
      const handle = ctx.temporal.workflow.getHandle(target.workflowId!);
      // Straight to Temporal, past the client's checks.
      await handle.signal(submitConfigSignal, null as never);
      await handle.signal(submitConfigSignal, { id: `${p}-kind`, kind: 'nope', payload: {} });
      await handle.signal(submitConfigSignal, {
        id: `${p}-types`,
        kind: 'compliance.thresholds',
        payload: { thresholds: [{ asset: 'USD', reviewThreshold: 5 }] },
      });
      await handle.signal(submitConfigSignal, {
        id: `${p}-big`,
        kind: 'compliance.denyList',
        payload: { add: [{ name: 'x', reason: 'y'.repeat(MAX_PAYLOAD_BYTES) }] },
      });
      const ok = await applyConfig(target, thresholdTx(`${p}-ok2`, 12));
      expect(ok.status).toBe('applied');
      const state = await handle.query(siphonStateQuery);
      expect(state.recent.slice(-5).map((o) => o.status)).toEqual(['failed', 'failed', 'failed', 'failed', 'applied']);
    });
    const rows = await rowsFor(ctx.pool, [`${p}-kind`, `${p}-types`, `${p}-big`]);
    expect(rows.map((r) => [r.id, r.status])).toEqual([
      [`${p}-kind`, 'failed'],
      [`${p}-types`, 'failed'],
      [`${p}-big`, 'failed'],
    ]);
    expect(rows[0]!.error).toMatch(/kind: unknown kind "nope"/);
    expect(rows[1]!.error).toMatch(/payload\.thresholds\.0\.reviewThreshold/);
    expect(rows[2]!.error).toMatch(/payload: \d+ bytes of JSON, more than the 65536 allowed/);
    const { rows: nullOne } = await ctx.pool.query(
      `SELECT status, error FROM config_transactions WHERE id LIKE 'invalid-signal-%' AND workflow_id = $1`,
      [target.workflowId],
    );
    expect(nullOne).toEqual([{ status: 'failed', error: expect.stringMatching(/invalid transaction: input/) }]);
  });

  describe('bad input to the update is rejected naming the field, and nothing is queued', () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['unknown kind', { kind: 'markets.explode', payload: {} }, /kind: unknown kind "markets.explode"/],
      [
        'payload failing its schema',
        { kind: 'markets.status', payload: { symbol: 'btc/usd', status: 'halted' } },
        /payload\.symbol: symbol must look like/,
      ],
      ['missing field', { kind: 'withdrawals.rules', payload: { rules: [{ asset: 'BTC' }] } }, /payload\.rules\.0\.minimum/],
      [
        'limits out of order',
        {
          kind: 'withdrawals.rules',
          payload: {
            rules: [
              {
                asset: 'BTC',
                minimum: '10',
                perTransactionLimit: '5',
                dailyLimit: '50',
                networkFee: '0',
                confirmationsRequired: 2,
                addressFormat: '^bc1',
              },
            ],
          },
        },
        /payload\.rules\.0\.perTransactionLimit: perTransactionLimit must be at least minimum/,
      ],
      [
        'oversized payload',
        {
          kind: 'compliance.denyList',
          payload: { add: Array.from({ length: 700 }, (_, i) => ({ name: `n${i}`, reason: 'r'.repeat(100) })) },
        },
        /payload: \d+ bytes of JSON, more than the 65536 allowed/,
      ],
      [
        'a number where a string belongs',
        { kind: 'compliance.thresholds', payload: { thresholds: [{ asset: 'USD', reviewThreshold: 100 }] } },
        /payload\.thresholds\.0\.reviewThreshold/,
      ],
      [
        'a string where a number belongs',
        {
          kind: 'markets.upsert',
          payload: { markets: [{ ...(marketTx('x').payload as { markets: object[] }).markets[0], priceBandBps: '500' }] },
        },
        /payload\.markets\.0\.priceBandBps/,
      ],
      ['id of the wrong type', { id: 42, kind: 'compliance.thresholds', payload: {} }, /id: id must be a string/],
      ['unexpected top-level field', { kind: 'campaigns.defaults', payload: {}, priority: 'high' }, /Unrecognized key.*priority/],
    ];

    let target: ReturnType<typeof siphonTarget>;
    const tq = `tq-siphon-bad-input-${uid()}`;
    beforeAll(async () => {
      target = siphonTarget(ctx.temporal, tq);
      await ctx.withWorker(tq, () => applyConfig(target, thresholdTx(`warmup-${uid()}`, 1)));
    });

    test.each(cases)('%s', async (_name, patch, message) => {
      const raw = { id: `bad-${uid()}`, ...patch };
      // The client refuses it before Temporal sees it ...
      const clientErr = (await applyConfig(target, raw as never).catch((e: unknown) => e)) as DomainError;
      expect(clientErr.type).toBe('ValidationError');
      expect(clientErr.message).toMatch(message);
      // ... and so does the workflow's validator when a caller goes around the client.
      const handle = ctx.temporal.workflow.getHandle(target.workflowId!);
      await ctx.withWorker(tq, async () => {
        const before = await handle.query(siphonStateQuery);
        const err = await handle.executeUpdate(applyConfigUpdate, { args: [raw as never] }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
        const cause = (err as WorkflowUpdateFailedError).cause as ApplicationFailure;
        expect(cause.type).toBe('ValidationError');
        expect(cause.message).toMatch(message);
        const after = await handle.query(siphonStateQuery);
        expect(after).toMatchObject({ queueDepth: 0, processedTotal: before.processedTotal, lastSequence: before.lastSequence });
      });
      expect(await rowsFor(ctx.pool, [raw.id])).toEqual([]);
    });

    test('prepareConfigTransaction fills in id and time and checks the schema', () => {
      const t = prepareConfigTransaction(thresholdTx(undefined as never, 5));
      expect(t.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(() => prepareConfigTransaction({ kind: 'compliance.thresholds', payload: { thresholds: [] } })).toThrow(
        /payload\.thresholds: thresholds must not be empty/,
      );
    });
  });

  test('config readers see an applied transaction at once, and a listener is told about it', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const cache = new ConfigCache(ctx.pool, ctx.logger);
    await cache.listen();
    try {
      const before = await cache.current();
      const loads = cache.loads;
      expect((await cache.current()).version).toBe(before.version); // unchanged version: no reload
      expect(cache.loads).toBe(loads);
      await ctx.withWorker(tq, async () => {
        await applyConfig(target, marketTx(`m-${uid()}`, 'ETH-EUR'));
        const outcome = await applyConfig(target, {
          id: `halt-${uid()}`,
          kind: 'markets.status',
          payload: { symbol: 'ETH-EUR', status: 'halted', reason: 'maintenance' },
        });
        expect(outcome.status).toBe('applied');
        // Read right away: the version check makes it fresh even if the notification is late.
        expect(await cache.market('ETH-EUR')).toMatchObject({ status: 'halted', haltReason: 'maintenance', lotSize: '1000' });
        await eventually(async () => cache.notifications >= 2);
      });
    } finally {
      await cache.close();
    }
  });

  test('compliance config applied by the siphon is what the deposit saga screens against', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const account = await openUserAccount(ctx.pool);
    const file = JSON.parse(
      fs.readFileSync(path.resolve(__dirname, '..', '..', 'examples', 'config', 'compliance.json'), 'utf8'),
    ) as Array<{
      id: string;
      kind: string;
      payload: unknown;
    }>;
    await ctx.withWorker(tq, async () => {
      for (const t of file)
        expect(await applyConfig(target, { ...t, id: `${t.id}-${uid()}` })).toMatchObject({ status: 'applied' });
      const err = await ctx
        .client(tq)
        .depositFiat({
          accountId: account,
          asset: 'USD',
          amount: '10.00',
          bankReference: `REF-${uid()}`,
          senderName: 'mallory  SANCTIONED',
        })
        .catch((e: unknown) => e);
      expect(((err as { cause?: Error }).cause as ApplicationFailure).type).toBe('ComplianceRejected');
    });
    expect((await balances(ctx.pool, account)).balance).toBe(0n);
  });

  test('a reload signal re-reads the position and the siphon keeps going; history lists newest first', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const p = uid();
    await ctx.withWorker(tq, async () => {
      const a = await applyConfig(target, thresholdTx(`${p}-1`, 1));
      await ctx.temporal.workflow.getHandle(target.workflowId!).signal(reloadSiphonSignal);
      const b = await applyConfig(target, thresholdTx(`${p}-2`, 2));
      expect(b.sequence).toBe(a.sequence + 1);
      expect(await getSiphonState(target)).toMatchObject({ state: 'running', lastSequence: b.sequence });
    });
    const history = await configHistory(ctx.pool, { limit: 2 });
    expect(history.map((h) => h.id)).toEqual([`${p}-2`, `${p}-1`]);
  });

  test('the siphon workflow type is exported for clients', () => {
    expect(typeof configSiphon).toBe('function');
  });
});
