import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { getSiphonState, submitConfig } from '../../src/client/config';
import { NoWorkerError, listSagas } from '../../src/client/sagas';
import { DomainError } from '../../src/domain/errors';
import { eventually, useTestContext } from '../helpers/context';
import { createSagaTestActivities, newSagaProbe } from '../workflows/saga-test-activities';
import type { sagaThreeSteps } from '../workflows/saga-test-workflows';
import { stackEnv, txmgr } from './cli-process';
import { siphonTarget, thresholdTx } from './siphon-fixtures';

/** Recovery tooling: `txmgr sagas list`, `saga show`, `saga retry-compensation`, and words instead of SDK errors. */
const ctx = useTestContext({ workflowsPath: require.resolve('../workflows/saga-test-workflows') });

describe('saga recovery tooling', () => {
  test('list by kind, status and age; a parked saga and an overdue one need attention; retry-compensation un-parks', async () => {
    const tq = ctx.taskQueue();
    const env = stackEnv(ctx.databaseUrl, tq);
    const probe = newSagaProbe();
    probe.brokenUndos.add('b');
    const [parked, done, waiting] = [`park-${randomUUID()}`, `done-${randomUUID()}`, `wait-${randomUUID()}`];
    await ctx.withWorker(
      tq,
      async () => {
        const parkedHandle = await ctx.temporal.workflow.start<typeof sagaThreeSteps>('sagaThreeSteps', {
          taskQueue: tq,
          workflowId: parked,
          args: [{ failAt: 'c' }],
        });
        await ctx.temporal.workflow.execute<typeof sagaThreeSteps>('sagaThreeSteps', {
          taskQueue: tq,
          workflowId: done,
          args: [{}],
        });
        const waitingHandle = await ctx.temporal.workflow.start('sagaWaitsLong', { taskQueue: tq, workflowId: waiting });
        // Visibility is eventually consistent: wait until it shows all three with their saga statuses.
        await eventually(async () => {
          const all = await listSagas(ctx.temporal, { taskQueue: tq });
          return all.length === 3 && all.some((l) => l.status === 'COMPENSATION_FAILED');
        });

        const list = await txmgr(['sagas', 'list'], env);
        expect(list).toMatchObject({ code: 0, stderr: '' });
        const lines = list.stdout.trim().split('\n');
        expect(lines[0]).toMatch(/^SAGA +KIND +STATUS +STARTED +AGE +NEEDS ATTENTION$/);
        expect(lines).toHaveLength(4);
        expect(list.stdout).toMatch(
          new RegExp(
            `${parked} +test-steps +COMPENSATION_FAILED \\(RUNNING\\) .*a compensation keeps failing: fix its cause, then retry-compensation`,
          ),
        );
        expect(list.stdout).toMatch(new RegExp(`${done} +test-steps +COMPLETED `));

        const attention = JSON.parse((await txmgr(['--json', 'sagas', 'list', '--attention'], env)).stdout) as Array<{
          workflowId: string;
        }>;
        expect(attention.map((l) => l.workflowId)).toEqual([parked]);
        await new Promise((r) => setTimeout(r, 1_500));
        const overdue = await txmgr(['sagas', 'list', '--attention', '--expected', '1s'], env);
        expect(overdue.stdout).toMatch(
          new RegExp(`${waiting} +test-wait +RUNNING .*running \\d+ s, longer than a test-wait is expected to \\(1 s\\)`),
        );
        expect(overdue.stdout).not.toContain(done);

        const completed = JSON.parse((await txmgr(['--json', 'sagas', 'list', '--status', 'completed'], env)).stdout);
        expect(completed).toEqual([
          expect.objectContaining({ workflowId: done, kind: 'test-steps', executionStatus: 'COMPLETED' }),
        ]);
        const byKind = JSON.parse((await txmgr(['--json', 'sagas', 'list', '--kind', 'test-wait'], env)).stdout);
        expect(byKind).toEqual([expect.objectContaining({ workflowId: waiting, status: 'RUNNING' })]);
        expect((await txmgr(['sagas', 'list', '--older-than', '1h'], env)).stdout).toContain('(none)');
        const badStatus = await txmgr(['sagas', 'list', '--status', 'LOST'], env);
        expect(badStatus.code).toBe(2);
        expect(badStatus.stderr).toBe(
          'ValidationError: status must be one of RUNNING, COMPENSATING, COMPENSATED, COMPLETED, FAILED, COMPENSATION_FAILED, got "LOST"\n',
        );
        const badAge = await txmgr(['sagas', 'list', '--older-than', 'soon'], env);
        expect(badAge).toMatchObject({ code: 2 });
        expect(badAge.stderr).toContain('--older-than must be a duration such as 90s, 5m, 2h or 1d, got "soon"');

        // `saga show` and the old `saga <id>` say the same, including the saga's own status.
        const show = await txmgr(['saga', 'show', parked], env);
        expect(show.code).toBe(0);
        expect(show.stdout).toMatch(/status +RUNNING \(saga: COMPENSATION_FAILED\)/);
        expect(show.stdout).toMatch(/to undo +undo-b → undo-a/);
        expect((await txmgr(['saga', parked], env)).stdout).toBe(show.stdout);

        // Retry only what is parked; a finished or healthy saga is told, not signalled.
        const finished = await txmgr(['saga', 'retry-compensation', done], env);
        expect(finished).toMatchObject({ code: 1, stdout: '' });
        expect(finished.stderr).toBe(`InvalidState: saga ${done} already COMPLETED; nothing to retry\n`);
        const healthy = await txmgr(['saga', 'retry-compensation', waiting], env);
        expect(healthy.stderr).toBe(`InvalidState: saga ${waiting} is RUNNING, not COMPENSATION_FAILED; nothing to retry\n`);
        const unknown = await txmgr(['saga', 'retry-compensation', `nope-${randomUUID()}`], env);
        expect(unknown.code).toBe(2);
        expect(unknown.stderr).toMatch(/^NotFound: no saga with workflow id or bank reference nope-/);

        probe.brokenUndos.delete('b');
        const retried = await txmgr(['saga', 'retry-compensation', parked], env);
        expect(retried).toMatchObject({ code: 0, stderr: '' });
        expect(retried.stdout).toBe(
          `saga ${parked} asked to retry its compensations — follow it with: txmgr saga show ${parked}\n`,
        );
        const failure = await parkedHandle.result().catch((e: unknown) => e);
        expect(failure).toBeInstanceOf(WorkflowFailedError);
        expect(probe.calls.filter((c) => c.startsWith('undo:'))).toEqual(expect.arrayContaining(['undo:c', 'undo:b', 'undo:a']));
        await eventually(async () => {
          const [l] = await listSagas(ctx.temporal, { taskQueue: tq, kind: 'test-steps', status: 'COMPENSATED' });
          return l?.workflowId === parked;
        });
        await waitingHandle.terminate('test over');
      },
      { extraActivities: createSagaTestActivities(probe) },
    );
  });

  test('a query with no worker says no worker polls the task queue, not "Failed to query Workflow"', async () => {
    const tq = ctx.taskQueue();
    const workflowId = `nobody-${randomUUID()}`;
    const handle = await ctx.temporal.workflow.start<typeof sagaThreeSteps>('sagaThreeSteps', {
      taskQueue: tq,
      workflowId,
      args: [{}],
    });
    try {
      const err = await ctx
        .client(tq)
        .sagaStatus(workflowId)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NoWorkerError);
      expect((err as Error).message).toBe(`no worker polls task queue ${tq}`);
      const missing = await ctx
        .client(tq)
        .sagaStatus(`missing-${randomUUID()}`)
        .catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(DomainError);
      expect(missing).toMatchObject({ type: 'NotFound', message: expect.stringMatching(/^no saga with workflow id missing-/) });
      const show = await txmgr(['saga', 'show', workflowId], stackEnv(ctx.databaseUrl, tq));
      expect(show.code).toBe(0);
      expect(show.stdout).toContain(
        `no worker polls task queue ${tq} — start one with: TEMPORAL_TASK_QUEUE=${tq} npm run worker`,
      );
      // The config siphon's state query: the same words, from the client and the CLI.
      const target = siphonTarget(ctx.temporal, tq);
      await submitConfig(target, thresholdTx(`nw-${randomUUID()}`, 5000));
      const siphon = await getSiphonState(target).catch((e: unknown) => e);
      expect(siphon).toBeInstanceOf(NoWorkerError);
      const status = await txmgr(['config', 'state', '--workflow-id', target.workflowId!], stackEnv(ctx.databaseUrl, tq));
      expect(status).toMatchObject({ code: 1, stdout: '' });
      expect(status.stderr).toBe(
        `NoWorker: no worker polls task queue ${tq} — start one with: TEMPORAL_TASK_QUEUE=${tq} npm run worker\n`,
      );
      await ctx.temporal.workflow.getHandle(target.workflowId!).terminate('test over');
    } finally {
      await handle.terminate('test over');
    }
  });
});
