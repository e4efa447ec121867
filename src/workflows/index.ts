export { depositFiat, approveDepositSignal, rejectDepositSignal } from './deposit';
export { openAccount } from './open-account';
export { sagaStatusQuery, retryCompensationSignal } from './saga';
export * from './config-siphon';
export { executeTransaction, transactionStatusQuery } from './transaction';
export { recoverInDoubt } from './in-doubt-recovery';
export * from './trade';
export { withdrawCrypto, cancelWithdrawalUpdate, withdrawalProgressQuery } from './withdrawal';
