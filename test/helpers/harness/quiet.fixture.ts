// Run by test/unit/test-harness.test.ts in a child jest, never by `npm test` itself
// (it does not match *.test.ts): one test passes, one fails, one is skipped.
import { createTestLogger } from '../log-buffer';

test('a passing test logs', () => {
  createTestLogger().warn('line of the passing test');
  expect(1).toBe(1);
});

test('a failing test logs', () => {
  createTestLogger().warn('line of the failing test');
  expect(1).toBe(2);
});

// eslint-disable-next-line jest/no-disabled-tests -- the totals line must count skipped tests
test.skip('a skipped test', () => {
  expect(1).toBe(1);
});
