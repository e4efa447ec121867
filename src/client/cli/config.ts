import fs from 'node:fs';
import path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import {
  applyConfigList,
  configHistory,
  configPosition,
  getSiphonState,
  parseConfigFile,
  shutdownSiphon,
  type SiphonTarget,
} from '../config';
import { CONFIG_AREAS, readConfigView, type ConfigArea } from '../config-view';
import { handler, positiveInt } from './command';
import { requireWorker } from './wait';
import type { CliContext } from './context';
import { badInput, failed, printJson, printLine, printRecord, printTable } from './printer';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Files in the order given; a directory stands for its *.json files in name order. */
function expandInputs(inputs: string[]): string[] {
  return inputs.flatMap((input) => {
    if (input === '-') return [input];
    let stat: fs.Stats;
    try {
      stat = fs.statSync(input);
    } catch {
      throw badInput('ValidationError', `config file ${input} does not exist`);
    }
    if (!stat.isDirectory()) return [input];
    const files = fs
      .readdirSync(input)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => path.join(input, f));
    if (files.length === 0) throw badInput('ValidationError', `directory ${input} holds no .json config files`);
    return files;
  });
}

async function target(ctx: CliContext, workflowId: string): Promise<SiphonTarget> {
  return { client: await ctx.temporal(), taskQueue: ctx.taskQueue, workflowId };
}

function apply(config: Command): void {
  config
    .command('apply <files...>')
    .description(
      'submit the config transactions in JSON files (a directory: its .json files in name order; - for stdin), in order, ' +
        'with a progress bar. Each transaction id means one change: to change something again, give it a new id',
    )
    .option('--signal', 'fire and forget: record them in order (signals) without waiting for each to apply')
    .option('--source <name>', 'who submits them, recorded with each transaction')
    .option('--workflow-id <id>', 'siphon workflow id', 'config-siphon')
    .action(
      handler(async (ctx, out, inputs: string[], o: { signal?: boolean; source?: string; workflowId: string }) => {
        // Every entry of every file is checked before the first is sent: all is applied, or nothing.
        const transactions = [];
        for (const file of expandInputs(inputs)) {
          const text = file === '-' ? await readStdin() : await fs.promises.readFile(file, 'utf8');
          try {
            transactions.push(...parseConfigFile(text, o.source ?? `cli:${file === '-' ? 'stdin' : path.basename(file)}`));
          } catch (err) {
            throw badInput('ValidationError', `${file}: ${(err as Error).message.replace(/\n/g, '; ')}`);
          }
        }
        const siphon = await target(ctx, o.workflowId);
        if (!o.signal) await requireWorker(siphon.client, ctx.taskQueue);
        const bar = process.stderr.isTTY
          ? new SingleBar(
              { format: 'config {bar} {value}/{total} {status}', stream: process.stderr, hideCursor: true },
              Presets.shades_classic,
            )
          : undefined;
        bar?.start(transactions.length, 0, { status: '' });
        const failures: string[] = [];
        let results;
        try {
          results = await applyConfigList(siphon, transactions, {
            mode: o.signal ? 'signal' : 'update',
            onProgress: (done, outcome) => {
              if (outcome?.status === 'failed') failures.push(`${outcome.id}: ${outcome.reason}`);
              bar?.update(done, { status: outcome ? `${outcome.id}: ${outcome.status}` : 'submitted' });
            },
          });
        } finally {
          bar?.stop();
        }
        if (out.json) printJson(results);
        else {
          printTable(
            [
              ['id', 'ID'],
              ['status', 'STATUS'],
              ['detail', 'DETAIL'],
            ],
            results.map((r) => {
              const o2 = r as {
                id: string;
                status: string;
                sequence?: number;
                configVersion?: number;
                duplicate?: boolean;
                reason?: string;
              };
              const detail =
                o2.status === 'failed'
                  ? o2.reason
                  : o2.status === 'applied'
                    ? `#${o2.sequence ?? '?'} → config v${o2.configVersion ?? '?'}${o2.duplicate ? ' (applied before)' : ''}`
                    : '';
              return { id: o2.id, status: o2.status, detail };
            }),
          );
        }
        if (failures.length > 0) {
          throw failed(
            'ConfigRejected',
            `${failures.length} of ${transactions.length} transactions failed: ${failures.join('; ')}`,
          );
        }
      }),
    );
}

