/**
 * `npm run bench:campaign`: the campaign saga on this machine, on the embedded stack (or
 * TEMPORAL_ADDRESS / DATABASE_URL). Three measurements:
 *   compensation — campaigns with a fault injected after a step: from the failing step's
 *                  transaction to the last compensation's commit (transaction_metrics), p50/p99;
 *   throughput   — campaign sagas per second (validate → … → close), rounds with metrics rows
 *                  on and off alternated in the same run, and their ratio;
 *   reward batch — one atomic batch of 1,000 payments, milliseconds.
 * Writes bench/reports/campaign.md. Sizes: BENCH_CAMPAIGN_N (sagas per round, default 100),
 * BENCH_CAMPAIGN_ROUNDS (default 8), BENCH_CAMPAIGN_FAULTS (default 40).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import { createCampaign, payRewards, startCampaign } from '../src/client/campaigns';
import { loadCommonConfig } from '../src/config';
import { checkInvariants } from '../src/db/invariants';
import { checkCampaignInvariants } from '../src/db/invariants-campaign';
import { migrate } from '../src/db/migrate';
import { createPool } from '../src/db/pool';
import { setTransactionMetrics, withTransaction } from '../src/db/transaction';
import { campaignWorkflowId } from '../src/domain/campaign';
import { PROJECT_ROOT, startStack } from '../src/infra/stack';
import { describeFailure } from '../src/infra/stack-error';
import { createLogger } from '../src/logger';
import { installRuntime } from '../src/temporal/runtime';
import { createWorker } from '../src/worker-factory';
import {
  faultyCampaignActivities,
  fundedAccount,
  INJECTABLE_STEPS,
  setCampaignDefaults,
  type InjectableStep,
} from '../test/helpers/campaign-fixtures';

const N = Number(process.env.BENCH_CAMPAIGN_N ?? 100);
const ROUNDS = Number(process.env.BENCH_CAMPAIGN_ROUNDS ?? 8);
const FAULTS = Number(process.env.BENCH_CAMPAIGN_FAULTS ?? 40);
const PAYMENTS = 1000;
const AA = process.env.BENCH_CAMPAIGN_AA === '1';
const TX = Number(process.env.BENCH_CAMPAIGN_TX ?? 8000);

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

async function main(): Promise<void> {
  const config = loadCommonConfig();
  const logger = createLogger(process.env.LOG_LEVEL ?? 'error', 'txmgr-bench');
  installRuntime(logger);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const loadAtStart = os.loadavg()[0]?.toFixed(1) ?? '?';
  say(`bench:campaign — starting the stack (N=${N} per round, ${ROUNDS} rounds, ${FAULTS} faults) ...`);
  const stack = await startStack({
    logger,
    dataDir: path.resolve(PROJECT_ROOT, config.dataDir, 'bench-campaign'),
    say: (line) => say(`  ${line}`),
    namespace: config.namespace,
    databaseName: `txmgr_bench_campaign_${Date.now().toString(36)}`,
    temporalAddress: config.temporalAddress,
    databaseUrl: config.databaseUrl,
  });
  const stop = () => void stack.stop().then(() => process.exit(130));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const pool = createPool({ databaseUrl: stack.databaseUrl, max: 30 });
  try {
    await migrate(stack.databaseUrl, logger);
    await setCampaignDefaults(pool);
    const temporal = new Client({ connection: stack.connection, namespace: stack.namespace });
    const taskQueue = `bench-campaign-${randomUUID().slice(0, 8)}`;
    const client = { temporal, pool, taskQueue };
    const faults = new Map<string, InjectableStep>();
    const worker = await createWorker({
      connection: stack.nativeConnection,
      namespace: stack.namespace,
      taskQueue,
      pool,
      logger,
      maxConcurrentActivities: 24,
      extraActivities: faultyCampaignActivities({ pool, logger }, faults),
    });
    const owners = await Promise.all(Array.from({ length: 20 }, () => fundedAccount(pool, 10n ** 12n)));
    let seq = 0;
    const request = () => ({
      ownerAccountId: owners[seq % owners.length] as string,
      name: `bench-${seq++}`,
      budget: '1.00',
      durationSeconds: 1,
    });

    const report = await worker.runUntil(async () => {
      // 1. Compensation latency.
      const failing = await Promise.all(
        Array.from({ length: FAULTS }, async (_, i) => {
          const r = { ...request(), campaignId: randomUUID() };
          faults.set(r.campaignId, INJECTABLE_STEPS[i % INJECTABLE_STEPS.length] as InjectableStep);
          await createCampaign(client, r).catch(() => undefined);
          return campaignWorkflowId(r.campaignId);
        }),
      );
      const { rows } = await pool.query<{ ms: number }>(
        `SELECT EXTRACT(EPOCH FROM MAX(c.created_at) - f.at) * 1000 AS ms
         FROM (SELECT workflow_id, MAX(created_at) AS at FROM transaction_metrics
               WHERE workflow_id = ANY($1) AND operation = ANY($2) GROUP BY workflow_id) f
         JOIN transaction_metrics c ON c.workflow_id = f.workflow_id AND c.success
           AND c.operation IN ('releaseHold', 'cleanCampaignState', 'deleteCampaignRecord')
         GROUP BY f.workflow_id, f.at`,
        [failing, ['createCampaignRecord', 'initCampaignState', 'reserveCampaignBudget', 'activateCampaign']],
      );
      const compensation = rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
      say(`compensation: p50 ${percentile(compensation, 50).toFixed(0)} ms, p99 ${percentile(compensation, 99).toFixed(0)} ms`);

      // 2. Throughput, metrics on and off alternated, after a round that warms the stack up (not counted).
      const warm = await Promise.all(Array.from({ length: N }, () => startCampaign(client, request())));
      await Promise.all(warm.map((s) => temporal.workflow.getHandle(s.workflowId).result()));
      const rounds: Array<{ metrics: boolean; rate: number; seconds: number }> = [];
      for (let round = 0; round < ROUNDS; round++) {
        // on, off, off, on, on, off, …: a drift in the machine's load weighs on both alike.
        const metrics = Math.floor((round + 1) / 2) % 2 === 0;
        // BENCH_CAMPAIGN_AA=1: both kinds of round without rows, to see how far apart equal rounds land here.
        setTransactionMetrics(metrics && !AA);
        const t0 = performance.now();
        const started = await Promise.all(Array.from({ length: N }, () => startCampaign(client, request())));
        await Promise.all(started.map((s) => temporal.workflow.getHandle(s.workflowId).result()));
        const rate = N / ((performance.now() - t0) / 1000);
        rounds.push({ metrics, rate, seconds: N / rate });
        say(`round ${round + 1}: metrics ${metrics ? 'on ' : 'off'} ${rate.toFixed(1)} sagas/s`);
      }
      setTransactionMetrics(true);

      // 2b. The row's own cost without any drift: one campaign transaction (lock the campaign, update
      // its state, commit) with and without its row, alternated transaction by transaction.
      const campaignIds = warm.map((w) => w.campaignId);
      const latency = { on: [] as number[], off: [] as number[] };
      await Promise.all(
        Array.from({ length: 16 }, async (_, lane) => {
          for (let i = 0; i < TX / 16; i++) {
            const recordMetrics = (i + lane) % 2 === 0;
            const id = campaignIds[(lane * 7919 + i) % campaignIds.length] as string;
            const t0 = performance.now();
            await withTransaction(
              pool,
              'benchCampaignTouch',
              async (tx) => {
                await tx.query('SELECT id FROM campaigns WHERE id = $1 FOR UPDATE', [id]);
                await tx.query('UPDATE campaign_state SET updated_at = now() WHERE campaign_id = $1', [id]);
              },
              { recordMetrics },
            );
            (recordMetrics ? latency.on : latency.off).push(performance.now() - t0);
          }
        }),
      );
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const tx = { on: mean(latency.on), off: mean(latency.off), n: latency.on.length + latency.off.length };
      say(`one transaction: ${tx.on.toFixed(2)} ms with its row, ${tx.off.toFixed(2)} ms without (${tx.n} interleaved)`);

      // 3. One batch of 1,000 rewards.
      const batchMs: number[] = [];
      for (let b = 0; b < 3; b++) {
        const ids = Array.from({ length: PAYMENTS }, () => randomUUID());
        await pool.query(
          `INSERT INTO accounts (id, asset, kind, owner, debits_must_not_exceed_credits) SELECT id, 'USD', 'user', 'bench', true FROM unnest($1::uuid[]) id`,
          [ids],
        );
        const c = await createCampaign(client, {
          ...request(),
          budget: '1000.00',
          rewardPerUser: '1.00',
          maxPerUser: '1.00',
          durationSeconds: 3600,
        });
        const t0 = performance.now();
        const paid = await payRewards(
          client,
          c.campaignId,
          ids.map((accountId) => ({ accountId })),
        );
        batchMs.push(performance.now() - t0);
        if (paid.paid !== PAYMENTS) throw new Error(`batch paid ${paid.paid}, expected ${PAYMENTS}`);
        await temporal.workflow.getHandle(c.workflowId).executeUpdate('cancelCampaign', { args: [{}] });
      }
      say(`reward batch of ${PAYMENTS}: ${batchMs.map((m) => m.toFixed(0)).join(', ')} ms`);
      return { compensation, rounds, batchMs, tx };
    });

    const violations = [...(await checkInvariants(pool, { temporal })), ...(await checkCampaignInvariants(pool))];
    // Each mode's rate over all its rounds: sagas completed / time taken.
    const pooled = (metrics: boolean) => {
      const mine = report.rounds.filter((r) => r.metrics === metrics);
      return (mine.length * N) / mine.reduce((t, r) => t + r.seconds, 0);
    };
    const on = pooled(true);
    const off = pooled(false);
    const medianOn = median(report.rounds.filter((r) => r.metrics).map((r) => r.rate));
    const medianOff = median(report.rounds.filter((r) => !r.metrics).map((r) => r.rate));
    const cpus = os.cpus();
    const lines = [
      '# Campaign saga benchmark',
      '',
      `Run ${new Date().toISOString()} with \`npm run bench:campaign\`.`,
      ...(AA
        ? ['', 'A/A run (BENCH_CAMPAIGN_AA=1): no round wrote metrics rows; "on" and "off" only label the alternation.']
        : []),
      '',
      `Machine: ${cpus[0]?.model ?? 'unknown CPU'} × ${cpus.length}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, load average ${loadAtStart} at the start and ${os.loadavg()[0]?.toFixed(1)} at the end (shared with other work), Node ${process.version}.`,
      'Stack: embedded Temporal CLI dev server and embedded PostgreSQL, one worker (24 concurrent activities), all on this machine.',
      '',
      '| measurement | result |',
      '| --- | --- |',
      `| compensation latency, failing step → fully compensated (${report.compensation.length} sagas, faults after record/state/reserve/activate) | p50 **${percentile(report.compensation, 50).toFixed(0)} ms**, p99 **${percentile(report.compensation, 99).toFixed(0)} ms** |`,
      `| campaign sagas/s, metrics rows on (${report.rounds.filter((r) => r.metrics).length} rounds of ${N}, all sagas / all time; median round ${medianOn.toFixed(1)}) | **${on.toFixed(1)}** |`,
      `| campaign sagas/s, metrics rows off (${report.rounds.filter((r) => !r.metrics).length} rounds of ${N}, all sagas / all time; median round ${medianOff.toFixed(1)}) | **${off.toFixed(1)}** |`,
      `| throughput ratio on / off (overhead of transaction_metrics) | **${(on / off).toFixed(3)}** (${((1 - on / off) * 100).toFixed(1)} % overhead) |`,
      `| one campaign transaction (lock, update, commit; ${report.tx.n} alternated one by one, 16 at a time), mean with / without its metrics row | **${report.tx.on.toFixed(2)} ms** / **${report.tx.off.toFixed(2)} ms** (throughput ratio ${(report.tx.off / report.tx.on).toFixed(3)}) |`,
      `| reward batch of ${PAYMENTS} payments, one transaction (3 runs) | ${report.batchMs.map((m) => `**${m.toFixed(0)} ms**`).join(', ')} |`,
      '',
      'Rounds alternate on, off, off, on, on, off … in one run against one stack, after an uncounted warm-up round, so both see the same machine and a drift in its load weighs on both alike.',
      `Per round: ${report.rounds.map((r) => `${r.metrics ? 'on' : 'off'} ${r.rate.toFixed(1)}`).join(', ')} sagas/s.`,
      'A saga here is the whole campaign: validate → record → state → reserve → activate → (1 s timer) → close;',
      'the timer overlaps across the round, so the rate is bound by the six database transactions per saga.',
      'Metrics on: each committed transaction writes its transaction_metrics row inside itself, in the round trip of its COMMIT',
      '(no second connection, round trip or commit); off: plain COMMIT. Failed transactions write theirs after the rollback.',
      '',
      `Invariants after the run (ledger and campaign): ${violations.length === 0 ? 'all hold' : violations.join('; ')}.`,
      '',
    ];
    fs.mkdirSync(path.resolve(PROJECT_ROOT, 'bench', 'reports'), { recursive: true });
    fs.writeFileSync(path.resolve(PROJECT_ROOT, 'bench', 'reports', 'campaign.md'), lines.join('\n'));
    say('report written to bench/reports/campaign.md');
  } finally {
    await pool.end();
    await stack.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:campaign: ${describeFailure(err, 'run it again with LOG_LEVEL=debug for details')}\n`);
    process.exit(1);
  },
);
