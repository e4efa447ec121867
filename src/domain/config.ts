import { z } from 'zod';
import { assetCode, describeIssues } from './schemas';
import { jsonBytes } from './config-text';

export * from './config-text';

/**
 * Config transactions: what the siphon applies, one kind per kind of change.
 * Pure (zod only), so the workflow's update validator, the activities and the
 * client all check a transaction the same way.
 */

/** Larger payloads (serialised UTF-8 bytes) are refused: config changes are small, and history has size limits. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

/**
 * Amounts in config payloads are human decimals in their asset ("5000.00" USD); the
 * activity converts them with the asset's scale from PostgreSQL. Here only the shape is checked.
 */
const HUMAN_AMOUNT = /^(0|[1-9][0-9]{0,37})(\.[0-9]{1,36})?$/;
const humanAmount = (positive: boolean) =>
  z
    .string({ error: 'must be a decimal string in the asset, such as "5000.00"' })
    .regex(HUMAN_AMOUNT, 'must be a plain decimal in the asset, such as "5000.00" (no sign, exponent or separators)')
    .refine((v) => !positive || /[1-9]/.test(v), 'must be greater than zero');
const positiveAmount = humanAmount(true);
const nonNegativeAmount = humanAmount(false);

const bps = (min: number, max: number) =>
  z.number({ error: 'must be a number of basis points' }).int('must be a whole number of basis points').min(min).max(max);

const marketSymbol = z
  .string({ error: 'symbol must be a string' })
  .regex(/^[A-Z][A-Z0-9]{1,11}-[A-Z][A-Z0-9]{1,11}$/, 'symbol must look like "BTC-USD" (base-quote, upper case)');

/** Compares two decimal strings of one asset exactly; 0 when either is malformed (its own field reports that). */
const cmp = (a: string, b: string): number => {
  if (!HUMAN_AMOUNT.test(a) || !HUMAN_AMOUNT.test(b)) return 0;
  const [aw, af = ''] = a.split('.');
  const [bw, bf = ''] = b.split('.');
  const width = Math.max(af.length, bf.length);
  const x = BigInt(aw! + af.padEnd(width, '0'));
  const y = BigInt(bw! + bf.padEnd(width, '0'));
  return x < y ? -1 : x > y ? 1 : 0;
};

/**
 * Converts a config amount to minor units with its asset's scale. `format` says how the
 * payload was written: 'human' (today) or 'minor' (entries recorded before amounts were human).
 * Throws ConfigRejected-worthy messages naming the field.
 */
export function configAmountToMinor(value: string, scale: number, field: string, format: 'human' | 'minor'): string {
  if (format === 'minor') return value;
  const [whole, fraction = ''] = value.split('.');
  if (fraction.length > scale)
    throw new RangeError(`${field}: "${value}" has ${fraction.length} decimal places but the asset allows ${scale}`);
  const minor = BigInt(whole!) * 10n ** BigInt(scale) + BigInt(fraction.padEnd(scale, '0') || '0');
  if (minor >= 10n ** 38n) throw new RangeError(`${field}: "${value}" is out of range`);
  return minor.toString();
}

export const MarketConfig = z
  .object({
    symbol: marketSymbol,
    baseAsset: assetCode,
    quoteAsset: assetCode,
    /** Price increment, in the quote asset. */
    tickSize: positiveAmount,
    /** Quantity increment and bounds, in the base asset. */
    lotSize: positiveAmount,
    minQuantity: positiveAmount,
    maxQuantity: positiveAmount,
    priceBandBps: bps(1, 10_000),
    makerFeeBps: bps(-100, 1000),
    takerFeeBps: bps(0, 1000),
    status: z.enum(['active', 'halted']).default('active'),
  })
  .strict()
  .refine((m) => m.baseAsset !== m.quoteAsset, { message: 'quoteAsset must differ from baseAsset', path: ['quoteAsset'] })
  .refine((m) => m.symbol === `${m.baseAsset}-${m.quoteAsset}`, {
    message: 'symbol must be "<baseAsset>-<quoteAsset>"',
    path: ['symbol'],
  })
  .refine((m) => cmp(m.maxQuantity, m.minQuantity) >= 0, {
    message: 'maxQuantity must be at least minQuantity',
    path: ['maxQuantity'],
  });
