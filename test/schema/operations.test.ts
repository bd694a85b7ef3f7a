// The Operation examples (examples/operations/) against Crossplane's ops.crossplane.io CRDs, their step inputs
// against our generated input CRDs and the zod schemas the function enforces, and the wiring between them: the
// label the SecretRotation engine applies is the one the WatchOperation selects on, the function declares the
// operation capability, and the RBAC gives Crossplane what the functions ask it to read and write.
import fs from "node:fs";
import path from "node:path";
import { Ready } from "@crossplane-org/function-sdk-typescript";
import { describe, expect, it } from "vitest";
import { runDueRotations } from "../../functions/operations/due-rotations.ts";
import { DueRotationsPolicy, RolloutPolicy } from "../../functions/operations/policy.ts";
import { runRollout } from "../../functions/operations/rollout.ts";
import { cronTimes } from "../../functions/secret-rotation/schedule.ts";
import { MANAGED_LABELS } from "../../functions/shared/rotation-contract.ts";
import { coreValidator, crossplaneValidator, loadCrds, loadYamlDocuments, prefixProblems, repoRoot, type Problem } from "../support/schema.ts";

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : {});

const folder = path.join(repoRoot, "examples/operations");
const docs = fs
  .readdirSync(folder)
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .flatMap((f) => loadYamlDocuments(path.join(folder, f)).map(({ doc, index }) => ({ file: f, index, doc: obj(doc) })));
const byKind = (kind: string) => docs.filter((d) => d.doc.kind === kind).map((d) => d.doc);

const crossplane = crossplaneValidator();
const core = coreValidator();
const inputs = loadCrds([path.join(repoRoot, "package/input")]);
const zodInputs: Record<string, { safeParse: (v: unknown) => { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } } }> = {
  RolloutPolicy,
  DueRotationsPolicy,
};

function stepsOf(doc: Obj): Obj[] {
  const spec = obj(doc.spec);
  const pipeline = doc.kind === "Operation" ? spec.pipeline : obj(obj(spec.operationTemplate).spec).pipeline;
  return Array.isArray(pipeline) ? pipeline.map(obj) : [];
}

function problemsOf(doc: Obj): Problem[] {
  if (String(doc.apiVersion).startsWith("ops.crossplane.io/")) {
    const out = crossplane.validate(doc);
    stepsOf(doc).forEach((step, i) => {
      const input = obj(step.input);
      const where = `spec.operationTemplate.spec.pipeline[${i}].input`;
      out.push(...prefixProblems(where, inputs.validate(input)));
      const zod = zodInputs[String(input.kind)];
      if (zod === undefined) out.push({ path: where, message: `${String(input.kind)} is not an operation input this function serves` });
      else {
        const parsed = zod.safeParse(input);
        for (const issue of parsed.error?.issues ?? []) out.push({ path: [where, ...issue.path.map(String)].join("."), message: issue.message });
      }
    });
    return out;
  }
  return core.validate(doc);
}

/** What the WatchOperation controller creates for a watched Secret: the template plus the injected requirement. */
function operationFor(wo: Obj, secret: { name: string; namespace: string }): Obj {
  const template = obj(obj(wo.spec).operationTemplate);
  const spec = structuredClone(obj(template.spec));
  spec.pipeline = stepsOf(wo).map((step) => ({
    ...structuredClone(step),
    requirements: { requiredResources: [{ requirementName: "ops.crossplane.io/watched-resource", apiVersion: "v1", kind: "Secret", name: secret.name, namespace: secret.namespace }] },
  }));
  return { apiVersion: "ops.crossplane.io/v1alpha1", kind: "Operation", metadata: { name: `${String(obj(wo.metadata).name)}-1a2b3c4` }, spec };
}

describe("examples/operations/ against the Crossplane and input CRDs", () => {
  it("holds a WatchOperation, a CronOperation and a ClusterRole", () => {
    expect(docs.map((d) => d.doc.kind).sort()).toEqual(["ClusterRole", "CronOperation", "WatchOperation"]);
  });
  for (const { file, index, doc } of docs) {
    it(`${file}#${index} ${String(doc.kind)} ${String(obj(doc.metadata).name)}`, () => expect(problemsOf(doc)).toEqual([]));
  }
  for (const wo of byKind("WatchOperation")) {
    it(`the Operation ${String(obj(wo.metadata).name)} creates for a Secret is valid`, () => {
      expect(crossplane.validate(operationFor(wo, { name: "orders-app-db", namespace: "team-payments" }))).toEqual([]);
    });
  }
});

