// When a rotation is due: Go-style durations (`720h`) or 5-field cron expressions, always in UTC.
import { CronExpressionParser } from "cron-parser";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses Go's time.Duration syntax for the units that make sense here: `720h`, `1h30m`, `90s`. */
export function parseDuration(text: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) return undefined;
  let ms = 0;
  for (const [, n, , unit] of text.matchAll(/(\d+(\.\d+)?)(ms|s|m|h)/g)) ms += Number(n) * (UNIT_MS[unit ?? ""] ?? 0);
  return ms;
}

export type Schedule = { every: number } | { cron: string };

/** The next occurrences of a cron expression after `from`, in UTC; throws with the parser's message if invalid. */
export function cronTimes(expression: string, from: Date, count: number): Date[] {
  const it = CronExpressionParser.parse(expression, { currentDate: from, tz: "UTC" });
  return Array.from({ length: count }, () => it.next().toDate());
}

/** The shortest gap between consecutive runs, looked at over the next 50 runs. */
export function shortestInterval(s: Schedule, from: Date): number {
  if ("every" in s) return s.every;
  const times = cronTimes(s.cron, from, 50);
  let min = Number.POSITIVE_INFINITY;
  for (let i = 1; i < times.length; i++) min = Math.min(min, (times[i]?.getTime() ?? 0) - (times[i - 1]?.getTime() ?? 0));
  return min;
}

/** A secret never rotated is due at once; afterwards, one interval (or the next cron run) after the last rotation. */
export function nextDue(s: Schedule, lastRotatedAt: Date | undefined): Date {
  if (lastRotatedAt === undefined) return new Date(0);
  if ("every" in s) return new Date(lastRotatedAt.getTime() + s.every);
  return cronTimes(s.cron, lastRotatedAt, 1)[0] ?? new Date(lastRotatedAt.getTime());
}

export function formatDuration(ms: number): string {
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  return [h ? `${h}h` : "", m ? `${m}m` : "", s || (!h && !m) ? `${s}s` : ""].join("");
}
