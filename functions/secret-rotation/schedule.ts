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

const CRON_FIELDS = ["minute", "hour", "day-of-month", "month", "day-of-week"] as const;
const CRON_MACROS = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"];

/**
 * Why `expression` is not the 5-field UTC cron a schedule takes, naming the field; undefined when it is. The parser
 * alone would take 6 fields (seconds first, so a year in the sixth reads as a day of the week), guess at 4, and
 * accept Jenkins' H, which picks another minute each time it is parsed.
 */
export function cronProblem(expression: string): string | undefined {
  const text = expression.trim();
  if (text.startsWith("@")) return CRON_MACROS.includes(text) ? undefined : `${text} is not one of ${CRON_MACROS.join(", ")}`;
  const fields = text === "" ? [] : text.split(/\s+/);
  if (fields.length !== CRON_FIELDS.length) {
    const extra = fields.length === 6 ? ` (the sixth, "${fields[5]}", would be read as a day of the week after a seconds field)` : "";
    return `has ${fields.length} field(s)${extra}; a schedule has 5: ${CRON_FIELDS.join(" ")} (UTC, no seconds, no year)`;
  }
  for (const [i, field] of fields.entries()) {
    const name = CRON_FIELDS[i] ?? "";
    if (/(^|[^A-Z])H([^A-Z]|$)/i.test(field)) return `${name} "${field}" uses H, Jenkins' hashed value, which is not cron (it would pick another time each time it is read); write the ${name} itself`;
    const alone = CRON_FIELDS.map((_, j) => (j === i ? field : "*")).join(" ");
    try {
      CronExpressionParser.parse(alone, { tz: "UTC" });
    } catch (e) {
      return `${name} "${field}": ${(e as Error).message}`;
    }
  }
  try {
    CronExpressionParser.parse(text, { tz: "UTC" });
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
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
