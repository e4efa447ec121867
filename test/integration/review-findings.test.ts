import { randomUUID } from 'node:crypto';
import { applyConfig, submitConfig } from '../../src/client/config';
import { ConfigCache } from '../../src/db/config-cache';
import { siphonStateQuery } from '../../src/workflows';
import { eventually, useTestContext } from '../helpers/context';
import { rowsFor, settled, siphonTarget, thresholdTx } from './siphon-fixtures';

const ctx = useTestContext();
const uid = () => randomUUID().slice(0, 8);

describe('review findings', () => {
  test('a schema-valid transaction PostgreSQL cannot store (NUL character) is recorded failed; the siphon lives on', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const p = uid();
    await ctx.withWorker(tq, async () => {
      await submitConfig(target, thresholdTx(`${p}-ok1`, 11));
      // Passes the client's and the workflow's schema (a deny-list name is any 1..200 chars).
      await submitConfig(target, {
        id: `${p}-nul`,
        kind: 'compliance.denyList',
        payload: { add: [{ name: 'evil\u0000corp', reason: 'r' }] },
      });
      await submitConfig(target, thresholdTx(`${p}-ok2`, 12));
      const last = await applyConfig(target, thresholdTx(`${p}-ok3`, 13), { retryForMs: 20_000 });
      expect(last.status).toBe('applied');
      const handle = ctx.temporal.workflow.getHandle(target.workflowId!);
      const description = await handle.describe();
      expect(description.status.name).toBe('RUNNING');
      expect((await handle.query(siphonStateQuery)).processedTotal).toBe(4);
    });
    const rows = await rowsFor(ctx.pool, [`${p}-ok1`, `${p}-nul`, `${p}-ok2`, `${p}-ok3`]);
    expect(rows.map((r) => [r.id, r.status])).toEqual([
      [`${p}-ok1`, 'applied'],
      [`${p}-nul`, 'failed'],
      [`${p}-ok2`, 'applied'],
      [`${p}-ok3`, 'applied'],
    ]);
  });

  test('a pending row left by an ended run is applied as recorded, not as a later submission of its id says', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const id = `${uid()}-orphan`;
    // A run recorded this transaction pending with the next sequence, then ended (terminated) before applying it.
    const { rows } = await ctx.pool.query<{ seq: number }>(
      `UPDATE config_state SET last_sequence = last_sequence + 1 RETURNING last_sequence::float8 AS seq`,
    );
    await ctx.pool.query(
      `INSERT INTO config_transactions (id, sequence, kind, payload, status, source, submitted_at, ticket)
       VALUES ($1, $2, 'compliance.thresholds', $3, 'pending', 'ended-run', now(), 'ended-run:1')`,
      [id, rows[0]!.seq, JSON.stringify({ thresholds: [{ asset: 'EUR', reviewThreshold: '777' }] })],
    );
    // The later submission has other content: an IdempotencyConflict (issue 14), and the recorded row is still applied.
    const err = await ctx.withWorker(tq, () =>
      applyConfig(target, thresholdTx(id, 999, 'EUR'), { retryForMs: 20_000 }).catch((e: unknown) => e),
    );
    expect(err).toMatchObject({ type: 'IdempotencyConflict' });
    expect((await rowsFor(ctx.pool, [id]))[0]).toMatchObject({ status: 'applied', sequence: rows[0]!.seq });
    const { rows: eur } = await ctx.pool.query(`SELECT review_threshold FROM compliance_settings WHERE asset = 'EUR'`);
    expect(eur[0].review_threshold).toBe('777');
  });

  test('a config reader that saw version N never gets an older snapshot from a load already in flight', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const p = uid();
    const cache = new ConfigCache(ctx.pool);
    await ctx.withWorker(tq, () => applyConfig(target, thresholdTx(`${p}-1`, 111)));
    // Hold up the cache's snapshot load after it has read config_state (at the old version).
    const blocker = await ctx.pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE markets IN ACCESS EXCLUSIVE MODE');
      const first = cache.current();
      await eventually(async () => {
        const { rows } = await ctx.pool.query(
          `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'SELECT * FROM markets%'`,
        );
        return rows.length === 1;
      });
      // A config transaction is applied and committed meanwhile ...
      const applied = await ctx.withWorker(tq, () => applyConfig(target, thresholdTx(`${p}-2`, 222)));
      expect(applied.status).toBe('applied');
      // ... so a reader starting now must see it ("a saga that starts after a transaction was applied always sees it").
      const second = cache.current();
      await blocker.query('COMMIT');
      await first;
      const snapshot = await second;
      expect(snapshot.version).toBe(applied.status === 'applied' ? applied.configVersion : -1);
      expect(snapshot.compliance.get('USD')?.reviewThreshold).toBe('222');
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      blocker.release();
    }
  });

  test('continueAsNew with a backlog of large (allowed) transactions loses nothing', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq, { continueAsNewAfter: 2 });
    const p = uid();
    // Each payload is ~60 KB, under the 64 KB a transaction may have; 40 of them are ~2.4 MB,
    // more than Temporal's 2 MB limit for one payload (the continueAsNew input).
    const ids = Array.from({ length: 40 }, (_, i) => `${p}-${String(i).padStart(3, '0')}`);
    const big = (id: string) => ({
      id,
      kind: 'compliance.denyList',
      payload: {
        add: [{ name: `n-${id}`, reason: 'r'.repeat(500) }],
        remove: Array.from({ length: 290 }, (_, j) => `${'x'.repeat(190)}${j}`),
      },
    });
    // Submitted while no worker runs: Temporal holds them; the first run sees them all queued.
    for (const id of ids) await submitConfig(target, big(id));
    const { rows, state } = await ctx.withWorker(tq, async () => {
      const r = await settled(ctx.pool, ids, 90_000);
      return { rows: r, state: await ctx.temporal.workflow.getHandle(target.workflowId!).query(siphonStateQuery) };
    });
    // It did move to new runs on the way, and applied everything.
    expect(state.run).toBeGreaterThan(1);
    expect(state.processedTotal).toBe(ids.length);
    expect(rows.map((r) => [r.id, r.status])).toEqual(ids.map((id) => [id, 'applied']));
    const description = await ctx.temporal.workflow.getHandle(target.workflowId!).describe();
    expect(description.status.name).toBe('RUNNING');
  });
});
