// The rollout WatchOperation function: request in, whole response out, for each call of Crossplane's
// requirement loop.
import { Ready, Severity, Target, type Resource, type RunFunctionRequest, type RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { describe, expect, it } from "vitest";
import { route } from "../router.ts";
import { runRollout } from "./rollout.ts";

type Json = Record<string, unknown>;
const NS = "team-payments";
const WATCHED = "ops.crossplane.io/watched-resource";
const KEY = "rotation.azplatform.io/orders-app-db";

const policy = (over: Json = {}): Json => ({ apiVersion: "fn.azplatform.io/v1alpha1", kind: "RolloutPolicy", ...over });

function secret(o: { version?: string; name?: string; apiVersion?: string; kind?: string } = {}): Json {
  return {
    apiVersion: o.apiVersion ?? "v1",
    kind: o.kind ?? "Secret",
    metadata: {
      name: o.name ?? "orders-app-db",
      namespace: NS,
      labels: { "rotation.azplatform.io/managed": "true" },
      annotations: {
        "rotation.azplatform.io/rotated-by": "orders-app-password",
        ...(o.version !== undefined ? { "rotation.azplatform.io/version": o.version } : {}),
      },
    },
    type: "Opaque",
    data: { password: Buffer.from("never-in-a-response").toString("base64") },
  };
}

function deployment(name: string, pod: Json, o: { annotations?: Json; namespace?: string; deleting?: boolean; labels?: Json } = {}): Json {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: o.namespace ?? NS, labels: o.labels ?? { app: name }, ...(o.deleting ? { deletionTimestamp: "2026-11-24T11:00:00Z" } : {}) },
    spec: {
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name }, ...(o.annotations ? { annotations: o.annotations } : {}) }, spec: pod },
    },
    status: { replicas: 2 },
  };
}

const container = (extra: Json): Json => ({ containers: [{ name: "app", image: "example/app:1", ...extra }] });
const envRef = container({ env: [{ name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "orders-app-db", key: "password" } } }] });
const envFrom = container({ envFrom: [{ secretRef: { name: "orders-app-db" } }] });
const volume = { ...container({}), volumes: [{ name: "db", secret: { secretName: "orders-app-db" } }] };
const projected = { ...container({}), volumes: [{ name: "all", projected: { sources: [{ configMap: { name: "cfg" } }, { secret: { name: "orders-app-db" } }] } }] };
const initOnly = { initContainers: [{ name: "migrate", image: "example/migrate:1", envFrom: [{ secretRef: { name: "orders-app-db" } }] }], ...container({}) };
const unrelated = container({ envFrom: [{ secretRef: { name: "other" } }] });

const items = (...resources: Json[]) => ({ items: resources.map((resource) => ({ resource, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED })) });

function request(o: { input?: Json; required?: RunFunctionRequest["requiredResources"]; desired?: Record<string, Resource> } = {}): RunFunctionRequest {
  return {
    meta: { tag: "op-1", capabilities: [] },
    observed: { composite: undefined, resources: {} },
    desired: { composite: undefined, resources: o.desired ?? {} },
    input: o.input ?? policy(),
    context: {},
    extraResources: {},
    credentials: {},
    requiredResources: o.required ?? { [WATCHED]: items(secret({ version: "3" })) },
    requiredSchemas: {},
  };
}

const requirements = (labels: Record<string, string> = {}) => ({
  extraResources: {},
  schemas: {},
  resources: {
    [WATCHED]: { apiVersion: "v1", kind: "Secret", matchName: "orders-app-db", namespace: NS },
    deployments: { apiVersion: "apps/v1", kind: "Deployment", matchLabels: { labels }, namespace: NS },
  },
});

const normal = (reason: string, message: string) => ({ severity: Severity.SEVERITY_NORMAL, reason, message, target: Target.TARGET_COMPOSITE });

const roll = (name: string, value = "v3"): Resource => ({
  resource: { apiVersion: "apps/v1", kind: "Deployment", metadata: { name, namespace: NS }, spec: { template: { metadata: { annotations: { [KEY]: value } } } } },
  connectionDetails: {},
  ready: Ready.READY_UNSPECIFIED,
});

function response(o: { resources?: Record<string, Resource>; requirements?: RunFunctionResponse["requirements"]; results?: RunFunctionResponse["results"]; output?: Json }): RunFunctionResponse {
  return {
    meta: { tag: "op-1", ttl: { seconds: 0, nanos: 0 } },
    desired: { composite: undefined, resources: o.resources ?? {} },
    results: o.results ?? [],
    conditions: [],
    requirements: o.requirements,
    context: {},
    ...(o.output !== undefined ? { output: o.output } : {}),
  };
}

