// The hand-written codec against two independent implementations of run_function.proto: the SDK's generated code
// (whose types the handlers use) and protobufjs loading the upstream .proto (what the e2e client speaks).
import { describe, expect, it } from "vitest";
import {
  Ready,
  RunFunctionRequest as SdkRequest,
  RunFunctionResponse as SdkResponse,
  Severity,
  Status,
  Target,
  type RunFunctionRequest,
  type RunFunctionResponse,
} from "@crossplane-org/function-sdk-typescript";
import { scenarios } from "../bench/requests.ts";
import {
  decodeResponse,
  encodeRequest,
  loadRunFunctionPackage,
  RUN_FUNCTION_SERVICE,
  type PlainRequest,
} from "../test/support/proto-client.ts";
import { route } from "./router.ts";
import { fatalResponse } from "./shared/results.ts";
import { WireError, Writer } from "./shared/protowire.ts";
import { decodeRunFunctionRequest, encodeRunFunctionResponse, MAX_JSON_DEPTH, responseWriterForTest } from "./wire.ts";

const sdkRequestBytes = (req: Partial<RunFunctionRequest>) => Buffer.from(SdkRequest.encode(SdkRequest.fromPartial(req)).finish());
const sdkResponseBytes = (rsp: RunFunctionResponse) => Buffer.from(SdkResponse.encode(rsp).finish());
const method = () => {
  const def = loadRunFunctionPackage()[RUN_FUNCTION_SERVICE] as unknown as Record<string, { requestSerialize(v: unknown): Buffer; responseDeserialize(b: Buffer): unknown }>;
  const m = def.RunFunction;
  if (m === undefined) throw new Error("RunFunction missing from the upstream proto");
  return m;
};

/** Deterministic pseudo-random numbers (mulberry32), so a failing case can be found again. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const KEYS = ["", "a", "apiVersion", "metadata", "ключ", "名前", "emoji😀", "k".repeat(40), "k".repeat(41), "x-y.z/w"];
const STRINGS = ["", "v1", "é", "€", "😀", "\u0000", "a".repeat(42), "a".repeat(43), "€".repeat(42), "€".repeat(43), "😀".repeat(32), "é".repeat(64), "b".repeat(300)];
function randomJson(rand: () => number, depth: number): unknown {
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)] as T;
  const r = rand();
  if (depth <= 0 || r < 0.45) {
    return pick<unknown>([null, true, false, 0, -1, 1.5, -0.25, 1e300, Number.MAX_SAFE_INTEGER, pick(STRINGS), String(rand())]);
  }
  if (r < 0.7) return Array.from({ length: Math.floor(rand() * 4) }, () => randomJson(rand, depth - 1));
  const obj: Record<string, unknown> = {};
  for (let i = Math.floor(rand() * 5); i > 0; i--) obj[pick(KEYS) + (rand() < 0.5 ? "" : String(i))] = randomJson(rand, depth - 1);
  return obj;
}

/** Values where the codec's byte handling has edges: string lengths around 1-, 2- and 3-byte length prefixes. */
const EDGE_JSON = {
  strings: STRINGS,
  lengths: [0, 1, 41, 42, 43, 125, 126, 127, 128, 129, 16_381, 16_382, 16_383, 16_384, 16_385, 70_000].map((n) => "s".repeat(n)),
  numbers: [0, -1, 1, 1.5, -2.5e-300, 1e300, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 0.1 + 0.2],
  bools: [true, false],
  nulls: [null, null],
  nested: [[[]], [{}], {}, { "": { "": [] } }],
  "ключ 😀": "unicode key",
  "": "empty key",
  lone: "\ud800 and \udc00 alone",
};
/** Objects and arrays nested `levels` deep in all, an object outermost. */
function deep(levels: number): Record<string, unknown> {
  let v: unknown = levels % 2 === 0 ? [true] : { leaf: true };
  for (let i = levels - 1; i > 0; i--) v = i % 2 === 0 ? [v] : { d: v };
  return v as Record<string, unknown>;
}
/** A tag's bytes (field numbers above 15 take more than one). */
const tag = (field: number, wire: number) => {
  const out: number[] = [];
  let n = field * 8 + wire;
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
};

