import type { PoolClient } from 'pg';
import { canonicalAddress } from '../domain/address';
import { cleanReason } from '../domain/config-text';
import { DomainError, validationError } from '../domain/errors';
import { holdIdFor } from '../domain/ids';
import { formatAmount, MAX_AMOUNT } from '../domain/money';
import { describeIssues, issueField } from '../domain/schemas';
import { withdrawalHoldKey, WithdrawalInput, type ValidWithdrawal } from '../domain/withdrawal';
import { placeHold, releaseHold } from '../db/ledger';
import { findAccount, findHouseAccount } from '../db/queries/accounts';
import { findAssetScale } from '../db/queries/assets';
import { listWithdrawalRules } from '../db/queries/config-areas';
import { claimTimeStep, findAllowListEntry, findClaimedTimeStep, findTotpSecret } from '../db/queries/withdrawal-security';
import {
  insertWithdrawal,
  lockWithdrawal,
  lockWithdrawalLimit,
  sumWithdrawnToday,
  updateWithdrawal,
  type WithdrawalRow,
} from '../db/queries/withdrawals';
import { loadTotpKey, open, otpContext, secretContext } from '../security/secret-box';
import { acceptedTimeStep, codeOfStep } from '../security/totp';
import { canonicalWithdrawalId, createWithdrawalChainActivities, requireChain } from './withdrawal-chain';
import type { ActivityDeps } from './deps';
import { toActivityError, transactional, type ActivityScope } from './boundary';

const toFailure = (err: DomainError) => toActivityError(err) as Error;
const security = (message: string, field: string) => new DomainError('SecurityRejected', message, { field });

const ownerOf = (scope: ActivityScope, withdrawalId: string): string => scope.workflowId ?? `direct:withdrawal-${withdrawalId}`;

async function requireUserAccount(tx: PoolClient, accountId: string, asset: string) {
  const account = await findAccount(tx, accountId);
  if (!account || account.kind !== 'user') {
    throw validationError(`accountId: account ${accountId} does not exist or is not a user account`, { field: 'accountId' });
  }
  if (account.asset !== asset) {
    throw validationError(`asset: account ${accountId} holds ${account.asset}, not ${asset}`, { field: 'asset' });
  }
  if (account.frozen) {
    throw security(`accountId: account ${accountId} is frozen (${account.frozen_reason ?? 'no reason given'})`, 'accountId');
  }
  return account;
}

/** Refuses an amount that would take today's withdrawals past the daily limit. */
async function checkDailyLimit(tx: PoolClient, v: ValidWithdrawal, now: Date, scale: number): Promise<void> {
  const today = await sumWithdrawnToday(tx, v.accountId, v.asset, now);
  if (today + BigInt(v.amount) > BigInt(v.dailyLimit)) {
    const left = BigInt(v.dailyLimit) - today;
    throw validationError(
      `amount: ${formatAmount(BigInt(v.amount), scale)} ${v.asset} is over the daily limit of ${formatAmount(BigInt(v.dailyLimit), scale)} ${v.asset} (${formatAmount(left > 0n ? left : 0n, scale)} ${v.asset} left today)`,
      { field: 'amount' },
    );
  }
}

/** When the code was handed in: the workflow's start, never later than now (an unreadable time counts as now). */
function submittedAt(iso: string | undefined, now: Date): Date {
  const at = iso === undefined ? Number.NaN : Date.parse(iso);
  return Number.isFinite(at) && at <= now.getTime() ? new Date(at) : now;
}

