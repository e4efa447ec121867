import { randomUUID } from 'node:crypto';
import {
  applyConfig,
  applyConfigList,
  exampleConfigTransactions,
  configConflicts,
  getSiphonState,
  prepareConfigTransaction,
  shutdownSiphon,
  submitConfig,
} from '../../src/client/config';
import type { DomainError } from '../../src/domain/errors';
import { checkConfigInvariants } from '../../src/db/queries/config';
import { applyConfigUpdate, siphonStateQuery, submitConfigSignal } from '../../src/workflows';
import { eventually, useTestContext } from '../helpers/context';
import { blockedApplyBackend, holdConfigLock, releaseLock, rowsFor, settled, siphonTarget, thresholdTx } from './siphon-fixtures';

const ctx = useTestContext();
const uid = () => randomUUID().slice(0, 8);

afterEach(async () => {
  expect(await checkConfigInvariants(ctx.pool)).toEqual([]);
});

const usdThreshold = async (): Promise<string> =>
  (await ctx.pool.query(`SELECT review_threshold FROM compliance_settings WHERE asset = 'USD'`)).rows[0].review_threshold;
const dbNow = async (): Promise<string> =>
  (await ctx.pool.query<{ t: string }>('SELECT clock_timestamp()::text AS t')).rows[0]!.t;

