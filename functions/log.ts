// The server's logger: pino, one JSON line per event. Every field is capped, so a line stays short whatever a
// request carries (an XR name of a megabyte, an error quoting a huge value): a log pipeline drops or splits long
// lines, and a flood of them costs the node's disk.
import { pino, type DestinationStream, type Logger } from "pino";

/** No string in a line, the message included, takes more than this many bytes of JSON. */
export const MAX_FIELD_BYTES = 512;
/** An error's stack gets more room: its first frames say where it failed. */
export const MAX_STACK_BYTES = 2048;
/**
 * What a line of the server's stays under. The server logs a fixed set of fields (server.ts: tag, kind, xr, counts,
 * an error's type, message, code, cause and stack; pino's level, time, pid, hostname and fn), each capped above.
 */
export const MAX_LINE_BYTES = 8192;

const jsonBytes = (s: string) => Buffer.byteLength(JSON.stringify(s));

/** `s` itself when its JSON takes at most `maxBytes`, else its longest prefix that fits with a note of what was cut. */
export function capString(s: string, maxBytes: number = MAX_FIELD_BYTES): string {
  // A character takes at most 6 bytes of JSON (\u001f); most strings are decided here without encoding them.
  if (s.length * 6 <= maxBytes || jsonBytes(s) <= maxBytes) return s;
  const cut = (n: number) => `${s.slice(0, n)}…[${s.length - n} more characters]`;
  let [fits, tooLong] = [0, Math.min(s.length, maxBytes)];
  while (tooLong - fits > 1) {
    const mid = (fits + tooLong) >>> 1;
    if (jsonBytes(cut(mid)) <= maxBytes) fits = mid;
    else tooLong = mid;
  }
  // Never end on half of a surrogate pair: JSON would carry it as an escape of a lone surrogate.
  const code = s.charCodeAt(fits - 1);
  return cut(code >= 0xd800 && code <= 0xdbff ? fits - 1 : fits);
}

/** An error as a few capped fields; never its other properties (an SDK error can carry a whole HTTP exchange). */
function cappedError(e: unknown): Record<string, string> {
  if (!(e instanceof Error)) return { message: capString(String(e)) };
  const out: Record<string, string> = { type: capString(e.name), message: capString(e.message) };
  const code = (e as { code?: unknown }).code;
  if (typeof code === "string" || typeof code === "number") out.code = capString(String(code));
  if (e.cause !== undefined) out.cause = capString(e.cause instanceof Error ? e.cause.message : String(e.cause));
  if (e.stack !== undefined) out.stack = capString(e.stack, MAX_STACK_BYTES);
  return out;
}

function cappedValue(v: unknown): unknown {
  if (typeof v === "string") return capString(v);
  if (v === null || typeof v !== "object") return v;
  if (v instanceof Error) return cappedError(v);
  let json: string | undefined;
  try {
    json = JSON.stringify(v);
  } catch {
    json = undefined;
  }
  if (json === undefined) return capString(String(v));
  return Buffer.byteLength(json) <= MAX_FIELD_BYTES ? v : capString(json);
}

/** Caps every field of a line (pino's `formatters.log`). */
export function capFields(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[capString(k, 64)] = cappedValue(v);
  return out;
}

/** The server's logger; `destination` is for tests (default: standard output). */
export function createLogger(opts: { debug?: boolean } = {}, destination?: DestinationStream): Logger {
  const options = {
    level: opts.debug ? "debug" : "info",
    base: { fn: "function-azure-platform" },
    formatters: { log: capFields },
    // capFields has made the error a few plain fields already; pino's own serializer would add every property back.
    serializers: { err: (e: unknown) => e },
    hooks: {
      logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
        const capped = args.map((a) => (typeof a === "string" ? capString(a) : a));
        // Without a message pino would take the error's, whole.
        const first = args[0];
        const err = first instanceof Error ? first : (first as { err?: unknown } | null)?.err;
        if (err instanceof Error && !capped.some((a) => typeof a === "string")) capped.push(capString(err.message));
        method.apply(this, capped);
      },
    },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