function reads(config: Command): void {
  config
    .command('show [area]')
    .description(`the current config, read-only from PostgreSQL; area: ${CONFIG_AREAS.join(', ')} (default: all)`)
    .action(
      handler(async (ctx, out, area?: string) => {
        if (area !== undefined && !(CONFIG_AREAS as readonly string[]).includes(area)) {
          throw badInput('ValidationError', `area must be one of ${CONFIG_AREAS.join(', ')}, got "${area}"`);
        }
        const view = await readConfigView(await ctx.db(), area as ConfigArea | undefined);
        if (out.json) return printJson(view);
        printLine(`config version ${view.version}, last sequence ${view.lastSequence}`);
        const section = (title: string) => printLine(`\n${title}`);
        if (view.markets) {
          section('markets');
          printTable(
            [
              ['symbol', 'SYMBOL'],
              ['status', 'STATUS'],
              ['tickSize', 'TICK'],
              ['lotSize', 'LOT'],
              ['minQuantity', 'MIN QTY'],
              ['maxQuantity', 'MAX QTY'],
              ['priceBandBps', 'BAND BPS'],
              ['makerFeeBps', 'MAKER BPS'],
              ['takerFeeBps', 'TAKER BPS'],
            ],
            view.markets,
          );
        }
        if (view.compliance) {
          section('compliance review thresholds');
          printTable(
            [
              ['asset', 'ASSET'],
              ['reviewThreshold', 'REVIEW ABOVE'],
              ['reviewTimeoutSeconds', 'REVIEW TIMEOUT (S)'],
            ],
            view.compliance,
          );
        }
        if (view.denylist) {
          section('deny list');
          printTable(
            [
              ['name', 'NAME'],
              ['reason', 'REASON'],
            ],
            view.denylist,
          );
        }
        if (view.withdrawals) {
          section('withdrawal rules');
          printTable(
            [
              ['asset', 'ASSET'],
              ['minimum', 'MINIMUM'],
              ['perTransactionLimit', 'PER TRANSACTION'],
              ['dailyLimit', 'DAILY'],
              ['networkFee', 'NETWORK FEE'],
              ['confirmationsRequired', 'CONFIRMATIONS'],
            ],
            view.withdrawals,
          );
        }
        if (view.campaigns !== undefined) {
          section('campaign defaults');
          if (view.campaigns === null) printLine('(none)');
          else
            printRecord([
              ['max budget', view.campaigns.maxBudget],
              ['max reward per user', view.campaigns.maxRewardPerUser],
              ['default duration', `${view.campaigns.defaultDurationDays} days`],
              ['activation delay', `${view.campaigns.activationDelaySeconds} s`],
            ]);
        }
      }),
    );

  config
    .command('state')
    .description("the siphon's state, queue depth, last sequence and recent outcomes")
    .option('--workflow-id <id>', 'siphon workflow id', 'config-siphon')
    .action(
      handler(async (ctx, out, o: { workflowId: string }) => {
        const state = await getSiphonState(await target(ctx, o.workflowId));
        const view = state ?? { state: 'not running', ...(await configPosition(await ctx.db())) };
        if (out.json) return printJson(view);
        const { recent, ...rest } = view as { recent?: Array<{ id: string; status: string }> };
        printRecord([
          ...Object.entries(rest).map(([k, v]): [string, string] => [k, String(v)]),
          ['recent', recent?.map((r) => `${r.id} ${r.status}`).join(', ')],
        ]);
      }),
    );

  config
    .command('history')
    .description('applied and failed config transactions from PostgreSQL, newest first (reads PostgreSQL only)')
    .option('--limit <n>', 'how many', positiveInt('--limit'), 20)
    .option('--before <sequence>', 'only those before this sequence', positiveInt('--before'))
    .action(
      handler(async (ctx, out, o: { limit: number; before?: number }) => {
        const rows = await configHistory(await ctx.db(), { limit: o.limit, beforeSequence: o.before });
        const views = rows.map((r) => ({
          sequence: r.sequence,
          id: r.id,
          kind: r.kind,
          status: r.status,
          configVersion: r.config_version,
          error: r.error,
          source: r.source,
          submittedAt: r.submitted_at.toISOString(),
          recordedAt: r.recorded_at.toISOString(),
          appliedAt: r.applied_at?.toISOString() ?? null,
        }));
        if (out.json) return printJson(views);
        printTable(
          [
            ['sequence', '#'],
            ['id', 'ID'],
            ['kind', 'KIND'],
            ['result', 'RESULT'],
            ['source', 'SOURCE'],
            ['recordedAt', 'RECORDED'],
          ],
          views.map((v) => ({
            ...v,
            result:
              v.status === 'applied' ? `applied v${v.configVersion}` : v.status === 'failed' ? `failed: ${v.error}` : 'pending',
          })),
        );
      }),
    );

  config
    .command('shutdown')
    .description('ask the siphon to stop accepting, drain its queue and complete (the next submission starts it again)')
    .option('--workflow-id <id>', 'siphon workflow id', 'config-siphon')
    .action(
      handler(async (ctx, out, o: { workflowId: string }) => {
        const signalled = await shutdownSiphon(await target(ctx, o.workflowId));
        if (out.json) return printJson({ signalled });
        printLine(signalled ? 'the siphon drains its queue and stops' : 'no siphon is running');
      }),
    );
}

/** `txmgr config apply | show | state | history | shutdown`. */
export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description('config transactions through the config siphon, and the current config');
  apply(config);
  reads(config);
}
