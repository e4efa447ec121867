import fs from 'node:fs';
import path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import {
  applyConfigList,
  configConflicts,
  configHistory,
  configPosition,
  getSiphonState,
  parseConfigFile,
  shutdownSiphon,
  type SiphonTarget,
} from '../config';
import { DomainError } from '../../domain/errors';
import { handler, positiveInt } from './command';
import { registerConfigShow } from './config-show';
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

/** With DATABASE_URL set the pool goes along: a final refusal is checked against PostgreSQL. */
async function target(ctx: CliContext, workflowId: string): Promise<SiphonTarget> {
  const pool = ctx.hasDatabase ? await ctx.db() : undefined;
  return { client: await ctx.temporal(), taskQueue: ctx.taskQueue, workflowId, pool };
}

const NEW_ID = 'a change needs a new id';

/** A reused id with other content: one line naming what differs, ending in what to do. */
function conflictLine(err: unknown): unknown {
  if (!(err instanceof DomainError) || err.type !== 'IdempotencyConflict') return err;
  const what = err.message.replace(/\.?\s*Nothing was applied; a change needs a new id\.?$/, '');
  return badInput('IdempotencyConflict', `${what}. Nothing was applied`, NEW_ID);
}

function apply(config: Command): void {
  config
    .command('apply <files...>')
    .description(
      'submit the config transactions in JSON files (a directory: its .json files in name order; - for stdin), in order, ' +
        'with a progress bar. Each transaction id means one change: a change needs a new id ' +
        '(an id reused with other content is refused as IdempotencyConflict, exit 2, nothing applied)',
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
        } catch (err) {
          throw conflictLine(err);
        } finally {
          bar?.stop();
        }
        if (o.signal) {
          // Signals are not answered: a refused id reuse shows only in PostgreSQL.
          process.stderr.write(
            `submitted ${results.length}; they apply in order — check with: txmgr config history ` +
              `(it lists ids refused because they were reused with other content — ${NEW_ID})\n`,
          );
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

function printConflicts(rows: Array<{ id: string; source: string; differences: string; recordedAt: string }>): void {
  printTable(
    [
      ['id', 'ID'],
      ['source', 'SOURCE'],
      ['recordedAt', 'RECORDED'],
      ['differences', 'WHAT DIFFERS'],
    ],
    rows,
  );
}

function reads(config: Command): void {
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
    .description(
      'applied and failed config transactions from PostgreSQL, newest first, then refused submissions ' +
        '(an id reused with other content; reads PostgreSQL only)',
    )
    .option('--limit <n>', 'how many', positiveInt('--limit'), 20)
    .option('--before <sequence>', 'only those before this sequence', positiveInt('--before'))
    .option('--conflicts', 'only the refused submissions: ids reused with other content (a change needs a new id)')
    .action(
      handler(async (ctx, out, o: { limit: number; before?: number; conflicts?: boolean }) => {
        const conflicts = (await configConflicts(await ctx.db(), { limit: o.limit })).map((c) => ({
          id: c.transaction_id,
          kind: c.kind,
          source: c.source,
          differences: c.differences,
          recordedAt: c.recorded_at.toISOString(),
        }));
        if (o.conflicts) {
          if (out.json) return printJson(conflicts);
          return printConflicts(conflicts);
        }
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
        if (conflicts.length > 0) {
          printLine('\nrefused submissions (id reused with other content)');
          printConflicts(conflicts);
        }
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
  registerConfigShow(config);
  reads(config);
}
