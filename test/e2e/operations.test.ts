// Operations end to end: the real server process over gRPC, with a client built from the upstream proto, driven
// the way Crossplane's Operation controller drives a pipeline step. The WatchOperation's bootstrap requirement
// holds the watched resource; each response's requirements are fetched from an in-memory cluster and sent back
// until they stop changing (at most 5 times, as Crossplane's FetchingFunctionRunner); then the desired resources
// are applied to the cluster. The pipeline inputs are the ones in examples/operations/.
import { isDeepStrictEqual } from "node:util";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type JsonObject, type PlainRequest, type PlainResource, type PlainResourceSelector, type PlainResponse, type RunFunctionClient } from "../support/proto-client.ts";
import { loadYamlDocuments, repoRoot } from "../support/schema.ts";
import { startServer, stopAllServers } from "../support/server-process.ts";

const WATCHED = "ops.crossplane.io/watched-resource";
const MAX_REQUIREMENTS_ITERATIONS = 5;
const NS = "team-payments";
const KEY = "rotation.azplatform.io/orders-app-db";

type Obj = JsonObject;
const obj = (v: unknown): Obj => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const meta = (o: Obj) => obj(o.metadata) as { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };

/** The pipeline step of an example Operation template. */
function exampleStep(file: string): { step: string; input: Obj } {
  const [first] = loadYamlDocuments(join(repoRoot, "examples/operations", file));
  const template = obj(obj(obj(first?.doc).spec).operationTemplate);
  const [step] = obj(template.spec).pipeline as Obj[];
  return { step: String(step?.step), input: obj(step?.input) };
}

/** Objects as the API server holds them, read by selector and written by (a simplified) server-side apply. */
class Cluster {
  readonly objects: Obj[];
  constructor(objects: Obj[]) {
    this.objects = objects;
  }

  fetch(sel: PlainResourceSelector): PlainResource[] {
    return this.objects
      .filter((o) => o.apiVersion === sel.apiVersion && o.kind === sel.kind)
      .filter((o) => sel.namespace === undefined || meta(o).namespace === sel.namespace)
      .filter((o) => (sel.matchName !== undefined ? meta(o).name === sel.matchName : Object.entries(sel.matchLabels?.labels ?? {}).every(([k, v]) => meta(o).labels?.[k] === v)))
      .map((o) => ({ resource: structuredClone(o) }));
  }

  /** Merges a partial object into the existing one. Crossplane has no `create` in rbac.yaml: a missing object is an error. */
  apply(partial: Obj): void {
    const target = this.objects.find((o) => o.apiVersion === partial.apiVersion && o.kind === partial.kind && meta(o).name === meta(partial).name && meta(o).namespace === meta(partial).namespace);
    if (target === undefined) throw new Error(`${String(partial.kind)} ${meta(partial).namespace}/${meta(partial).name} does not exist`);
    merge(target, partial);
  }

  get(kind: string, namespace: string, name: string): Obj {
    const o = this.objects.find((x) => x.kind === kind && meta(x).namespace === namespace && meta(x).name === name);
    if (o === undefined) throw new Error(`no ${kind} ${namespace}/${name}`);
    return o;
  }
}

function merge(into: Obj, from: Obj): void {
  for (const [k, v] of Object.entries(from)) {
    const cur = into[k];
    if (typeof v === "object" && v !== null && !Array.isArray(v) && typeof cur === "object" && cur !== null && !Array.isArray(cur)) merge(cur, v);
    else into[k] = structuredClone(v);
  }
}

interface StepRun {
  calls: { request: PlainRequest; response: PlainResponse }[];
  /** Desired resources Crossplane applied after the pipeline. */
  applied: Obj[];
}

let client: RunFunctionClient;

