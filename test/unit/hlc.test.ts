import fc from 'fast-check';
import { compareHlc, HybridClock, type Hlc } from '../../src/domain/hlc';

/** A wall clock a test moves by hand, backwards too. */
function steppedClock(start: number) {
  const wall = { now: start };
  return { wall, read: () => wall.now };
}

describe('hybrid logical clock', () => {
  test('never decreases on one worker, whatever the wall clock does', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -10_000, max: 10_000 }), { minLength: 1, maxLength: 200 }), (steps) => {
        const { wall, read } = steppedClock(1_733_450_000_000);
        const clock = new HybridClock('a', read);
        let last = clock.now();
        for (const step of steps) {
          wall.now = Math.max(0, wall.now + step);
          const next = clock.now();
          expect(compareHlc(next, last)).toBe(1);
          expect(next.wall).toBeGreaterThanOrEqual(last.wall);
          last = next;
        }
      }),
    );
  });

  test('a wall clock stepped back keeps the old wall time and counts up', () => {
    const { wall, read } = steppedClock(5_000);
    const clock = new HybridClock('a', read);
    expect(clock.now()).toEqual({ wall: 5_000, logical: 0, node: 'a' });
    wall.now = 1_000;
    expect(clock.now()).toEqual({ wall: 5_000, logical: 1, node: 'a' });
    expect(clock.now()).toEqual({ wall: 5_000, logical: 2, node: 'a' });
    wall.now = 6_000;
    expect(clock.now()).toEqual({ wall: 6_000, logical: 0, node: 'a' });
  });

  test('two workers with skewed clocks order the changes of one account causally', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -60_000, max: 60_000 }),
        fc.array(fc.record({ worker: fc.integer({ min: 0, max: 1 }), tick: fc.integer({ min: -50, max: 100 }) }), {
          minLength: 1,
          maxLength: 200,
        }),
        (skew, writes) => {
          const { wall, read } = steppedClock(1_733_450_000_000);
          const clocks = [new HybridClock('worker-a', read), new HybridClock('worker-b', () => read() + skew)];
          // The account's last stamp, as change_clocks keeps it: every writer merges it first.
          let accountLast: Hlc | undefined;
          const written: Hlc[] = [];
          for (const w of writes) {
            wall.now += w.tick;
            const clock = clocks[w.worker] as HybridClock;
            const stamp = accountLast ? clock.merge(accountLast) : clock.now();
            if (accountLast) expect(compareHlc(stamp, accountLast)).toBe(1);
            accountLast = stamp;
            written.push(stamp);
          }
          // Sorting by HLC gives back the order in which the changes happened.
          expect([...written].sort(compareHlc)).toEqual(written);
        },
      ),
    );
  });

  test('a merged stamp is above both clocks, and the logical counter stays small', () => {
    fc.assert(
      fc.property(
        fc.record({ wall: fc.integer({ min: 0, max: 2 ** 45 }), logical: fc.integer({ min: 0, max: 1000 }), node: fc.string() }),
        fc.integer({ min: 0, max: 2 ** 45 }),
        (remote, physical) => {
          const clock = new HybridClock('local', () => physical);
          const before = clock.now();
          const merged = clock.merge(remote);
          expect(compareHlc(merged, before)).toBe(1);
          expect(merged.wall).toBe(Math.max(physical, remote.wall));
          expect(compareHlc(merged, { ...remote, node: '' })).toBe(1);
          expect(merged.logical).toBeLessThanOrEqual(Math.max(before.logical, remote.logical) + 1);
        },
      ),
    );
  });

  test("a stamp given out on the clock's behalf (by a trigger) is taken in: the next stamp is above it; an older one changes nothing", () => {
    const { read } = steppedClock(5_000);
    const clock = new HybridClock('a', read);
    clock.now();
    clock.observe({ wall: 5_000, logical: 7, node: 'a' });
    expect(clock.now()).toEqual({ wall: 5_000, logical: 8, node: 'a' });
    clock.observe({ wall: 4_000, logical: 99, node: 'a' });
    expect(clock.now()).toEqual({ wall: 5_000, logical: 9, node: 'a' });
    clock.observe({ wall: 9_000, logical: 0, node: 'db:x' });
    expect(clock.now()).toEqual({ wall: 9_000, logical: 1, node: 'a' });
  });
});
