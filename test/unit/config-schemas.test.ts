import fs from 'node:fs';
import path from 'node:path';
import {
  cleanReason,
  CONFIG_KINDS,
  configAmountToMinor,
  jsonBytes,
  jsonDifferences,
  MAX_PAYLOAD_BYTES,
  MAX_REASON_CHARS,
  parseConfigTransaction,
  utf8Bytes,
} from '../../src/domain/config';
import { entryFromSignal, MAX_BATCH_BYTES, takeBatch } from '../../src/workflows/config-siphon-intake';

const EXAMPLES = path.resolve(__dirname, '..', '..', 'examples', 'config');

const market = {
  symbol: 'BTC-USD',
  baseAsset: 'BTC',
  quoteAsset: 'USD',
  tickSize: '0.01',
  lotSize: '0.00001',
  minQuantity: '0.00001',
  maxQuantity: '0.001',
  priceBandBps: 500,
  makerFeeBps: 10,
  takerFeeBps: 20,
};
const rule = {
  asset: 'BTC',
  minimum: '0.0001',
  perTransactionLimit: '0.5',
  dailyLimit: '1',
  networkFee: '0',
  confirmationsRequired: 3,
  addressFormat: '^bc1',
};
const tx = (kind: string, payload: unknown, extra: Record<string, unknown> = {}) => ({ id: 't-1', kind, payload, ...extra });

