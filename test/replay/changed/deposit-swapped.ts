/** The deposit saga with two steps swapped: approve after credit (see deposit-variant.ts). */
import { makeDepositFiat } from './deposit-variant';

export const depositFiat = makeDepositFiat('swap');