const everyRequestField: Partial<RunFunctionRequest> = {
  meta: { tag: "tag-1", capabilities: [1, 2, 3, 4, 5] },
  observed: {
    composite: { resource: { apiVersion: "x/v1", kind: "XR", metadata: { name: "n" } }, connectionDetails: { password: Buffer.from("p@ss"), empty: Buffer.alloc(0) }, ready: Ready.READY_TRUE },
    resources: { a: { resource: { kind: "A" }, connectionDetails: {}, ready: Ready.READY_FALSE }, "": { resource: {}, connectionDetails: {}, ready: 0 } },
  },
  desired: { composite: { resource: { status: { x: 1 } }, connectionDetails: {}, ready: 0 }, resources: {} },
  input: { apiVersion: "azplatform.io/v1alpha1", kind: "DatabasePolicy", edge: EDGE_JSON },
  context: { "apiextensions.crossplane.io/environment": { region: "westeurope" } },
  extraResources: { old: { items: [{ resource: { kind: "Old" }, connectionDetails: {}, ready: 0 }] } },
  credentials: { azure: { credentialData: { data: { clientId: Buffer.from("c"), "": Buffer.from([0, 255]) } } }, none: { credentialData: undefined } },
  requiredResources: { secrets: { items: [{ resource: { kind: "Secret" }, connectionDetails: {}, ready: 0 }, { resource: { kind: "Secret", n: 2 }, connectionDetails: {}, ready: 0 }] }, empty: { items: [] } },
  requiredSchemas: { db: { openapiV3: { type: "object", properties: { spec: { type: "object" } } } }, none: { openapiV3: undefined } },
};

