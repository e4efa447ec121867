import type { Command } from 'commander';
import { API_SCOPES, createApiKey, listApiKeyViews, revokeApiKeyById, type ApiScope } from '../api-keys';
import { handler, required } from './command';
import { badInput, note, printJson, printLine, printTable } from './printer';

function scopes(text: string): ApiScope[] {
  const list = text
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const unknown = list.filter((s) => !(API_SCOPES as readonly string[]).includes(s));
  if (unknown.length || list.length === 0) {
    throw badInput('ValidationError', `--scopes must list some of ${API_SCOPES.join(', ')}, got "${text}"`);
  }
  return list as ApiScope[];
}

/** `txmgr apikey create | revoke | list`: keys of the HTTP API (txmgr serve). */
export function registerApiKeyCommands(program: Command): void {
  const apikey = program.command('apikey').description('API keys of the HTTP API: create, revoke, list');
  const create = apikey.command('create').description('create a key; it is printed once and only its hash is kept');
  required(create, '--name <name>', 'who or what uses the key');
  create.option('--scopes <list>', `comma-separated: ${API_SCOPES.join(', ')}`, 'read');
  create.action(
    handler(async (ctx, out, o: { name: string; scopes: string }) => {
      const key = await createApiKey(await ctx.db(), { name: o.name, scopes: scopes(o.scopes) });
      if (out.json) return printJson(key);
      printLine(key.key);
      note(`API key ${key.id} "${key.name}" (${key.scopes.join(', ')}) — store it now, it cannot be shown again`);
    }),
  );
  apikey
    .command('revoke <id>')
    .description('revoke a key by id; requests with it are refused from now on')
    .action(
      handler(async (ctx, out, id: string) => {
        const key = await revokeApiKeyById(await ctx.db(), id);
        if (out.json) return printJson(key);
        printLine(`API key ${key.id} "${key.name}" revoked at ${key.revokedAt ?? ''}`);
      }),
    );
  apikey
    .command('list')
    .description('every key: id, name, scopes, created, revoked (never the key itself)')
    .action(
      handler(async (ctx, out) => {
        const keys = await listApiKeyViews(await ctx.db());
        if (out.json) return printJson(keys);
        printTable(
          [
            ['id', 'ID'],
            ['name', 'NAME'],
            ['scopes', 'SCOPES'],
            ['createdAt', 'CREATED'],
            ['revokedAt', 'REVOKED'],
          ],
          keys.map((k) => ({ ...k, scopes: k.scopes.join(',') })),
        );
      }),
    );
}
