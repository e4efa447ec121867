import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { createLogger } from '../../src/logger';
import { installRuntime } from '../../src/temporal/runtime';
import { bundleWorkflows } from '../../src/worker-factory';

// The replay of a changed workflow logs its nondeterminism as a warning; only errors matter here.
installRuntime(createLogger('error', 'txmgr-replay'));

const DIR = path.join(__dirname, 'histories');
const files = fs.readdirSync(DIR).filter((f) => f.startsWith('deposit-') && f.endsWith('.json'));
const load = (file: string) => historyFromJSON(JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')));

// Recorded before DEPOSIT_FENCES_PATCH: they must keep replaying through patched().
const V1 = ['denied', 'duplicate', 'invalid', 'ordinary', 'review-approved', 'review-rejected', 'review-timeout'];
const CURRENT = [...V1, 'cancel-in-review', 'cancel-after-credit', 'credit-reversed', 'compensation-failed'];

describe('deposit saga replay', () => {
  test('every recorded deposit path is on file', () => {
    expect(files.sort()).toEqual([...V1.map((n) => `deposit-v1-${n}.json`), ...CURRENT.map((n) => `deposit-${n}.json`)].sort());
  });

  test.each(files)('%s replays against the current workflow code', async (file) => {
    const workflowBundle = await bundle;
    await expect(Worker.runReplayHistory({ workflowBundle }, load(file), file)).resolves.toBeUndefined();
  });

  test.each([
    ['a whole rewrite (notify before credit)', 'deposit-changed', 'deposit-v1-ordinary.json'],
    ['a whole rewrite (notify before credit)', 'deposit-changed', 'deposit-ordinary.json'],
    ['two steps swapped (approve after credit)', 'deposit-swapped', 'deposit-review-approved.json'],
    ['one activity added (a second screen)', 'deposit-extra-activity', 'deposit-ordinary.json'],
  ])('%s fails replay of %s with a nondeterminism error', async (_change, module, file) => {
    const workflowBundle = await changedBundles[module];
    const err = await Worker.runReplayHistory({ workflowBundle }, load(file)).catch((e: unknown) => e);
    expect((err as Error).name).toBe('DeterminismViolationError');
    expect((err as Error).message).toMatch(/Nondeterminism/);
  });
});

const bundle = bundleWorkflows();
const changedBundles: Record<string, ReturnType<typeof bundleWorkflows>> = {};
for (const module of ['deposit-changed', 'deposit-swapped', 'deposit-extra-activity']) {
  changedBundles[module] = bundleWorkflows(require.resolve(`./changed/${module}`));
  // A rejected bundle that no test awaits must not fail the run on its own.
  changedBundles[module].catch(() => undefined);
}
