// The gRPC server in-process: requests it cannot decode are refused, logged and counted, and what a request carries
// never makes a log line long. The server process itself is tested end to end in test/e2e.
import { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { Severity, Target, type RunFunctionRequest, type RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_LINE_BYTES, capString, createLogger } from "./log.ts";
import { runFunctionHandler, startServer, type RefusalReason, type RunningServer } from "./server.ts";
import { fatalResponse } from "./shared/results.ts";
import { RUN_FUNCTION_V1 as V1, RUN_FUNCTION_V1BETA1 as V1BETA1, blobStruct, callRaw, nestedStruct as nested, rawRequest as request } from "../test/support/raw-request.ts";

function capture() {
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      raw.push(...chunk.toString().split("\n").filter((l) => l !== ""));
      done();
    },
  });
  const lines = () => raw.map((l) => JSON.parse(l) as Record<string, unknown>).map(({ time: _t, pid: _p, hostname: _h, fn: _f, ...rest }) => rest);
  return { logger: createLogger({}, sink), raw, lines };
}

describe("requests the server cannot decode", () => {
  const log = capture();
  const refused: RefusalReason[] = [];
  const answered: string[] = [];
  let server: RunningServer;
  let address: string;

  beforeAll(async () => {
    const route = async (req: RunFunctionRequest): Promise<RunFunctionResponse> => fatalResponse(req, "Test", "answered");
    const opts = { address: "127.0.0.1:0", insecure: true, tlsServerCertsDir: "", maxRecvMessageSizeMB: 1 };
    server = await startServer(opts, route, log.logger, (req) => void answered.push(req.meta?.tag ?? ""), (reason) => void refused.push(reason));
    address = `127.0.0.1:${server.port}`;
  });
  afterAll(() => server?.shutdown(1000));

  const peer = expect.stringMatching(/^127\.0\.0\.1:\d+$/);
  const oversized = request("big", blobStruct(1024 * 1024));
  const cases: Record<string, { method: string; body: Buffer; code: grpc.status; details: string; reason: RefusalReason; logged: Record<string, unknown> }> = {
    NotARunFunctionRequest: {
      method: V1,
      body: Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]),
      code: grpc.status.INVALID_ARGUMENT,
      details: "cannot decode the RunFunctionRequest: truncated message: a field runs past the end of its message",
      reason: "malformed",
      logged: { method: V1, error: "truncated message: a field runs past the end of its message", bytes: 6 },
    },
    NestedDeeperThanTheCodecAllows: {
      method: V1BETA1,
      body: request("deep", nested(101)),
      code: grpc.status.INVALID_ARGUMENT,
      details: "cannot decode the RunFunctionRequest: malformed message: a google.protobuf.Struct nests deeper than 100 levels",
      reason: "too_deep",
      logged: { method: V1BETA1, error: "malformed message: a google.protobuf.Struct nests deeper than 100 levels", bytes: request("deep", nested(101)).length },
    },
    LargerThanMaxRecvMessageSize: {
      method: V1,
      body: oversized,
      code: grpc.status.RESOURCE_EXHAUSTED,
      details: `Received message larger than max (${oversized.length} vs 1048576)`,
      reason: "too_large",
      logged: { method: V1, error: `Received message larger than max (${oversized.length} vs 1048576)` },
    },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(`refuses a request that is ${name}, logs one line with the reason and counts it, and stays up`, async () => {
      const [lines, counted] = [log.lines().length, refused.length];
      expect(await callRaw(address, c.body, c.method)).toEqual({ code: c.code, details: c.details });
      expect(log.lines().slice(lines)).toEqual([{ level: 40, reason: c.reason, peer, ...c.logged, msg: "RunFunction request refused" }]);
      expect(refused.slice(counted)).toEqual([c.reason]);
      expect(await callRaw(address, request("after", Buffer.alloc(0)))).toEqual({ code: grpc.status.OK, details: "" });
    });
  }

  it("answers a request nested as deep as the codec allows, and the one just under the size limit; counts no refusal for them", async () => {
    const counted = refused.length;
    const justUnder = request("under", blobStruct(1024 * 1024 - 64));
    expect(justUnder.length).toBeLessThanOrEqual(1024 * 1024);
    expect(await callRaw(address, request("deep-enough", nested(100)))).toEqual({ code: grpc.status.OK, details: "" });
    expect(await callRaw(address, justUnder)).toEqual({ code: grpc.status.OK, details: "" });
    expect(refused.slice(counted)).toEqual([]);
    expect(answered.slice(-2)).toEqual(["deep-enough", "under"]);
  });

  it("never counts a refused request as a call", () => {
    expect(answered.filter((tag) => ["big", "deep"].includes(tag))).toEqual([]);
  });
});

