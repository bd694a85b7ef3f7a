import { describe, expect, it } from "vitest";
import { z } from "zod";
import { cachedSafeParse } from "./input-cache.ts";

function counted() {
  let calls = 0;
  const schema = z.object({ sizes: z.array(z.string()), note: z.string().default("n"), ha: z.object({ allowed: z.array(z.string()).default([]) }).default({ allowed: [] }) }).transform((v) => {
    calls++;
    return v;
  });
  return { schema, calls: () => calls };
}

describe("cachedSafeParse", () => {
  it("validates each distinct input once and hands back the same frozen result", () => {
    const { schema, calls } = counted();
    const parse = cachedSafeParse(schema);
    const a = parse({ sizes: ["small"] });
    const again = parse(JSON.parse('{"sizes":["small"]}'));
    const other = parse({ sizes: ["large"] });
    expect({ calls: calls(), same: a === again, a: a.data, other: other.data }).toEqual({
      calls: 2,
      same: true,
      a: { sizes: ["small"], note: "n", ha: { allowed: [] } },
      other: { sizes: ["large"], note: "n", ha: { allowed: [] } },
    });
    expect(() => a.data?.sizes.push("x")).toThrow(TypeError);
    expect(() => Object.assign(a.data ?? {}, { note: "changed" })).toThrow(TypeError);
    expect(() => a.data?.ha.allowed.push("x")).toThrow(TypeError);
    // zod hands out its default values by reference: they are not frozen with the kept copy.
    expect(Object.isFrozen(schema.parse({ sizes: [] }).ha.allowed)).toBe(false);
  });

  it("does not keep refusals: each call gets its own error", () => {
    const { schema } = counted();
    const parse = cachedSafeParse(schema);
    const first = parse({ sizes: "small" });
    const second = parse({ sizes: "small" });
    expect(first.success || second.success).toBe(false);
    expect(first.error).not.toBe(second.error);
    expect(first.error?.issues.map((i) => i.path.join("."))).toEqual(["sizes"]);
  });

  it("keeps at most max inputs, dropping the oldest", () => {
    const { schema, calls } = counted();
    const parse = cachedSafeParse(schema, 2);
    for (const s of ["a", "b", "c", "b", "a"]) parse({ sizes: [s] });
    // a, b, c parsed; c evicts a; b is still kept; a is parsed again.
    expect(calls()).toBe(4);
  });
});
