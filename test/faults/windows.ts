// A window during which an invariant does not hold, as a checker that looks every ~100 ms sees it: it opens at the
// first bad observation and closes at the next good one. Every window's length is kept; a window longer than the
// bound is reported once, as soon as it is known to be longer (so a window that never closes is reported too).

export class BoundedWindows {
  private readonly boundMs: number;
  private readonly onExceeded: (startedAtMs: number, lengthMs: number, detail: string) => void;
  private open: { since: number; detail: string; reported: boolean; boundMs: number } | undefined;
  readonly lengthsMs: number[] = [];

  constructor(boundMs: number, onExceeded: (startedAtMs: number, lengthMs: number, detail: string) => void) {
    this.boundMs = boundMs;
    this.onExceeded = onExceeded;
  }

  /** `boundMs`, when given, is this window's bound (a window caused by a fault the product repairs later). */
  bad(atMs: number, detail: string, boundMs = this.boundMs): void {
    this.open ??= { since: atMs, detail, reported: false, boundMs };
    this.check(atMs);
  }

  good(atMs: number): void {
    if (this.open === undefined) return;
    this.check(atMs);
    this.lengthsMs.push(atMs - this.open.since);
    this.open = undefined;
  }

  /** The run is over: a window still open ends here, and is judged by its length so far. */
  close(atMs: number): void {
    this.good(atMs);
  }

  private check(atMs: number): void {
    const w = this.open;
    if (w === undefined || w.reported || atMs - w.since <= w.boundMs) return;
    w.reported = true;
    this.onExceeded(w.since, atMs - w.since, w.detail);
  }
}
