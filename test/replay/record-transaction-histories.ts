/**
 * Records the transaction core's histories (each mode, committed and failed) for the replay
 * tests. Not a test: run it with `npx jest --testMatch '<rootDir>/test/replay/record-transaction-histories.ts'`
 * after a deliberate, versioned workflow change. Every path asserts its outcome. Histories of an
 * earlier version are kept under their own name (transaction-2pc-v1-*, transaction-2pc-ordered-*).
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { executeTransaction, TransactionFailedError } from '../../src/client/transactions';
import type { TransactionRequest, TxMode } from '../../src/domain/operations';
import { useTestContext } from '../helpers/context';
import { fundedSide, overdraw, sideOps } from '../integration/tx-fixtures';

const ctx = useTestContext({ custody: true });
const OUT = path.join(__dirname, 'histories');

async function save(name: string, id: string): Promise<void> {
  const history = await ctx.temporal.workflow.getHandle(`tx-${id}`).fetchHistory();
  fs.writeFileSync(path.join(OUT, `${name}.json`), historyToJSON(history));
}

test('record transaction histories', async () => {
  const tq = ctx.taskQueue();
  const target = { temporal: ctx.temporal, taskQueue: tq };
  await ctx.withWorker(tq, async () => {
    for (const mode of ['atomic', 'saga', '2pc'] as TxMode[]) {
      const l = await fundedSide(ctx.pool);
      const c = await fundedSide(ctx.custodyPool!);
      const ops: TransactionRequest['operations'] =
        mode === '2pc' ? [sideOps(l, 'ledger', 0)[0]!, sideOps(c, 'custody', 0)[0]!] : sideOps(l, 'ledger', 0);
      const ok = `replay-${mode}-${randomUUID().slice(0, 8)}`;
      expect((await executeTransaction(target, { id: ok, mode, operations: ops })).status).toBe('COMMITTED');
      await save(`transaction-${mode}-committed`, ok);

      const failing = [...ops];
      failing[failing.length - 1] = overdraw(mode === '2pc' ? c : l, mode === '2pc' ? 'custody' : 'ledger');
      const bad = `replay-${mode}-${randomUUID().slice(0, 8)}`;
      const err = await executeTransaction(target, { id: bad, mode, operations: failing }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransactionFailedError);
      expect((err as TransactionFailedError).type).toBe('InsufficientFunds');
      await save(`transaction-${mode}-${mode === 'atomic' ? 'failed' : 'rolled-back'}`, bad);
    }
  });
});
