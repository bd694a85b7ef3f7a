// The health service against a client built from grpc-health-check's health.proto (the upstream definition), over
// a real gRPC connection: what Kubernetes probes and grpc_health_probe see.
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEALTH_SERVICE, loadHealthPackage, serviceConstructor } from "../test/support/proto-client.ts";
import { decodeCheckRequest, encodeCheckResponse, encodeListResponse, Health, MAX_WATCHES } from "./health.ts";

const Ctor = serviceConstructor(loadHealthPackage(), HEALTH_SERVICE);
let server: grpc.Server;
let health: Health;
let client: grpc.Client & Record<string, (...args: unknown[]) => unknown>;

beforeAll(async () => {
  server = new grpc.Server();
  health = new Health({ "": "NOT_SERVING", "fn.Other": "SERVING" });
  health.addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as typeof client;
});
afterAll(() => {
  client.close();
  server.forceShutdown();
});

const check = (service: string) =>
  new Promise<{ status?: string } | { code: number; details: string }>((resolve) => {
    (client.check as (r: object, cb: (e: grpc.ServiceError | null, r: { status?: string }) => void) => void)({ service }, (e, r) =>
      resolve(e ? { code: e.code, details: e.details } : r),
    );
  });

describe("grpc.health.v1.Health", () => {
  it("Check answers each service's status and NOT_FOUND, naming it, for a service it does not know", async () => {
    expect(await check("")).toEqual({ status: "NOT_SERVING" });
    health.setStatus("", "SERVING");
    expect(await check("")).toEqual({ status: "SERVING" });
    expect(await check("fn.Other")).toEqual({ status: "SERVING" });
    expect(await check("nope")).toEqual({ code: grpc.status.NOT_FOUND, details: 'no health status for service "nope"' });
  });

  it("Watch sends the current status at once, then each change once, SERVICE_UNKNOWN for a name not known yet; endWatches ends the stream", async () => {
    const seen: Record<string, string[]> = { "": [], later: [] };
    const ended: Promise<void>[] = [];
    for (const service of ["", "later"]) {
      const call = (client.watch as (r: object) => grpc.ClientReadableStream<{ status?: string }>)({ service });
      call.on("data", (m: { status?: string }) => seen[service]?.push(m.status ?? "UNKNOWN"));
      call.on("error", () => undefined);
      ended.push(new Promise((resolve) => call.on("end", () => resolve())));
    }
    await expect.poll(() => seen).toEqual({ "": ["SERVING"], later: ["SERVICE_UNKNOWN"] });
    health.setStatus("", "SERVING"); // no change: not sent again
    health.setStatus("later", "SERVING");
    health.setStatus("", "NOT_SERVING");
    await expect.poll(() => seen).toEqual({ "": ["SERVING", "NOT_SERVING"], later: ["SERVICE_UNKNOWN", "SERVING"] });
    health.endWatches();
    await Promise.all(ended);
    health.setStatus("", "SERVING");
  });

  it("refuses Watch streams past MAX_WATCHES with RESOURCE_EXHAUSTED, and takes one again once a stream hangs up", async () => {
    const open = (service: string) => {
      const call = (client.watch as (r: object) => grpc.ClientReadableStream<{ status?: string }>)({ service });
      const outcome = new Promise<string>((resolve) => {
        call.on("data", () => resolve("streaming"));
        call.on("error", (e: grpc.ServiceError) => resolve(`${grpc.status[e.code]}: ${e.details}`));
      });
      return { call, outcome };
    };
    const streams = Array.from({ length: MAX_WATCHES }, (_, i) => open(`made-up-${i}`));
    expect(new Set(await Promise.all(streams.map((s) => s.outcome)))).toEqual(new Set(["streaming"]));
    expect(await open("one-too-many").outcome).toBe(`RESOURCE_EXHAUSTED: more than ${MAX_WATCHES} health Watch streams are open; use Check`);
    expect(await check("")).toEqual({ status: expect.any(String) });
    streams[0]?.call.cancel();
    await new Promise((r) => setTimeout(r, 100));
    expect(await open("after-one-left").outcome).toBe("streaming");
    for (const s of streams) s.call.cancel();
  });

  it("List answers every service with its status", async () => {
    const rsp = await new Promise<unknown>((resolve, reject) =>
      (client.list as (r: object, cb: (e: grpc.ServiceError | null, r: unknown) => void) => void)({}, (e, r) => (e ? reject(e) : resolve(r))),
    );
    expect(rsp).toEqual({ statuses: { "": { status: "SERVING" }, "fn.Other": { status: "SERVING" }, later: { status: "SERVING" } } });
  });
});

describe("health wire format", () => {
  // Bytes from protobufjs (via proto-loader's reflection) for the same messages: the upstream encoding.
  const methods = Ctor.service as unknown as Record<string, grpc.MethodDefinition<object, object>>;

  it.each([
    ["", "SERVING"],
    ["apiextensions.fn.proto.v1.FunctionRunnerService", "NOT_SERVING"],
    ["ünïcode/name", "SERVICE_UNKNOWN"],
    ["x".repeat(300), "UNKNOWN"],
  ] as const)("request %j and response %s encode and decode as protobufjs does", (service, status) => {
    const req = methods.Check?.requestSerialize({ service });
    expect(decodeCheckRequest(req as Buffer)).toEqual({ service });
    expect(methods.Check?.responseDeserialize(encodeCheckResponse({ status }))).toEqual(status === "UNKNOWN" ? {} : { status });
    const list = methods.List?.responseDeserialize(encodeListResponse({ statuses: { [service]: { status } } }));
    expect(list).toEqual({ statuses: { [service]: status === "UNKNOWN" ? {} : { status } } });
  });

  it("a malformed request fails that call with INTERNAL and the server keeps answering", async () => {
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      client.makeUnaryRequest("/grpc.health.v1.Health/Check", () => Buffer.from([0x0a, 0x09, 0x61]), (b: Buffer) => b, {}, (e) => resolve(e)),
    );
    expect({ code: err?.code, details: err?.details }).toEqual({ code: grpc.status.INTERNAL, details: "Error deserializing request" });
    expect(await check("")).toEqual({ status: "SERVING" });
  });

  it("skips unknown fields and refuses truncated input", () => {
    // field 2 (varint 5), field 3 (fixed64), field 4 (int64 -1: a 10-byte varint), then service = "a"
    const minusOne = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    const withUnknown = Buffer.from([0x10, 0x05, 0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x20, ...minusOne, 0x0a, 0x01, 0x61]);
    expect(decodeCheckRequest(withUnknown)).toEqual({ service: "a" });
    expect(() => decodeCheckRequest(Buffer.from([0x0a, 0x05, 0x61]))).toThrow("truncated message: a field runs past the end of its message");
    expect(() => decodeCheckRequest(Buffer.from([0x0a]))).toThrow("truncated message: a varint runs past the end");
  });
});
