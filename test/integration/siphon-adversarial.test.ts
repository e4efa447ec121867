import { randomUUID } from 'node:crypto';
import { applyConfig, submitConfig } from '../../src/client/config';
import { checkConfigInvariants } from '../../src/db/queries/config';
import { applyConfigUpdate, shutdownSiphonSignal, submitConfigSignal } from '../../src/workflows';
import { useTestContext } from '../helpers/context';
import { expectContiguous, rowsFor, settled, siphonTarget, thresholdTx } from './siphon-fixtures';

const ctx = useTestContext();
const uid = () => randomUUID().slice(0, 8);

afterEach(async () => {
  expect(await checkConfigInvariants(ctx.pool)).toEqual([]);
});

describe('config siphon under adversarial input', () => {
  test('a raw update whose update id holds NUL is answered and recorded; the siphon goes on', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const p = uid();
    await ctx.withWorker(tq, async () => {
      await submitConfig(target, thresholdTx(`${p}-first`, 31));
      const handle = ctx.temporal.workflow.getHandle(target.workflowId!);
      const outcome = await handle.executeUpdate(applyConfigUpdate, {
        args: [thresholdTx(`${p}-nul`, 32)],
        updateId: `u-${p}\u0000evil`,
      });
      expect(outcome).toMatchObject({ id: `${p}-nul`, status: 'applied', duplicate: false });
      const after = await applyConfig(target, thresholdTx(`${p}-after`, 33), { retryForMs: 60_000 });
      expect(after).toMatchObject({ status: 'applied', duplicate: false });
    });
    const rows = await rowsFor(ctx.pool, [`${p}-first`, `${p}-nul`, `${p}-after`]);
    expect(rows.map((r) => r.status)).toEqual(['applied', 'applied', 'applied']);
  });

  test("a raw signal with a deeply nested payload (beyond PostgreSQL's stack depth) is recorded failed; the siphon goes on", async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const p = uid();
    // 30,000 levels in 60 KB: under the 64 KB payload cap, too deep for PostgreSQL's json parser
    // (54001) and for the client's JSON.stringify, so the signal is sent as raw payload bytes.
    const body = `{"id":"${p}-deep","kind":"compliance.thresholds","payload":${'['.repeat(30_000)}${']'.repeat(30_000)}}`;
    await ctx.withWorker(tq, async () => {
      await submitConfig(target, thresholdTx(`${p}-first`, 51));
      await ctx.temporal.workflowService.signalWorkflowExecution({
        namespace: ctx.temporal.options.namespace,
        workflowExecution: { workflowId: target.workflowId! },
        signalName: 'submitConfig',
        input: { payloads: [{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(body) }] },
        identity: 'adversarial-test',
      });
      const after = await applyConfig(target, thresholdTx(`${p}-after`, 52), { retryForMs: 60_000 });
      expect(after).toMatchObject({ status: 'applied', duplicate: false });
    });
    const rows = await rowsFor(ctx.pool, [`${p}-first`, `${p}-deep`, `${p}-after`]);
    expect(rows.map((r) => r.status)).toEqual(['applied', 'failed', 'applied']);
    expect(rows[1]!.error).toMatch(/payload/);
  });

  test('a raw update with a lone surrogate in its payload and NUL in its source is answered failed; the siphon goes on', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const p = uid();
    await ctx.withWorker(tq, async () => {
      const handle = ctx.temporal.workflow.getHandle(target.workflowId!);
      await submitConfig(target, thresholdTx(`${p}-first`, 61));
      const outcome = await handle.executeUpdate(applyConfigUpdate, {
        args: [
          {
            id: `${p}-lone`,
            kind: 'markets.status',
            payload: { symbol: 'BTC-USD', status: 'halted', reason: 'lone \ud800 surrogate' },
            source: 'ops\u0000desk',
          },
        ],
      });
      expect(outcome).toMatchObject({ id: `${p}-lone`, status: 'failed', duplicate: false });
      const after = await applyConfig(target, thresholdTx(`${p}-after`, 62), { retryForMs: 60_000 });
      expect(after).toMatchObject({ status: 'applied', duplicate: false });
    });
    const rows = await rowsFor(ctx.pool, [`${p}-first`, `${p}-lone`, `${p}-after`]);
    expect(rows.map((r) => r.status)).toEqual(['applied', 'failed', 'applied']);
  });

  test('connections terminated and statements cancelled all through a burst: each applied once, in submission order', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq, { maxBatch: 7 });
    const p = uid();
    const ids = Array.from({ length: 60 }, (_, i) => `${p}-b${i}`);
    let stop = false;
    let hits = 0;
    // Alternates pg_terminate_backend and pg_cancel_backend on whatever config statement is running,
    // for a bounded number of hits: on a loaded machine every statement would otherwise be killed.
    const chaos = async () => {
      for (let round = 0; !stop && hits < 40; round++) {
        const fn = round % 2 === 0 ? 'pg_terminate_backend' : 'pg_cancel_backend';
        const { rows } = await ctx.pool.query<{ ok: boolean }>(
          `SELECT ${fn}(pid) AS ok FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
              AND state <> 'idle' AND query ILIKE '%config_%'`,
        );
        hits += rows.filter((r) => r.ok).length;
        await new Promise((r) => setTimeout(r, 15));
      }
    };
    await ctx.withWorker(tq, async () => {
      const running = chaos();
      try {
        for (const [i, id] of ids.entries()) await submitConfig(target, thresholdTx(id, 100 + i));
        await settled(ctx.pool, ids, 180_000);
      } finally {
        stop = true;
        await running;
      }
      const after = await applyConfig(target, thresholdTx(`${p}-after`, 1), { retryForMs: 60_000 });
      expect(after).toMatchObject({ status: 'applied', duplicate: false });
    });
    const rows = await rowsFor(ctx.pool, ids);
    expect(rows.map((r) => r.id)).toEqual(ids);
    expect(rows.every((r) => r.status === 'applied')).toBe(true);
    expectContiguous(rows);
    const { rows: changes } = await ctx.pool.query<{ n: number }>(
      'SELECT COUNT(*)::int AS n FROM config_changes WHERE transaction_id = ANY($1)',
      [ids],
    );
    expect(changes[0]!.n).toBe(ids.length);
    expect(hits).toBeGreaterThan(0);
  }, 300_000);

  test('shutdown twice while updates are in flight, a signal while stopping: every one applied once, a later update starts a new run', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq, { maxBatch: 1 });
    const p = uid();
    const updates = Array.from({ length: 5 }, (_, i) => `${p}-u${i}`);
    let lateAccepted = false;
    await ctx.withWorker(tq, async () => {
      await submitConfig(target, thresholdTx(`${p}-first`, 70));
      const handle = ctx.temporal.workflow.getHandle(target.workflowId!);
      const inFlight = updates.map((id, i) =>
        handle.executeUpdate(applyConfigUpdate, { args: [thresholdTx(id, 71 + i)] }).catch((err: unknown) => err),
      );
      await handle.signal(shutdownSiphonSignal);
      await handle.signal(shutdownSiphonSignal);
      lateAccepted = await handle.signal(submitConfigSignal, thresholdTx(`${p}-late`, 80)).then(
        () => true,
        () => false,
      );
      const answers = await Promise.all(inFlight);
      // Each update is either answered applied or refused as not accepting (the client retries those).
      for (const [i, a] of answers.entries())
        if (a instanceof Error) await applyConfig(target, thresholdTx(updates[i]!, 71 + i), { retryForMs: 60_000 });
        else expect(a).toMatchObject({ status: 'applied', duplicate: false });
      const after = await applyConfig(target, thresholdTx(`${p}-after`, 81), { retryForMs: 60_000 });
      expect(after).toMatchObject({ status: 'applied', duplicate: false });
    });
    const late = await rowsFor(ctx.pool, [`${p}-late`]);
    const rows = await rowsFor(ctx.pool, [`${p}-first`, ...updates, `${p}-after`]);
    expect(rows.every((r) => r.status === 'applied')).toBe(true);
    expect(rows).toHaveLength(updates.length + 2);
    // A signal the stopping run accepted is applied; the sender of a refused one was told.
    expect(late.map((r) => r.status)).toEqual(lateAccepted ? ['applied'] : []);
    const { rows: changes } = await ctx.pool.query<{ n: number }>(
      'SELECT COUNT(*)::int AS n FROM config_changes WHERE transaction_id = ANY($1)',
      [rows.map((r) => r.id)],
    );
    expect(changes[0]!.n).toBe(rows.length);
  });
});
