import { randomUUID } from 'node:crypto';
import { applyConfig, submitConfig } from '../../src/client/config';
import { checkConfigInvariants } from '../../src/db/queries/config';
import { applyConfigUpdate } from '../../src/workflows';
import { useTestContext } from '../helpers/context';
import { rowsFor, siphonTarget, thresholdTx } from './siphon-fixtures';

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
});
