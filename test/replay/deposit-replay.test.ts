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

describe('deposit saga replay', () => {
  test('every recorded deposit path is on file', () => {
    expect(files.sort()).toEqual(
      [
        'deposit-denied.json',
        'deposit-duplicate.json',
        'deposit-invalid.json',
        'deposit-ordinary.json',
        'deposit-review-approved.json',
        'deposit-review-rejected.json',
        'deposit-review-timeout.json',
      ].sort(),
    );
  });

  test.each(files)('%s replays against the current workflow code', async (file) => {
    const workflowBundle = await bundle;
    await expect(Worker.runReplayHistory({ workflowBundle }, load(file), file)).resolves.toBeUndefined();
  });

  test('a deliberately changed workflow fails replay with a nondeterminism error', async () => {
    const workflowBundle = await changedBundle;
    const err = await Worker.runReplayHistory({ workflowBundle }, load('deposit-ordinary.json')).catch((e: unknown) => e);
    expect((err as Error).name).toBe('DeterminismViolationError');
    expect((err as Error).message).toMatch(/Nondeterminism/);
  });
});

const bundle = bundleWorkflows();
const changedBundle = bundleWorkflows(require.resolve('./changed/deposit-changed'));
