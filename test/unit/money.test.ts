import fc from 'fast-check';
import { DomainError } from '../../src/domain/errors';
import { formatAmount, MAX_AMOUNT, parseHumanAmount, parseMinorUnits } from '../../src/domain/money';

/** The DomainError a call throws (fails the test when it returns instead). */
function rejection(fn: () => unknown): DomainError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(DomainError);
  return thrown as DomainError;
}

const SCALES = [0, 2, 8, 18] as const;

describe('parseHumanAmount', () => {
  test.each([
    ['1', 2, 100n],
    ['0.01', 2, 1n],
    ['10.5', 2, 1050n],
    ['10.50', 2, 1050n],
    ['123', 0, 123n],
    ['0.00000001', 8, 1n],
    ['21000000', 8, 2_100_000_000_000_000n],
    ['1.000000000000000001', 18, 1_000_000_000_000_000_001n],
    ['0.5', 18, 500_000_000_000_000_000n],
  ])('%s at scale %d is %s minor units', (text, scale, minor) => {
    expect(parseHumanAmount(text, scale)).toBe(minor);
  });

  test('the largest numeric(38,0) value is accepted, one more is not', () => {
    expect(parseHumanAmount(MAX_AMOUNT.toString(), 0)).toBe(MAX_AMOUNT);
    expect(parseHumanAmount('9'.repeat(36) + '.99', 2)).toBe(MAX_AMOUNT);
    expect(rejection(() => parseHumanAmount((MAX_AMOUNT + 1n).toString(), 0)).message).toMatch(/amount is out of range/);
    expect(rejection(() => parseHumanAmount('1' + '0'.repeat(36), 2)).message).toMatch(/out of range/);
    expect(rejection(() => parseHumanAmount('9'.repeat(100), 8)).message).toMatch(/out of range/);
  });

  test('a megabyte of digits is out of range (and is refused without parsing it)', () => {
    expect(rejection(() => parseHumanAmount('9'.repeat(2_000_000), 2)).message).toMatch(/amount is out of range/);
    expect(rejection(() => parseHumanAmount(`1.${'0'.repeat(2_000_000)}`, 2)).message).toMatch(/2000000 decimal places/);
    expect(rejection(() => parseMinorUnits('9'.repeat(2_000_000))).message).toMatch(/amount is out of range/);
  });

  test.each<[string, unknown, number, RegExp]>([
    ['negative', '-1.00', 2, /plain positive decimal/],
    ['explicit plus sign', '+1.00', 2, /plain positive decimal/],
    ['zero', '0', 2, /greater than zero/],
    ['zero with decimals', '0.00', 2, /greater than zero/],
    ['negative zero', '-0', 2, /plain positive decimal/],
    ['too many decimals', '1.001', 2, /3 decimal places but the asset allows 2/],
    ['trailing zero beyond the scale', '1.000', 2, /3 decimal places but the asset allows 2/],
    ['any decimals at scale 0', '5.0', 0, /1 decimal places but the asset allows 0/],
    ['19 decimals at scale 18', '0.0000000000000000001', 18, /19 decimal places but the asset allows 18/],
    ['exponent', '1e3', 2, /no sign, exponent/],
    ['upper-case exponent', '1E-2', 2, /no sign, exponent/],
    ['NaN', 'NaN', 2, /plain positive decimal/],
    ['Infinity', 'Infinity', 2, /plain positive decimal/],
    ['hex', '0x10', 2, /plain positive decimal/],
    ['empty', '', 2, /plain positive decimal/],
    ['only white space', '   ', 2, /plain positive decimal/],
    ['inner white space', '1 000.00', 2, /plain positive decimal/],
    ['thousands separator', '1,000.00', 2, /plain positive decimal/],
    ['decimal comma', '10,50', 2, /plain positive decimal/],
    ['underscore separator', '1_000', 2, /plain positive decimal/],
    ['apostrophe separator', "1'000", 2, /plain positive decimal/],
    ['leading zero', '01.50', 2, /plain positive decimal/],
    ['several leading zeros', '007', 2, /plain positive decimal/],
    ['bare fraction', '.5', 2, /plain positive decimal/],
    ['bare point', '5.', 2, /plain positive decimal/],
    ['two points', '1.2.3', 2, /plain positive decimal/],
    ['non-ASCII digits', '١٢', 2, /plain positive decimal/],
    ['full-width digits', '１２', 2, /plain positive decimal/],
    ['currency sign', '$5', 2, /plain positive decimal/],
    ['a number', 10, 2, /must be a decimal string such as "10.50", got number/],
    ['a float', 0.1, 2, /got number/],
    ['a bigint', 10n, 2, /got bigint/],
    ['null', null, 2, /got object/],
    ['undefined', undefined, 2, /got undefined/],
    ['an object with toString', { toString: () => '5' }, 2, /got object/],
    ['an array', ['5'], 2, /got object/],
  ])('rejects %s', (_name, value, scale, message) => {
    const err = rejection(() => parseHumanAmount(value, scale));
    expect(err.type).toBe('ValidationError');
    expect(err.message).toMatch(message);
    expect(err.details).toEqual({ field: 'amount' });
  });

  test('leading and trailing white space is trimmed; the message quotes the original text', () => {
    expect(parseHumanAmount('  12.30\n', 2)).toBe(1230n);
    expect(parseHumanAmount('\t7', 0)).toBe(7n);
    expect(rejection(() => parseHumanAmount(' -1 ', 2)).message).toContain('" -1 "');
  });

  test('names the field it was given', () => {
    const err = rejection(() => parseHumanAmount('abc', 2, 'price'));
    expect(err.message).toMatch(/^price must be/);
    expect(err.details).toEqual({ field: 'price' });
  });

  test.each([-1, 37, 2.5, Number.NaN])('an invalid asset scale (%s) is a programming error, not a validation error', (scale) => {
    expect(() => parseHumanAmount('1', scale)).toThrow(RangeError);
  });
});

