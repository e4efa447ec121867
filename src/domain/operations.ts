import { z } from 'zod';
import { validationError } from './errors';
import { assetCode, describeIssues, issueField, minorUnits, uuid } from './schemas';

/**
 * The transaction core's operations: each has a parameter schema and the resources
 * (databases) it can run on. How one applies and how it is undone live in
 * src/db/operations; this module is pure, so the client, workflows and activities share it.
 */

export const RESOURCES = ['ledger', 'custody'] as const;
export type Resource = (typeof RESOURCES)[number];

export const TX_MODES = ['atomic', 'saga', '2pc'] as const;
export type TxMode = (typeof TX_MODES)[number];

export const MAX_OPERATIONS = 1000;
export const MAX_TIMEOUT_SECONDS = 3600;
/** Defaults of a 2pc transaction: the prepare phase, the commit phase and the whole transaction. */
export const PREPARE_TIMEOUT_SECONDS = 30;
export const COMMIT_TIMEOUT_SECONDS = 60;
export const DEFAULT_TIMEOUT_SECONDS = 300;

const movement = z
  .object({ debitAccountId: uuid, creditAccountId: uuid, asset: assetCode, amount: minorUnits })
  .strict()
  .refine((p) => p.debitAccountId !== p.creditAccountId, {
    message: 'creditAccountId must differ from debitAccountId',
    path: ['creditAccountId'],
  });

/** A hold named by id, or by the position of the ledger.hold operation of this transaction that places it. */
const holdRef = {
  holdId: uuid.optional(),
  holdOperation: z.number({ error: 'holdOperation must be a number' }).int().min(0).max(MAX_OPERATIONS).optional(),
};
const exactlyOneHold = (p: { holdId?: string; holdOperation?: number }) =>
  (p.holdId === undefined) !== (p.holdOperation === undefined);
const oneHoldMessage = { message: 'name the hold by holdId or by holdOperation (exactly one)', path: ['holdId'] };

export const OPERATION_SCHEMAS = {
  'ledger.transfer': movement,
  'ledger.hold': movement,
  'ledger.capture': z
    .object({ ...holdRef, amount: minorUnits })
    .strict()
    .refine(exactlyOneHold, oneHoldMessage),
  'ledger.release': z.object(holdRef).strict().refine(exactlyOneHold, oneHoldMessage),
  'account.freeze': z
    .object({
      accountId: uuid,
      reason: z
        .string({ error: 'reason must be a string' })
        .trim()
        .min(1, 'reason must not be empty')
        .max(500, 'reason must be at most 500 characters')
        // PostgreSQL text cannot hold NUL, and no reason needs a control character.
        .refine((r) => [...r].every((ch) => ch.charCodeAt(0) > 0x1f && ch.charCodeAt(0) !== 0x7f), {
          message: 'reason must not hold control characters',
        }),
    })
    .strict(),
  'account.unfreeze': z.object({ accountId: uuid }).strict(),
} as const;

export type OperationType = keyof typeof OPERATION_SCHEMAS;
export const OPERATION_TYPES = Object.keys(OPERATION_SCHEMAS) as OperationType[];
export type OperationParams<T extends OperationType> = z.output<(typeof OPERATION_SCHEMAS)[T]>;

export type Operation = {
  [T in OperationType]: { type: T; resource: Resource; params: OperationParams<T> };
}[OperationType];

/** A request as a caller sends it (JSON). */
export interface TransactionRequest {
  id: string;
  mode?: TxMode;
  timeoutSeconds?: number;
  operations: Array<{ type: string; resource?: string; params?: unknown }>;
}

/** A parsed request: canonical ids, defaults filled in. The workflow's input. */
export interface TransactionInput {
  id: string;
  mode: TxMode;
  timeoutSeconds: number;
  operations: Operation[];
}

const TransactionShape = z
  .object({
    id: z
      .string({ error: 'id must be a string' })
      .trim()
      .min(1, 'id must not be empty')
      .max(128, 'id must be at most 128 characters')
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'id may hold letters, digits and . _ : - only'),
    mode: z.enum(TX_MODES, { error: `mode must be one of ${TX_MODES.join(', ')}` }).default('atomic'),
    timeoutSeconds: z
      .number({ error: 'timeoutSeconds must be a number' })
      .int('timeoutSeconds must be a whole number')
      .min(1, 'timeoutSeconds must be at least 1')
      .max(MAX_TIMEOUT_SECONDS, `timeoutSeconds must be at most ${MAX_TIMEOUT_SECONDS}`)
      .default(DEFAULT_TIMEOUT_SECONDS),
    operations: z
      .array(z.unknown(), { error: 'operations must be a list' })
      .min(1, 'operations must not be empty')
      .max(MAX_OPERATIONS, `operations may hold at most ${MAX_OPERATIONS} operations`),
  })
  .strict();