describe('config siphon hardening (issue 12 items 9–13, issue 14 item 1)', () => {
  test('a poison signal (NUL in an unknown key, a huge key) is recorded failed with a clean capped reason; the siphon goes on', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const p = uid();
    await ctx.withWorker(tq, async () => {
      await submitConfig(target, thresholdTx(`${p}-ok1`, 11));
      const handle = ctx.temporal.workflow.getHandle(target.workflowId!);
      const payload = { thresholds: [{ asset: 'USD', reviewThreshold: '1.00' }] };
      await handle.signal(submitConfigSignal, {
        id: `${p}-nul`,
        kind: 'compliance.thresholds',
        payload,
        ['evil\u0000key']: 1,
      } as never);
      // Two raw signals of 1.2 MB each: zod repeats the key in its message.
      for (const n of [1, 2])
        await handle.signal(submitConfigSignal, {
          id: `${p}-huge${n}`,
          kind: 'compliance.thresholds',
          payload,
          ['k'.repeat(1_200_000)]: n,
        });
      const ok = await applyConfig(target, thresholdTx(`${p}-ok2`, 12), { retryForMs: 60_000 });
      expect(ok).toMatchObject({ status: 'applied', duplicate: false });
      expect((await handle.describe()).status.name).toBe('RUNNING');
    });
    const rows = await rowsFor(ctx.pool, [`${p}-nul`, `${p}-huge1`, `${p}-huge2`]);
    expect(rows.map((r) => r.status)).toEqual(['failed', 'failed', 'failed']);
    expect(rows[0]!.error).toMatch(/Unrecognized key: "evilkey"/);
    for (const r of rows) expect(r.error!.length).toBeLessThanOrEqual(1000);
  });

  test('a statement cancelled (57014) while waiting for the config_state lock is retried, not recorded as "cannot be stored"', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const id = `cancel-${uid()}`;
    await ctx.withWorker(tq, async () => {
      const lock = await holdConfigLock(ctx.pool);
      try {
        await submitConfig(target, thresholdTx(id, 5757));
        // Twice: the first cancel used to fail the transaction, the second the workflow.
        let since: string | undefined;
        for (let i = 0; i < 2; i++) {
          const pid = await blockedApplyBackend(ctx.pool, since);
          since = await dbNow();
          await ctx.pool.query('SELECT pg_cancel_backend($1)', [pid]);
        }
        await blockedApplyBackend(ctx.pool, since); // the retry waits again
      } finally {
        await releaseLock(lock);
      }
      const [row] = await settled(ctx.pool, [id]);
      expect(row).toMatchObject({ status: 'applied', error: null });
      expect((await ctx.temporal.workflow.getHandle(target.workflowId!).describe()).status.name).toBe('RUNNING');
    });
    expect(await usdThreshold()).toBe('5757');
  });

  test('sizes are UTF-8 bytes: CJK payloads over the limit are refused, a queue too large to carry is applied until it fits', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq, { continueAsNewAfter: 3 });
    const p = uid();
    // Entries of 500 CJK characters. 110 of them: under 64 Ki characters of JSON, but 169 kB.
    const big = Array.from({ length: 16 }, (_, i) => `${p}-big-${String(i).padStart(2, '0')}`);
    // 40 of them: 62 kB each (21,600 characters); 2.5 MB for the 40 — counted in characters they "fit" in 1 Mi.
    const near = Array.from({ length: 40 }, (_, i) => `${p}-near-${String(i).padStart(2, '0')}`);
    const deny = (id: string, entries: number) => ({
      id,
      kind: 'compliance.denyList',
      payload: { add: Array.from({ length: entries }, (_, k) => ({ name: `${id}-${k}`, reason: '中'.repeat(500) })) },
    });
    const first = await submitConfig(target, thresholdTx(`${p}-first`, 1));
    const handle = ctx.temporal.workflow.getHandle(target.workflowId!);
    for (const id of big) await handle.signal(submitConfigSignal, { ...deny(id, 110), source: 'test' });
    for (const id of near) await submitConfig(target, deny(id, 40));
    const rows = await ctx.withWorker(tq, () => settled(ctx.pool, [`${p}-first`, ...big, ...near], 180_000));
    expect(
      rows
        .filter((r) => big.includes(r.id))
        .every((r) => r.status === 'failed' && /bytes of JSON, more than the 65536/.test(r.error!)),
    ).toBe(true);
    expect(rows.filter((r) => near.includes(r.id)).every((r) => r.status === 'applied')).toBe(true);
    expect(first.runId).toBeDefined();
  });

  test('an update retried into the next run gets its first answer: not applied again, not a duplicate', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq, { continueAsNewAfter: 1 });
    const request = prepareConfigTransaction(thresholdTx(`retry-${uid()}`, 6161));
    const updateId = `apply:${request.id}:fixed`;
    await ctx.withWorker(tq, async () => {
      await submitConfig(target, thresholdTx(`${request.id}-start`, 1));
      const handle = ctx.temporal.workflow.getHandle(target.workflowId!);
      await eventually(async () => (await handle.query(siphonStateQuery)).run >= 2);
      const firstRun = (await handle.describe()).runId;
      const first = await handle.executeUpdate(applyConfigUpdate, { args: [request], updateId });
      expect(first).toMatchObject({ status: 'applied', duplicate: false });
      // That run rotates (one transaction per run); the client's retry lands in the next one.
      await eventually(async () => (await handle.describe()).runId !== firstRun);
      const before = await handle.query(siphonStateQuery);
      const again = await handle.executeUpdate(applyConfigUpdate, { args: [request], updateId });
      expect(again).toEqual(first);
      expect((await handle.query(siphonStateQuery)).processedTotal).toBe(before.processedTotal);
    });
    const { rows } = await ctx.pool.query('SELECT COUNT(*)::int AS n FROM config_changes WHERE transaction_id = $1', [
      request.id,
    ]);
    expect(rows[0].n).toBe(1);
  });

  test('a final refusal is checked against PostgreSQL: a transaction that landed is reported with its outcome', async () => {
    const tq = ctx.taskQueue();
    const target = { ...siphonTarget(ctx.temporal, tq), pool: ctx.pool };
    const p = uid();
    await ctx.withWorker(tq, async () => {
      const landed = await applyConfig(target, thresholdTx(`${p}-landed`, 71));
      const lock = await holdConfigLock(ctx.pool);
      try {
        // A drain that cannot finish: the siphon stays "stopping" and refuses updates.
        await submitConfig(target, thresholdTx(`${p}-blocked`, 72));
        await blockedApplyBackend(ctx.pool);
        await shutdownSiphon(target);
        // The siphon has seen the shutdown once a workflow task completed after the signal.
        const handle = ctx.temporal.workflow.getHandle(target.workflowId!);
        await eventually(async () => {
          const events = (await handle.fetchHistory()).events ?? [];
          const at = events.findIndex((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'shutdown');
          return at >= 0 && events.slice(at).some((e) => e.workflowTaskCompletedEventAttributes);
        });
        const outcome = await applyConfig(target, thresholdTx(`${p}-landed`, 71), { retryForMs: 0 });
        expect(outcome).toEqual({ ...landed, duplicate: true });
      } finally {
        await releaseLock(lock);
      }
      await settled(ctx.pool, [`${p}-blocked`]);
    });
  });

  test('signals received count toward rotation, and a run draining for rotation keeps its batch size', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq, { continueAsNewAfter: 1_000, rotateAfterSignals: 10 });
    const p = uid();
    const ids = Array.from({ length: 35 }, (_, i) => `${p}-${String(i).padStart(2, '0')}`);
    for (const [i, id] of ids.entries()) await submitConfig(target, thresholdTx(id, i + 1));
    const state = await ctx.withWorker(tq, async () => {
      await settled(ctx.pool, ids);
      // A signal-free run 1 would have applied them all in one run.
      const s = await applyConfig(target, thresholdTx(`${p}-last`, 99)).then(() => getSiphonState(target));
      return s;
    });
    expect(state!.run).toBeGreaterThanOrEqual(2);

    // Draining: 40 signals and an update queued when a run must rotate after 5.
    const tq2 = ctx.taskQueue();
    const drain = siphonTarget(ctx.temporal, tq2, { continueAsNewAfter: 5 });
    const dids = Array.from({ length: 40 }, (_, i) => `${p}-d${String(i).padStart(2, '0')}`);
    for (const [i, id] of dids.entries()) await submitConfig(drain, thresholdTx(id, i + 1));
    const pending = applyConfig(drain, thresholdTx(`${p}-dupd`, 7));
    const batches = await ctx.withWorker(tq2, async () => {
      await pending;
      await settled(ctx.pool, dids);
      // Every run that applied something: count its apply activities.
      let count = 0;
      const { rows } = await ctx.pool.query<{ run_id: string }>(
        'SELECT DISTINCT run_id FROM config_transactions WHERE workflow_id = $1 AND run_id IS NOT NULL',
        [drain.workflowId],
      );
      for (const r of rows) {
        const h = await ctx.temporal.workflow.getHandle(drain.workflowId!, r.run_id).fetchHistory();
        count += (h.events ?? []).filter(
          (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'applyConfigBatch',
        ).length;
      }
      return count;
    });
    // Batches of one while draining made it about 36; at the normal size a handful.
    expect(batches).toBeLessThanOrEqual(12);
  });

  test('a reused id: same content is a duplicate with the first outcome; other content is an IdempotencyConflict, recorded, config unchanged', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const id = `reuse-${uid()}`;
    await ctx.withWorker(tq, async () => {
      const first = await applyConfig(target, thresholdTx(id, 500000));
      expect(first).toMatchObject({ id, status: 'applied', duplicate: false });
      expect(await applyConfig(target, thresholdTx(id, 500000))).toEqual({ ...first, duplicate: true });

      const err = (await applyConfig(target, thresholdTx(id, 400000)).catch((e: unknown) => e)) as DomainError;
      expect(err.type).toBe('IdempotencyConflict');
      expect(err.message).toMatch(
        new RegExp(
          `config transaction ${id} was already used .*payload\\.thresholds\\.0\\.reviewThreshold: "4000\\.00" now, "5000\\.00" before.*a change needs a new id`,
        ),
      );
      expect(await usdThreshold()).toBe('500000');

      // Fire and forget with another kind: not applied, and the sender can find out.
      await submitConfig(target, { id, kind: 'compliance.denyList', payload: { add: [{ name: 'x', reason: 'y' }] } });
      await eventually(async () => (await configConflicts(ctx.pool, { transactionId: id })).length === 2);
      const state = await getSiphonState(target);
      expect(state!.recent.at(-1)).toMatchObject({ id, status: 'conflict', sequence: first.sequence, duplicate: true });
    });
    const conflicts = await configConflicts(ctx.pool, { transactionId: id });
    expect(conflicts[0]!.differences).toMatch(/kind: "compliance.denyList" now, "compliance.thresholds" before/);
    expect(await usdThreshold()).toBe('500000');
    const { rows } = await ctx.pool.query('SELECT COUNT(*)::int AS n FROM config_changes WHERE transaction_id = $1', [id]);
    expect(rows[0].n).toBe(1);
  });

  test('amounts finer than their asset are refused naming the field; human amounts land as minor units', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const p = uid();
    await ctx.withWorker(tq, async () => {
      const bad = await applyConfig(target, {
        id: `${p}-fine`,
        kind: 'compliance.thresholds',
        payload: { thresholds: [{ asset: 'USD', reviewThreshold: '5000.001' }] },
      });
      expect(bad).toMatchObject({ status: 'failed' });
      expect(bad.status === 'failed' && bad.reason).toMatch(
        /payload\.thresholds\.0\.reviewThreshold: "5000\.001" has 3 decimal places but the asset allows 2 \(USD\)/,
      );
      const ok = await applyConfig(target, {
        id: `${p}-ok`,
        kind: 'compliance.thresholds',
        payload: { thresholds: [{ asset: 'USD', reviewThreshold: '5000.00' }] },
      });
      expect(ok.status).toBe('applied');
    });
    expect(await usdThreshold()).toBe('500000');
  });

  test('the example files, in human amounts, land as the minor units they always meant; applied again, all duplicates', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const examples = exampleConfigTransactions();
    const [first, again] = await ctx.withWorker(tq, async () => [
      await applyConfigList(target, examples),
      await applyConfigList(target, examples),
    ]);
    expect(first.map((o) => o.status)).toEqual(examples.map(() => 'applied'));
    expect(again.every((o) => o.status === 'applied' && o.duplicate)).toBe(true);
    const one = async (sql: string) => (await ctx.pool.query(sql)).rows[0];
    expect(await one(`SELECT tick_size, lot_size, max_quantity FROM markets WHERE symbol = 'BTC-USD'`)).toEqual({
      tick_size: '1',
      lot_size: '10000',
      max_quantity: '10000000000',
    });
    expect(await one(`SELECT review_threshold FROM compliance_settings WHERE asset = 'ETH'`)).toEqual({
      review_threshold: '10000000000000000000',
    });
    expect(await one(`SELECT minimum, network_fee FROM withdrawal_rules WHERE asset = 'BTC'`)).toEqual({
      minimum: '10000',
      network_fee: '5000',
    });
    expect(await one(`SELECT max_budget, max_reward_per_user FROM campaign_defaults`)).toEqual({
      max_budget: '10000000',
      max_reward_per_user: '5000',
    });
  });
});
