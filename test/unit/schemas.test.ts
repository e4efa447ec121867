import fc from 'fast-check';
import { DepositInput } from '../../src/domain/deposit';
import { ReleaseInput, TransferInput } from '../../src/domain/ledger';
import { assetCode, bankReference, uuid } from '../../src/domain/schemas';

describe('canonical ids and codes at the boundary', () => {
  test('any spelling of a UUID (case, surrounding spaces) parses to the one lower-case form', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.boolean(), fc.constantFrom('', ' ', '\t', '  '), (id, upper, pad) => {
        const spelled = `${pad}${upper ? id.toUpperCase() : id}${pad}`;
        expect(uuid.parse(spelled)).toBe(id.toLowerCase());
      }),
    );
  });

  test.each(['', 'not-a-uuid', '123e4567-e89b-12d3-a456-42661417400', '{123e4567-e89b-12d3-a456-426614174000}', 42])(
    'a malformed UUID (%p) is refused',
    (value) => {
      expect(uuid.safeParse(value).success).toBe(false);
    },
  );

  test('asset codes are trimmed and upper-cased; malformed ones are refused with the field named', () => {
    expect(assetCode.parse(' usd ')).toBe('USD');
    expect(assetCode.parse('Btc')).toBe('BTC');
    for (const bad of ['u', 'U$D', '1USD', 'USDOLLARSXXXX']) expect(assetCode.safeParse(bad).success).toBe(false);
  });

  test('bank references are trimmed and keep their letter case', () => {
    expect(bankReference.parse('  AbC-12/x ')).toBe('AbC-12/x');
    expect(bankReference.safeParse('   ').success).toBe(false);
  });

  test('a deposit and a transfer request come out canonical; a release names its hold either way', () => {
    const id = '8F14E45F-CEEA-467F-A0E6-AC1AF1B0C2D3';
    expect(DepositInput.parse({ accountId: id, asset: 'eur', amount: '5', bankReference: ' R1 ', senderName: ' Ann ' })).toEqual({
      accountId: id.toLowerCase(),
      asset: 'EUR',
      amount: '5',
      bankReference: 'R1',
      senderName: 'Ann',
    });
    expect(
      TransferInput.parse({ idempotencyKey: 'k', debitAccountId: id, creditAccountId: ` ${id}`, asset: 'usd', amount: '1' }),
    ).toMatchObject({ debitAccountId: id.toLowerCase(), creditAccountId: id.toLowerCase(), asset: 'USD' });
    expect(ReleaseInput.parse({ holdId: id })).toEqual({ holdId: id.toLowerCase() });
    expect(ReleaseInput.parse({ holdIdempotencyKey: 'wf:reserve' })).toEqual({ holdIdempotencyKey: 'wf:reserve' });
    expect(ReleaseInput.safeParse({}).success).toBe(false);
  });
});
