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
// Recorded by test/integration/siphon.test.ts with TXMGR_RECORD_HISTORIES=1: a run of
// signals and updates that ends in continueAsNew. Re-record it after a deliberate change.
const FILE = 'siphon-continue-as-new.json';
const load = () => historyFromJSON(JSON.parse(fs.readFileSync(path.join(DIR, FILE), 'utf8')));

describe('config siphon replay', () => {
  test('the recorded history covers continueAsNew, updates and signals', () => {
    const json = fs.readFileSync(path.join(DIR, FILE), 'utf8');
    for (const type of [
      'EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW',
      'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED',
      'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED',
      'EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES',
    ]) {
      expect(json).toContain(type);
    }
  });

  test('it replays against the current workflow code', async () => {
    const workflowBundle = await bundle;
    await expect(Worker.runReplayHistory({ workflowBundle }, load(), FILE)).resolves.toBeUndefined();
  });

  test('a deliberately changed siphon fails replay with a nondeterminism error', async () => {
    const workflowBundle = await changedBundle;
    const err = await Worker.runReplayHistory({ workflowBundle }, load(), FILE).catch((e: unknown) => e);
    expect((err as Error).name).toBe('DeterminismViolationError');
  });
});

const bundle = bundleWorkflows();
const changedBundle = bundleWorkflows(require.resolve('./changed/siphon-changed'));
