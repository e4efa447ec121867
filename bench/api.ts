/**
 * `npm run bench:api`: requests per second and p99 latency of the HTTP API under autocannon
 * at a fixed concurrency, on the embedded stack (or TEMPORAL_ADDRESS / DATABASE_URL):
 *   GET /status/{id}           against the same read done in-process (sagaStatusView), the baseline;
 *   POST /execute-workflow     (fiat_deposit, no wait) against client.startDeposit in-process;
 *   POST /execute?wait=true    (an atomic transfer, waited for) against executeTransaction in-process.
 * Writes bench/reports/api.md.
 * BENCH_API_SECONDS (default 8) per run, BENCH_API_CONNECTIONS (default 8).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { Client } from '@temporalio/client';
import { loadApiConfig } from '../src/api/config';
import { ClosedSagaViews, sagaStatusView } from '../src/api/saga-view';
import { startApiServer } from '../src/api/server';
import { TxmgrClient } from '../src/client';
import { createApiKey } from '../src/client/api-keys';
import { executeTransaction } from '../src/client/transactions';
import { loadCommonConfig } from '../src/config';
import { checkInvariants } from '../src/db/invariants';
import { migrate } from '../src/db/migrate';
import { createPool } from '../src/db/pool';
import { PROJECT_ROOT, startStack } from '../src/infra/stack';
import { describeFailure } from '../src/infra/stack-error';
import { createLogger } from '../src/logger';
import { installRuntime } from '../src/temporal/runtime';
import { createWorker } from '../src/worker-factory';

const SECONDS = Number(process.env.BENCH_API_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_API_CONNECTIONS ?? 8);

interface Row {
  name: string;
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;

/** The baseline: `connections` loops calling `fn` in-process for the same time. */
async function inProcess(name: string, fn: (i: number) => Promise<unknown>): Promise<Row> {
  const latencies: number[] = [];
  let errors = 0;
  let n = 0;
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await fn(n++).catch(() => errors++);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return {
    name,
    requests: latencies.length,
    rps: latencies.length / SECONDS,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    errors,
  };
}

async function http(name: string, o: autocannon.Options): Promise<Row> {
  const r = await autocannon({ connections: CONNECTIONS, duration: SECONDS, ...o });
  return {
    name,
    requests: r.requests.total,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx,
  };
}

