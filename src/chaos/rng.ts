import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { JumpableRandomGenerator } from 'pure-rand/types/JumpableRandomGenerator';

/** A seeded random source (pure-rand's xoroshiro128+): the same seed gives the same sequence, everywhere. */
export class Rng {
  private readonly gen: JumpableRandomGenerator;

  constructor(seed: number) {
    this.gen = xoroshiro128plus(seed | 0);
  }

  /** A whole number in [from, to], both included. */
  int(from: number, to: number): number {
    return uniformInt(this.gen, from, to);
  }

  /** True with probability `p` (in thousandths, so no float arithmetic decides an outcome). */
  chance(p: number): boolean {
    return this.int(0, 999) < Math.round(p * 1000);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(0, items.length - 1)] as T;
  }

  /** A weighted choice: `[value, weight]` pairs, integer weights. */
  weighted<T>(choices: ReadonlyArray<readonly [T, number]>): T {
    const total = choices.reduce((s, [, w]) => s + w, 0);
    let n = this.int(0, total - 1);
    for (const [value, w] of choices) {
      if (n < w) return value;
      n -= w;
    }
    return choices[choices.length - 1]![0];
  }

  /** A hex string of `n` characters (ids that are the same for the same seed). */
  hex(n: number): string {
    let out = '';
    while (out.length < n) out += this.int(0, 0xffff).toString(16).padStart(4, '0');
    return out.slice(0, n);
  }

  /** A UUID (version-4 shaped) drawn from this source. */
  uuid(): string {
    const h = this.hex(32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }
}
