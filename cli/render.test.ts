// render() on its own: steps that are not this package's, function-auto-ready emulation, and the notices.
import { Ready, type RunFunctionRequest, type RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../functions/server.ts";
import { render, RESOURCE_NAME, RUNTIME, TARGET } from "./render.ts";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- YAML documents

// A third-party function stand-in, served over gRPC: it composes one ConfigMap and says nothing about readiness.
let other: RunningServer;
beforeAll(async () => {
  const compose = async (req: RunFunctionRequest): Promise<RunFunctionResponse> => ({
    meta: { tag: req.meta?.tag ?? "", ttl: { seconds: 60, nanos: 0 } },
    desired: {
      composite: req.desired?.composite,
      resources: { ...req.desired?.resources, config: { resource: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "app-config" }, data: { a: "1" } }, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED } },
    },
    results: [],
    conditions: [],
    requirements: undefined,
    context: req.context,
  });
  other = await startServer({ address: "127.0.0.1:0", insecure: true, tlsServerCertsDir: "", maxRecvMessageSizeMB: 4 }, compose, pino({ level: "silent" }));
});
afterAll(() => other.shutdown(100));

const xr = { apiVersion: "example.org/v1", kind: "App", metadata: { name: "shop", namespace: "team-a" }, spec: {} };
const functions = [{ apiVersion: "pkg.crossplane.io/v1", kind: "Function", metadata: { name: "function-other", annotations: { [RUNTIME]: "Development" } } }];
const composition = (steps: Obj[]) => ({
  apiVersion: "apiextensions.crossplane.io/v1",
  kind: "Composition",
  metadata: { name: "app" },
  spec: { compositeTypeRef: { apiVersion: "example.org/v1", kind: "App" }, mode: "Pipeline", pipeline: steps },
});
const otherStep = { step: "compose", functionRef: { name: "function-other" } };
const autoReady = { step: "ready", functionRef: { name: "function-auto-ready" } };
const unknownStep = { step: "go-templating", functionRef: { name: "function-go-templating" }, input: { apiVersion: "gotemplating.fn.crossplane.io/v1beta1", kind: "GoTemplate" } };
const observedConfig = (ready: "True" | "False") => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "app-config", annotations: { [RESOURCE_NAME]: "config" } },
  status: { conditions: [{ type: "Ready", status: ready }] },
});

describe("render with steps from other functions", () => {
  it.each([
    { name: "no auto-ready: the ConfigMap is not marked ready", steps: [otherStep], observed: "True" as const, ready: false, notices: [] },
    { name: "auto-ready, observed Ready=True: ready", steps: [otherStep, autoReady], observed: "True" as const, ready: true, notices: ["step ready (function-auto-ready): emulated: a composed resource is ready when its observed Ready condition is True"] },
    { name: "auto-ready, observed Ready=False: not ready", steps: [otherStep, autoReady], observed: "False" as const, ready: false, notices: ["step ready (function-auto-ready): emulated: a composed resource is ready when its observed Ready condition is True"] },
    {
      name: "a function neither ours nor declared is skipped with a notice",
      steps: [unknownStep, otherStep],
      observed: "False" as const,
      ready: false,
      notices: ["step go-templating (function-go-templating): skipped: it is not a function of this package; run crossplane render to include it"],
    },
  ])("$name", async ({ steps, observed, ready, notices }) => {
    const seen: string[] = [];
    const out = await render({
      xr,
      composition: composition(steps),
      functions,
      annotations: { [TARGET]: `127.0.0.1:${other.port}` },
      observed: [observedConfig(observed)],
      notice: (m) => seen.push(m),
    });
    expect(seen).toEqual(notices);
    expect(out).toEqual([
      {
        apiVersion: "example.org/v1",
        kind: "App",
        metadata: { name: "shop", namespace: "team-a" },
        status: {
          conditions: [
            ready
              ? { lastTransitionTime: "2024-01-01T00:00:00Z", type: "Ready", status: "True", reason: "Available" }
              : { lastTransitionTime: "2024-01-01T00:00:00Z", type: "Ready", status: "False", reason: "Creating", message: "Unready resources: config" },
          ],
        },
      },
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        data: { a: "1" },
        metadata: {
          name: "app-config",
          namespace: "team-a",
          annotations: { [RESOURCE_NAME]: "config" },
          labels: { "crossplane.io/composite": "shop" },
          ownerReferences: [{ apiVersion: "example.org/v1", kind: "App", name: "shop", uid: "", controller: true, blockOwnerDeletion: true }],
        },
      },
    ]);
  });

  it("refuses a Composition for another kind, naming both", async () => {
    await expect(render({ xr: { ...xr, kind: "Other" }, composition: composition([otherStep]) })).rejects.toThrow("the Composition app composes example.org/v1 App, not example.org/v1 Other");
  });
});