describe("the wiring between the examples, the package and the functions", () => {
  const pkg = obj(loadYamlDocuments(path.join(repoRoot, "crossplane.yaml"))[0]?.doc);
  const functionName = obj(pkg.metadata).name;

  it("crossplane.yaml declares the operation capability (Crossplane checks it before running an Operation step)", () => {
    expect(obj(pkg.spec).capabilities).toEqual(["composition", "operation"]);
  });

  it("every pipeline step calls this package's function", () => {
    const refs = [...byKind("WatchOperation"), ...byKind("CronOperation")].flatMap(stepsOf).map((s) => obj(s.functionRef).name);
    expect(refs.length).toBeGreaterThan(0);
    expect(new Set(refs)).toEqual(new Set([functionName]));
  });

  it("the WatchOperation watches v1 Secrets by the label the SecretRotation engine applies", () => {
    const [wo] = byKind("WatchOperation");
    expect(obj(wo?.spec).watch).toEqual({ apiVersion: "v1", kind: "Secret", matchLabels: MANAGED_LABELS });
    // Forbid would drop the event of one Secret while another Secret's run is in flight.
    expect(obj(wo?.spec).concurrencyPolicy).toBe("Allow");
    expect(stepsOf(wo ?? {}).map((s) => obj(s.input).kind)).toEqual(["RolloutPolicy"]);
  });

  it("the CronOperation runs on a valid 5-field schedule, one run at a time", () => {
    const [co] = byKind("CronOperation");
    const spec = obj(co?.spec);
    expect(() => cronTimes(String(spec.schedule), new Date("2026-11-24T12:00:00Z"), 2)).not.toThrow();
    expect(spec.concurrencyPolicy).toBe("Forbid");
    expect(stepsOf(co ?? {}).map((s) => obj(s.input).kind)).toEqual(["DueRotationsPolicy"]);
  });

  // Everything the functions make Crossplane read (requirements, the watch) and write (desired resources), taken
  // from the functions' own answers to the examples' inputs, must be granted to Crossplane by rbac.yaml.
  it("rbac.yaml aggregates into Crossplane's role and grants what the functions read and write", () => {
    const [role] = byKind("ClusterRole");
    expect(obj(obj(role?.metadata).labels)).toEqual({ "rbac.crossplane.io/aggregate-to-crossplane": "true" });
    const rules = (role?.rules as Obj[]).map((r) => ({ groups: r.apiGroups as string[], resources: r.resources as string[], verbs: r.verbs as string[] }));
    const allows = (apiVersion: string, kind: string, verb: string) => {
      const group = apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
      const resource = `${kind.toLowerCase()}s`;
      return rules.some((r) => r.groups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));
    };

    const [wo] = byKind("WatchOperation");
    const [co] = byKind("CronOperation");
    const watch = obj(obj(wo?.spec).watch);
    const base = { meta: { tag: "t", capabilities: [] }, observed: undefined, desired: { composite: undefined, resources: {} }, extraResources: {}, credentials: {}, requiredSchemas: {} };
    const secret = { apiVersion: "v1", kind: "Secret", metadata: { name: "s", namespace: "ns", annotations: { "rotation.azplatform.io/version": "2" } } };
    const deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "d", namespace: "ns" },
      spec: { template: { spec: { containers: [{ name: "c", envFrom: [{ secretRef: { name: "s" } }] }] } } },
    };
    const xr = { apiVersion: "azplatform.io/v1alpha1", kind: "SecretRotation", metadata: { name: "x", namespace: "ns" }, status: { phase: "Idle", nextRotationAt: "2026-01-01T00:00:00Z" } };
    const items = (r: Obj) => ({ items: [{ resource: r, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }] });
    const rollout = runRollout({ ...base, input: stepsOf(wo ?? {})[0]?.input as Obj, requiredResources: { "ops.crossplane.io/watched-resource": items(secret), deployments: items(deployment) } });
    const due = runDueRotations({ ...base, input: stepsOf(co ?? {})[0]?.input as Obj, requiredResources: { secretrotations: items(xr) } }, { now: () => new Date("2026-11-24T12:00:00Z") });

    const reads = [watch, ...[rollout, due].flatMap((r) => Object.values(r.requirements?.resources ?? {}))].map((s) => ({ apiVersion: String(s.apiVersion), kind: String(s.kind) }));
    const writes = [rollout, due].flatMap((r) => Object.values(r.desired?.resources ?? {})).map((d) => ({ apiVersion: String(d.resource?.apiVersion), kind: String(d.resource?.kind) }));
    expect(new Set(writes.map((w) => w.kind))).toEqual(new Set(["Deployment", "SecretRotation"]));
    const missing = [
      ...reads.flatMap((r) => ["get", "list", "watch"].filter((v) => !allows(r.apiVersion, r.kind, v)).map((v) => `${v} ${r.apiVersion} ${r.kind}`)),
      ...writes.filter((w) => !allows(w.apiVersion, w.kind, "patch")).map((w) => `patch ${w.apiVersion} ${w.kind}`),
    ];
    expect(missing).toEqual([]);
    // Partial objects of existing resources only: no create, no delete.
    expect(rules.flatMap((r) => r.verbs).filter((v) => v === "create" || v === "delete" || v === "*")).toEqual([]);
  });
});
