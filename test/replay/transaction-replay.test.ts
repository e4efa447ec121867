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
const files = fs.readdirSync(DIR).filter((f) => f.startsWith('transaction-') && f.endsWith('.json'));
const load = (file: string) => historyFromJSON(JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')));

// 2pc-v1: participants prepared in parallel, commits answered a string; 2pc-ordered: in resource
// order (patch 2pc-prepare-in-resource-order) without the deadline bound; 2pc: today's code.
const EXPECTED = [
  'atomic-committed',
  'atomic-failed',
  'saga-committed',
  'saga-rolled-back',
  '2pc-committed',
  '2pc-rolled-back',
  '2pc-ordered-committed',
  '2pc-ordered-rolled-back',
  '2pc-v1-committed',
  '2pc-v1-rolled-back',
];

describe('transaction core replay', () => {
  test('every mode is on file, committed and failed', () => {
    expect(files.sort()).toEqual(EXPECTED.map((n) => `transaction-${n}.json`).sort());
  });

  test.each(files)('%s replays against the current workflow code', async (file) => {
    await expect(Worker.runReplayHistory({ workflowBundle: await bundle }, load(file), file)).resolves.toBeUndefined();
  });

  test.each(files)('%s fails replay against a workflow with an added activity', async (file) => {
    const err = await Worker.runReplayHistory({ workflowBundle: await changed }, load(file)).catch((e: unknown) => e);
    expect((err as Error).name).toBe('DeterminismViolationError');
  });
});

const bundle = bundleWorkflows();
const changed = bundleWorkflows(require.resolve('./changed/transaction-extra-activity'));
changed.catch(() => undefined);