async function main(): Promise<void> {
  const config = loadCommonConfig();
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn', 'txmgr-bench');
  installRuntime(logger);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  say(`bench:api — ${SECONDS}s per run at ${CONNECTIONS} connections; starting the stack ...`);
  const stack = await startStack({
    logger,
    dataDir: path.resolve(PROJECT_ROOT, config.dataDir, 'bench-api'),
    say: (line) => say(`  ${line}`),
    namespace: config.namespace,
    databaseName: `txmgr_bench_api_${Date.now().toString(36)}`,
    temporalAddress: config.temporalAddress,
    databaseUrl: config.databaseUrl,
  });
  const pool = createPool({ databaseUrl: stack.databaseUrl, max: 30 });
  try {
    await migrate(stack.databaseUrl, logger);
    const temporal = new Client({ connection: stack.connection, namespace: stack.namespace });
    const taskQueue = `bench-api-${randomUUID().slice(0, 8)}`;
    const client = new TxmgrClient(temporal, pool, taskQueue);
    const worker = await createWorker({
      connection: stack.nativeConnection,
      namespace: stack.namespace,
      taskQueue,
      pool,
      logger,
    });
    const apiConfig = { ...loadApiConfig({}), host: '127.0.0.1', port: 0, rateLimitPerMinute: 1_000_000 };
    const { app, url } = await startApiServer({ client, config: apiConfig, logger });
    const rows: Row[] = [];
    let sagasNote = '';
    let txNote = '';
    await worker.runUntil(async () => {
      const { key } = await createApiKey(pool, { name: 'bench', scopes: ['admin'] });
      const account = await client.openAccount({ owner: 'bench', asset: 'USD' });
      const reference = `BENCH-${randomUUID().slice(0, 8)}`;
      // Also the payer of the atomic transfers (1 minor unit each).
      await client.depositFiat({
        accountId: account.accountId,
        asset: 'USD',
        amount: '5000.00',
        bankReference: reference,
        senderName: 'Bench',
      });
      const id = `deposit-${reference}`;
      const headers = { authorization: `Bearer ${key}` };

      // A saga in review stays running: its status is a query answered by the worker from its cache.
      const review = `BENCH-${randomUUID().slice(0, 8)}`;
      await client.startDeposit({
        accountId: account.accountId,
        asset: 'USD',
        amount: '20000.00',
        bankReference: review,
        senderName: 'Bench',
      });
      for (;;) {
        const state = await client.sagaStatus(`deposit-${review}`).catch(() => undefined);
        if (state?.stepsDone.includes('screen')) break;
        await new Promise((r) => setTimeout(r, 200));
      }

      say('GET /status/{id} ...');
      const views = new ClosedSagaViews();
      rows.push(await inProcess('status of a finished saga, in-process (baseline)', () => sagaStatusView(client, id, views)));
      rows.push(await http('GET /status/{id}, finished saga', { url: `${url}/api/v1/transactions/status/${id}`, headers }));
      rows.push(
        await inProcess('status of a running saga, in-process (baseline)', () => sagaStatusView(client, `deposit-${review}`)),
      );
      rows.push(
        await http('GET /status/{id}, running saga', { url: `${url}/api/v1/transactions/status/deposit-${review}`, headers }),
      );

      say('POST /execute-workflow (fiat_deposit) ...');
      const run = randomUUID().slice(0, 6);
      const body = (ref: string) => ({
        accountId: account.accountId,
        asset: 'USD',
        amount: '1.00',
        bankReference: ref,
        senderName: 'Bench',
      });
      rows.push(await inProcess('start deposit, in-process (baseline)', (i) => client.startDeposit(body(`B-${run}-d-${i}`))));
      let n = 0;
      rows.push(
        await http('POST /execute-workflow (fiat_deposit)', {
          url,
          requests: [
            {
              method: 'POST',
              path: '/api/v1/transactions/execute-workflow',
              setupRequest: (req) => {
                const i = n++;
                return {
                  ...req,
                  headers: { ...headers, 'content-type': 'application/json', 'idempotency-key': `bench-${run}-${i}` },
                  body: JSON.stringify({ workflow_type: 'fiat_deposit', parameters: body(`B-${run}-h-${i}`) }),
                };
              },
            },
          ],
        }),
      );
      await client.rejectDeposit(review, { reviewer: 'bench', reason: 'benchmark over' });
      say('waiting (at most 60 s) for the deposit sagas to finish, so the transactions have the worker ...');
      const waitUntil = Date.now() + 60_000;
      while (Date.now() < waitUntil) {
        const { rows: open } = await pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM deposits WHERE status <> 'CREDITED' AND bank_reference <> $1`,
          [review],
        );
        if (open[0]!.n === 0) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      const { rows: credited } = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM deposits WHERE status = 'CREDITED'`,
      );
      sagasNote = `${credited[0]!.n} deposits credited by the end of the run.`;

      say('POST /execute (atomic) ...');
      const payee = await client.openAccount({ owner: 'bench-payee', asset: 'USD' });
      const atomic = (id: string) => ({
        id,
        mode: 'atomic' as const,
        operations: [
          {
            type: 'ledger.transfer',
            resource: 'ledger',
            params: { debitAccountId: account.accountId, creditAccountId: payee.accountId, asset: 'USD', amount: '1' },
          },
        ],
      });
      rows.push(
        await inProcess('atomic transaction, in-process (baseline)', (i) =>
          executeTransaction(client, atomic(`b-${run}-t-${i}`)),
        ),
      );
      let t = 0;
      rows.push(
        await http('POST /execute?wait=true (atomic)', {
          url,
          requests: [
            {
              method: 'POST',
              path: '/api/v1/transactions/execute?wait=true',
              setupRequest: (req) => {
                const i = t++;
                return {
                  ...req,
                  headers: { ...headers, 'content-type': 'application/json', 'idempotency-key': `bench-${run}-x-${i}` },
                  body: JSON.stringify(atomic(`h-${run}-t-${i}`)),
                };
              },
            },
          ],
        }),
      );
      const { rows: committed } = await pool.query<{ n: number }>(
        `SELECT count(DISTINCT transaction_id)::int AS n FROM tx_operations WHERE state = 'applied'`,
      );
      txNote = `${committed[0]!.n} atomic transactions committed.`;
      // Requests cut off at the end of the run still wait for their transactions: let them finish first.
      const query = `WorkflowType = 'executeTransaction' AND ExecutionStatus = 'Running' AND TaskQueue = '${taskQueue}'`;
      for (let i = 0; i < 60 && (await temporal.workflow.count(query)).count > 0; i++) {
        await new Promise((r) => setTimeout(r, 500));
      }
    });
    await app.close();
    const violations = await checkInvariants(pool, { temporal });
    writeReport(rows, violations, `${sagasNote} ${txNote}`);
    say('report written to bench/reports/api.md');
  } finally {
    await pool.end();
    await stack.stop();
  }
}