export function createWithdrawalActivities(deps: ActivityDeps) {
  const now = () => deps.clock?.() ?? new Date();
  const key = () => deps.totpKey ?? loadTotpKey();
  return {
    /** Checks the request against the schema, the asset's rule, the address checksum and the limits; writes nothing. */
    validateWithdrawal: transactional(deps, 'validateWithdrawal', async (raw: unknown, tx): Promise<ValidWithdrawal> => {
      const parsed = WithdrawalInput.safeParse(raw);
      if (!parsed.success)
        throw validationError(`invalid withdrawal: ${describeIssues(parsed.error)}`, { field: issueField(parsed.error) });
      const input = parsed.data;
      const scale = await findAssetScale(tx, input.asset);
      if (scale === undefined) throw validationError(`asset: unknown asset "${input.asset}"`, { field: 'asset' });
      const rule = (await listWithdrawalRules(tx)).find((r) => r.asset === input.asset);
      if (!rule)
        throw validationError(`asset: ${input.asset} has no withdrawal rule, so it cannot be withdrawn`, { field: 'asset' });
      await requireUserAccount(tx, input.accountId, input.asset);
      const address = canonicalAddress(input.asset, input.address, requireChain(deps).network);
      if (!new RegExp(rule.address_format).test(address)) {
        throw validationError(`address: "${input.address}" does not match the ${input.asset} address format in config`, {
          field: 'address',
        });
      }
      const amount = BigInt(input.amount);
      const human = (m: string) => `${formatAmount(BigInt(m), scale)} ${input.asset}`;
      if (amount < BigInt(rule.minimum)) {
        throw validationError(`amount: ${human(input.amount)} is below the minimum withdrawal of ${human(rule.minimum)}`, {
          field: 'amount',
        });
      }
      if (amount > BigInt(rule.per_transaction_limit)) {
        throw validationError(
          `amount: ${human(input.amount)} is over the per-withdrawal limit of ${human(rule.per_transaction_limit)}`,
          {
            field: 'amount',
          },
        );
      }
      const fee = BigInt(rule.network_fee);
      if (fee > amount) {
        throw validationError(`amount: ${human(input.amount)} is less than the network fee of ${human(rule.network_fee)}`, {
          field: 'amount',
        });
      }
      // The hold is amount plus fee, and must fit the ledger's numeric(38,0) like every amount.
      if (amount + fee > MAX_AMOUNT) {
        throw validationError(`amount: ${human(input.amount)} plus the network fee is more than the ledger can hold`, {
          field: 'amount',
        });
      }
      const valid: ValidWithdrawal = {
        withdrawalId: input.withdrawalId,
        accountId: input.accountId,
        asset: input.asset,
        address,
        amount: input.amount,
        fee: rule.network_fee,
        confirmationsRequired: rule.confirmations_required,
        dailyLimit: rule.daily_limit,
      };
      await checkDailyLimit(tx, valid, now(), scale); // checked again under a lock when the hold is placed
      return valid;
    }),

    /** Frozen account, allow-list past cooling-off, and the one-time code, accepted once (its time step is claimed). */
    checkWithdrawalSecurity: transactional(
      deps,
      'checkWithdrawalSecurity',
      async (i: { valid: ValidWithdrawal; otpCiphertext: string; submittedAt?: string }, tx): Promise<{ timeStep: number }> => {
        const v = i.valid;
        await requireUserAccount(tx, v.accountId, v.asset);
        const entry = await findAllowListEntry(tx, v.accountId, v.asset, v.address);
        if (!entry) {
          throw security(`address: ${v.address} is not on the allow-list of account ${v.accountId} for ${v.asset}`, 'address');
        }
        if (entry.usable_from > now()) {
          throw security(
            `address: ${v.address} is still in its cooling-off period until ${entry.usable_from.toISOString()}`,
            'address',
          );
        }
        const sealedSecret = await findTotpSecret(tx, v.accountId);
        if (!sealedSecret)
          throw security(`otp: account ${v.accountId} has no one-time code enrolment (txmgr totp enroll)`, 'otp');
        const secret = open(key(), sealedSecret, secretContext(v.accountId));
        if (secret === undefined)
          throw new Error(`the TOTP secret of account ${v.accountId} does not open with this worker's key`);
        const code = open(key(), i.otpCiphertext, otpContext(v.withdrawalId));
        // A retry whose first attempt committed finds its own claim: the code has expired since, but it was accepted.
        const claimed = await findClaimedTimeStep(tx, v.accountId, v.withdrawalId);
        if (claimed !== undefined && code !== undefined && codeOfStep(secret, code, claimed)) return { timeStep: claimed };
        // The code is judged at the time the withdrawal was submitted, not when a worker got to it:
        // a worker or database down for a minute must not turn a good code into a refusal.
        const step = code === undefined ? undefined : acceptedTimeStep(secret, code, submittedAt(i.submittedAt, now()));
        if (step === undefined) throw security('otp: the one-time code is wrong or expired', 'otp');
        const holder = await claimTimeStep(tx, v.accountId, step, v.withdrawalId);
        if (holder !== v.withdrawalId) throw security('otp: this one-time code was already used; wait for the next one', 'otp');
        return { timeStep: step };
      },
    ),

    /**
     * Places the hold for amount plus fee and writes the withdrawal row, in one transaction
     * under a lock per account and asset: concurrent withdrawals cannot pass the daily limit together.
     */
    holdWithdrawal: transactional(deps, 'holdWithdrawal', async (v: ValidWithdrawal, tx, scope): Promise<{ holdId: string }> => {
      const owner = ownerOf(scope, v.withdrawalId);
      const holdKey = withdrawalHoldKey(owner);
      const holdId = holdIdFor(holdKey);
      await lockWithdrawalLimit(tx, v.accountId, v.asset);
      const existing = await lockWithdrawal(tx, v.withdrawalId);
      if (existing) {
        if (existing.workflow_id !== owner) {
          throw new DomainError(
            'IdempotencyConflict',
            `withdrawal ${v.withdrawalId} belongs to workflow ${existing.workflow_id}`,
          );
        }
        if (existing.status === 'RELEASED') throw new DomainError('HoldNotOpen', `withdrawal ${v.withdrawalId} was released`);
        return { holdId: existing.hold_id };
      }
      await requireUserAccount(tx, v.accountId, v.asset);
      const scale = (await findAssetScale(tx, v.asset)) ?? 0;
      await checkDailyLimit(tx, v, now(), scale);
      const escrow = await findHouseAccount(tx, v.asset, 'escrow');
      if (!escrow) throw new Error(`no escrow house account for ${v.asset}`);
      await placeHold(tx, {
        id: holdId,
        debitAccountId: v.accountId,
        creditAccountId: escrow.id,
        asset: v.asset,
        amount: BigInt(v.amount) + BigInt(v.fee),
        workflowId: scope.workflowId,
        step: holdKey,
      });
      const row = { id: v.withdrawalId, workflowId: owner, accountId: v.accountId, asset: v.asset, address: v.address };
      const inserted = await insertWithdrawal(tx, { ...row, amount: BigInt(v.amount), fee: BigInt(v.fee), holdId }, now());
      if (!inserted) throw new Error(`withdrawal ${v.withdrawalId} was written concurrently`);
      return { holdId };
    }),

    /**
     * The fenced inverse of hold and broadcast. First the chain is told to abandon the
     * withdrawal id (a broadcast arriving later is refused); if the chain has it pending
     * or confirmed, money may have left: the hold stays and an operator decides. Then, in
     * one transaction, the hold is released (or tombstoned, so a late hold places nothing).
     */
    releaseWithdrawal: async (request: { withdrawalId: string; reason: string }): Promise<{ released: string }> => {
      let i: { withdrawalId: string; reason: string };
      try {
        i = { ...request, withdrawalId: canonicalWithdrawalId(request.withdrawalId) };
      } catch (err) {
        throw toActivityError(err);
      }
      const outcome = await requireChain(deps).abandon(i.withdrawalId);
      if (!outcome.abandoned) {
        throw toFailure(
          new DomainError(
            'InvalidState',
            `withdrawal ${i.withdrawalId} reached the chain (tx ${outcome.status?.txId}, ${outcome.status?.state}); its hold stays for an operator`,
          ),
        );
      }
      return transactional(deps, 'releaseWithdrawal', async (_: null, tx, scope) => {
        const owner = ownerOf(scope, i.withdrawalId);
        const row: WithdrawalRow | undefined = await lockWithdrawal(tx, i.withdrawalId);
        if (row && row.workflow_id !== owner) return { released: '0' };
        if (row?.status === 'COMPLETED') throw new DomainError('InvalidState', `withdrawal ${i.withdrawalId} is completed`);
        const { released } = await releaseHold(tx, row?.hold_id ?? holdIdFor(withdrawalHoldKey(owner)));
        if (row && row.status !== 'RELEASED')
          await updateWithdrawal(tx, row.id, { status: 'RELEASED', reason: cleanReason(i.reason) });
        return { released: released.toString() };
      })(null);
    },

    ...createWithdrawalChainActivities(deps),
  };
}