export type MarketConfig = z.infer<typeof MarketConfig>;

export const MarketsUpsert = z.object({ markets: z.array(MarketConfig).min(1, 'markets must not be empty').max(200) }).strict();

export const MarketStatusChange = z
  .object({
    symbol: marketSymbol,
    status: z.enum(['active', 'halted'], { error: 'status must be "active" or "halted"' }),
    reason: z.string().max(500, 'reason must be at most 500 characters').optional(),
  })
  .strict();

export const ComplianceThresholds = z
  .object({
    thresholds: z
      .array(
        z
          .object({
            asset: assetCode,
            reviewThreshold: nonNegativeAmount,
            reviewTimeoutSeconds: z
              .number()
              .int()
              .min(1)
              .max(30 * 86_400)
              .optional(),
          })
          .strict(),
      )
      .min(1, 'thresholds must not be empty')
      .max(100),
  })
  .strict();

const denyName = z
  .string({ error: 'name must be a string' })
  .trim()
  .min(1, 'name must not be empty')
  .max(200, 'name must be at most 200 characters');

export const ComplianceDenyList = z
  .object({
    add: z
      .array(z.object({ name: denyName, reason: z.string().trim().min(1).max(500) }).strict())
      .max(1000)
      .default([]),
    remove: z.array(denyName).max(1000).default([]),
  })
  .strict()
  .refine((d) => d.add.length + d.remove.length > 0, { message: 'add or remove must name at least one entry', path: ['add'] });

export const WithdrawalRule = z
  .object({
    asset: assetCode,
    minimum: positiveAmount,
    perTransactionLimit: positiveAmount,
    dailyLimit: positiveAmount,
    networkFee: nonNegativeAmount,
    confirmationsRequired: z.number({ error: 'confirmationsRequired must be a number' }).int().min(0).max(1000),
    addressFormat: z
      .string({ error: 'addressFormat must be a regular expression string' })
      .min(1)
      .max(500)
      .refine(isRegExp, 'addressFormat must be a valid regular expression'),
  })
  .strict()
  .refine((r) => cmp(r.perTransactionLimit, r.minimum) >= 0, {
    message: 'perTransactionLimit must be at least minimum',
    path: ['perTransactionLimit'],
  })
  .refine((r) => cmp(r.dailyLimit, r.perTransactionLimit) >= 0, {
    message: 'dailyLimit must be at least perTransactionLimit',
    path: ['dailyLimit'],
  });
export type WithdrawalRule = z.infer<typeof WithdrawalRule>;

export const WithdrawalRules = z.object({ rules: z.array(WithdrawalRule).min(1, 'rules must not be empty').max(100) }).strict();

export const CampaignDefaults = z
  .object({
    budgetAsset: assetCode,
    maxBudget: positiveAmount,
    defaultDurationDays: z.number().int().min(1).max(3650),
    maxRewardPerUser: positiveAmount,
    activationDelaySeconds: z
      .number()
      .int()
      .min(0)
      .max(365 * 86_400)
      .default(0),
  })
  .strict()
  .refine((c) => cmp(c.maxRewardPerUser, c.maxBudget) <= 0, {
    message: 'maxRewardPerUser must not exceed maxBudget',
    path: ['maxRewardPerUser'],
  });

/** Every kind the siphon knows, with the schema of its payload. */
export const CONFIG_SCHEMAS = {
  'markets.upsert': MarketsUpsert,
  'markets.status': MarketStatusChange,
  'compliance.thresholds': ComplianceThresholds,
  'compliance.denyList': ComplianceDenyList,
  'withdrawals.rules': WithdrawalRules,
  'campaigns.defaults': CampaignDefaults,
} as const;

export type ConfigKind = keyof typeof CONFIG_SCHEMAS;
export const CONFIG_KINDS = Object.keys(CONFIG_SCHEMAS) as ConfigKind[];
export type ConfigPayload<K extends ConfigKind> = z.infer<(typeof CONFIG_SCHEMAS)[K]>;