function writeReport(rows: Row[], violations: string[], sagasNote: string): void {
  const cpus = os.cpus();
  const ratio = (http: Row, base: Row) =>
    `${(http.rps / base.rps).toFixed(2)}× rps, ${(http.p99 / Math.max(base.p99, 0.001)).toFixed(2)}× p99`;
  const lines = [
    '# HTTP API benchmark',
    '',
    `Run ${new Date().toISOString()} with \`npm run bench:api\`: autocannon, ${CONNECTIONS} connections, ${SECONDS}s per run.`,
    '',
    `Machine: ${cpus[0]?.model ?? 'unknown CPU'} × ${cpus.length}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}.`,
    'Stack: embedded Temporal dev server and PostgreSQL, one worker, the API server and the load generator, all on this machine.',
    `Load average at the end of the run: ${os.loadavg()[0]!.toFixed(1)} (a shared machine: compare the ratios, not the absolute figures).`,
    '',
    '| run | requests | req/s | p50 ms | p99 ms | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) => `| ${r.name} | ${r.requests} | **${r.rps.toFixed(1)}** | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.errors} |`,
    ),
    '',
    `HTTP against the same work done in-process at the same concurrency: status of a finished saga ${ratio(rows[1]!, rows[0]!)};`,
    `status of a running saga ${ratio(rows[3]!, rows[2]!)}; deposit start ${ratio(rows[5]!, rows[4]!)}; atomic transaction ${ratio(rows[7]!, rows[6]!)}.`,
    "A finished saga's view is kept by workflow and run id (it cannot change), so its status is one describe;",
    "a running saga's status is a describe plus its sagaStatus query, answered by the worker.",
    'Each HTTP request also authenticates its key (one indexed read), and each POST claims and completes its',
    'Idempotency-Key and writes its audit row (three more statements). Deposit starts compete for the CPU with',
    'the worker running the sagas they start. POST /execute?wait=true is a whole atomic transaction: start, one',
    'activity running one database transaction on the worker, and the result, waited for by the request.',
    '',
    `${sagasNote} Ledger invariants after the run: ${violations.length === 0 ? 'all hold' : violations.join('; ')}.`,
    '',
  ];
  fs.mkdirSync(path.resolve(PROJECT_ROOT, 'bench', 'reports'), { recursive: true });
  fs.writeFileSync(path.resolve(PROJECT_ROOT, 'bench', 'reports', 'api.md'), lines.join('\n'));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:api: ${describeFailure(err, 'run it again with LOG_LEVEL=debug for details')}\n`);
    process.exit(1);
  },
);
