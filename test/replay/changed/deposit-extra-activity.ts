/** The deposit saga with one activity added: a second screen before the credit (see deposit-variant.ts). */
import { makeDepositFiat } from './deposit-variant';

export const depositFiat = makeDepositFiat('extra');
