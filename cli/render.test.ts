// render() on its own, against a stand-in for a third-party function served over gRPC whose answer each case scripts
// in the step's input: what Crossplane's reconciler makes of that answer (names, resourceRefs, conditions, results),
// function-auto-ready emulation, requirements, credentials, and the request the function gets.
import { Ready, Severity, Status, type RunFunctionRequest, type RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../functions/server.ts";
import { childName, mergeOver, renderUid } from "./reconciler.ts";
import { render, RenderError, RESOURCE_NAME, RUNTIME, TARGET, type RenderOptions } from "./render.ts";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- YAML documents

/** What the stand-in answers, read from the step's input. */
interface Script {
  resources?: Record<string, Obj>;
  /** Composed resources it marks READY_TRUE. */
  ready?: string[];
  compositeReady?: "True" | "False";
  status?: Obj;
  conditions?: Array<{ type: string; status: "True" | "False"; reason: string; message?: string }>;
  results?: Array<{ severity: "Normal" | "Warning" | "Unspecified"; reason?: string; message: string }>;
  /** Asks for this object by name, every call, and writes what it got to status.required. */
  require?: { apiVersion: string; kind: string; name: string; namespace?: string };
  /** Asks for something new on every call. */
  requireForever?: boolean;
  /** Writes the keys of this credential's data to status.credential. */
  echoCredential?: string;
}

const SEVERITY = { Normal: Severity.SEVERITY_NORMAL, Warning: Severity.SEVERITY_WARNING, Unspecified: Severity.SEVERITY_UNSPECIFIED };
const requests: RunFunctionRequest[] = [];

function scripted(req: RunFunctionRequest): RunFunctionResponse {
  requests.push(req);
  const s = (req.input ?? {}) as Script;
  const got = req.requiredResources.wanted?.items.map((i) => (i.resource as Obj).metadata.name as string);
  const credential = s.echoCredential !== undefined ? Object.keys(req.credentials[s.echoCredential]?.credentialData?.data ?? {}).sort() : undefined;
  const status = { ...s.status, ...(got !== undefined ? { required: got } : {}), ...(credential !== undefined ? { credential } : {}) };
  const requirement = s.require ? { apiVersion: s.require.apiVersion, kind: s.require.kind, matchName: s.require.name, namespace: s.require.namespace } : s.requireForever ? { apiVersion: "v1", kind: "ConfigMap", matchName: `call-${requests.length}` } : undefined;
  return {
    meta: { tag: req.meta?.tag ?? "", ttl: { seconds: 60, nanos: 0 } },
    desired: {
      composite: { resource: { ...req.desired?.composite?.resource, status }, connectionDetails: {}, ready: s.compositeReady === "True" ? Ready.READY_TRUE : s.compositeReady === "False" ? Ready.READY_FALSE : Ready.READY_UNSPECIFIED },
      resources: {
        ...req.desired?.resources,
        ...Object.fromEntries(Object.entries(s.resources ?? {}).map(([k, resource]) => [k, { resource, connectionDetails: {}, ready: s.ready?.includes(k) ? Ready.READY_TRUE : Ready.READY_UNSPECIFIED }])),
      },
    },
    results: (s.results ?? []).map((r) => ({ severity: SEVERITY[r.severity], message: r.message, ...(r.reason ? { reason: r.reason } : {}) })),
    conditions: (s.conditions ?? []).map((c) => ({ type: c.type, status: c.status === "True" ? Status.STATUS_CONDITION_TRUE : Status.STATUS_CONDITION_FALSE, reason: c.reason, message: c.message })),
    requirements: requirement ? { extraResources: {}, resources: { wanted: requirement }, schemas: {} } : undefined,
    context: req.context,
  };
}

let other: RunningServer;
beforeAll(async () => {
  other = await startServer({ address: "127.0.0.1:0", insecure: true, tlsServerCertsDir: "", maxRecvMessageSizeMB: 4 }, async (req) => scripted(req), pino({ level: "silent" }));
});
afterAll(() => other.shutdown(100));
beforeEach(() => {
  requests.length = 0;
});

const UID = renderUid({ apiVersion: "example.org/v1", kind: "App", metadata: { name: "shop", namespace: "team-a" } });
const xr = { apiVersion: "example.org/v1", kind: "App", metadata: { name: "shop", namespace: "team-a" }, spec: { size: "small" } };
const functions = [{ apiVersion: "pkg.crossplane.io/v1", kind: "Function", metadata: { name: "function-other", annotations: { [RUNTIME]: "Development" } } }];
const composition = (...steps: Obj[]) => ({
  apiVersion: "apiextensions.crossplane.io/v1",
  kind: "Composition",
  metadata: { name: "app" },
  spec: { compositeTypeRef: { apiVersion: "example.org/v1", kind: "App" }, mode: "Pipeline", pipeline: steps },
});
const step = (script: Script, extra: Obj = {}) => ({ step: "compose", functionRef: { name: "function-other" }, input: { apiVersion: "example.org/v1", kind: "Script", ...script }, ...extra });
const autoReady = { step: "ready", functionRef: { name: "function-auto-ready" } };
const goTemplating = { step: "go-templating", functionRef: { name: "function-go-templating" }, input: { apiVersion: "gotemplating.fn.crossplane.io/v1beta1", kind: "GoTemplate" } };

const at = "2024-01-01T00:00:00Z";
const responsive = { type: "Responsive", status: "True", lastTransitionTime: at, reason: "WatchCircuitClosed" };
const synced = { type: "Synced", status: "True", lastTransitionTime: at, reason: "ReconcileSuccess" };
const available = { type: "Ready", status: "True", lastTransitionTime: at, reason: "Available" };
const creating = (message?: string) => ({ type: "Ready", status: "False", lastTransitionTime: at, reason: "Creating", ...(message ? { message } : {}) });
const configMap = (data: Obj, metadata: Obj = {}) => ({ apiVersion: "v1", kind: "ConfigMap", metadata, data });

/** The XR as crossplane render prints it. */
const renderedXr = (refs: Obj[], conditions: Obj[], status: Obj = {}) => ({
  apiVersion: "example.org/v1",
  kind: "App",
  metadata: { name: "shop", namespace: "team-a" },
  spec: { crossplane: { resourceRefs: refs } },
  status: { ...status, conditions },
});
const ref = (r: Obj) => ({ apiVersion: r.apiVersion, kind: r.kind, name: r.metadata.name });
/** A composed resource as Crossplane applies it: a name derived from the XR's uid unless it has one. */
const applied = (resourceName: string, r: Obj) => ({
  ...r,
  metadata: {
    ...(r.metadata.name ? {} : { generateName: "shop-", name: childName("shop-", UID, resourceName) }),
    ...r.metadata,
    namespace: "team-a",
    annotations: { ...r.metadata.annotations, [RESOURCE_NAME]: resourceName },
    labels: { ...r.metadata.labels, "crossplane.io/composite": "shop" },
    ownerReferences: [{ apiVersion: "example.org/v1", kind: "App", name: "shop", uid: UID, controller: true, blockOwnerDeletion: true }],
  },
});
const result = (severity: "Normal" | "Warning", reason: string, message: string) => ({ apiVersion: "render.crossplane.io/v1beta1", kind: "Result", severity, reason, message });
const selected = result("Normal", "SelectComposition", "Successfully selected composition: app");
const notReady = (name: string) => result("Normal", "ComposeResources", `Composed resource "${name}" is not yet ready`);

describe("names Crossplane gives", () => {
  // Values from crossplane render (CLI v2.5.0, core v2.3.4) of examples/database.
  it("an XR without uid: a SHA-1 UUID of its GVK, namespace and name", () => {
    expect(renderUid({ apiVersion: "azplatform.io/v1alpha1", kind: "Database", metadata: { name: "orders", namespace: "team-payments" } })).toBe("24a86632-b081-597a-8a5c-abb1b03fff97");
  });
  it("a composed resource: its generateName and 12 hex digits of its owner's uid and resource name", () => {
    expect(childName("orders-", "24a86632-b081-597a-8a5c-abb1b03fff97", "server")).toBe("orders-f903dd6aeeaa");
    expect(childName("orders-", "24a86632-b081-597a-8a5c-abb1b03fff97", "parameter-require_secure_transport")).toBe("orders-25decaa78446");
  });
  it("a composed resource of an XR with a long name: the prefix cut to leave 63 characters", () => {
    expect(childName(`${"a".repeat(60)}-`, "uid", "r")).toBe(`${"a".repeat(50)}-${childName("", "uid", "r")}`);
  });
});

describe("the full XR (-x)", () => {
  // What dario.cat/mergo v1.0.2 (the CLI's) made of the same values with WithOverride.
  it("merges mappings key by key and replaces anything else, a list too, even with an empty one", () => {
    const base = { a: [1, 2], b: "x", c: { k: 1, j: [1] }, e: { x: 1 }, f: [1], g: "keep", h: { n: { m: 1 } }, i: true };
    const over = { a: [], b: "", c: { k: 2, j: [] }, e: "scalar", f: { now: "map" }, z: [], y: {}, h: { n: { o: 2 } }, i: false, nul: null };
    expect(mergeOver(base, over)).toEqual({ a: [], b: "", c: { j: [], k: 2 }, e: "scalar", f: { now: "map" }, g: "keep", h: { n: { m: 1, o: 2 } }, i: false, nul: null, y: {}, z: [] });
  });
});

const config = configMap({ a: "1" });
const named = configMap({ b: "2" }, { name: "fixed" });
const five = Object.fromEntries(["e", "d", "c", "b", "a"].map((n) => [n, configMap({ n })]));

const cases: Record<string, { options: Partial<RenderOptions>; want: Obj[]; notices?: string[] }> = {
  FirstRenderNamesComposedResourcesAndRefersToThem: {
    options: { composition: composition(step({ resources: { config, named } })) },
    want: [
      renderedXr([ref(applied("config", config)), ref(named)].sort((a, b) => (a.name < b.name ? -1 : 1)), [responsive, synced, creating("Unready resources: config, named")]),
      applied("config", config),
      applied("named", named),
      selected,
      notReady("config"),
      notReady("named"),
    ],
  },
  AnObservedResourceKeepsItsName: {
    options: {
      composition: composition(step({ resources: { config }, ready: ["config"] })),
      observed: [configMap({ a: "0" }, { name: "shop-x7k2p", namespace: "team-a", annotations: { [RESOURCE_NAME]: "config" } })],
    },
    want: [renderedXr([{ apiVersion: "v1", kind: "ConfigMap", name: "shop-x7k2p" }], [responsive, synced, available]), applied("config", configMap({ a: "1" }, { name: "shop-x7k2p" })), selected],
  },
  ReadyNamesTheFirstThreeUnreadyAndCountsTheRest: {
    options: { composition: composition(step({ resources: five, ready: ["a"] })) },
    want: [
      renderedXr(["a", "b", "c", "d", "e"].map((n) => ref(applied(n, configMap({ n })))).sort((a, b) => (a.name < b.name ? -1 : 1)), [responsive, synced, creating("Unready resources: b, c, d, and 1 more")]),
      ...["a", "b", "c", "d", "e"].map((n) => applied(n, configMap({ n }))),
      selected,
      ...["b", "c", "d", "e"].map(notReady),
    ],
  },
  TheFunctionsVerdictOnTheXrWinsWithoutAMessage: {
    options: { composition: composition(step({ resources: { config }, compositeReady: "True" })) },
    want: [renderedXr([ref(applied("config", config))], [responsive, synced, available]), applied("config", config), selected, notReady("config")],
  },
  ResultsAreTheReconcilersEventsWithoutStep: {
    options: {
      composition: composition(
        step({
          results: [
            { severity: "Normal", reason: "Planned", message: "all good" },
            { severity: "Warning", message: "careful" },
            { severity: "Unspecified", reason: "Odd", message: "what" },
          ],
        }),
      ),
    },
    want: [
      renderedXr([], [responsive, synced, available]),
      selected,
      result("Normal", "Planned", 'Pipeline step "compose": all good'),
      result("Warning", "ComposeResources", 'Pipeline step "compose": careful'),
      result("Warning", "Odd", 'Pipeline step "compose" returned a result of unknown severity (assuming warning): what'),
    ],
  },
  NoSelectCompositionEventWhenTheXrAlreadyHasTheComposition: {
    options: { xr: { ...xr, spec: { crossplane: { compositionRef: { name: "app" } } } }, composition: composition(step({})) },
    want: [renderedXr([], [responsive, synced, available])],
  },
  ConditionsKeepTheXrsOwnThenTheFunctionsThenSyncedAndReady: {
    options: {
      xr: { ...xr, status: { phase: "Old", conditions: [{ type: "Ready", status: "True", reason: "Available", lastTransitionTime: "2026-01-01T00:00:00Z" }, { type: "Custom", status: "False", reason: "Before" }] } },
      composition: composition(
        step({
          status: { phase: "New" },
          compositeReady: "False",
          conditions: [
            { type: "Custom", status: "True", reason: "After", message: "changed" },
            { type: "Ready", status: "True", reason: "Ignored" },
            { type: "Extra", status: "True", reason: "Added" },
          ],
        }),
      ),
    },
    want: [
      renderedXr(
        [],
        [creating(), { type: "Custom", status: "True", lastTransitionTime: at, reason: "After", message: "changed" }, responsive, { type: "Extra", status: "True", lastTransitionTime: at, reason: "Added" }, synced],
        { phase: "New" },
      ),
      selected,
    ],
  },
  ARequirementIsFetchedAndTheStepCalledAgain: {
    options: { composition: composition(step({ require: { apiVersion: "v1", kind: "ConfigMap", name: "settings", namespace: "team-a" } })), required: [configMap({}, { name: "settings", namespace: "team-a" })] },
    want: [renderedXr([], [responsive, synced, available], { required: ["settings"] }), selected],
  },
  AMissingRequirementIsAnEmptyList: {
    options: { composition: composition(step({ require: { apiVersion: "v1", kind: "ConfigMap", name: "settings", namespace: "team-a" } })) },
    want: [renderedXr([], [responsive, synced, available], { required: [] }), selected],
  },
  CredentialsComeFromTheSecretsGiven: {
    options: {
      composition: composition(step({ echoCredential: "azure" }, { credentials: [{ name: "azure", source: "Secret", secretRef: { namespace: "crossplane-system", name: "sp" } }] })),
      credentials: [{ apiVersion: "v1", kind: "Secret", metadata: { name: "sp", namespace: "crossplane-system" }, data: { clientId: "aWQ=" } }],
    },
    want: [renderedXr([], [responsive, synced, available], { credential: ["clientId"] }), selected],
  },
  ACredentialWithoutKindIsAV1Secret: {
    options: {
      composition: composition(step({ echoCredential: "azure" }, { credentials: [{ name: "azure", source: "Secret", secretRef: { namespace: "crossplane-system", name: "sp" } }] })),
      credentials: [{ metadata: { name: "sp", namespace: "crossplane-system" }, data: { clientId: "aWQ=", empty: null } }],
    },
    want: [renderedXr([], [responsive, synced, available], { credential: ["clientId", "empty"] }), selected],
  },
  ACredentialWithoutSecretRefIsNotLoaded: {
    options: { composition: composition(step({ echoCredential: "azure" }, { credentials: [{ name: "azure", source: "Secret" }] })), credentials: [] },
    want: [renderedXr([], [responsive, synced, available], { credential: [] }), selected],
  },
  CredentialsArePlaceholdersWithoutSecrets: {
    options: { composition: composition(step({ echoCredential: "azure" }, { credentials: [{ name: "azure", source: "Secret", secretRef: { namespace: "crossplane-system", name: "sp" } }] })) },
    want: [renderedXr([], [responsive, synced, available], { credential: ["clientId", "clientSecret", "host", "password", "port", "tenantId", "username"] }), selected],
    notices: ["step compose: its credentials are placeholders; pass --function-credentials to use real ones"],
  },
  TheFullXrIsTheInputWithTheRenderedOneMergedOver: {
    options: { xr: { ...xr, metadata: { ...xr.metadata, labels: { team: "a" } } }, composition: composition(step({ status: { phase: "New" } })), includeFullXr: true },
    want: [{ ...xr, metadata: { ...xr.metadata, labels: { team: "a" } }, spec: { size: "small", crossplane: { resourceRefs: [] } }, status: { phase: "New", conditions: [responsive, synced, available] } }, selected],
  },
  AResourceInAnotherNamespaceIsMovedWithAWarning: {
    options: { composition: composition(step({ resources: { config: configMap({}, { namespace: "elsewhere" }) }, ready: ["config"] })) },
    want: [
      renderedXr([ref(applied("config", configMap({}, {})))], [responsive, synced, available]),
      applied("config", configMap({}, {})),
      selected,
      result("Warning", "NamespaceOverridden", 'cannot create composed resource "config" in namespace "elsewhere", using XR namespace "team-a" instead'),
    ],
  },
  AutoReadyMarksAResourceReadyWhenObservedReady: {
    options: {
      composition: composition(step({ resources: { config } }), autoReady),
      observed: [{ ...configMap({}, { name: "shop-x7k2p", namespace: "team-a", annotations: { [RESOURCE_NAME]: "config" } }), status: { conditions: [{ type: "Ready", status: "True" }] } }],
    },
    want: [renderedXr([{ apiVersion: "v1", kind: "ConfigMap", name: "shop-x7k2p" }], [responsive, synced, available]), applied("config", configMap({ a: "1" }, { name: "shop-x7k2p" })), selected],
    notices: ["step ready (function-auto-ready): emulated: a composed resource is ready when its observed Ready condition is True"],
  },
  AStepOfAnotherFunctionIsSkippedWithANotice: {
    options: { composition: composition(goTemplating, step({})) },
    want: [renderedXr([], [responsive, synced, available]), selected],
    notices: ["step go-templating (function-go-templating): skipped: it is not a function of this package; run crossplane render to include it"],
  },
};

describe("render", () => {
  for (const [name, { options, want, notices = [] }] of Object.entries(cases)) {
    it(name, async () => {
      const seen: string[] = [];
      const out = await render({ xr, composition: composition(), functions, annotations: { [TARGET]: `127.0.0.1:${other.port}` }, includeResults: true, ...options, notice: (m) => seen.push(m) });
      expect(out).toEqual(want);
      expect(seen).toEqual(notices);
    });
  }

  it("sends functions the XR, state and context Crossplane sends", async () => {
    await render({ xr, composition: composition(step({})), functions, annotations: { [TARGET]: `127.0.0.1:${other.port}` } });
    const [req] = requests;
    expect({ composite: req?.observed?.composite?.resource, desired: req?.desired, context: req?.context, capabilities: req?.meta?.capabilities }).toEqual({
      composite: {
        ...xr,
        metadata: { ...xr.metadata, uid: UID, resourceVersion: "999", labels: { "crossplane.io/composite": "shop" } },
        spec: { size: "small", crossplane: { compositionRef: { name: "app" } } },
        status: { conditions: [responsive] },
      },
      desired: { composite: undefined, resources: {} },
      context: {},
      capabilities: [1, 2, 3, 4, 5],
    });
  });

  it("stops when a step's requirements never settle", async () => {
    await expect(render({ xr, composition: composition(step({ requireForever: true })), functions, annotations: { [TARGET]: `127.0.0.1:${other.port}` } })).rejects.toThrow(
      "requirements didn't stabilize after the maximum number of iterations (5)",
    );
    expect(requests).toHaveLength(6);
  });

  it("refuses a credential whose Secret is not among those given", async () => {
    const credentials = [{ name: "azure", source: "Secret", secretRef: { namespace: "crossplane-system", name: "sp" } }];
    await expect(render({ xr, composition: composition(step({}, { credentials })), functions, annotations: { [TARGET]: `127.0.0.1:${other.port}` }, credentials: [] })).rejects.toThrow(
      'cannot get Composition pipeline step "compose" credential "azure" from Secret: Secret "sp" not found',
    );
  });

  it("refuses an observed resource in another namespace", async () => {
    const observed = [configMap({}, { name: "x", namespace: "other", annotations: { [RESOURCE_NAME]: "config" } })];
    await expect(render({ xr, composition: composition(step({})), functions, observed })).rejects.toThrow("observed resource x is not in the same namespace as the XR");
  });

  it.each([
    {
      input: "an observed resource whose ownerReferences is a mapping",
      options: { observed: [configMap({}, { name: "x", namespace: "team-a", annotations: { [RESOURCE_NAME]: "config" }, ownerReferences: { controller: true } })] },
      message: "observed[0] (ConfigMap team-a/x): metadata.ownerReferences must be a list",
    },
    { input: "a pipeline that is a mapping", options: { composition: { ...composition(), spec: { ...composition().spec, pipeline: { compose: step({}) } } } }, message: "composition (Composition app): spec.pipeline must be a list" },
    {
      input: "a step whose credentials are a mapping",
      options: { composition: composition(step({}, { credentials: { azure: { source: "Secret" } } })) },
      message: "composition (Composition app): spec.pipeline[0].credentials must be a list",
    },
    {
      input: "a credential whose data is not a string",
      options: { credentials: [{ apiVersion: "v1", kind: "Secret", metadata: { name: "sp", namespace: "crossplane-system" }, data: { clientId: 5 } }] },
      message: "credentials[0] (Secret crossplane-system/sp): data.clientId must be a base64 string",
    },
    { input: "a required resource that is a list", options: { required: [[configMap({})] as unknown as Obj] }, message: "required[0]: must be a mapping (a Kubernetes object), not a list" },
    { input: "an XR without metadata", options: { xr: { apiVersion: "example.org/v1", kind: "App" } }, message: "xr (App (no name)): metadata is required" },
  ])("refuses $input handed to render() directly, naming the option and the field", async ({ options, message }) => {
    const error = await render({ xr, composition: composition(step({})), functions, ...options }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RenderError);
    expect((error as Error).message).toBe(message);
  });

  it("refuses a Composition for another kind, naming both", async () => {
    await expect(render({ xr: { ...xr, kind: "Other" }, composition: composition(step({})) })).rejects.toThrow("the Composition app composes example.org/v1 App, not example.org/v1 Other");
  });
});
