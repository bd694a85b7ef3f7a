import { describe, expect, it } from "vitest";
import { z } from "zod";
import { RunFunctionRequest } from "@crossplane-org/function-sdk-typescript";
import { decodeRunFunctionRequest } from "../wire.ts";
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

  it("keys an input the server decoded by its bytes: the same bytes parse once, other bytes of the same JSON again", () => {
    const { schema, calls } = counted();
    const parse = cachedSafeParse(schema);
    const bytesOf = (input: Record<string, unknown>) => Buffer.from(RunFunctionRequest.encode(RunFunctionRequest.fromPartial({ input })).finish());
    const decoded = (b: Buffer) => decodeRunFunctionRequest(b).input;
    const small = bytesOf({ sizes: ["small"], note: "x" });
    const first = parse(decoded(small));
    const second = parse(decoded(small));
    // The same JSON with its keys the other way round: other bytes, so parsed again, to an equal policy.
    const reordered = parse(decoded(bytesOf({ note: "x", sizes: ["small"] })));
    // A plain object of that JSON (the CLI's in-process calls) is keyed by its JSON, apart from decoded ones.
    const plain = parse({ sizes: ["small"], note: "x" });
    expect({ calls: calls(), same: first === second, reordered: reordered.data, plainParsedAgain: plain !== first }).toEqual({
      calls: 3,
      same: true,
      reordered: first.data,
      plainParsedAgain: true,
    });
  });

  it("keeps at most max inputs, dropping the oldest", () => {
    const { schema, calls } = counted();
    const parse = cachedSafeParse(schema, 2);
    for (const s of ["a", "b", "c", "b", "a"]) parse({ sizes: [s] });
    // a, b, c parsed; c evicts a; b is still kept; a is parsed again.
    expect(calls()).toBe(4);
  });
});
