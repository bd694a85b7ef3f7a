import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { MAX_FIELD_BYTES, MAX_LINE_BYTES, MAX_STACK_BYTES, capFields, capString, createLogger } from "./log.ts";

const jsonBytes = (s: string) => Buffer.byteLength(JSON.stringify(s));

/** A logger writing into an array of parsed lines, and the raw lines. */
function capture(debug = false) {
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      raw.push(...chunk.toString().split("\n").filter((l) => l !== ""));
      done();
    },
  });
  const logger = createLogger({ debug }, sink);
  const lines = () => raw.map((l) => JSON.parse(l) as Record<string, unknown>).map(({ time: _t, pid: _p, hostname: _h, ...rest }) => rest);
  return { logger, raw, lines };
}

describe("capString", () => {
  const cases: Record<string, { s: string; max: number; want: string }> = {
    KeepsAStringThatFits: { s: "team-payments/orders", max: 512, want: "team-payments/orders" },
    KeepsAStringOfExactlyTheBound: { s: "x".repeat(30), max: 32, want: "x".repeat(30) },
    CutsALongStringAndSaysHowMuch: { s: "x".repeat(100), max: 40, want: `${"x".repeat(15)}…[85 more characters]` },
    CountsEscapes: { s: "\u0001".repeat(100), max: 64, want: `${"\u0001".repeat(6)}…[94 more characters]` },
    CountsMultiByteCharacters: { s: "é".repeat(100), max: 64, want: `${"é".repeat(19)}…[81 more characters]` },
    NeverSplitsASurrogatePair: { s: "😀".repeat(50), max: 48, want: `${"😀".repeat(5)}…[90 more characters]` },
  };
  for (const [name, { s, max, want }] of Object.entries(cases)) {
    it(name, () => {
      const got = capString(s, max);
      expect(got).toBe(want);
      expect(jsonBytes(got)).toBeLessThanOrEqual(max);
    });
  }

  it("takes the longest prefix that fits", () => {
    const got = capString("x".repeat(100), 40);
    expect(jsonBytes(`${"x".repeat(16)}…[84 more characters]`)).toBeGreaterThan(40);
    expect(jsonBytes(got)).toBe(40);
  });
});

describe("capFields", () => {
  it("caps strings, keeps numbers and small objects, turns a large object into its capped JSON, an error into a few capped fields", () => {
    const err = Object.assign(new Error("y".repeat(5000)), { code: "ECONNREFUSED", response: { body: "z".repeat(10_000) } });
    err.stack = `Error: ${"y".repeat(5000)}\n    at here (server.ts:1:1)`;
    const got = capFields({ tag: "t".repeat(600), n: 3, ok: true, none: null, small: { a: 1 }, big: { a: "b".repeat(600) }, err });
    expect(got).toEqual({
      tag: `${"t".repeat(486)}…[114 more characters]`,
      n: 3,
      ok: true,
      none: null,
      small: { a: 1 },
      big: capString(JSON.stringify({ a: "b".repeat(600) })),
      err: { type: "Error", message: capString("y".repeat(5000)), code: "ECONNREFUSED", stack: capString(err.stack, MAX_STACK_BYTES) },
    });
  });

  it("logs a thrown value that is no Error as its capped text", () => {
    expect(capFields({ err: "x".repeat(1000) })).toEqual({ err: capString("x".repeat(1000)) });
    expect(capFields({ err: 42 })).toEqual({ err: 42 });
  });
});

describe("createLogger", () => {
  it(`keeps a line under ${MAX_LINE_BYTES} bytes whatever its fields and message carry`, () => {
    const { logger, raw, lines } = capture();
    const huge = "n".repeat(1_000_000);
    const err = Object.assign(new Error(huge), { config: { headers: { authorization: "Bearer not-logged" } } });
    logger.error({ tag: huge, kind: { nested: huge }, xr: `team-payments/${huge}`, err }, huge);
    logger.error(err);
    expect(raw).toHaveLength(2);
    for (const line of raw) expect(Buffer.byteLength(line)).toBeLessThan(MAX_LINE_BYTES);
    const capped = capString(huge);
    expect(lines()).toEqual([
      {
        level: 50,
        fn: "function-azure-platform",
        tag: capped,
        kind: capString(JSON.stringify({ nested: huge })),
        xr: capString(`team-payments/${huge}`),
        err: { type: "Error", message: capped, stack: expect.stringMatching(/^Error: n+…\[\d+ more characters\]$/) },
        msg: capped,
      },
      { level: 50, fn: "function-azure-platform", err: { type: "Error", message: capped, stack: expect.any(String) }, msg: capped },
    ]);
    expect(raw.join("\n")).not.toContain("not-logged");
    expect(jsonBytes(capped)).toBe(MAX_FIELD_BYTES);
  });

  it("logs at info unless asked for debug", () => {
    const info = capture();
    info.logger.debug("hidden");
    info.logger.info({ port: 1 }, "shown");
    const debug = capture(true);
    debug.logger.debug("shown");
    expect([info.lines(), debug.lines()]).toEqual([
      [{ level: 30, fn: "function-azure-platform", port: 1, msg: "shown" }],
      [{ level: 20, fn: "function-azure-platform", msg: "shown" }],
    ]);
  });
});
