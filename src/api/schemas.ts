import { z } from 'zod';

/** Schemas the API adds around the client's own: path and query parameters, and common bodies. */

/** A workflow id in a path: letters, digits and . _ : - only (no path traversal, no quotes, no spaces). */
export const workflowIdParam = z
  .string()
  .min(1, 'id must not be empty')
  .max(200, 'id must be at most 200 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'id may hold letters, digits and . _ : - only')
  .refine((v) => !v.includes('..'), 'id must not contain ".."')
  .describe('workflow id, as POST /execute-workflow returned it');

export const StatusParams = z.object({ id: workflowIdParam }).strict();

/** `?wait=true[&waitSeconds=N]`: wait (bounded) for the outcome instead of answering 202 at once. */
export const WaitQuery = z
  .object({
    wait: z.enum(['true', 'false'], { error: 'wait must be true or false' }).optional(),
    // Digits only: Number() would also read "0x10", "1e2" and " 5 " as numbers.
    waitSeconds: z
      .string({ error: 'waitSeconds must be a whole number' })
      .regex(/^[0-9]{1,6}$/, 'waitSeconds must be a whole number')
      .transform(Number)
      .pipe(z.number().min(1, 'waitSeconds must be at least 1').max(300, 'waitSeconds must be at most 300'))
      .optional()
      .describe('how long to wait, capped by the server (TXMGR_API_MAX_WAIT_SECONDS)'),
  })
  .strict();

/** The optional body of a cancel: `{ "reason": "..." }`, or none. */
export const ReasonBody = z
  .object({
    reason: z
      .string({ error: 'reason must be a string' })
      .trim()
      .min(1, 'reason must not be empty')
      .max(500, 'reason must be at most 500 characters')
      .optional(),
  })
  .strict()
  .nullish();

export const ErrorBodySchema = z
  .object({
    error: z.object({
      type: z.string().describe('ValidationError, NotFound, IdempotencyConflict, Unauthorized, Forbidden, RateLimited, …'),
      message: z.string(),
      field: z.string().nullable().describe('the field the error is about, when one is'),
    }),
  })
  .describe('every error');

export const Outcome = z
  .object({
    status: z.enum(['COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT']),
    result: z.unknown().optional(),
    error: z.object({ type: z.string(), message: z.string() }).optional(),
  })
  .describe("a finished saga's outcome");

export const StartedResponse = z.object({
  workflowId: z.string(),
  workflowType: z.string(),
  started: z.boolean().describe('false when the same request had already started it'),
  statusUrl: z.string(),
  outcome: Outcome.nullable().describe('set when ?wait=true saw the saga finish'),
  waitedSeconds: z.number().optional(),
});
