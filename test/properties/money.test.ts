import fc from 'fast-check';
import { DomainError } from '../../src/domain/errors';
import { formatAmount, MAX_AMOUNT, parseHumanAmount, parseMinorUnits } from '../../src/domain/money';
import { numRuns } from '../helpers/properties';

/** The money module under generated input: exact round trips, sums that neither lose nor invent a minor unit. */
const scale = fc.integer({ min: 0, max: 36 });
const amount = fc.bigInt({ min: 1n, max: MAX_AMOUNT });

function rejection(fn: () => unknown): DomainError | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    return err as DomainError;
  }
}

describe('money properties', () => {
  test('format then parse gives back the same minor units, at every scale', () => {
    fc.assert(
      fc.property(amount, scale, (minor, s) => {
        const text = formatAmount(minor, s);
        expect(text).toMatch(s === 0 ? /^[1-9][0-9]*$/ : new RegExp(`^(0|[1-9][0-9]*)\\.[0-9]{${s}}$`));
        expect(parseHumanAmount(text, s)).toBe(minor);
      }),
      { numRuns: numRuns(150) },
    );
  });

  test('parse then format gives back the text, padded to the scale', () => {
    const human = scale.chain((s) =>
      fc.tuple(
        fc.constant(s),
        fc.bigInt({ min: 0n, max: 10n ** BigInt(38 - s) - 1n }),
        fc.string({ unit: fc.constantFrom(...'0123456789'), maxLength: s }),
      ),
    );
    fc.assert(
      fc.property(human, ([s, whole, fraction]) => {
        fc.pre(whole > 0n || /[1-9]/.test(fraction));
        const text = fraction ? `${whole}.${fraction}` : `${whole}`;
        const expected = s === 0 ? `${whole}` : `${whole}.${fraction.padEnd(s, '0')}`;
        expect(formatAmount(parseHumanAmount(text, s), s)).toBe(expected);
      }),
      { numRuns: numRuns(150) },
    );
  });

  test('amounts split into parts and formatted for people add up to the whole, to the minor unit', () => {
    const split = fc.tuple(amount, scale, fc.array(fc.bigInt({ min: 1n, max: MAX_AMOUNT }), { minLength: 1, maxLength: 6 }));
    fc.assert(
      fc.property(split, ([total, s, weights]) => {
        // Cut `total` at points proportional to the weights (integer division, remainder to the last part).
        const sum = weights.reduce((a, b) => a + b, 0n);
        const parts = weights.map((w) => (total * w) / sum);
        parts[parts.length - 1]! += total - parts.reduce((a, b) => a + b, 0n);
        const shown = parts.filter((p) => p > 0n).map((p) => formatAmount(p, s));
        const back = shown.reduce((acc, text) => acc + parseHumanAmount(text, s), 0n);
        expect(back).toBe(total);
        expect(parseHumanAmount(formatAmount(back, s), s)).toBe(total);
      }),
      { numRuns: numRuns(100) },
    );
  });

  test('minor-unit strings round trip; anything else is a ValidationError naming the field', () => {
    fc.assert(
      fc.property(amount, (minor) => expect(parseMinorUnits(minor.toString(), 'price')).toBe(minor)),
      { numRuns: numRuns(50) },
    );
    const junk = fc.oneof(
      fc.string(),
      fc.bigInt({ min: MAX_AMOUNT + 1n, max: MAX_AMOUNT * 10n }).map(String),
      fc.bigInt({ min: -MAX_AMOUNT, max: 0n }).map(String),
      fc.stringMatching(/^[-+ ]?[0-9]{1,40}([.,eE][0-9-]{0,5})?\s?$/),
      fc.anything(),
    );
    fc.assert(
      fc.property(junk, (value) => {
        fc.pre(!(typeof value === 'string' && /^[1-9][0-9]{0,37}$/.test(value)));
        const err = rejection(() => parseMinorUnits(value, 'price'));
        expect(err).toMatchObject({ type: 'ValidationError', details: { field: 'price' } });
        expect(err?.message).toMatch(/^price /);
      }),
      { numRuns: numRuns(100) },
    );
  });

  test('a human amount that is not a plain positive decimal within the scale is a ValidationError naming the field', () => {
    const candidate = fc.oneof(
      fc.string(),
      fc.stringMatching(/^[-+ ]?[0-9]{0,42}([.,][0-9]{0,40})?([eE][-+]?[0-9]{1,3})?\s?$/),
      fc.constantFrom('NaN', 'Infinity', '-0', '0', '0.0', '1e3', '0x10', '1_000', '١٢٣', "1'; DROP TABLE accounts;--"),
      fc.double().map(String),
      fc.anything(),
    );
    fc.assert(
      fc.property(candidate, scale, (value, s) => {
        let expected: bigint | undefined;
        if (typeof value === 'string') {
          const m = /^(0|[1-9][0-9]*)(\.([0-9]+))?$/.exec(value.trim());
          const fraction = m?.[3] ?? '';
          if (m && fraction.length <= s && (m[1]?.length ?? 0) <= 38) {
            const minor = BigInt(m[1] ?? '0') * 10n ** BigInt(s) + BigInt(fraction.padEnd(s, '0') || '0');
            if (minor > 0n && minor <= MAX_AMOUNT) expected = minor;
          }
        }
        if (expected !== undefined) return expect(parseHumanAmount(value, s, 'size')).toBe(expected);
        const err = rejection(() => parseHumanAmount(value, s, 'size'));
        expect(err).toMatchObject({ type: 'ValidationError', details: { field: 'size' } });
        expect(err?.message).toMatch(/^size /);
      }),
      { numRuns: numRuns(150) },
    );
  });
});