/** One Operation with one pipeline step, as Crossplane runs it. */
async function runOperation(cluster: Cluster, input: Obj, bootstrap: Record<string, PlainResourceSelector> = {}): Promise<StepRun> {
  const request: PlainRequest = { meta: { tag: "op" }, input, context: {}, requiredResources: {} };
  for (const [name, sel] of Object.entries(bootstrap)) request.requiredResources = { ...request.requiredResources, [name]: { items: cluster.fetch(sel) } };
  const calls: StepRun["calls"] = [];
  let previous: PlainResponse["requirements"];
  for (let i = 0; i <= MAX_REQUIREMENTS_ITERATIONS; i++) {
    const sent = structuredClone(request);
    const response = await client.runFunction(sent);
    calls.push({ request: sent, response });
    if (response.results?.some((r) => r.severity === "SEVERITY_FATAL")) return { calls, applied: [] };
    if (isDeepStrictEqual(response.requirements, previous)) {
      const applied = Object.values(response.desired?.resources ?? {}).map((r) => obj(r.resource));
      for (const r of applied) cluster.apply(r);
      return { calls, applied };
    }
    previous = response.requirements;
    request.requiredResources = Object.fromEntries(Object.entries(response.requirements?.resources ?? {}).map(([name, sel]) => [name, { items: cluster.fetch(sel) }]));
    request.context = response.context ?? {};
  }
  throw new Error(`requirements didn't stabilize after ${MAX_REQUIREMENTS_ITERATIONS} iterations`);
}

beforeAll(async () => {
  const fn = await startServer({ insecure: true });
  client = connect(fn.address);
});

afterAll(async () => {
  client?.close();
  await stopAllServers();
});

function deployment(namespace: string, name: string, pod: Obj, annotations?: Record<string, string>): Obj {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace, labels: { app: name }, resourceVersion: "7" },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name }, ...(annotations ? { annotations } : {}) }, spec: { containers: [{ name: "app", image: "example/app:1", ...pod }] } },
    },
  };
}

function rotatedSecret(namespace: string, version: string): Obj {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: "orders-app-db",
      namespace,
      labels: { "rotation.azplatform.io/managed": "true" },
      annotations: { "rotation.azplatform.io/rotated-by": "orders-app-password", "rotation.azplatform.io/owned-keys": "password,uri", "rotation.azplatform.io/version": version },
    },
    type: "Opaque",
    data: { password: Buffer.from("s3cret-value").toString("base64") },
  };
}

const normal = (reason: string, message: string) => ({ severity: "SEVERITY_NORMAL", reason, message, target: "TARGET_COMPOSITE" });
const podAnnotations = (c: Cluster, ns: string, name: string) => obj(obj(obj(obj(c.get("Deployment", ns, name).spec).template).metadata).annotations);

