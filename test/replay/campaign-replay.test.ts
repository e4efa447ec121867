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
const files = fs.readdirSync(DIR).filter((f) => f.startsWith('campaign-') && f.endsWith('.json'));
const load = (file: string) => historyFromJSON(JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')));
const PATHS = ['immediate', 'scheduled', 'cancel-before', 'cancel-after', 'compensated', 'workflow-cancel'];

describe('campaign saga replay', () => {
  test('every recorded campaign path is on file', () => {
    expect(files.sort()).toEqual(PATHS.map((n) => `campaign-${n}.json`).sort());
  });

  test.each(files)('%s replays against the current workflow code', async (file) => {
    await expect(Worker.runReplayHistory({ workflowBundle: await bundle }, load(file), file)).resolves.toBeUndefined();
  });

  test.each(PATHS)('a reordered saga fails replay of campaign-%s with a nondeterminism error', async (p) => {
    const err = await Worker.runReplayHistory({ workflowBundle: await changed }, load(`campaign-${p}.json`)).catch(
      (e: unknown) => e,
    );
    expect((err as Error).name).toBe('DeterminismViolationError');
    expect((err as Error).message).toMatch(/Nondeterminism/);
  });
});

const bundle = bundleWorkflows();
const changed = bundleWorkflows(require.resolve('./changed/campaign-changed'));
changed.catch(() => undefined);