describe("decodeRunFunctionRequest", () => {
  const rand = prng(20261124);
  const cases: [string, Partial<RunFunctionRequest>][] = [
    ["the benchmark's Database request (XR and 7 observed resources)", SdkRequest.fromPartial(SdkRequest.decode(method().requestSerialize(encodeRequest(scenarios.database as PlainRequest))))],
    ["the benchmark's idle SecretRotation request (with credentials)", SdkRequest.decode(method().requestSerialize(encodeRequest(scenarios.rotation_idle as PlainRequest)))],
    ["every field of the message", everyRequestField],
    ["an empty request", {}],
    ...Array.from({ length: 200 }, (_, i): [string, Partial<RunFunctionRequest>] => [
      `random JSON ${i}`,
      { input: { v: randomJson(rand, 5) } as Record<string, unknown>, observed: { composite: { resource: { r: randomJson(rand, 4) }, connectionDetails: {}, ready: 0 }, resources: {} } },
    ]),
  ];
  it.each(cases)("%s: what the SDK encodes decodes to exactly what the SDK decodes", (_name, req) => {
    const bytes = sdkRequestBytes(req);
    expect(decodeRunFunctionRequest(bytes)).toStrictEqual(SdkRequest.decode(bytes));
  });

  it.each(Object.entries(scenarios))("%s: what protobufjs encodes from the upstream proto decodes as the SDK decodes it", (_name, plain) => {
    const bytes = method().requestSerialize(encodeRequest(plain));
    expect(decodeRunFunctionRequest(bytes)).toStrictEqual(SdkRequest.decode(bytes));
  });

  it("decodes JSON nested 100 levels deep, the most it allows (the SDK's decoder stops at about 33)", () => {
    const bytes = sdkRequestBytes({ input: deep(MAX_JSON_DEPTH) });
    expect(decodeRunFunctionRequest(bytes).input).toStrictEqual(deep(MAX_JSON_DEPTH));
    expect(() => SdkRequest.decode(bytes)).toThrow("recursion limit");
  });

  it("skips unknown fields of every wire type, at the top and inside a Struct", () => {
    const plain = sdkRequestBytes({ input: { a: "b" } });
    const unknown = Buffer.from([
      ...tag(90, 0), 0x96, 0x01, // varint
      ...tag(91, 1), 1, 2, 3, 4, 5, 6, 7, 8, // fixed64
      ...tag(92, 2), 2, 0x61, 0x62, // bytes
      ...tag(93, 5), 1, 2, 3, 4, // fixed32
      ...tag(94, 3), ...tag(1, 0), 7, ...tag(94, 4), // a group holding a varint
    ]);
    // Inside the input Struct (field 4): the same unknown fields after its one entry.
    const struct = plain.subarray(2);
    const inner = Buffer.concat([Buffer.from([(4 << 3) | 2, struct.length + unknown.length]), struct, unknown]);
    expect(decodeRunFunctionRequest(Buffer.concat([unknown, plain, unknown]))).toStrictEqual(SdkRequest.decode(plain));
    expect(decodeRunFunctionRequest(inner)).toStrictEqual(SdkRequest.decode(plain));
  });

  it("decodes invalid UTF-8 in a string as the SDK does (U+FFFD for each bad sequence)", () => {
    for (const bad of [[0x61, 0x80], [0xc3], [0xff, 0x61], [0xed, 0xa0, 0x80], Array<number>(40).fill(0x80)]) {
      const value = [0x1a, bad.length, ...bad]; // Value { string_value }
      const entry = [0x0a, 0x01, 0x6b, 0x12, value.length, ...value]; // FieldsEntry { key: "k", value }
      const bytes = Buffer.from([0x22, entry.length + 2, 0x0a, entry.length, ...entry]); // input: Struct { fields }
      expect(decodeRunFunctionRequest(bytes)).toStrictEqual(SdkRequest.decode(bytes));
    }
    // Keys: "é" (C3 A9) and then the lone byte E9 (invalid alone), which must not come back as "é".
    const field = (key: number[]) => [0x0a, key.length + 4 + 2, 0x0a, key.length, ...key, 0x12, 0x02, 0x20, 0x01];
    const struct = [...field([0xc3, 0xa9]), ...field([0xe9])];
    const keys = Buffer.from([0x22, struct.length, ...struct]);
    expect(decodeRunFunctionRequest(keys)).toStrictEqual(SdkRequest.decode(keys));
    expect(Object.keys(decodeRunFunctionRequest(keys).input ?? {})).toEqual(["é", "\ufffd"]);
  });

  it("decodes 20,000 distinct keys right twice over (more keys than the key table has slots, so many share one)", () => {
    const input = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i.toString(36)}${i % 7 === 0 ? "-x" : ""}`, i]));
    const bytes = sdkRequestBytes({ input });
    expect(decodeRunFunctionRequest(bytes).input).toStrictEqual(input);
    expect(decodeRunFunctionRequest(bytes).input).toStrictEqual(input);
  });

  it("reads enums sent unpacked and bools sent as long varints as the SDK does", () => {
    const meta = [0x10, 0x01, 0x10, 0x04, 0x12, 0x02, 0x02, 0x03]; // capabilities 1 and 4 unpacked, then 2 and 3 packed
    const bool = [0x0a, 0x0a, 0x0a, 0x01, 0x62, 0x12, 0x05, 0x20, 0x80, 0x80, 0x80, 0x10]; // b: true as 2^32 (low 32 bits 0)
    const bytes = Buffer.from([0x0a, meta.length, ...meta, 0x22, bool.length, ...bool]);
    expect(decodeRunFunctionRequest(bytes)).toStrictEqual(SdkRequest.decode(bytes));
    expect({ capabilities: decodeRunFunctionRequest(bytes).meta?.capabilities, input: decodeRunFunctionRequest(bytes).input }).toEqual({ capabilities: [1, 4, 2, 3], input: { b: true } });
  });

  it("keeps a Struct key named __proto__ as a key (the SDK makes it the object's prototype)", () => {
    const input = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>;
    // The SDK's encoder loses the key too, so the bytes come from ours: a response's context and a request's input
    // are both field 4, a Struct.
    const bytes = encodeRunFunctionResponse({ meta: undefined, desired: undefined, results: [], context: input, requirements: undefined, conditions: [], output: undefined });
    expect(bytes.includes("__proto__")).toBe(true);
    const decoded = decodeRunFunctionRequest(bytes);
    expect(Object.getPrototypeOf(decoded.input)).toBe(Object.prototype);
    expect(Object.keys(decoded.input ?? {})).toEqual(["__proto__", "a"]);
    expect(JSON.stringify(decoded.input)).toBe('{"__proto__":{"polluted":true},"a":1}');
  });

  const malformed: [string, Buffer, string][] = [
    ["a varint cut short", Buffer.from([0x0a]), "truncated message: a varint runs past the end"],
    ["a length past the end", Buffer.from([0x0a, 0x05, 0x0a]), "truncated message: a field runs past the end of its message"],
    ["a varint longer than 10 bytes", Buffer.from([0x08, ...Array<number>(11).fill(0xff), 0x01]), "malformed message: a varint is longer than 10 bytes"],
    ["wire type 7", Buffer.from([(5 << 3) | 7]), "malformed message: wire type 7 of field 5 is not valid here"],
    ["an end-group with no start", Buffer.from([(5 << 3) | 4]), "malformed message: wire type 4 of field 5 is not valid here"],
    ["a group ended by another field", Buffer.from([...tag(94, 3), ...tag(95, 4)]), "malformed message: a group ends with another field's number"],
    ["a group with no end", Buffer.from([...tag(94, 3), 0x08, 0x01]), "truncated message: a group has no end"],
    ["a double cut short", Buffer.from([0x22, 0x07, 0x0a, 0x05, 0x12, 0x03, 0x11, 0x00, 0x00]), "truncated message: a double runs past the end"],
    ["JSON nested one level too deep", sdkRequestBytes({ input: deep(MAX_JSON_DEPTH + 1) }), `nests deeper than ${MAX_JSON_DEPTH} levels`],
    ["a varint that runs past the end of its message", Buffer.from([0x22, 0x07, 0x0a, 0x03, 0x12, 0x01, 0x20, 0x0a, 0x00]), "malformed message: a field runs past the end of its message"],
    ["field number 0", Buffer.from([0x00, 0x00]), "malformed message: field number 0 is not valid"],
    ["groups nested 101 deep", Buffer.from(Array.from({ length: 101 }, () => tag(94, 3)).flat()), "malformed message: groups nest deeper than 100 levels"],
  ];
  it.each(malformed)("%s: refused with a WireError that says what is wrong", (_name, bytes, message) => {
    expect(() => decodeRunFunctionRequest(bytes)).toThrow(WireError);
    expect(() => decodeRunFunctionRequest(bytes)).toThrow(message);
  });

  it("every prefix of a real request either decodes or is refused with a WireError (never another error)", () => {
    const bytes = method().requestSerialize(encodeRequest(scenarios.rotation_idle as PlainRequest));
    const outcomes = { decoded: 0, refused: 0 };
    for (let n = 0; n < bytes.length; n++) {
      try {
        decodeRunFunctionRequest(bytes.subarray(0, n));
        outcomes.decoded++;
      } catch (e) {
        expect(e).toBeInstanceOf(WireError);
        outcomes.refused++;
      }
    }
    expect(outcomes.refused).toBeGreaterThan(bytes.length / 2);
  });
});

describe("encodeRunFunctionResponse", () => {
  const rand = prng(424242);
  const everyResponseField: RunFunctionResponse = {
    meta: { tag: "tag-1", ttl: { seconds: 90, nanos: 5 } },
    desired: {
      composite: { resource: { status: { edge: EDGE_JSON } }, connectionDetails: { url: Buffer.from("postgres://h"), empty: Buffer.alloc(0) }, ready: Ready.READY_TRUE },
      resources: { server: { resource: { kind: "FlexibleServer" }, connectionDetails: {}, ready: Ready.READY_FALSE }, "": { resource: undefined, connectionDetails: {}, ready: 0 } },
    },
    results: [
      { severity: Severity.SEVERITY_FATAL, message: "m", reason: "R", target: Target.TARGET_COMPOSITE_AND_CLAIM },
      { severity: Severity.SEVERITY_NORMAL, message: "", reason: undefined, target: undefined },
      { severity: 0, message: "ünïcode 😀", reason: "", target: 0 },
    ],
    context: { k: ["v", 1, null] },
    requirements: {
      extraResources: { old: { apiVersion: "v1", kind: "ConfigMap", matchName: "cm", namespace: undefined } },
      resources: {
        byName: { apiVersion: "v1", kind: "Secret", matchName: "s", namespace: "ns" },
        byLabels: { apiVersion: "apps/v1", kind: "Deployment", matchLabels: { labels: { app: "a", empty: "", "": "x" } }, namespace: "ns" },
        bare: { apiVersion: "", kind: "" },
      },
      schemas: { db: { apiVersion: "azplatform.io/v1alpha1", kind: "Database" }, empty: { apiVersion: "", kind: "" } },
    },
    conditions: [
      { type: "Ready", status: Status.STATUS_CONDITION_TRUE, reason: "Available", message: "ok", target: Target.TARGET_COMPOSITE },
      { type: "", status: 0, reason: "", message: undefined, target: undefined },
    ],
    output: { summary: { n: 3 } },
  };
  const empty: RunFunctionResponse = { meta: undefined, desired: undefined, results: [], context: undefined, requirements: undefined, conditions: [], output: undefined };

  const fromHandlers = async () => {
    const out: [string, RunFunctionResponse][] = [];
    for (const [name, plain] of Object.entries(scenarios)) {
      const req = decodeRunFunctionRequest(method().requestSerialize(encodeRequest(plain)));
      out.push([`the ${name} handler's response`, await route(req)]);
      out.push([`a Fatal response to the ${name} request`, fatalResponse(req, "Reason", "message")]);
    }
    return out;
  };

  it("writes byte for byte what the SDK writes", async () => {
    const cases: [string, RunFunctionResponse][] = [
      ...(await fromHandlers()),
      ["every field of the message", everyResponseField],
      ["an empty response", empty],
      ["a negative TTL and enum (ten-byte varints)", { ...empty, meta: { tag: "", ttl: { seconds: -5, nanos: -1 } }, results: [{ severity: -1, message: "m" }] }],
      ["a 3 MB resource (the writer grows)", { ...empty, desired: { composite: { resource: { big: "x".repeat(3_000_000), list: Array.from({ length: 20_000 }, (_, i) => ({ i })) }, connectionDetails: {}, ready: 0 }, resources: {} } }],
      ["a small one after it", { ...empty, meta: { tag: "after", ttl: { seconds: 60, nanos: 0 } } }],
      ["JSON nested 100 levels deep", { ...empty, context: deep(MAX_JSON_DEPTH) }],
      ...Array.from({ length: 200 }, (_, i): [string, RunFunctionResponse] => [`random JSON ${i}`, { ...empty, context: { v: randomJson(rand, 5) } as Record<string, unknown> }]),
    ];
    for (const [name, rsp] of cases) expect(encodeRunFunctionResponse(rsp), name).toEqual(sdkResponseBytes(rsp));
  });

  it("writes what protobufjs, from the upstream proto, reads back as the same response", () => {
    const bytes = encodeRunFunctionResponse(everyResponseField);
    const plain = decodeResponse(method().responseDeserialize(bytes));
    expect(plain.meta).toEqual({ tag: "tag-1", ttl: { seconds: 90, nanos: 5 } });
    // A lone surrogate cannot be UTF-8: it is written as U+FFFD, as TextEncoder and the SDK write it.
    expect(plain.desired?.composite?.resource).toEqual({ status: { edge: { ...EDGE_JSON, lone: "\ufffd and \ufffd alone" } } });
    expect(plain.requirements?.resources?.byLabels).toEqual({ apiVersion: "apps/v1", kind: "Deployment", matchLabels: { labels: { app: "a", empty: "", "": "x" } }, namespace: "ns" });
    expect(plain.conditions?.map((c) => c.status)).toEqual(["STATUS_CONDITION_TRUE", undefined]); // proto3 leaves 0 out
  });

  it("hands out a buffer of its own: a later call does not change an earlier one's bytes", () => {
    const first = encodeRunFunctionResponse({ ...empty, meta: { tag: "first", ttl: undefined } });
    const copy = Buffer.from(first);
    encodeRunFunctionResponse({ ...empty, meta: { tag: "second", ttl: undefined } });
    expect(first).toEqual(copy);
  });

  it("writes undefined in an array as null (the SDK writes a Value with no kind)", () => {
    const rsp = { ...empty, context: { list: [1, undefined, "x"] } };
    expect(SdkResponse.decode(encodeRunFunctionResponse(rsp)).context).toEqual({ list: [1, null, "x"] });
  });

  // The SDK refuses the int32s too; a TTL past 2^53 s it writes rounded, which no TTL needs.
  const badNumbers: [string, RunFunctionResponse, string, boolean][] = [
    ["a severity that is not a whole number", { ...empty, results: [{ severity: 1.5 as Severity, message: "m" }] }, "cannot encode 1.5 as an int32", true],
    ["a condition status beyond int32", { ...empty, conditions: [{ type: "T", status: (2 ** 31) as Status, reason: "R" }] }, `cannot encode ${2 ** 31} as an int32`, true],
    ["a TTL beyond 2^53 seconds", { ...empty, meta: { tag: "", ttl: { seconds: 2 ** 60, nanos: 0 } } }, `cannot encode ${2 ** 60} as an int64`, false],
  ];
  it.each(badNumbers)("refuses %s with a WireError", (_name, rsp, message, sdkRefuses) => {
    expect(() => encodeRunFunctionResponse(rsp)).toThrow(WireError);
    expect(() => encodeRunFunctionResponse(rsp)).toThrow(message);
    if (sdkRefuses) expect(() => sdkResponseBytes(rsp)).toThrow();
    else expect(() => sdkResponseBytes(rsp)).not.toThrow();
  });

  it("leaves nothing of a response in its reused buffer, after a call that succeeded and after one that threw", () => {
    const secret = "s3cret-Value-that-must-go";
    const withSecret = (extra: unknown) => ({ ...empty, desired: { composite: undefined, resources: { s: { resource: { kind: "Secret", stringData: { password: secret, extra } }, connectionDetails: { password: Buffer.from(secret) }, ready: 0 } } } });
    expect(encodeRunFunctionResponse(withSecret("ok")).includes(secret)).toBe(true);
    expect(responseWriterForTest.buf.includes(secret)).toBe(false);
    expect(() => encodeRunFunctionResponse(withSecret(() => 0))).toThrow(WireError);
    expect(responseWriterForTest.buf.includes(secret)).toBe(false);
    expect(responseWriterForTest.pos).toBe(0);
  });

  const unencodable: [string, unknown, string][] = [
    ["a function", () => 1, "cannot encode a function as a google.protobuf.Value"],
    ["a bigint", 10n, "cannot encode a bigint as a google.protobuf.Value"],
    ["a symbol", Symbol("s"), "cannot encode a symbol as a google.protobuf.Value"],
  ];
  it.each(unencodable)("refuses %s in a Struct with a WireError naming its type, and the next call is unaffected", (_name, value, message) => {
    expect(() => encodeRunFunctionResponse({ ...empty, context: { bad: { deep: [value] } } })).toThrow(new WireError(message));
    const ok = { ...empty, meta: { tag: "next", ttl: undefined } };
    expect(encodeRunFunctionResponse(ok)).toEqual(sdkResponseBytes(ok));
  });
});