const cases: Record<string, { req: RunFunctionRequest; want: RunFunctionResponse }> = {
  FirstCallAsksForTheDeploymentsInTheSecretsNamespaceAndForTheSecretAgain: {
    req: request(),
    want: response({ requirements: requirements() }),
  },
  RollsOnlyConsumersNotAtThisVersion: {
    req: request({
      required: {
        [WATCHED]: items(secret({ version: "3" })),
        deployments: items(
          deployment("api", envRef),
          deployment("worker", envFrom, { annotations: { [KEY]: "v3" } }),
          deployment("reports", volume, { annotations: { [KEY]: "v2", "other.example/keep": "x" } }),
          deployment("exporter", projected),
          deployment("migrations", initOnly),
          deployment("newer", envFrom, { annotations: { [KEY]: "v4" } }),
          deployment("hand-edited", envFrom, { annotations: { [KEY]: "restart-please" } }),
          deployment("unrelated", unrelated),
          deployment("leaving", envRef, { deleting: true }),
          deployment("elsewhere", envRef, { namespace: "team-other" }),
        ),
      },
    }),
    want: response({
      resources: {
        "deployment-api": roll("api"),
        "deployment-reports": roll("reports"),
        "deployment-exporter": roll("exporter"),
        "deployment-migrations": roll("migrations"),
        "deployment-hand-edited": roll("hand-edited"),
      },
      requirements: requirements(),
      results: [normal("Rolling", "rolling 5 Deployment(s) in team-payments to version 3 of Secret orders-app-db: api, exporter, hand-edited, migrations, reports")],
      output: {
        secret: "team-payments/orders-app-db",
        version: 3,
        rotatedBy: "orders-app-password",
        annotation: KEY,
        rolled: ["api", "exporter", "hand-edited", "migrations", "reports"],
        upToDate: ["newer", "worker"],
      },
    }),
  },
  EveryConsumerAlreadyAtThisVersionReturnsNothingToApply: {
    req: request({ required: { [WATCHED]: items(secret({ version: "3" })), deployments: items(deployment("api", envRef, { annotations: { [KEY]: "v3" } }), deployment("unrelated", unrelated)) } }),
    want: response({
      requirements: requirements(),
      results: [normal("UpToDate", "every Deployment in team-payments that reads Secret orders-app-db already runs version 3: api")],
      output: { secret: "team-payments/orders-app-db", version: 3, rotatedBy: "orders-app-password", annotation: KEY, rolled: [], upToDate: ["api"] },
    }),
  },
  NoConsumers: {
    req: request({ required: { [WATCHED]: items(secret({ version: "1" })), deployments: items(deployment("unrelated", unrelated)) } }),
    want: response({
      requirements: requirements(),
      results: [normal("UpToDate", "no Deployment in team-payments reads Secret orders-app-db; nothing to roll")],
      output: { secret: "team-payments/orders-app-db", version: 1, rotatedBy: "orders-app-password", annotation: KEY, rolled: [], upToDate: [] },
    }),
  },
  SelectorAsksForLabelledDeploymentsAndRollsThemWhetherOrNotTheyReadTheSecret: {
    req: request({
      input: policy({ selector: { matchLabels: { "app.kubernetes.io/part-of": "orders" } } }),
      required: {
        [WATCHED]: items(secret({ version: "3" })),
        deployments: items(deployment("api", envRef), deployment("sidecar-reader", unrelated, { annotations: { [KEY]: "v3" } }), deployment("gateway", container({}))),
      },
    }),
    want: response({
      resources: { "deployment-api": roll("api"), "deployment-gateway": roll("gateway") },
      requirements: requirements({ "app.kubernetes.io/part-of": "orders" }),
      results: [normal("Rolling", "rolling 2 Deployment(s) in team-payments to version 3 of Secret orders-app-db: api, gateway")],
      output: { secret: "team-payments/orders-app-db", version: 3, rotatedBy: "orders-app-password", annotation: KEY, rolled: ["api", "gateway"], upToDate: ["sidecar-reader"] },
    }),
  },
  SelectorWithNoMatches: {
    req: request({ input: policy({ selector: { matchLabels: { app: "orders", tier: "web" } } }), required: { [WATCHED]: items(secret({ version: "3" })), deployments: items() } }),
    want: response({
      requirements: requirements({ app: "orders", tier: "web" }),
      results: [normal("UpToDate", "no Deployment in team-payments matches the selector app=orders,tier=web; nothing to roll")],
      output: { secret: "team-payments/orders-app-db", version: 3, rotatedBy: "orders-app-password", annotation: KEY, rolled: [], upToDate: [] },
    }),
  },
  ASecretNotRotatedYetRollsNothingAndAsksForNothing: {
    req: request({ required: { [WATCHED]: items(secret()) } }),
    want: response({
      results: [
        normal(
          "NotRotated",
          "Secret team-payments/orders-app-db has no rotation version (annotation rotation.azplatform.io/version): no SecretRotation has promoted a value to it yet, so there is nothing to roll",
        ),
      ],
      output: { secret: "team-payments/orders-app-db", rolled: [] },
    }),
  },
  AVersionThatIsNotAPositiveIntegerIsNotARotation: {
    req: request({ required: { [WATCHED]: items(secret({ version: "0" })) } }),
    want: response({
      results: [
        normal(
          "NotRotated",
          "Secret team-payments/orders-app-db has no rotation version (annotation rotation.azplatform.io/version): no SecretRotation has promoted a value to it yet, so there is nothing to roll",
        ),
      ],
      output: { secret: "team-payments/orders-app-db", rolled: [] },
    }),
  },
  ASecretDeletedBeforeTheRunRollsNothing: {
    req: request({ required: { [WATCHED]: { items: [] } } }),
    want: response({ results: [normal("SecretGone", "the watched Secret no longer exists; nothing to roll")], output: { rolled: [] } }),
  },
  EarlierStepsDesiredResourcesPassThrough: {
    req: request({
      desired: { "from-step-1": { resource: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", namespace: NS } }, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED } },
      required: { [WATCHED]: items(secret({ version: "3" })), deployments: items(deployment("api", envRef)) },
    }),
    want: response({
      resources: {
        "from-step-1": { resource: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", namespace: NS } }, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED },
        "deployment-api": roll("api"),
      },
      requirements: requirements(),
      results: [normal("Rolling", "rolling 1 Deployment(s) in team-payments to version 3 of Secret orders-app-db: api")],
      output: { secret: "team-payments/orders-app-db", version: 3, rotatedBy: "orders-app-password", annotation: KEY, rolled: ["api"], upToDate: [] },
    }),
  },
};

const fatals: Record<string, { req: RunFunctionRequest; reason: string; message: string }> = {
  RefusesAnEmptySelector: {
    req: request({ input: policy({ selector: { matchLabels: {} } }) }),
    reason: "InvalidPolicy",
    message:
      "the WatchOperation's RolloutPolicy input is invalid: selector.matchLabels: must name at least one label; leave selector out to roll the Deployments that read the Secret",
  },
  RefusesUnknownPolicyFields: {
    req: request({ input: policy({ consumers: "auto" }) }),
    reason: "InvalidPolicy",
    message: 'the WatchOperation\'s RolloutPolicy input is invalid: unknown field "consumers"',
  },
  RefusesToRunWithoutAWatchedResource: {
    req: request({ required: {} }),
    reason: "NoWatchedResource",
    message:
      "RolloutPolicy runs in a WatchOperation that watches v1 Secrets; this request has no watched resource (ops.crossplane.io/watched-resource). Use it in a WatchOperation's pipeline, not in a CronOperation or a plain Operation",
  },
  RefusesAWatchOfSomethingElse: {
    req: request({ required: { [WATCHED]: items(secret({ apiVersion: "v1", kind: "ConfigMap", version: "3" })) } }),
    reason: "NotASecret",
    message: "the WatchOperation watches v1 ConfigMap team-payments/orders-app-db; RolloutPolicy rolls the consumers of Secrets: set spec.watch to apiVersion v1, kind Secret",
  },
};

describe("RolloutPolicy (WatchOperation on rotated Secrets)", () => {
  for (const [name, { req, want }] of Object.entries(cases)) {
    it(name, async () => {
      expect(runRollout(req)).toEqual(want);
      // The router serves the same answer for this input kind.
      expect(await route(req)).toEqual(want);
    });
  }
  for (const [name, { req, reason, message }] of Object.entries(fatals)) {
    it(name, () => {
      expect(runRollout(req)).toEqual({
        meta: { tag: "op-1", ttl: { seconds: 60, nanos: 0 } },
        desired: req.desired,
        results: [{ severity: Severity.SEVERITY_FATAL, reason, message, target: Target.TARGET_COMPOSITE }],
        conditions: [],
        requirements: undefined,
        context: {},
      });
    });
  }
  it("never copies the Secret's data into the response", () => {
    const rsp = runRollout(request({ required: { [WATCHED]: items(secret({ version: "3" })), deployments: items(deployment("api", envRef)) } }));
    expect(JSON.stringify(rsp)).not.toContain(Buffer.from("never-in-a-response").toString("base64"));
  });
});
