import { ApplicationFailure } from '@temporalio/common';

/**
 * Every domain error type, one list. Activities throw them as non-retryable
 * ApplicationFailures; workflows and retry policies refer to the same names.
 */
export const DOMAIN_ERROR_TYPES = [
  'ValidationError',
  'NotFound',
  'InsufficientFunds',
  'ComplianceRejected',
  'IdempotencyConflict',
  'HoldNotOpen',
  'MarketHalted',
  'ConfigRejected',
  'InvalidState',
  // Crypto withdrawals: a security check said no; the chain refused or dropped the transaction.
  'SecurityRejected',
  'ChainRejected',
  'ChainDropped',
] as const;

export type DomainErrorType = (typeof DOMAIN_ERROR_TYPES)[number];

/** A business rule said no. Never retried; the message tells a person what to fix. */
export class DomainError extends Error {
  constructor(
    readonly type: DomainErrorType,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = type;
  }
}

export const validationError = (message: string, details?: Record<string, unknown>): DomainError =>
  new DomainError('ValidationError', message, details);

/** Converts a DomainError into the non-retryable failure Temporal carries to the workflow. */
export function toApplicationFailure(err: DomainError): ApplicationFailure {
  return ApplicationFailure.create({
    type: err.type,
    message: err.message,
    nonRetryable: true,
    details: err.details ? [err.details] : undefined,
  });
}

export const isDomainErrorType = (type: string | undefined | null): type is DomainErrorType =>
  (DOMAIN_ERROR_TYPES as readonly string[]).includes(type ?? '');
