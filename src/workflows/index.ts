export { depositFiat, approveDepositSignal, rejectDepositSignal } from './deposit';
export { openAccount } from './open-account';
export { sagaStatusQuery, retryCompensationSignal } from './saga';
export * from './config-siphon';
export * from './campaign-messages';
export { createCampaign } from './campaign';