describe("WatchOperation roll-rotated-secret-consumers over gRPC", () => {
  const { input } = exampleStep("watch-rotated-secrets.yaml");
  const envRef = { env: [{ name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "orders-app-db", key: "password" } } }] };
  const cluster = new Cluster([
    rotatedSecret(NS, "2"),
    deployment(NS, "api", envRef, { [KEY]: "v1" }),
    deployment(NS, "worker", { envFrom: [{ secretRef: { name: "orders-app-db" } }] }, { [KEY]: "v2" }),
    deployment(NS, "unrelated", {}),
    // Same names in another namespace: a run for team-payments' Secret must not read or touch them.
    rotatedSecret("team-other", "9"),
    deployment("team-other", "api", envRef),
  ]);
  // What the WatchOperation injects into the Operation it creates for a change of this Secret.
  const watched = { [WATCHED]: { apiVersion: "v1", kind: "Secret", matchName: "orders-app-db", namespace: NS } };
  const requirements = {
    resources: {
      [WATCHED]: { apiVersion: "v1", kind: "Secret", matchName: "orders-app-db", namespace: NS },
      // An empty label map selects every Deployment; on the wire it is an empty MatchLabels message.
      deployments: { apiVersion: "apps/v1", kind: "Deployment", matchLabels: {}, namespace: NS },
    },
  };

  it("asks for the Deployments, then returns the annotation for the consumers not at this version; Crossplane applies it", async () => {
    const run = await runOperation(cluster, input, watched);
    expect(run.calls).toHaveLength(2);
    expect(run.calls[0]?.response).toEqual({ meta: { tag: "op", ttl: { seconds: 0, nanos: 0 } }, desired: {}, context: {}, requirements });
    // Crossplane fetched what the first response asked for, in the Secret's namespace only.
    expect(Object.keys(run.calls[1]?.request.requiredResources ?? {}).sort()).toEqual(["deployments", WATCHED]);
    expect(run.calls[1]?.request.requiredResources?.deployments?.items?.map((i) => meta(obj(i.resource)).name)).toEqual(["api", "worker", "unrelated"]);
    expect(run.calls[1]?.response).toEqual({
      meta: { tag: "op", ttl: { seconds: 0, nanos: 0 } },
      desired: {
        resources: {
          "deployment-api": {
            resource: { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "api", namespace: NS }, spec: { template: { metadata: { annotations: { [KEY]: "v2" } } } } },
          },
        },
      },
      results: [normal("Rolling", "rolling 1 Deployment(s) in team-payments to version 2 of Secret orders-app-db: api")],
      context: {},
      requirements,
      output: { secret: "team-payments/orders-app-db", version: 2, rotatedBy: "orders-app-password", annotation: KEY, rolled: ["api"], upToDate: ["worker"] },
    });
    expect(JSON.stringify(run.calls.map((c) => c.response))).not.toContain(Buffer.from("s3cret-value").toString("base64"));
    expect(podAnnotations(cluster, NS, "api")).toEqual({ [KEY]: "v2" });
    expect(podAnnotations(cluster, NS, "unrelated")).toEqual({});
    expect(podAnnotations(cluster, "team-other", "api")).toEqual({});
  });

  it("a later event for the same version returns nothing to apply", async () => {
    const run = await runOperation(cluster, input, watched);
    expect(run.calls).toHaveLength(2);
    expect(run.calls[1]?.response).toEqual({
      meta: { tag: "op", ttl: { seconds: 0, nanos: 0 } },
      desired: {},
      results: [normal("UpToDate", "every Deployment in team-payments that reads Secret orders-app-db already runs version 2: api, worker")],
      context: {},
      requirements,
      output: { secret: "team-payments/orders-app-db", version: 2, rotatedBy: "orders-app-password", annotation: KEY, rolled: [], upToDate: ["api", "worker"] },
    });
    expect(run.applied).toEqual([]);
  });

  it("the next rotation rolls every consumer", async () => {
    merge(cluster.get("Secret", NS, "orders-app-db"), { metadata: { annotations: { "rotation.azplatform.io/version": "3" } } });
    const run = await runOperation(cluster, input, watched);
    expect(run.applied.map((r) => meta(r).name)).toEqual(["api", "worker"]);
    expect(podAnnotations(cluster, NS, "api")).toEqual({ [KEY]: "v3" });
    expect(podAnnotations(cluster, NS, "worker")).toEqual({ [KEY]: "v3" });
  });

  it("a Secret that was never rotated takes one call and asks for nothing", async () => {
    const plain = new Cluster([{ apiVersion: "v1", kind: "Secret", metadata: { name: "orders-app-db", namespace: NS, labels: { "rotation.azplatform.io/managed": "true" } } }]);
    const run = await runOperation(plain, input, watched);
    expect(run.calls.map((c) => c.response)).toEqual([
      {
        meta: { tag: "op", ttl: { seconds: 0, nanos: 0 } },
        desired: {},
        results: [
          normal(
            "NotRotated",
            "Secret team-payments/orders-app-db has no rotation version (annotation rotation.azplatform.io/version): no SecretRotation has promoted a value to it yet, so there is nothing to roll",
          ),
        ],
        context: {},
        output: { secret: "team-payments/orders-app-db", rolled: [] },
      },
    ]);
  });

  it("without a watched resource (a CronOperation, say) the step fails with a Fatal result", async () => {
    const run = await runOperation(cluster, input);
    expect(run.calls.map((c) => c.response)).toEqual([
      {
        meta: { tag: "op", ttl: { seconds: 60, nanos: 0 } },
        desired: {},
        results: [
          {
            severity: "SEVERITY_FATAL",
            reason: "NoWatchedResource",
            message:
              "RolloutPolicy runs in a WatchOperation that watches v1 Secrets; this request has no watched resource (ops.crossplane.io/watched-resource). Use it in a WatchOperation's pipeline, not in a CronOperation or a plain Operation",
            target: "TARGET_COMPOSITE",
          },
        ],
        context: {},
      },
    ]);
  });
});

