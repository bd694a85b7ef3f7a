// What happened during a run: a count per fault and per driver outcome, and a timeline of the faults, so a violation
// can be shown with the faults that came just before it.

export interface RunEvent {
  /** Milliseconds since the run started. */
  atMs: number;
  kind: string;
  detail: string;
}

const TIMELINE_LIMIT = 20_000;

/** A time since the start of the run, as reports show it: `23.7s`. */
export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

export class RunRecord {
  readonly startedAt = Date.now();
  private readonly counters = new Map<string, number>();
  private readonly timeline: RunEvent[] = [];

  /** Milliseconds since the run started. */
  now(): number {
    return Date.now() - this.startedAt;
  }

  count(name: string, n = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n);
  }

  /** Counts a fault and puts it on the timeline. */
  event(kind: string, detail = ""): void {
    this.count(kind);
    if (this.timeline.length < TIMELINE_LIMIT) this.timeline.push({ atMs: this.now(), kind, detail });
  }

  /** The faults in the `windowMs` before `atMs`, newest last: the likely causes of what was seen at `atMs`. */
  before(atMs: number, windowMs = 5_000): string[] {
    return this.timeline.filter((e) => e.atMs <= atMs && e.atMs >= atMs - windowMs).map((e) => `+${seconds(e.atMs)} ${e.kind}${e.detail ? ` ${e.detail}` : ""}`);
  }

  /** Every fault, in order, for the written report. */
  events(): RunEvent[] {
    return [...this.timeline];
  }

  counts(): Record<string, number> {
    return Object.fromEntries([...this.counters.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}
