// The server process and what it cannot or should not take in: requests it cannot decode are refused, logged (one
// short line with the reason) and counted in /metrics; a request carrying megabytes in its logged fields still logs
// a short line; a due SecretRotation on a server without a Kubernetes configuration says what is missing.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_LINE_BYTES } from "../../functions/log.ts";
import { connect, type JsonObject } from "../support/proto-client.ts";
import { RUN_FUNCTION_V1, callRaw, field, nestedStruct } from "../support/raw-request.ts";
import { freePort, startServer, stopAllServers, type RunningServer } from "../support/server-process.ts";

let server: RunningServer;
let metricsPort: number;

beforeAll(async () => {
  metricsPort = await freePort();
  server = await startServer({ insecure: true, args: ["--max-recv-message-size", "1"], env: { METRICS_ADDRESS: `127.0.0.1:${metricsPort}` } });
});
afterAll(stopAllServers);

/** The server's stdout lines that `match`, once `count` of them have come through (they may trail the reply). */
async function logged(match: (line: string) => boolean, count: number, from: RunningServer = server): Promise<string[]> {
  for (;;) {
    const lines = from.stdout().filter(match);
    if (lines.length >= count) return lines;
    await new Promise((r) => setTimeout(r, 20));
  }
}
const withMsg = (msg: string) => (line: string) => line.includes(`"msg":${JSON.stringify(msg)}`);
const parsed = (line: string) => JSON.parse(line) as Record<string, unknown>;
const without = ({ time: _t, pid: _p, hostname: _h, ...rest }: Record<string, unknown>) => rest;

describe("requests the server cannot decode", () => {
  it("are refused with the reason, logged in one line each and counted by reason; the server stays up", async () => {
    const deep = field(4, nestedStruct(101));
    const large = field(1, field(1, Buffer.alloc(1024 * 1024, "t")));
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect([await callRaw(server.address, deep), await callRaw(server.address, large), await callRaw(server.address, garbage)]).toEqual([
      { code: grpc.status.INVALID_ARGUMENT, details: "cannot decode the RunFunctionRequest: malformed message: a google.protobuf.Struct nests deeper than 100 levels" },
      { code: grpc.status.RESOURCE_EXHAUSTED, details: `Received message larger than max (${large.length} vs 1048576)` },
      { code: grpc.status.INVALID_ARGUMENT, details: "cannot decode the RunFunctionRequest: truncated message: a field runs past the end of its message" },
    ]);

    const peer = expect.stringMatching(/^127\.0\.0\.1:\d+$/);
    const line = { level: 40, fn: "function-azure-platform", method: RUN_FUNCTION_V1, peer, msg: "RunFunction request refused" };
    expect((await logged(withMsg("RunFunction request refused"), 3)).map(parsed).map(without)).toEqual([
      { ...line, reason: "too_deep", error: "malformed message: a google.protobuf.Struct nests deeper than 100 levels", bytes: deep.length },
      { ...line, reason: "too_large", error: `Received message larger than max (${large.length} vs 1048576)` },
      { ...line, reason: "malformed", error: "truncated message: a field runs past the end of its message", bytes: garbage.length },
    ]);

    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(text.split("\n").filter((l) => l.startsWith("azplatform_function_requests_refused_total") || l.startsWith("azplatform_function_calls_total"))).toEqual([
      'azplatform_function_requests_refused_total{reason="malformed"} 1',
      'azplatform_function_requests_refused_total{reason="too_deep"} 1',
      'azplatform_function_requests_refused_total{reason="too_large"} 1',
    ]);
    expect(await callRaw(server.address, field(1, field(1, Buffer.from("after"))))).toEqual({ code: grpc.status.OK, details: "" });
  });
});

describe("a request carrying megabytes in what is logged", () => {
  it(`is logged in a line under ${MAX_LINE_BYTES} bytes, each field cut with a note of how much`, async () => {
    const huge = "x".repeat(300_000);
    const client = connect(server.address);
    const rsp = await client.runFunction({
      meta: { tag: huge },
      observed: { composite: { resource: { apiVersion: "azplatform.io/v1alpha1", kind: "Database", metadata: { name: huge, namespace: "team-payments" } } } },
      input: { apiVersion: "fn.azplatform.io/v1alpha1", kind: huge } as JsonObject,
    });
    client.close();
    expect(rsp.results?.map((r) => r.reason)).toEqual(["UnknownInput"]);
    const lines = await logged((l) => withMsg("RunFunction")(l) && l.includes('"tag":"xxx'), 1);
    expect(lines).toHaveLength(1);
    expect(Buffer.byteLength(lines[0] ?? "")).toBeLessThan(MAX_LINE_BYTES);
    const cut = (s: string, kept: number) => `${s.slice(0, kept)}…[${s.length - kept} more characters]`;
    expect(without(parsed(lines[0] ?? "{}"))).toEqual({
      level: 30,
      fn: "function-azure-platform",
      tag: cut(huge, 483),
      kind: cut(huge, 483),
      xr: cut(`team-payments/${huge}`, 483),
      fatal: 1,
      warning: 0,
      ms: expect.any(Number),
      msg: "RunFunction",
    });
  });
});

describe("a due SecretRotation on a server without a Kubernetes configuration", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "no-kubeconfig-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("gets a Fatal result naming what is missing and how to fix it", async () => {
    const missing = join(dir, "kubeconfig");
    const fn = await startServer({ insecure: true, env: { KUBECONFIG: missing } });
    const client = connect(fn.address);
    const policy = {
      apiVersion: "fn.azplatform.io/v1alpha1",
      kind: "SecretRotationPolicy",
      subscriptionId: "00000000-0000-0000-0000-000000000001",
      tenants: [{ namespaces: ["team-payments"], keyVaults: ["kv-payments"] }],
      credentials: { azure: "azure" },
    };
    const spec = { team: "payments", rotateEvery: "720h", secretRef: { name: "orders-app", key: "password" }, targets: { keyVault: { vaultName: "kv-payments", secretName: "orders-app-password" } } };
    const rsp = await client.runFunction({
      meta: { tag: "due" },
      observed: { composite: { resource: { apiVersion: "azplatform.io/v1alpha1", kind: "SecretRotation", metadata: { name: "orders-app", namespace: "team-payments", uid: "1a2b" }, spec } } },
      input: policy,
      credentials: { azure: { credentialData: { data: { clientId: Buffer.from("c"), clientSecret: Buffer.from("s"), tenantId: Buffer.from("t") } } } },
    });
    client.close();
    const message =
      `the function's Kubernetes configuration is missing: KUBECONFIG names ${missing}, which does not exist; ` +
      "point KUBECONFIG at a kubeconfig file for the cluster, or unset it in a pod so the function uses its service account";
    expect(rsp.results).toEqual([{ severity: "SEVERITY_FATAL", reason: "InternalError", message: `internal error in the function: ${message}`, target: "TARGET_COMPOSITE" }]);
    const [failed = "{}"] = await logged(withMsg("RunFunction failed"), 1, fn);
    expect(parsed(failed).err).toMatchObject({ type: "Error", message });
  });
});
