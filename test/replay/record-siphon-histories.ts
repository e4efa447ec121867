/**
 * Records the config siphon's history for the replay test. Not a test: run it with
 * `npm run record-histories` after a deliberate, versioned workflow change.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { applyConfig, submitConfig } from '../../src/client/config';
import { eventually, useTestContext } from '../helpers/context';

const ctx = useTestContext();
const OUT = path.join(__dirname, 'histories');

test('record config siphon histories', async () => {
  const tq = ctx.taskQueue();
  const workflowId = `config-siphon-replay-${randomUUID().slice(0, 8)}`;
  // A short run: continueAsNew after 5, with signals, updates and a failing transaction in it.
  const target = { client: ctx.temporal, taskQueue: tq, workflowId, siphonInput: { continueAsNewAfter: 5 } };
  const tx = (i: number) => ({
    id: `${workflowId}-${i}`,
    kind: 'compliance.thresholds',
    payload: { thresholds: [{ asset: 'USD', reviewThreshold: String(i + 1) }] },
  });
  const firstRun = await submitConfig(target, tx(0));
  await ctx.withWorker(tq, async () => {
    await submitConfig(target, {
      id: `${workflowId}-bad`,
      kind: 'markets.status',
      payload: { symbol: 'EUR-ETH', status: 'halted' },
    });
    for (let i = 1; i < 12; i++) {
      if (i % 3 === 0) await applyConfig(target, tx(i));
      else await submitConfig(target, tx(i));
    }
    await eventually(async () => {
      const { rows } = await ctx.pool.query<{ n: number }>(
        `SELECT COUNT(*)::int AS n FROM config_transactions WHERE status <> 'pending'`,
      );
      return rows[0]!.n === 13;
    });
  });
  const history = await ctx.temporal.workflow.getHandle(workflowId, firstRun.runId).fetchHistory();
  fs.writeFileSync(path.join(OUT, 'siphon-continue-as-new.json'), historyToJSON(history));
});