describe("Writer", () => {
  it("moves a field's contents when its length needs a second byte, growing the buffer if it is full", () => {
    const w = new Writer(256);
    const at = w.fork();
    w.bytes(new Uint8Array(253).fill(7)); // a 2-byte length and 253 bytes: the buffer is exactly full
    expect(w.pos).toBe(256);
    w.join(at); // 255 bytes of contents: a 2-byte length, so the contents move one byte on, past the end
    expect(w.finish()).toEqual(Buffer.from([0xff, 0x01, 0xfd, 0x01, ...Array<number>(253).fill(7)]));
  });

  it("zeroes what it wrote on clear, and starts small again after growing past 1 MB", () => {
    const w = new Writer(64);
    w.string("x".repeat(2_000_000));
    const [grown, written] = [w.buf, w.pos];
    expect({ written, grown: grown.length > 1024 * 1024 }).toEqual({ written: 2_000_003, grown: true });
    w.clear();
    expect({ pos: w.pos, size: w.buf.length, zeroed: grown.subarray(0, written).every((b) => b === 0) }).toEqual({ pos: 0, size: 64, zeroed: true });
    w.string("small");
    const [small, smallWritten] = [w.buf, w.pos];
    w.clear();
    // Only what was written: a small buffer comes from Node's shared pool, and the bytes past it are not ours.
    expect({ smallWritten, zeroed: small.subarray(0, smallWritten).every((b) => b === 0) }).toEqual({ smallWritten: 6, zeroed: true });
  });
});