export const isConfigKind = (kind: unknown): kind is ConfigKind =>
  typeof kind === 'string' && Object.hasOwn(CONFIG_SCHEMAS, kind);

/** A transaction id: the client's idempotency key. */
export const transactionId = z
  .string({ error: 'id must be a string' })
  .min(1, 'id must not be empty')
  .max(128, 'id must be at most 128 characters')
  .regex(/^[A-Za-z0-9._:@/-]+$/, 'id may only contain letters, digits and . _ : @ / -');

const Envelope = z
  .object({
    id: transactionId,
    kind: z.string({ error: 'kind must be a string' }),
    payload: z.unknown(),
    source: z.string({ error: 'source must be a string' }).max(200, 'source must be at most 200 characters').optional(),
    submittedAt: z.iso.datetime({ error: 'submittedAt must be an ISO-8601 UTC time' }).optional(),
  })
  .strict();

/** What a client submits. */
export interface ConfigTransactionRequest {
  id: string;
  kind: string;
  payload: unknown;
  source?: string;
  submittedAt?: string;
}

/** A transaction that passed its schema: kind known, payload parsed (defaults filled in). */
export interface ConfigTransaction {
  id: string;
  kind: ConfigKind;
  payload: unknown;
  source?: string;
  submittedAt?: string;
}

export type ParseResult = { ok: true; value: ConfigTransaction } | { ok: false; error: string };

/** Size of the payload as serialised UTF-8 JSON, or undefined when it cannot be serialised (cycles, bigint). */
export const payloadSize = (payload: unknown): number | undefined => jsonBytes(payload);

/**
 * Checks a transaction against its kind's schema. Errors name the field
 * ("payload.markets.0.tickSize: ..."), so the person who wrote it can fix it.
 */
export function parseConfigTransaction(raw: unknown): ParseResult {
  const envelope = Envelope.safeParse(raw);
  if (!envelope.success) return { ok: false, error: describeIssues(envelope.error) };
  const { id, kind, payload, source, submittedAt } = envelope.data;
  if (!isConfigKind(kind))
    return { ok: false, error: `kind: unknown kind "${kind.slice(0, 100)}"; expected one of ${CONFIG_KINDS.join(', ')}` };
  const size = payloadSize(payload);
  if (size === undefined) return { ok: false, error: 'payload: must be plain JSON' };
  if (size > MAX_PAYLOAD_BYTES)
    return { ok: false, error: `payload: ${size} bytes of JSON, more than the ${MAX_PAYLOAD_BYTES} allowed` };
  const parsed = CONFIG_SCHEMAS[kind].safeParse(payload);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${['payload', ...i.path].join('.')}: ${i.message}`).join('; ');
    return { ok: false, error: detail };
  }
  return { ok: true, value: { id, kind, payload: parsed.data, source, submittedAt } };
}

/** The outcome of one transaction, as the siphon reports it and the update returns it. */
export type ConfigOutcome =
  | { id: string; status: 'applied'; sequence: number; configVersion: number; duplicate: boolean }
  | { id: string; status: 'failed'; sequence: number; reason: string; duplicate: boolean }
  /**
   * The id was already used for a different kind or payload: nothing applied, the first
   * transaction stands (its sequence). `reason` names what differs. Always `duplicate: true`.
   */
  | { id: string; status: 'conflict'; sequence: number; reason: string; duplicate: true };

function isRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

/**
 * One entry of the siphon's queue, as the main loop hands it to the apply activity.
 * `rejected` is set when the payload already failed its schema in the workflow (a bad
 * signal): it is still recorded, with a sequence, as failed.
 */
export interface QueuedConfigTransaction {
  /** Unique per enqueue: tells a retried apply of this entry from a second submission of the id. */
  ticket: string;
  id: string;
  kind: string;
  payload: unknown;
  source: string;
  submittedAt: string;
  via: 'signal' | 'update';
  rejected?: string;
  /**
   * How amounts in the payload are written: 'human' for entries queued by a siphon run that
   * knows human amounts; absent for entries queued before (minor units), so they keep their meaning.
   */
  amounts?: 'human';
}
