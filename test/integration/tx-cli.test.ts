import { randomUUID } from 'node:crypto';
import { withDatabase } from '../../src/db/admin';
import { eventually, useTestContext } from '../helpers/context';
import { runProcess, stackEnv, txmgr } from './cli-process';
import { fundedSide, sideOps, useSharedWorker } from './tx-fixtures';

const ctx = useTestContext({ custody: true });
const shared = useSharedWorker(ctx);

const env = () => ({
  ...stackEnv(ctx.databaseUrl, shared.taskQueue),
  CUSTODY_DATABASE_URL: withDatabase(ctx.databaseUrl, `${ctx.databaseName}_custody`),
});

describe('txmgr tx, changes and recovery', () => {
  test('tx run - shows each operation, tx show the same; changes lists them; recovery finds nothing in doubt', async () => {
    const s = await fundedSide(ctx.pool);
    const id = `cli-${randomUUID()}`;
    const request = JSON.stringify({ id, mode: 'saga', operations: sideOps(s, 'ledger', 0) });
    const run = await runProcess(process.execPath, ['dist/client/cli.js', 'tx', 'run', '-'], env(), request);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`transaction ${id} (saga) COMMITTED`);
    expect(run.stdout).toMatch(/0\s+ledger\.transfer\s+ledger\s+applied\s+transfer 1\.00 USD/);
    expect(run.stdout).toMatch(/3\s+ledger\.release\s+ledger\s+applied/);

    const show = await txmgr(['tx', 'show', id, '--json'], env());
    expect(show.code).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({ id, mode: 'saga', status: 'COMMITTED' });

    // The log shows a change once no transaction older than it is in flight anywhere in the cluster:
    // other test files' transactions (a prepared one among them) can hold that back for a while.
    let holdChanges: string[] = [];
    await eventually(async () => {
      const changes = await txmgr(['changes', '--entity', 'hold', '--json'], env());
      expect(changes.code).toBe(0);
      holdChanges = changes.stdout
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as { change: string; workflowId: string })
        .filter((l) => l.workflowId === `tx-${id}`)
        .map((l) => l.change);
      return holdChanges.length >= 3;
    }, 90_000);
    expect(holdChanges).toEqual(['placed', 'captured', 'released']);

    const status = await txmgr(['recovery', 'status', '--json'], env());
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toEqual([]);
  }, 240_000);

  test('bad input is exit 2 naming the field; a failed transaction is exit 1 with its outcomes', async () => {
    const s = await fundedSide(ctx.pool);
    const bad = await runProcess(
      process.execPath,
      ['dist/client/cli.js', 'tx', 'run', '-'],
      env(),
      JSON.stringify({ id: 'x', operations: [{ type: 'ledger.transfer', params: { amount: '1' } }] }),
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^ValidationError: invalid transaction: operations\.0\.params\.debitAccountId/);

    const ops = sideOps(s, 'ledger', 0);
    ops[3] = { ...ops[0]!, params: { ...(ops[0]!.params as object), amount: '99999999' } };
    const failed = await runProcess(
      process.execPath,
      ['dist/client/cli.js', 'tx', 'run', '-'],
      env(),
      JSON.stringify({ id: `cli-${randomUUID()}`, operations: ops }),
    );
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/ROLLED_BACK/);
    expect(failed.stderr).toMatch(/^InsufficientFunds: /);
  });
});