describe("the log line of a call", () => {
  const huge = "x".repeat(1_000_000);
  const req: RunFunctionRequest = {
    meta: { tag: huge, capabilities: [] },
    observed: { composite: { resource: { metadata: { name: huge, namespace: "team-payments" } }, connectionDetails: {}, ready: 0 }, resources: {} },
    desired: undefined,
    input: { apiVersion: "fn.azplatform.io/v1alpha1", kind: { huge } },
    context: undefined,
    extraResources: {},
    credentials: {},
    requiredResources: {},
    requiredSchemas: {},
  };

  it(`stays under ${MAX_LINE_BYTES} bytes for a request of a megabyte per field and an error quoting it`, async () => {
    const log = capture();
    const handle = runFunctionHandler(
      async () => {
        throw Object.assign(new Error(`cannot parse ${huge}`), { request: { body: huge } });
      },
      log.logger,
    );
    const rsp = await handle(req);
    expect(rsp.results).toEqual([{ severity: Severity.SEVERITY_FATAL, reason: "InternalError", message: `internal error in the function: cannot parse ${huge}`, target: Target.TARGET_COMPOSITE }]);
    const xr = capString(`team-payments/${huge}`);
    const fields = { tag: capString(huge), kind: capString(JSON.stringify({ huge })), xr };
    expect(log.lines()).toEqual([
      { level: 50, ...fields, err: { type: "Error", message: capString(`cannot parse ${huge}`), stack: expect.stringMatching(/^Error: cannot parse x+…\[\d+ more characters\]$/) }, msg: "RunFunction failed" },
      { level: 30, ...fields, fatal: 1, warning: 0, ms: expect.any(Number), msg: "RunFunction" },
    ]);
    for (const line of log.raw) expect(Buffer.byteLength(line)).toBeLessThan(MAX_LINE_BYTES);
  });
});

describe("a call Crossplane gives up on", () => {
  it("aborts the handler's work in flight (through the interceptor that sees oversized requests)", async () => {
    let aborted: (reason: unknown) => void = () => undefined;
    const abortSeen = new Promise((resolve) => (aborted = resolve));
    const route = (req: RunFunctionRequest, signal?: AbortSignal): Promise<RunFunctionResponse> =>
      new Promise((resolve) => {
        signal?.addEventListener("abort", () => {
          aborted(req.meta?.tag);
          resolve(fatalResponse(req, "Test", "too late"));
        });
      });
    const log = capture();
    const server = await startServer({ address: "127.0.0.1:0", insecure: true, tlsServerCertsDir: "", maxRecvMessageSizeMB: 1 }, route, log.logger);
    const Client = grpc.makeGenericClientConstructor({}, "Raw");
    const client = new Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    const code = await new Promise<grpc.status | undefined>((resolve) => {
      client.makeUnaryRequest(V1, (b: Buffer) => b, (b: Buffer) => b, request("hang", Buffer.alloc(0)), { deadline: Date.now() + 300 }, (e) => resolve(e?.code));
    });
    client.close();
    expect([code, await abortSeen]).toEqual([grpc.status.DEADLINE_EXCEEDED, "hang"]);
    await server.shutdown(1000);
  });
});
