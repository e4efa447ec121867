/**
 * Records the config siphon's histories for the replay test. Not a test: run it with
 * `npm run record-histories` after a deliberate, versioned workflow change. Every step
 * checks its outcome, so a recording of an unexpected path fails instead of being kept.
 *
 * siphon-continue-as-new.json is kept as recorded before the hardening patch: it proves
 * that runs started by the old code still replay. It is not re-recorded here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { Client } from '@temporalio/client';
import { applyConfig, getSiphonState, shutdownSiphon, submitConfig, type SiphonTarget } from '../../src/client/config';
import type { DomainError } from '../../src/domain/errors';
import { applyConfigUpdate, reloadSiphonSignal, submitConfigSignal, type ConfigSiphonInput } from '../../src/workflows';
import { eventually, useTestContext } from '../helpers/context';
import { haltUnknownMarketTx, settled, thresholdTx } from '../integration/siphon-fixtures';

const ctx = useTestContext();
const OUT = path.join(__dirname, 'histories');

const target = (client: Client, taskQueue: string, siphonInput: ConfigSiphonInput = {}): SiphonTarget => ({
  client,
  taskQueue,
  workflowId: `config-siphon-replay-${randomUUID().slice(0, 8)}`,
  siphonInput,
});

async function save(file: string, t: SiphonTarget, runId?: string): Promise<void> {
  const history = await ctx.temporal.workflow.getHandle(t.workflowId!, runId).fetchHistory();
  fs.writeFileSync(path.join(OUT, file), historyToJSON(history));
}

/** The run ids of a workflow, first to last, following continueAsNew. */
async function runIds(t: SiphonTarget, firstRunId: string): Promise<string[]> {
  const ids = [firstRunId];
  for (;;) {
    const events = (await ctx.temporal.workflow.getHandle(t.workflowId!, ids.at(-1)).fetchHistory()).events ?? [];
    const next = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
    if (!next) return ids;
    ids.push(next);
  }
}

test('reload, then shutdown with transactions queued: drained, completed', async () => {
  const tq = ctx.taskQueue();
  const t = target(ctx.temporal, tq);
  const p = randomUUID().slice(0, 8);
  await ctx.withWorker(tq, async () => {
    expect(await applyConfig(t, thresholdTx(`${p}-1`, 101))).toMatchObject({ status: 'applied', duplicate: false });
    await ctx.temporal.workflow.getHandle(t.workflowId!).signal(reloadSiphonSignal);
    expect(await applyConfig(t, thresholdTx(`${p}-2`, 102))).toMatchObject({ status: 'applied', duplicate: false });
    for (const i of [3, 4, 5]) await submitConfig(t, thresholdTx(`${p}-${i}`, 100 + i));
    await shutdownSiphon(t);
    expect(await ctx.temporal.workflow.getHandle(t.workflowId!).result()).toMatchObject({ processedTotal: 5, runs: 1 });
  });
  await save('siphon-reload-shutdown.json', t);
});

test('refused updates (invalid, conflicting id) and a failing transaction', async () => {
  const tq = ctx.taskQueue();
  const t = target(ctx.temporal, tq);
  const p = randomUUID().slice(0, 8);
  await ctx.withWorker(tq, async () => {
    expect(await applyConfig(t, thresholdTx(`${p}-ok`, 201))).toMatchObject({ status: 'applied' });
    const handle = ctx.temporal.workflow.getHandle(t.workflowId!);
    // Refused by the validator: leaves no trace in history, and the run must replay without it.
    const invalid = await handle
      .executeUpdate(applyConfigUpdate, { args: [{ id: `${p}-bad`, kind: 'nope', payload: {} }] })
      .catch((e: unknown) => e);
    expect((invalid as Error).name).toBe('WorkflowUpdateFailedError');
    const conflict = (await applyConfig(t, thresholdTx(`${p}-ok`, 202)).catch((e: unknown) => e)) as DomainError;
    expect(conflict.type).toBe('IdempotencyConflict');
    expect(await applyConfig(t, haltUnknownMarketTx(`${p}-halt`))).toMatchObject({ status: 'failed' });
    await handle.signal(submitConfigSignal, {
      id: `${p}-raw`,
      kind: 'compliance.thresholds',
      payload: {},
      ['x\u0000']: 1,
    } as never);
    await settled(ctx.pool, [`${p}-raw`]);
  });
  await save('siphon-refused-update.json', t);
});

test('a backlog applied in several batches in one run, then continueAsNew by signal count; the next run starts from carried state', async () => {
  const tq = ctx.taskQueue();
  const t = target(ctx.temporal, tq, { maxBatch: 3, rotateAfterSignals: 12, continueAsNewAfter: 1_000 });
  const p = randomUUID().slice(0, 8);
  const ids = Array.from({ length: 10 }, (_, i) => `${p}-${String(i).padStart(2, '0')}`);
  // Queued while no worker runs, so the first run applies them in batches of 3.
  const first = await submitConfig(t, thresholdTx(ids[0]!, 1));
  for (const [i, id] of ids.slice(1).entries()) await submitConfig(t, thresholdTx(id, i + 2));
  const more = Array.from({ length: 6 }, (_, i) => `${p}-m${i}`);
  await ctx.withWorker(tq, async () => {
    const rows = await settled(ctx.pool, ids);
    expect(rows.every((r) => r.status === 'applied')).toBe(true);
    // Two more signals reach the signal limit of 12: the run rotates, carrying what is queued.
    for (const [i, id] of more.entries()) await submitConfig(t, thresholdTx(id, 50 + i));
    expect((await settled(ctx.pool, more)).every((r) => r.status === 'applied')).toBe(true);
    expect(await applyConfig(t, thresholdTx(`${p}-last`, 99))).toMatchObject({ status: 'applied', duplicate: false });
    await eventually(async () => ((await getSiphonState(t))?.run ?? 0) >= 2);
  });
  const runs = await runIds(t, first.runId);
  expect(runs.length).toBeGreaterThanOrEqual(2);
  await save('siphon-batches-rotation.json', t, runs[0]);
  await save('siphon-carried-run.json', t, runs[1]);
});