describe('parseMinorUnits', () => {
  test('parses whole minor units exactly, beyond the float range', () => {
    expect(parseMinorUnits('1')).toBe(1n);
    expect(parseMinorUnits('9007199254740993')).toBe(9_007_199_254_740_993n); // 2^53 + 1, not a float
    expect(parseMinorUnits(MAX_AMOUNT.toString())).toBe(MAX_AMOUNT);
  });

  test.each<[string, unknown, RegExp]>([
    ['zero', '0', /greater than zero/],
    ['negative', '-5', /without sign or exponent/],
    ['decimal', '1.5', /whole number/],
    ['exponent', '1e5', /without sign or exponent/],
    ['leading zero', '05', /whole number/],
    ['white space', ' 5', /whole number/],
    ['empty', '', /whole number/],
    ['out of range', (MAX_AMOUNT + 1n).toString(), /out of range/],
    ['a number', 5, /decimal string of minor units, got number/],
    ['a bigint', 5n, /got bigint/],
    ['null', null, /got object/],
  ])('rejects %s', (_name, value, message) => {
    const err = rejection(() => parseMinorUnits(value, 'amount'));
    expect(err.type).toBe('ValidationError');
    expect(err.message).toMatch(message);
  });
});

describe('formatAmount', () => {
  test.each([
    [1050n, 2, '10.50'],
    [1n, 2, '0.01'],
    [0n, 2, '0.00'],
    [-1n, 2, '-0.01'],
    [-123456n, 2, '-1234.56'],
    [123n, 0, '123'],
    [0n, 0, '0'],
    [1n, 8, '0.00000001'],
    [1n, 18, '0.000000000000000001'],
    [MAX_AMOUNT, 18, '99999999999999999999.999999999999999999'],
  ])('%s at scale %d is %s', (minor, scale, text) => {
    expect(formatAmount(minor, scale)).toBe(text);
  });

  test.each([-1, 2.5, 37, Number.NaN])('an invalid scale (%s) is refused rather than formatted into a wrong amount', (scale) => {
    expect(() => formatAmount(1n, scale)).toThrow(RangeError);
  });
});

describe('round trips (property-based)', () => {
  const scale = fc.constantFrom(...SCALES);
  const amount = fc.bigInt({ min: 1n, max: MAX_AMOUNT });

  test('parseHumanAmount(formatAmount(m)) = m for every amount that fits numeric(38,0)', () => {
    fc.assert(
      fc.property(amount, scale, (minor, s) => {
        const text = formatAmount(minor, s);
        expect(text).toMatch(s === 0 ? /^(0|[1-9][0-9]*)$/ : new RegExp(`^(0|[1-9][0-9]*)\\.[0-9]{${s}}$`));
        expect(parseHumanAmount(text, s)).toBe(minor);
      }),
      { numRuns: 2000 },
    );
  });

  test('formatAmount(parseHumanAmount(x)) is x with its fraction padded to the scale', () => {
    // Whole part below 10^(38 − scale), so the amount fits numeric(38,0); beyond that is "out of range", tested above.
    const whole = (s: number) => fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 10n ** BigInt(38 - s) - 1n })).map(String);
    const digits = (max: number) =>
      fc.array(fc.constantFrom(...'0123456789'), { minLength: max === 0 ? 0 : 1, maxLength: max }).map((d) => d.join(''));
    fc.assert(
      fc.property(
        scale.chain((s) => fc.tuple(fc.constant(s), whole(s), digits(s))),
        ([s, w, f]) => {
          const text = f === '' ? w : `${w}.${f}`;
          fc.pre(/[1-9]/.test(text)); // zero is rejected, covered above
          const expected = s === 0 ? w : `${w}.${f.padEnd(s, '0')}`;
          expect(formatAmount(parseHumanAmount(text, s), s)).toBe(expected);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('amounts near 2^53 and beyond stay exact (no float on the way)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 2n ** 53n - 1000n, max: 2n ** 64n }), scale, (minor, s) => {
        const text = formatAmount(minor, s);
        // The digits are exactly the bigint's digits: nothing was rounded through a Number.
        expect(text.replace('.', '').replace(/^0+(?=\d)/, '')).toBe(minor.toString());
        expect(parseHumanAmount(text, s)).toBe(minor);
      }),
    );
  });

  test('any string either parses to an amount in range that formats back to the same value, or is a ValidationError', () => {
    const candidate = fc.oneof(fc.string(), fc.stringMatching(/^[-+ ]?[0-9]{0,45}([.,][0-9]{0,20})?([eE][-+]?[0-9]{1,3})?\s?$/));
    fc.assert(
      fc.property(candidate, scale, (text, s) => {
        let minor: bigint;
        try {
          minor = parseHumanAmount(text, s);
        } catch (err) {
          expect(err).toBeInstanceOf(DomainError);
          expect((err as DomainError).type).toBe('ValidationError');
          return;
        }
        expect(minor > 0n && minor <= MAX_AMOUNT).toBe(true);
        expect(parseHumanAmount(formatAmount(minor, s), s)).toBe(minor);
      }),
      { numRuns: 3000 },
    );
  });
});
