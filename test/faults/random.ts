// A seeded PRNG, so a fault schedule can be replayed from its seed. Each fault source draws from a stream of its own
// (`fork`), so switching one kind of fault off or on does not shift the draws of the others. Timing still varies
// between runs (which request comes first is up to the processes), so a replay repeats the decisions, not the
// interleaving.

/** mulberry32: small, fast, and good enough to schedule faults (not for anything secret). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of a label, to derive a stream's seed from the run's seed and the stream's name. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export class Random {
  private readonly next: () => number;
  readonly seed: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.next = mulberry32(this.seed);
  }

  /** An independent stream for one fault source. */
  fork(label: string): Random {
    return new Random(hash(`${this.seed}:${label}`));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A whole number of milliseconds in [min, max]. */
  between([min, max]: readonly [number, number]): number {
    return Math.round(min + this.next() * (max - min));
  }

  pick<T>(items: readonly T[]): T | undefined {
    return items[Math.floor(this.next() * items.length)];
  }
}
