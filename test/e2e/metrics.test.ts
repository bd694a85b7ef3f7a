// The server process serves Prometheus metrics that count the calls it answered over gRPC.
import { createServer } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { readDocs } from "../../cli/yaml.ts";
import { connect, type JsonObject, type PlainRequest } from "../support/proto-client.ts";
import { freePort, runToExit, startServer, stopAllServers } from "../support/server-process.ts";

afterAll(stopAllServers);

const [xr] = readDocs("examples/database/xr.yaml") as JsonObject[];
const [composition] = readDocs("compositions/database-postgres.yaml") as JsonObject[];
const input = ((composition?.spec as JsonObject).pipeline as JsonObject[])[0]?.input as JsonObject;

describe("metrics endpoint", () => {
  it("counts each call by function and outcome, with latency, and never carries a value from a response", async () => {
    const port = await freePort();
    const server = await startServer({ insecure: true, env: { METRICS_ADDRESS: `127.0.0.1:${port}` } });
    const client = connect(server.address);
    // The second call of Crossplane's requirements loop: the function looked the connection Secret up; none exists.
    const ok: PlainRequest = { meta: { tag: "m" }, observed: { composite: { resource: xr as JsonObject } }, input, requiredResources: { "connection-secret": {}, "admin-secret": {} } };
    const rsp = await client.runFunction(ok);
    await client.runFunction(ok);
    await client.runFunction({ ...ok, input: { apiVersion: "example.org/v1", kind: "Nope" } });
    client.close();

    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const ours = text.split("\n").filter((l) => /^azplatform_function_calls_total|^azplatform_function_call_duration_seconds_count|^azplatform_function_results_total/.test(l));
    expect(ours.sort()).toEqual([
      'azplatform_function_call_duration_seconds_count{function="database"} 2',
      'azplatform_function_call_duration_seconds_count{function="unknown"} 1',
      'azplatform_function_calls_total{function="database",outcome="ok"} 2',
      'azplatform_function_calls_total{function="unknown",outcome="fatal"} 1',
      'azplatform_function_results_total{function="unknown",severity="fatal"} 1',
    ]);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    const secret = rsp.desired?.resources?.["connection-secret"]?.resource as { data: Record<string, string> };
    const password = Buffer.from(secret.data.password ?? "", "base64").toString();
    expect(password.length).toBeGreaterThan(8);
    expect(text).not.toContain(password);

    expect((await fetch(`http://127.0.0.1:${port}/nothing`)).status).toBe(404);
    expect((await server.stop("SIGTERM")).code).toBe(0);
  });

  it("refuses to start when the metrics port is taken, naming the address, and can be turned off", async () => {
    const taken = createServer();
    const port = await new Promise<number>((resolve) => taken.listen(0, "127.0.0.1", () => resolve((taken.address() as { port: number }).port)));
    const grpcPort = await freePort();
    const r = await runToExit(["--insecure", "--address", `127.0.0.1:${grpcPort}`], 15_000, { env: { METRICS_ADDRESS: `127.0.0.1:${port}` } });
    taken.close();
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain(`cannot listen on 127.0.0.1:${port} for metrics`);

    const bad = await runToExit(["--insecure", "--address", `127.0.0.1:${grpcPort}`, "--metrics-address", "8080"], 15_000);
    expect(bad.code).toBe(1);
    expect(bad.stdout + bad.stderr).toContain('--metrics-address must be host:port, got \\"8080\\"');

    const off = await startServer({ insecure: true, args: ["--metrics-address", "off"] });
    expect(off.jsonLogs().some((l) => l.msg === "serving metrics")).toBe(false);
    await off.stop("SIGTERM");
  });
});