describe("CronOperation nudge-due-secret-rotations over gRPC", () => {
  const { input } = exampleStep("cron-due-rotations.yaml");
  // The server reads the real clock, so due times are relative to now.
  const at = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString().replace(/\.\d{3}Z$/, "Z");
  const overdue = at(-90);
  const retry = at(-10);
  function xr(namespace: string, name: string, status: Obj): Obj {
    return {
      apiVersion: "azplatform.io/v1alpha1",
      kind: "SecretRotation",
      metadata: { name, namespace, uid: `uid-${name}` },
      spec: { team: "payments", secretRef: { name: `${name}-db`, key: "password" }, rotateEvery: "720h", targets: { keyVault: { vaultName: "kv-payments", secretName: name } } },
      status,
    };
  }
  const cluster = new Cluster([
    xr("team-a", "overdue", { phase: "Idle", currentVersion: 4, nextRotationAt: overdue }),
    xr("team-b", "retrying", { phase: "Failed", currentVersion: 1, retryAt: retry, lastError: "Set failed: ECONNREFUSED" }),
    xr("team-b", "later", { phase: "Idle", currentVersion: 2, nextRotationAt: at(60 * 24) }),
  ]);
  const requirements = { resources: { secretrotations: { apiVersion: "azplatform.io/v1alpha1", kind: "SecretRotation", matchLabels: {} } } };
  const nudge = (namespace: string, name: string, dueAt: string) => ({
    resource: { apiVersion: "azplatform.io/v1alpha1", kind: "SecretRotation", metadata: { name, namespace, annotations: { "rotation.azplatform.io/due-at": dueAt } } },
  });
  const now = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  it("asks for every SecretRotation, then nudges the due ones oldest first; Crossplane applies the annotation", async () => {
    const run = await runOperation(cluster, input);
    expect(run.calls).toHaveLength(2);
    expect(run.calls[0]?.response).toEqual({ meta: { tag: "op", ttl: { seconds: 0, nanos: 0 } }, desired: {}, context: {}, requirements });
    expect(run.calls[1]?.response).toEqual({
      meta: { tag: "op", ttl: { seconds: 0, nanos: 0 } },
      desired: { resources: { "secretrotation-team-a-overdue": nudge("team-a", "overdue", overdue), "secretrotation-team-b-retrying": nudge("team-b", "retrying", retry) } },
      results: [normal("Nudged", "nudging 2 due SecretRotation(s) to reconcile: team-a/overdue, team-b/retrying")],
      context: {},
      requirements,
      output: {
        now,
        checked: 3,
        nudged: [
          { secretRotation: "team-a/overdue", dueAt: overdue },
          { secretRotation: "team-b/retrying", dueAt: retry },
        ],
        deferredCount: 0,
        deferred: [],
        awaitingReconcile: [],
        paused: [],
      },
    });
    expect(meta(cluster.get("SecretRotation", "team-a", "overdue")).annotations).toEqual({ "rotation.azplatform.io/due-at": overdue });
    expect(meta(cluster.get("SecretRotation", "team-b", "later")).annotations).toBeUndefined();
  });

  it("the next run leaves XRs already nudged for their due time alone", async () => {
    const run = await runOperation(cluster, input);
    expect(run.applied).toEqual([]);
    expect(run.calls[1]?.response.results).toEqual([
      normal("NothingDue", "no SecretRotation in any namespace needs a nudge (checked 3)"),
      normal("AwaitingReconcile", "2 SecretRotation(s) were already nudged for their due time and wait for Crossplane to reconcile them: team-a/overdue, team-b/retrying"),
    ]);
  });

  it("once the rotation ran and moved the due time forward, nothing is due", async () => {
    merge(cluster.get("SecretRotation", "team-a", "overdue"), { status: { currentVersion: 5, nextRotationAt: at(720 * 60) } });
    merge(cluster.get("SecretRotation", "team-b", "retrying"), { status: { phase: "Idle", currentVersion: 2, nextRotationAt: at(720 * 60) } });
    const run = await runOperation(cluster, input);
    expect(run.applied).toEqual([]);
    expect(run.calls[1]?.response.results).toEqual([normal("NothingDue", "no SecretRotation in any namespace needs a nudge (checked 3)")]);
  });
});