describe('config transaction schemas', () => {
  test('every example file parses, and together they use every kind', () => {
    const kinds = new Set<string>();
    for (const file of fs.readdirSync(EXAMPLES).filter((f) => f.endsWith('.json'))) {
      const list = JSON.parse(fs.readFileSync(path.join(EXAMPLES, file), 'utf8')) as unknown[];
      for (const t of list) {
        const r = parseConfigTransaction(t);
        expect(r).toMatchObject({ ok: true });
        if (r.ok) kinds.add(r.value.kind);
      }
    }
    expect([...kinds].sort()).toEqual([...CONFIG_KINDS].sort());
  });

  test('defaults are filled in', () => {
    const r = parseConfigTransaction(tx('markets.upsert', { markets: [market] }));
    expect(r.ok && (r.value.payload as { markets: Array<{ status: string }> }).markets[0]!.status).toBe('active');
    const d = parseConfigTransaction(tx('compliance.denyList', { add: [{ name: 'X', reason: 'y' }] }));
    expect(d.ok && d.value.payload).toEqual({ add: [{ name: 'X', reason: 'y' }], remove: [] });
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['not an object', 'hello', /^input: /],
    ['missing id', { kind: 'markets.status', payload: {} }, /^id: id must be a string/],
    ['id with spaces', tx('markets.status', {}, { id: 'a b' }), /^id: id may only contain/],
    ['unknown kind', tx('fees.everything', {}), /^kind: unknown kind "fees.everything"; expected one of markets.upsert/],
    ['kind of the wrong type', tx(7 as never, {}), /^kind: kind must be a string/],
    ['extra envelope field', tx('markets.status', {}, { extra: 1 }), /Unrecognized key: "extra"/],
    [
      'bad submittedAt',
      tx('markets.status', { symbol: 'BTC-USD', status: 'halted' }, { submittedAt: 'yesterday' }),
      /^submittedAt: /,
    ],
    [
      'oversized',
      tx('compliance.denyList', { add: [{ name: 'n', reason: 'r'.repeat(MAX_PAYLOAD_BYTES) }] }),
      /^payload: \d+ bytes of JSON, more than the 65536 allowed$/,
    ],
    ['empty markets', tx('markets.upsert', { markets: [] }), /^payload\.markets: markets must not be empty$/],
    [
      'base equals quote',
      tx('markets.upsert', { markets: [{ ...market, quoteAsset: 'BTC', symbol: 'BTC-BTC' }] }),
      /payload\.markets\.0\.quoteAsset: quoteAsset must differ/,
    ],
    [
      'symbol not matching assets',
      tx('markets.upsert', { markets: [{ ...market, symbol: 'ETH-USD' }] }),
      /payload\.markets\.0\.symbol: symbol must be "<baseAsset>-<quoteAsset>"/,
    ],
    [
      'max below min',
      tx('markets.upsert', { markets: [{ ...market, maxQuantity: '0.000009' }] }),
      /payload\.markets\.0\.maxQuantity: maxQuantity must be at least minQuantity/,
    ],
    ['negative tick', tx('markets.upsert', { markets: [{ ...market, tickSize: '-1' }] }), /payload\.markets\.0\.tickSize/],
    ['fee as string', tx('markets.upsert', { markets: [{ ...market, takerFeeBps: '20' }] }), /payload\.markets\.0\.takerFeeBps/],
    ['fractional bps', tx('markets.upsert', { markets: [{ ...market, makerFeeBps: 1.5 }] }), /payload\.markets\.0\.makerFeeBps/],
    [
      'unknown status',
      tx('markets.status', { symbol: 'BTC-USD', status: 'paused' }),
      /payload\.status: status must be "active" or "halted"/,
    ],
    [
      'threshold as number',
      tx('compliance.thresholds', { thresholds: [{ asset: 'USD', reviewThreshold: 5 }] }),
      /payload\.thresholds\.0\.reviewThreshold/,
    ],
    [
      'malformed asset',
      tx('compliance.thresholds', { thresholds: [{ asset: 'us-d', reviewThreshold: '5' }] }),
      /payload\.thresholds\.0\.asset: asset must be an upper-case code/,
    ],
    ['empty deny-list change', tx('compliance.denyList', {}), /payload\.add: add or remove must name at least one entry/],
    [
      'blank deny name',
      tx('compliance.denyList', { add: [{ name: '   ', reason: 'x' }] }),
      /payload\.add\.0\.name: name must not be empty/,
    ],
    [
      'daily below per-transaction',
      tx('withdrawals.rules', { rules: [{ ...rule, dailyLimit: '0.49' }] }),
      /payload\.rules\.0\.dailyLimit: dailyLimit must be at least perTransactionLimit/,
    ],
    [
      'bad address regex',
      tx('withdrawals.rules', { rules: [{ ...rule, addressFormat: '([' }] }),
      /payload\.rules\.0\.addressFormat: addressFormat must be a valid regular expression/,
    ],
    ['exponent amount', tx('withdrawals.rules', { rules: [{ ...rule, minimum: '1e3' }] }), /payload\.rules\.0\.minimum/],
    [
      'reward above budget',
      tx('campaigns.defaults', { budgetAsset: 'USD', maxBudget: '10', defaultDurationDays: 3, maxRewardPerUser: '11' }),
      /payload\.maxRewardPerUser: maxRewardPerUser must not exceed maxBudget/,
    ],
    [
      'unknown payload field',
      tx('campaigns.defaults', { budgetAsset: 'USD', maxBudget: '10', defaultDurationDays: 3, maxRewardPerUser: '1', bonus: 1 }),
      /payload: Unrecognized key: "bonus"/,
    ],
  ];

  test('amounts are human decimals in their asset, converted with its scale; finer than the scale is refused', () => {
    const r = parseConfigTransaction(tx('compliance.thresholds', { thresholds: [{ asset: 'USD', reviewThreshold: '5000.00' }] }));
    expect(r.ok).toBe(true);
    expect(configAmountToMinor('5000.00', 2, 'f', 'human')).toBe('500000');
    expect(configAmountToMinor('5000', 2, 'f', 'human')).toBe('500000');
    expect(configAmountToMinor('0.00005', 8, 'f', 'human')).toBe('5000');
    expect(configAmountToMinor('1000000', 2, 'f', 'minor')).toBe('1000000');
    expect(() => configAmountToMinor('5000.001', 2, 'payload.thresholds.0.reviewThreshold', 'human')).toThrow(
      'payload.thresholds.0.reviewThreshold: "5000.001" has 3 decimal places but the asset allows 2',
    );
  });

  test('sizes are UTF-8 bytes of the serialised value, not characters', () => {
    expect(utf8Bytes('aé中😀')).toBe(1 + 2 + 3 + 4);
    const cjk = '中'.repeat(30_000); // 30,000 characters, 90,000 bytes
    expect(jsonBytes(cjk)).toBe(90_002);
    const r = parseConfigTransaction(tx('compliance.denyList', { add: [{ name: 'n', reason: cjk }] }));
    expect(r).toMatchObject({ ok: false, error: expect.stringMatching(/^payload: \d+ bytes of JSON, more than the 65536/) });
  });

  test('reasons taken in lose NUL and are capped', () => {
    expect(cleanReason('a\u0000b')).toBe('ab');
    expect(cleanReason('x'.repeat(5000))).toHaveLength(MAX_REASON_CHARS);
    const poison = { id: 'p-1', kind: 'compliance.thresholds', payload: {}, ['k\u0000'.repeat(10_000)]: 1 };
    const entry = entryFromSignal(poison, 't-1', { hardened: true, humanAmounts: true });
    expect(entry.rejected).toBeDefined();
    expect(entry.rejected).not.toContain('\u0000');
    expect(entry.rejected!.length).toBeLessThanOrEqual(MAX_REASON_CHARS);
  });

  test('a batch is cut by the UTF-8 bytes of whole entries, reasons included', () => {
    const entry = (i: number) => ({
      ticket: `t-${i}`,
      id: `id-${i}`,
      kind: 'compliance.denyList',
      payload: { add: [{ name: 'n', reason: '中'.repeat(20_000) }] },
      source: 's',
      submittedAt: '2026-11-22T00:00:00.000Z',
      via: 'signal' as const,
    });
    const queue = Array.from({ length: 10 }, (_, i) => entry(i));
    const batch = takeBatch(queue, 50, true);
    const bytes = batch.reduce((n, e) => n + jsonBytes(e)!, 0);
    expect(bytes).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    expect(batch.length).toBe(4); // 60 kB each: counted in characters all ten would fit
    expect(takeBatch(queue, 50, false)).toHaveLength(10);
  });

  test('what differs between two payloads is named by field, key order aside', () => {
    expect(jsonDifferences({ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 })).toEqual([]);
    expect(jsonDifferences({ t: [{ v: '1.00' }] }, { t: [{ v: '2.00' }] })).toEqual(['payload.t.0.v: "2.00" now, "1.00" before']);
  });

  test.each(bad)('%s is refused, naming the field', (_name, raw, message) => {
    const r = parseConfigTransaction(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });
});
