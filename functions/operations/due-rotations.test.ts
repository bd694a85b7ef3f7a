// The due-rotations CronOperation function: request in, whole response out, with the clock injected.
import { Ready, Severity, Target, type Resource, type RunFunctionRequest, type RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { describe, expect, it } from "vitest";
import { runDueRotations } from "./due-rotations.ts";

type Json = Record<string, unknown>;
const NOW = new Date("2026-11-24T12:00:00Z");
const DUE_AT = "rotation.azplatform.io/due-at";

const policy = (over: Json = {}): Json => ({ apiVersion: "fn.azplatform.io/v1alpha1", kind: "DueRotationsPolicy", ...over });

function xr(namespace: string, name: string, status: Json | undefined, annotations: Record<string, string> = {}, extra: Json = {}): Json {
  return {
    apiVersion: "azplatform.io/v1alpha1",
    kind: "SecretRotation",
    metadata: { name, namespace, annotations, ...extra },
    spec: { team: "payments", secretRef: { name: `${name}-db`, key: "password" }, rotateEvery: "720h", targets: { keyVault: { vaultName: "kv-payments", secretName: name } } },
    ...(status !== undefined ? { status } : {}),
  };
}

const idle = (nextRotationAt: string): Json => ({ phase: "Idle", currentVersion: 2, lastRotatedAt: "2026-10-25T11:00:00Z", nextRotationAt, schedule: "720h" });
const failed = (retryAt: string, nextRotationAt = "2026-11-24T09:00:00Z"): Json => ({ phase: "Failed", currentVersion: 2, retryAt, nextRotationAt, lastError: "Set failed: x" });

const items = (...resources: Json[]) => ({ items: resources.map((resource) => ({ resource, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED })) });

function request(o: { input?: Json; required?: RunFunctionRequest["requiredResources"] } = {}): RunFunctionRequest {
  return {
    meta: { tag: "cron-1", capabilities: [] },
    observed: { composite: undefined, resources: {} },
    desired: { composite: undefined, resources: {} },
    input: o.input ?? policy(),
    context: {},
    extraResources: {},
    credentials: {},
    requiredResources: o.required ?? {},
    requiredSchemas: {},
  };
}

const selector = (namespace?: string) => ({ apiVersion: "azplatform.io/v1alpha1", kind: "SecretRotation", matchLabels: { labels: {} }, ...(namespace ? { namespace } : {}) });
const everywhere = { extraResources: {}, schemas: {}, resources: { secretrotations: selector() } };
const perNamespace = { extraResources: {}, schemas: {}, resources: { "secretrotations-team-a": selector("team-a"), "secretrotations-team-b": selector("team-b") } };

const nudge = (namespace: string, name: string, dueAt: string): [string, Resource] => [
  `secretrotation-${namespace}-${name}`,
  { resource: { apiVersion: "azplatform.io/v1alpha1", kind: "SecretRotation", metadata: { name, namespace, annotations: { [DUE_AT]: dueAt } } }, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED },
];

const result = (severity: Severity, reason: string, message: string) => ({ severity, reason, message, target: Target.TARGET_COMPOSITE });
const normal = (reason: string, message: string) => result(Severity.SEVERITY_NORMAL, reason, message);
const warning = (reason: string, message: string) => result(Severity.SEVERITY_WARNING, reason, message);

function response(o: { resources?: [string, Resource][]; requirements: RunFunctionResponse["requirements"]; results?: RunFunctionResponse["results"]; output?: Json }): RunFunctionResponse {
  return {
    meta: { tag: "cron-1", ttl: { seconds: 0, nanos: 0 } },
    desired: { composite: undefined, resources: Object.fromEntries(o.resources ?? []) },
    results: o.results ?? [],
    conditions: [],
    requirements: o.requirements,
    context: {},
    ...(o.output !== undefined ? { output: o.output } : {}),
  };
}

const output = (o: Partial<{ checked: number; nudged: Json[]; deferredCount: number; deferred: string[]; awaitingReconcile: string[]; paused: string[] }>) => ({
  now: "2026-11-24T12:00:00.000Z",
  checked: 0,
  nudged: [],
  deferredCount: 0,
  deferred: [],
  awaitingReconcile: [],
  paused: [],
  ...o,
});

// A mix of everything the function must tell apart.
const mixed = items(
  xr("team-a", "future", idle("2026-12-01T00:00:00Z")),
  xr("team-a", "due-now", idle("2026-11-24T12:00:00Z")),
  xr("team-b", "overdue", idle("2026-11-24T11:00:00Z")),
  xr("team-b", "retry-due", failed("2026-11-24T11:30:00Z")),
  xr("team-b", "retry-later", failed("2026-11-24T12:05:00Z")),
  xr("team-a", "waiting", { phase: "Waiting", currentVersion: 0 }),
  xr("team-a", "new", undefined),
  xr("team-a", "nudged", idle("2026-11-24T10:00:00Z"), { [DUE_AT]: "2026-11-24T10:00:00Z" }),
  xr("team-a", "nudged-last-month", idle("2026-11-24T09:00:00Z"), { [DUE_AT]: "2026-10-25T09:00:00Z" }),
  xr("team-b", "paused", idle("2026-11-24T08:00:00Z"), { "crossplane.io/paused": "true" }),
  xr("team-b", "deleting", idle("2026-11-24T08:00:00Z"), {}, { deletionTimestamp: "2026-11-24T11:59:00Z" }),
  xr("team-b", "bad-time", idle("soon")),
  { apiVersion: "azplatform.io/v1alpha1", kind: "SecretRotation", metadata: { name: "no-namespace" } },
);

const cases: Record<string, { req: RunFunctionRequest; want: RunFunctionResponse }> = {
  FirstCallAsksForEverySecretRotationInEveryNamespace: {
    req: request(),
    want: response({ requirements: everywhere }),
  },
  FirstCallAsksPerListedNamespace: {
    req: request({ input: policy({ namespaces: ["team-b", "team-a", "team-b"] }) }),
    want: response({ requirements: perNamespace }),
  },
  AsksAgainUntilEveryNamespaceArrived: {
    req: request({ input: policy({ namespaces: ["team-a", "team-b"] }), required: { "secretrotations-team-a": items() } }),
    want: response({ requirements: perNamespace }),
  },
  NudgesDueRotationsAndDueRetriesOldestFirst: {
    req: request({ required: { secretrotations: mixed } }),
    want: response({
      resources: [
        nudge("team-a", "nudged-last-month", "2026-11-24T09:00:00Z"),
        nudge("team-b", "overdue", "2026-11-24T11:00:00Z"),
        nudge("team-b", "retry-due", "2026-11-24T11:30:00Z"),
        nudge("team-a", "due-now", "2026-11-24T12:00:00Z"),
      ],
      requirements: everywhere,
      results: [
        normal("Nudged", "nudging 4 due SecretRotation(s) to reconcile: team-a/nudged-last-month, team-b/overdue, team-b/retry-due, team-a/due-now"),
        normal("AwaitingReconcile", "1 SecretRotation(s) were already nudged for their due time and wait for Crossplane to reconcile them: team-a/nudged"),
        normal("Paused", "1 due SecretRotation(s) are paused (crossplane.io/paused) and were left alone: team-b/paused"),
        warning("Unreadable", "1 SecretRotation(s) have no name, namespace or kind this function can read and were skipped"),
      ],
      output: output({
        checked: 11,
        nudged: [
          { secretRotation: "team-a/nudged-last-month", dueAt: "2026-11-24T09:00:00Z" },
          { secretRotation: "team-b/overdue", dueAt: "2026-11-24T11:00:00Z" },
          { secretRotation: "team-b/retry-due", dueAt: "2026-11-24T11:30:00Z" },
          { secretRotation: "team-a/due-now", dueAt: "2026-11-24T12:00:00Z" },
        ],
        awaitingReconcile: ["team-a/nudged"],
        paused: ["team-b/paused"],
      }),
    }),
  },
  CapsTheNudgesPerRunAndReportsTheRest: {
    req: request({ input: policy({ maxPerRun: 2 }), required: { secretrotations: mixed } }),
    want: response({
      resources: [nudge("team-a", "nudged-last-month", "2026-11-24T09:00:00Z"), nudge("team-b", "overdue", "2026-11-24T11:00:00Z")],
      requirements: everywhere,
      results: [
        normal("Nudged", "nudging 2 due SecretRotation(s) to reconcile: team-a/nudged-last-month, team-b/overdue"),
        warning("Deferred", "2 more due SecretRotation(s) wait for the next run (maxPerRun is 2); raise maxPerRun or run more often if this persists"),
        normal("AwaitingReconcile", "1 SecretRotation(s) were already nudged for their due time and wait for Crossplane to reconcile them: team-a/nudged"),
        normal("Paused", "1 due SecretRotation(s) are paused (crossplane.io/paused) and were left alone: team-b/paused"),
        warning("Unreadable", "1 SecretRotation(s) have no name, namespace or kind this function can read and were skipped"),
      ],
      output: output({
        checked: 11,
        nudged: [
          { secretRotation: "team-a/nudged-last-month", dueAt: "2026-11-24T09:00:00Z" },
          { secretRotation: "team-b/overdue", dueAt: "2026-11-24T11:00:00Z" },
        ],
        deferredCount: 2,
        deferred: ["team-b/retry-due", "team-a/due-now"],
        awaitingReconcile: ["team-a/nudged"],
        paused: ["team-b/paused"],
      }),
    }),
  },
  ListsInTheOutputAreBoundedToo: {
    req: request({
      input: policy({ maxPerRun: 1 }),
      required: { secretrotations: items(...["a", "b", "c", "d"].map((n, i) => xr("team-a", n, idle(`2026-11-24T0${i + 1}:00:00Z`)))) },
    }),
    want: response({
      resources: [nudge("team-a", "a", "2026-11-24T01:00:00Z")],
      requirements: everywhere,
      results: [
        normal("Nudged", "nudging 1 due SecretRotation(s) to reconcile: team-a/a"),
        warning("Deferred", "3 more due SecretRotation(s) wait for the next run (maxPerRun is 1); raise maxPerRun or run more often if this persists"),
      ],
      output: output({ checked: 4, nudged: [{ secretRotation: "team-a/a", dueAt: "2026-11-24T01:00:00Z" }], deferredCount: 3, deferred: ["team-a/b", "… and 2 more"] }),
    }),
  },
  NothingDue: {
    req: request({ input: policy({ namespaces: ["team-a", "team-b"] }), required: { "secretrotations-team-a": items(xr("team-a", "future", idle("2026-12-01T00:00:00Z"))), "secretrotations-team-b": items() } }),
    want: response({
      requirements: perNamespace,
      results: [normal("NothingDue", "no SecretRotation in team-a, team-b needs a nudge (checked 1)")],
      output: output({ checked: 1 }),
    }),
  },
  NoSecretRotationsAtAll: {
    req: request({ required: { secretrotations: { items: [] } } }),
    want: response({ requirements: everywhere, results: [normal("NothingDue", "no SecretRotation in any namespace needs a nudge (checked 0)")], output: output({}) }),
  },
};

const fatals: Record<string, { input: Json; message: string }> = {
  RefusesZeroPerRun: { input: policy({ maxPerRun: 0 }), message: "the CronOperation's DueRotationsPolicy input is invalid: maxPerRun: Too small: expected number to be >=1" },
  RefusesABadNamespace: {
    input: policy({ namespaces: ["Team_A"] }),
    message: "the CronOperation's DueRotationsPolicy input is invalid: namespaces[0]: must be a namespace name (lowercase DNS label)",
  },
};

describe("DueRotationsPolicy (CronOperation)", () => {
  for (const [name, { req, want }] of Object.entries(cases)) {
    it(name, () => expect(runDueRotations(req, { now: () => NOW })).toEqual(want));
  }
  for (const [name, { input, message }] of Object.entries(fatals)) {
    it(name, () => {
      const req = request({ input });
      expect(runDueRotations(req, { now: () => NOW })).toEqual({
        meta: { tag: "cron-1", ttl: { seconds: 60, nanos: 0 } },
        desired: req.desired,
        results: [{ severity: Severity.SEVERITY_FATAL, reason: "InvalidPolicy", message, target: Target.TARGET_COMPOSITE }],
        conditions: [],
        requirements: undefined,
        context: {},
      });
    });
  }
  it("a nudge applied and reconciled leaves nothing to do on the next run", () => {
    // After Crossplane applied the annotation and the rotation ran, the status moves the due time forward.
    const after = items(xr("team-b", "overdue", idle("2026-12-24T11:00:00Z"), { [DUE_AT]: "2026-11-24T11:00:00Z" }));
    const rsp = runDueRotations(request({ required: { secretrotations: after } }), { now: () => NOW });
    expect(rsp.desired?.resources).toEqual({});
  });
});
