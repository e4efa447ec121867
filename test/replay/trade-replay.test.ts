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
const files = fs.readdirSync(DIR).filter((f) => f.startsWith('trade-') && f.endsWith('.json'));
const load = (file: string) => historyFromJSON(JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')));
const PATHS = ['fill', 'partial-rest-fill', 'cancel', 'expiry', 'fok-reject', 'halt', 'compensated', 'resumed-cancel'];

describe('trade saga replay', () => {
  test('every recorded trade path is on file', () => {
    expect(files.sort()).toEqual(PATHS.map((n) => `trade-${n}.json`).sort());
  });

  test.each(files)('%s replays against the current workflow code', async (file) => {
    const workflowBundle = await bundle;
    await expect(Worker.runReplayHistory({ workflowBundle }, load(file), file)).resolves.toBeUndefined();
  });

  test.each(['trade-fill.json', 'trade-partial-rest-fill.json'])(
    'an added activity fails replay of %s with a nondeterminism error',
    async (file) => {
      const workflowBundle = await changed;
      const err = await Worker.runReplayHistory({ workflowBundle }, load(file)).catch((e: unknown) => e);
      expect((err as Error).name).toBe('DeterminismViolationError');
      expect((err as Error).message).toMatch(/Nondeterminism/);
    },
  );
});

const bundle = bundleWorkflows();
const changed = bundleWorkflows(require.resolve('./changed/trade-extra-activity'));
// A rejected bundle that no test awaits must not fail the run on its own.
changed.catch(() => undefined);