/** A request's outer shape ({ id, mode, timeoutSeconds, operations }); `parseTransaction` checks each operation. */
export const TransactionRequestSchema = TransactionShape;

const OperationShape = z
  .object({
    type: z.enum(OPERATION_TYPES as [OperationType, ...OperationType[]], {
      error: `type must be one of ${OPERATION_TYPES.join(', ')}`,
    }),
    resource: z.enum(RESOURCES, { error: `resource must be one of ${RESOURCES.join(', ')}` }).default('ledger'),
    params: z.unknown(),
  })
  .strict();

/** The resources a list of operations touches, in a fixed order (ledger first). */
export const resourcesOf = (operations: readonly Operation[]): Resource[] =>
  RESOURCES.filter((r) => operations.some((o) => o.resource === r));

/**
 * Parses and checks a whole request; throws a ValidationError naming the field
 * (e.g. "operations.2.params.amount: ...") before anything is started or written.
 */
export function parseTransaction(raw: unknown): TransactionInput {
  const shape = TransactionShape.safeParse(raw);
  if (!shape.success) {
    throw validationError(`invalid transaction: ${describeIssues(shape.error)}`, { field: issueField(shape.error) });
  }
  const operations: Operation[] = shape.data.operations.map((rawOp, i) => {
    const op = OperationShape.safeParse(rawOp);
    if (!op.success) {
      throw validationError(`invalid transaction: ${prefixed(op.error, `operations.${i}`)}`, {
        field: fieldUnder(op.error, `operations.${i}`),
      });
    }
    const params = OPERATION_SCHEMAS[op.data.type].safeParse(op.data.params ?? {});
    if (!params.success) {
      throw validationError(`invalid transaction: ${prefixed(params.error, `operations.${i}.params`)}`, {
        field: fieldUnder(params.error, `operations.${i}.params`),
      });
    }
    return { type: op.data.type, resource: op.data.resource, params: params.data } as Operation;
  });
  operations.forEach((op, i) => {
    if ((op.type === 'ledger.capture' || op.type === 'ledger.release') && op.params.holdOperation !== undefined) {
      const target = operations[op.params.holdOperation];
      if (op.params.holdOperation >= i || target?.type !== 'ledger.hold' || target.resource !== op.resource) {
        throw validationError(
          `invalid transaction: operations.${i}.params.holdOperation: must name an earlier ledger.hold operation on resource ${op.resource}`,
          { field: `operations.${i}.params.holdOperation` },
        );
      }
    }
  });
  const resources = resourcesOf(operations);
  if (shape.data.mode === 'atomic' && resources.length > 1) {
    throw validationError(
      `invalid transaction: mode: atomic runs on one resource, these operations use ${resources.join(' and ')}; use mode saga or 2pc to span resources`,
      { field: 'mode' },
    );
  }
  return { id: shape.data.id, mode: shape.data.mode, timeoutSeconds: shape.data.timeoutSeconds, operations };
}

/** The field of the first issue under `prefix` ("operations.2.params.amount"). */
function fieldUnder(error: z.ZodError, prefix: string): string {
  const field = issueField(error);
  return field === 'input' ? prefix : `${prefix}.${field}`;
}

function prefixed(error: z.ZodError, prefix: string): string {
  return error.issues.map((i) => `${[prefix, ...i.path].join('.')}: ${i.message}`).join('; ');
}

/** One operation's outcome, as the workflow reports it. */
export interface OperationOutcome {
  position: number;
  type: OperationType;
  resource: Resource;
  status: 'applied' | 'undone' | 'not applied' | 'failed';
  /** The transfer or hold id it wrote, or the account it changed. */
  ref?: string;
  detail?: string;
  error?: string;
}

export type TransactionStatus = 'RUNNING' | 'COMMITTED' | 'ROLLED_BACK' | 'FAILED' | 'COMPENSATION_FAILED';

export interface TransactionResult {
  id: string;
  mode: TxMode;
  status: TransactionStatus;
  /** 2pc: the decision the workflow recorded. */
  decision?: 'commit' | 'rollback';
  operations: OperationOutcome[];
  error?: { type: string; message: string };
}

/** One Temporal workflow per transaction id. */
export const transactionWorkflowId = (id: string): string => `tx-${id}`;
