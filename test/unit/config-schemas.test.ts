import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_KINDS, MAX_PAYLOAD_CHARS, parseConfigTransaction } from '../../src/domain/config';

const EXAMPLES = path.resolve(__dirname, '..', '..', 'examples', 'config');

const market = {
  symbol: 'BTC-USD',
  baseAsset: 'BTC',
  quoteAsset: 'USD',
  tickSize: '1',
  lotSize: '1000',
  minQuantity: '1000',
  maxQuantity: '100000',
  priceBandBps: 500,
  makerFeeBps: 10,
  takerFeeBps: 20,
};
const rule = {
  asset: 'BTC',
  minimum: '10',
  perTransactionLimit: '100',
  dailyLimit: '1000',
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
      tx('compliance.denyList', { add: [{ name: 'n', reason: 'r'.repeat(MAX_PAYLOAD_CHARS) }] }),
      /^payload: \d+ characters of JSON, more than the 65536 allowed$/,
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
      tx('markets.upsert', { markets: [{ ...market, maxQuantity: '999' }] }),
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
      tx('withdrawals.rules', { rules: [{ ...rule, dailyLimit: '50' }] }),
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

  test.each(bad)('%s is refused, naming the field', (_name, raw, message) => {
    const r = parseConfigTransaction(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });
});
