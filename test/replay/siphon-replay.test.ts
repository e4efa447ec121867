import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import type { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { createLogger } from '../../src/logger';
import { installRuntime } from '../../src/temporal/runtime';
import { bundleWorkflows } from '../../src/worker-factory';

// The replay of a changed workflow logs its nondeterminism as a warning; only errors matter here.
installRuntime(createLogger('error', 'txmgr-replay'));

const DIR = path.join(__dirname, 'histories');
// Recorded by test/replay/record-siphon-histories.ts (`npm run record-histories`). The first was
// recorded before the hardening patch: it proves that runs the old code started still replay.
const LEGACY = 'siphon-continue-as-new.json';
const PATCHED = [
  'siphon-reload-shutdown.json',
  'siphon-refused-update.json',
  'siphon-batches-rotation.json',
  'siphon-carried-run.json',
];
const FILES = [LEGACY, ...PATCHED];
const load = (file: string) => historyFromJSON(JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')));
const events = (file: string): temporal.api.history.v1.IHistoryEvent[] => load(file).events ?? [];
const batches = (file: string) =>
  events(file).filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'applyConfigBatch').length;
const has = (file: string, pick: (e: temporal.api.history.v1.IHistoryEvent) => unknown) => events(file).some((e) => pick(e));

describe('config siphon replay', () => {
  test('every recorded siphon path is on file', () => {
    expect(
      fs
        .readdirSync(DIR)
        .filter((f) => f.startsWith('siphon-'))
        .sort(),
    ).toEqual([...FILES].sort());
  });

  test('the histories cover the paths they are named after', () => {
    expect(has(LEGACY, (e) => e.workflowExecutionContinuedAsNewEventAttributes)).toBe(true);
    expect(has(LEGACY, (e) => e.markerRecordedEventAttributes)).toBe(false); // from before the patch
    for (const file of PATCHED) expect(has(file, (e) => e.markerRecordedEventAttributes)).toBe(true);
    const signals = (file: string) =>
      events(file)
        .map((e) => e.workflowExecutionSignaledEventAttributes?.signalName)
        .filter(Boolean);
    expect(signals('siphon-reload-shutdown.json')).toEqual(expect.arrayContaining(['reloadConfig', 'shutdown']));
    expect(has('siphon-reload-shutdown.json', (e) => e.workflowExecutionCompletedEventAttributes)).toBe(true);
    expect(has('siphon-refused-update.json', (e) => e.workflowExecutionUpdateCompletedEventAttributes)).toBe(true);
    expect(batches('siphon-batches-rotation.json')).toBeGreaterThanOrEqual(3);
    expect(has('siphon-batches-rotation.json', (e) => e.workflowExecutionContinuedAsNewEventAttributes)).toBe(true);
    const started = events('siphon-carried-run.json')[0]?.workflowExecutionStartedEventAttributes;
    expect(started?.continuedExecutionRunId).toBeTruthy();
    expect(Buffer.from(started!.input!.payloads![0]!.data!).toString()).toMatch(/"carried":\{"queue":\[\{/);
  });

  test.each(FILES)('%s replays against the current workflow code', async (file) => {
    const workflowBundle = await bundle;
    await expect(Worker.runReplayHistory({ workflowBundle }, load(file), file)).resolves.toBeUndefined();
  });

  test.each(FILES)('%s fails replay against a rewritten siphon', async (file) => {
    const workflowBundle = await rewrittenBundle;
    const err = await Worker.runReplayHistory({ workflowBundle }, load(file), file).catch((e: unknown) => e);
    expect((err as Error).name).toBe('DeterminismViolationError');
  });

  test.each(FILES)('%s fails replay against the siphon with one activity added', async (file) => {
    const workflowBundle = await addedActivityBundle;
    const err = await Worker.runReplayHistory({ workflowBundle }, load(file), file).catch((e: unknown) => e);
    expect((err as Error).name).toBe('DeterminismViolationError');
  });
});

const bundle = bundleWorkflows();
const rewrittenBundle = bundleWorkflows(require.resolve('./changed/siphon-changed'));
const addedActivityBundle = bundleWorkflows(require.resolve('./changed/siphon-added-activity'));
