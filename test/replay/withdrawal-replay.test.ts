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
const files = fs.readdirSync(DIR).filter((f) => f.startsWith('withdrawal-') && f.endsWith('.json'));
const load = (file: string) => historyFromJSON(JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')));

const PATHS = [
  'completed',
  'invalid',
  'security-rejected',
  'chain-rejected',
  'rebroadcast',
  'dropped',
  'reorg',
  'cancel-before-broadcast',
  'cancel-after-broadcast',
  'continued-first-run',
  'continued-last-run',
  'broadcast-unanswered',
];

describe('withdrawal saga replay', () => {
  test('every recorded withdrawal path is on file', () => {
    expect(files.sort()).toEqual(PATHS.map((n) => `withdrawal-${n}.json`).sort());
  });

  test.each(files)('%s replays against the current workflow code', async (file) => {
    const workflowBundle = await bundle;
    await expect(Worker.runReplayHistory({ workflowBundle }, load(file), file)).resolves.toBeUndefined();
  });

  test.each(['withdrawal-completed.json', 'withdrawal-chain-rejected.json'])(
    'holding before the security checks fails replay of %s with a nondeterminism error',
    async (file) => {
      const err = await Worker.runReplayHistory({ workflowBundle: await changed }, load(file)).catch((e: unknown) => e);
      expect((err as Error).name).toBe('DeterminismViolationError');
      expect((err as Error).message).toMatch(/Nondeterminism/);
    },
  );
});

const bundle = bundleWorkflows();
const changed = bundleWorkflows(require.resolve('./changed/withdrawal-changed'));
changed.catch(() => undefined);
