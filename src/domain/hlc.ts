/**
 * A hybrid logical clock (Kulkarni et al.): wall-clock milliseconds, a logical counter and
 * the node (worker) that stamped. A clock never goes backwards, even when the wall clock
 * does, and a stamp taken after merging another stamp is greater than it, so the changes
 * of one account, each merged with the account's last stamp, are ordered causally across
 * workers. Pure: the wall clock is passed in.
 */
export interface Hlc {
  wall: number;
  logical: number;
  node: string;
}

/** Total order: wall, then logical, then node (a tie-break between workers). */
export function compareHlc(a: Hlc, b: Hlc): number {
  if (a.wall !== b.wall) return a.wall < b.wall ? -1 : 1;
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1;
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0;
}

/** "1733450000000.0003@worker-a": sortable as text for equal-length walls, readable by people. */
export const formatHlc = (h: Hlc): string => `${h.wall}.${String(h.logical).padStart(4, '0')}@${h.node}`;

/** "<wall>:<logical>:<node>", the form a transaction carries its stamps in (txmgr.hlc, txmgr.hlc_last). */
export const hlcSetting = (h: Hlc): string => `${h.wall}:${h.logical}:${h.node}`;

export function parseHlcSetting(text: string | null | undefined): Hlc | undefined {
  const m = /^(\d+):(\d+):(.*)$/s.exec(text ?? '');
  return m ? { wall: Number(m[1]), logical: Number(m[2]), node: m[3] as string } : undefined;
}

export class HybridClock {
  private last: Hlc;

  constructor(
    readonly node: string,
    private readonly wallClock: () => number = () => Date.now(),
  ) {
    this.last = { wall: 0, logical: 0, node };
  }

  /** The latest stamp this clock gave out. */
  get current(): Hlc {
    return { ...this.last };
  }

  /** A stamp for a local event: greater than every stamp this clock gave or merged before. */
  now(): Hlc {
    return this.merge();
  }

  /** Takes in a stamp given out on this clock's behalf (by the database, from a stamp of this clock): later stamps are greater. */
  observe(stamp: Hlc): void {
    if (stamp.wall > this.last.wall || (stamp.wall === this.last.wall && stamp.logical > this.last.logical))
      this.last = { wall: stamp.wall, logical: stamp.logical, node: this.node };
  }

  /** A stamp greater than every `seen` stamp and everything before on this clock. */
  merge(...seen: Hlc[]): Hlc {
    const physical = Math.max(0, Math.floor(this.wallClock()));
    let wall = Math.max(this.last.wall, physical);
    for (const s of seen) wall = Math.max(wall, s.wall);
    let logical = -1;
    if (wall === this.last.wall) logical = this.last.logical;
    for (const s of seen) if (s.wall === wall) logical = Math.max(logical, s.logical);
    // A stamp from the same wall millisecond gets the next counter; a new millisecond starts at 0.
    this.last = { wall, logical: logical + 1, node: this.node };
    return { ...this.last };
  }
}
