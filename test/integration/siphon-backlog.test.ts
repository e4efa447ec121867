import { randomUUID } from 'node:crypto';
import { getSiphonState, submitConfig } from '../../src/client/config';
import { checkConfigInvariants } from '../../src/db/queries/config';
import { useTestContext } from '../helpers/context';
import { expectContiguous, settled, siphonTarget, thresholdTx } from './siphon-fixtures';

const ctx = useTestContext();

afterEach(async () => {
  expect(await checkConfigInvariants(ctx.pool)).toEqual([]);
});

describe('config siphon backlog', () => {
  test('1,000 transactions submitted while no worker runs are all applied, in submission order, once a worker starts', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const p = randomUUID().slice(0, 8);
    const ids = Array.from({ length: 1000 }, (_, i) => `${p}-${String(i).padStart(4, '0')}`);

    // Signal-with-start with no worker: Temporal records each one durably; nothing is applied yet.
    for (const [i, id] of ids.entries()) {
      await submitConfig(
        target,
        i === 500 ? { id, kind: 'markets.status', payload: { symbol: 'EUR-BTC', status: 'halted' } } : thresholdTx(id, i + 1),
      );
    }
    const { rows: none } = await ctx.pool.query('SELECT COUNT(*)::int AS n FROM config_transactions');
    expect(none[0].n).toBe(0);

    const rows = await ctx.withWorker(tq, async () => {
      const r = await settled(ctx.pool, ids, 240_000);
      expect(await getSiphonState(target)).toMatchObject({ queueDepth: 0, lastSequence: r[r.length - 1]!.sequence });
      return r;
    });

    expect(rows.map((r) => r.id)).toEqual(ids);
    expectContiguous(rows);
    expect(rows.filter((r) => r.status === 'failed').map((r) => r.id)).toEqual([ids[500]]);
    const { rows: settings } = await ctx.pool.query(`SELECT review_threshold FROM compliance_settings WHERE asset = 'USD'`);
    expect(settings[0].review_threshold).toBe('1000');
  });
});
