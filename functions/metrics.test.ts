import { Ready, type RunFunctionRequest, type RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { describe, expect, it } from "vitest";
import { memoryPorts, newWorld, type World } from "../test/support/memory-ports.ts";
import { functionName, Metrics } from "./metrics.ts";
import { runDatabase } from "./database/fn.ts";
import { runSecretRotation } from "./secret-rotation/fn.ts";
import { longestInterval } from "./secret-rotation/observe.ts";

type Json = Record<string, unknown>;
const NOW = Date.parse("2026-11-24T12:00:00Z");

function req(input: Json | undefined, xr: Json, credentials: RunFunctionRequest["credentials"] = {}): RunFunctionRequest {
  return {
    meta: { tag: "t", capabilities: [] },
    observed: { composite: { resource: xr, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }, resources: {} },
    desired: { composite: undefined, resources: {} },
    ...(input !== undefined ? { input } : {}),
    extraResources: {},
    credentials,
    requiredResources: {},
    requiredSchemas: {},
  };
}

const rotationPolicy = {
  apiVersion: "fn.azplatform.io/v1alpha1",
  kind: "SecretRotationPolicy",
  subscriptionId: "00000000-0000-0000-0000-000000000001",
  tenants: [{ namespaces: ["team-payments"], keyVaults: ["kv-payments"] }],
  allowedRoles: ["*_app"],
  credentials: { azure: "azure" },
};
function rotationXr(name: string, status?: Json, spec: Json = {}): Json {
  return {
    apiVersion: "azplatform.io/v1alpha1",
    kind: "SecretRotation",
    metadata: { name, namespace: "team-payments", annotations: {} },
    spec: { team: "payments", secretRef: { name: `${name}-db`, key: "password" }, rotateEvery: "720h", targets: { postgresRole: { name: "orders_app", adminSecretRef: { name: "orders-admin" } } }, ...spec },
    ...(status ? { status } : {}),
  };
}
function world(secretName: string): World {
  const w = newWorld();
  const secret = (data: Record<string, string>) => ({ data, annotations: {}, labels: {}, resourceVersion: w.rv++, owners: {} });
  w.secrets.set(secretName, secret({ host: "db", port: "5432", database: "orders", username: "orders_app", password: "old-Pass1!" }));
  w.secrets.set("orders-admin", secret({ host: "db", port: "5432", database: "orders", username: "pgadmin", password: "admin-Pass1!" }));
  w.roles.set("pgadmin", { password: "admin-Pass1!", version: 0 });
  w.roles.set("orders_app", { password: "old-Pass1!", version: 0 });
  return w;
}
async function rotate(xr: Json, w: World, at = NOW): Promise<[RunFunctionRequest, RunFunctionResponse]> {
  const r = req(rotationPolicy, xr);
  return [r, await runSecretRotation(r, { now: () => new Date(at), connect: async () => memoryPorts(w) })];
}

/** Our series from the exposition text, without HELP/TYPE lines, sorted. */
async function series(m: Metrics, prefix = "azplatform_"): Promise<string[]> {
  const text = await m.registry.metrics();
  return text
    .split("\n")
    .filter((l) => l.startsWith(prefix) && !l.includes("_bucket{"))
    .sort();
}

describe("functionName", () => {
  it.each([
    [{ apiVersion: "fn.azplatform.io/v1alpha1", kind: "DatabasePolicy" }, "database"],
    [{ apiVersion: "fn.azplatform.io/v1alpha1", kind: "SecretRotationPolicy" }, "secret-rotation"],
    [{ apiVersion: "fn.azplatform.io/v1alpha1", kind: "NoSuchPolicy" }, "unknown"],
    [{ apiVersion: "example.org/v1", kind: "DatabasePolicy" }, "unknown"],
    [undefined, "unknown"],
  ])("%j → %s", (input, name) => {
    expect(functionName(req(input, {}))).toBe(name);
  });
});

describe("Metrics", () => {
  it("counts calls by function and outcome, results by severity, latency per function, and refused requests by reason", async () => {
    const m = new Metrics({ now: () => NOW, processMetrics: false });
    const dbPolicy = { apiVersion: "fn.azplatform.io/v1alpha1", kind: "DatabasePolicy", location: "westeurope" };
    const badDb = req(dbPolicy, { apiVersion: "azplatform.io/v1alpha1", kind: "Database", metadata: { name: "x" }, spec: {} });
    const badRsp = runDatabase(badDb);
    m.observe(badDb, badRsp, 0.002, false);
    m.observe(badDb, badRsp, 0.004, false);
    const unknown = req({ apiVersion: "x/v1", kind: "Y" }, {});
    m.observe(unknown, { meta: { tag: "t", ttl: undefined }, desired: undefined, results: [], conditions: [], requirements: undefined, context: undefined }, 0.5, true);
    m.refused("too_deep");
    m.refused("too_deep");
    expect(await series(m)).toEqual([
      'azplatform_function_call_duration_seconds_count{function="database"} 2',
      'azplatform_function_call_duration_seconds_count{function="unknown"} 1',
      'azplatform_function_call_duration_seconds_sum{function="database"} 0.006',
      'azplatform_function_call_duration_seconds_sum{function="unknown"} 0.5',
      'azplatform_function_calls_total{function="database",outcome="fatal"} 2',
      'azplatform_function_calls_total{function="unknown",outcome="error"} 1',
      // Requests refused before any function ran are no calls; every reason is exported from the start.
      'azplatform_function_requests_refused_total{reason="malformed"} 0',
      'azplatform_function_requests_refused_total{reason="too_deep"} 2',
      'azplatform_function_requests_refused_total{reason="too_large"} 0',
      'azplatform_function_results_total{function="database",severity="fatal"} 2',
    ]);
    const text = await m.registry.metrics();
    expect(text).toContain('azplatform_function_call_duration_seconds_bucket{le="0.0025",function="database"} 1');
    expect(text).toContain('azplatform_function_call_duration_seconds_bucket{le="0.005",function="database"} 2');
  });

  it("reports each SecretRotation from its XR and response: rotated, failing, idle; never a value", async () => {
    let now = NOW;
    const m = new Metrics({ now: () => now, processMetrics: false });
    // First call: never rotated, so due at once: it rotates.
    const w = world("orders-db");
    const [r1, rsp1] = await rotate(rotationXr("orders"), w);
    m.observe(r1, rsp1, 0.05, false);
    // A second SecretRotation whose Postgres refuses: a failed attempt.
    const w2 = world("billing-db");
    w2.failing.set("postgres.setPassword", "connection refused");
    const [r2, rsp2] = await rotate(rotationXr("billing"), w2);
    m.observe(r2, rsp2, 0.07, false);
    const labels = (n: string) => `{namespace="team-payments",name="${n}",team="payments"}`;
    const due = (NOW + 720 * 3_600_000) / 1000;
    expect((await series(m, "azplatform_rotation")).filter((l) => !l.startsWith("azplatform_rotations_total"))).toEqual(
      [
        `azplatform_rotation_failing${labels("billing")} 1`,
        `azplatform_rotation_failing${labels("orders")} 0`,
        `azplatform_rotation_max_age_seconds${labels("billing")} 2592000`,
        `azplatform_rotation_max_age_seconds${labels("orders")} 2592000`,
        `azplatform_rotation_next_due_timestamp_seconds${labels("orders")} ${due}`,
        `azplatform_rotation_seconds_since_last_success${labels("orders")} 0`,
      ].sort(),
    );
    // An hour later the first is idle (cheap path, fed back its status).
    now = NOW + 3_600_000;
    const status = (rsp1.desired?.composite?.resource as { status: Json }).status;
    const [r3, rsp3] = await rotate(rotationXr("orders", status), w, now);
    m.observe(r3, rsp3, 0.001, false);
    // The failing one retries in 30 s; an hour without a call means Crossplane no longer calls for it: its series went.
    expect((await series(m, "azplatform_rotation")).filter((l) => !l.startsWith("azplatform_rotations_total"))).toEqual(
      [
        `azplatform_rotation_failing${labels("orders")} 0`,
        `azplatform_rotation_max_age_seconds${labels("orders")} 2592000`,
        `azplatform_rotation_next_due_timestamp_seconds${labels("orders")} ${due}`,
        `azplatform_rotation_seconds_since_last_success${labels("orders")} 3600`,
      ].sort(),
    );
    expect(await series(m, "azplatform_rotations_total")).toEqual(['azplatform_rotations_total{outcome="failed"} 1', 'azplatform_rotations_total{outcome="succeeded"} 1']);
    const text = await m.registry.metrics();
    for (const v of ["old-Pass1!", "admin-Pass1!", w.roles.get("orders_app")?.password ?? "<none>"]) expect(text).not.toContain(v);
  });

  it("drops a SecretRotation's series when Crossplane stops calling for it, and caps how many it keeps", async () => {
    let now = NOW;
    const m = new Metrics({ now: () => now, processMetrics: false, maxRotationSeries: 2 });
    for (const name of ["a", "b", "c"]) {
      const [r, rsp] = await rotate(rotationXr(name), world(`${name}-db`));
      m.observe(r, rsp, 0.01, false);
    }
    const names = async () => (await series(m, "azplatform_rotation_failing")).map((l) => /name="([^"]+)"/.exec(l)?.[1]);
    expect(await names()).toEqual(["b", "c"]);
    // An idle rotation asks to be called again at its next drift check (10 min): two TTLs and 5 min without a call, it is gone.
    now = NOW + (2 * 600 + 299) * 1000;
    expect(await names()).toEqual(["b", "c"]);
    now = NOW + (2 * 600 + 301) * 1000;
    expect(await names()).toEqual([]);
  });

  it("a cron schedule's allowed age is its longest gap", () => {
    expect(longestInterval("0 3 * * 1", new Date(NOW))).toBe(7 * 86_400_000);
    expect(longestInterval("0 3 1 1,7 *", new Date(NOW))).toBe(Date.parse("2028-01-01") - Date.parse("2027-07-01"));
    expect(longestInterval("90m", new Date(NOW))).toBe(5_400_000);
    expect(longestInterval("not a schedule", new Date(NOW))).toBeUndefined();
  });
});
