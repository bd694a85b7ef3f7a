// Generates the input CRD and the XRD from the zod schemas the function validates with, so the API that
// kubectl, ArgoCD and `crossplane beta validate` see is the one the function enforces. `--check` fails on drift.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { z } from "zod";
import { DatabasePolicy, POLICY_API_VERSION, POLICY_KIND } from "../functions/database/policy.ts";
import { DatabaseSpec } from "../functions/database/xr.ts";
import { DUE_ROTATIONS_POLICY_KIND, DueRotationsPolicy, ROLLOUT_POLICY_KIND, RolloutPolicy } from "../functions/operations/policy.ts";
import { ROTATION_POLICY_KIND, RotationPolicy } from "../functions/secret-rotation/policy.ts";
import { RotationSpec } from "../functions/secret-rotation/xr.ts";

type Schema = Record<string, unknown>;
const root = join(import.meta.dirname, "..");

/** Kubernetes structural schemas: no additionalProperties:false, no JS integer bounds, no $schema. */
function structural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(structural);
  if (typeof node !== "object" || node === null) return node;
  const out: Schema = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === "$schema" || (k === "additionalProperties" && v === false)) continue;
    if ((k === "minimum" || k === "maximum") && Math.abs(v as number) === Number.MAX_SAFE_INTEGER) continue;
    out[k] = structural(v);
  }
  return out;
}

function openapi(schema: z.ZodType): Schema {
  return structural(z.toJSONSchema(schema, { target: "openapi-3.0", io: "input", unrepresentable: "any" })) as Schema;
}

function inputCrd(zodSchema: z.ZodType, kind: string, plural: string, description: string): Schema {
  const schema = openapi(zodSchema);
  const properties = { ...(schema.properties as Schema) };
  delete properties.apiVersion;
  delete properties.kind;
  delete properties.metadata;
  const [group, version] = POLICY_API_VERSION.split("/") as [string, string];
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase(), categories: ["crossplane"] },
      scope: "Namespaced",
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: "object",
              description,
              properties: { apiVersion: { type: "string" }, kind: { type: "string" }, metadata: { type: "object" }, ...properties },
              required: schema.required,
            },
          },
        },
      ],
    },
  };
}

function xrd(): Schema {
  const spec = openapi(DatabaseSpec);
  const props = spec.properties as Record<string, Schema>;
  props.storageGB = { ...props.storageGB, "x-kubernetes-validations": [{ rule: "self >= oldSelf", message: "storageGB can only grow" }] };
  props.databases = { ...props.databases, "x-kubernetes-list-type": "set" };
  // Crossplane cannot rename a composed resource: once set, the Secret's name stays.
  spec["x-kubernetes-validations"] = [
    {
      rule: "!has(oldSelf.connectionSecretName) || (has(self.connectionSecretName) && self.connectionSecretName == oldSelf.connectionSecretName)",
      message: "connectionSecretName cannot change once set",
    },
  ];
  return namespacedXrd({
    kind: "Database",
    plural: "databases",
    composition: "database-postgres",
    description: "A Database is an Azure Database for PostgreSQL Flexible Server for one team, provisioned under the DBA team's policy.",
    columns: [
      { name: "TEAM", type: "string", jsonPath: ".spec.team" },
      { name: "SIZE", type: "string", jsonPath: ".spec.size" },
      { name: "SERVER", type: "string", jsonPath: ".status.serverName" },
      { name: "SECRET", type: "string", jsonPath: ".status.connectionSecretName" },
      { name: "READY", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    ],
    spec,
    status: {
      serverName: { type: "string", description: "Azure name of the Flexible Server." },
      resourceGroupName: { type: "string", description: "Resource group of the Flexible Server." },
      fqdn: { type: "string", description: "Host name apps connect to (private DNS)." },
      connectionSecretName: { type: "string", description: "Secret with the connection details." },
      version: { type: "string", description: "PostgreSQL major version the server runs or is moving to." },
      storageGB: { type: "integer", description: "Storage the server has or is growing to." },
      passwordAuthEnabled: { type: "boolean", description: "Whether passwords sign in to the server; false when the DBA policy's authentication.mode is EntraId." },
      applicationRole: { type: "string", description: "The login role apps connect as, when the DBA policy gives Databases one (applicationRole.enabled)." },
      adminSecretName: { type: "string", description: "Secret with the server admin's connection details, when apps connect as the application role." },
    },
  });
}

/** A namespaced azplatform.io v1alpha1 XRD: the envelope both XR kinds share. */
function namespacedXrd(o: { kind: string; plural: string; composition: string; description: string; columns: Schema[]; spec: Schema; status: Record<string, Schema> }): Schema {
  return {
    apiVersion: "apiextensions.crossplane.io/v2",
    kind: "CompositeResourceDefinition",
    metadata: { name: `${o.plural}.azplatform.io` },
    spec: {
      group: "azplatform.io",
      scope: "Namespaced",
      names: { kind: o.kind, plural: o.plural, categories: ["crossplane", "azplatform"] },
      defaultCompositionRef: { name: o.composition },
      versions: [
        {
          name: "v1alpha1",
          served: true,
          referenceable: true,
          additionalPrinterColumns: o.columns,
          schema: {
            openAPIV3Schema: {
              type: "object",
              description: o.description,
              properties: { spec: o.spec, status: { type: "object", properties: o.status } },
              required: ["spec"],
            },
          },
        },
      ],
    },
  };
}

function rotationXrd(): Schema {
  const spec = openapi(RotationSpec);
  // `consumers` is a string (auto, none) or an object ({selector}); a structural schema cannot say "string or
  // object" with anyOf, so it keeps unknown fields. The real API server compiles no CEL rule on a field without a
  // type ("failed to convert to declType for CEL validation rules"): the function checks the shape and answers a
  // wrong one with a Fatal result naming spec.consumers.
  const props = spec.properties as Record<string, Schema>;
  props.consumers = {
    description: (props.consumers as Schema).description,
    default: "auto",
    "x-kubernetes-preserve-unknown-fields": true,
  };
  return namespacedXrd({
    kind: "SecretRotation",
    plural: "secretrotations",
    composition: "secret-rotation",
    description:
      "A SecretRotation rotates one secret value on a schedule and on demand (annotation azplatform.io/rotate-now), updating PostgreSQL, the Flexible Server admin password or Key Vault, then the Secret apps read, then rolling the Deployments that read it.",
    columns: [
      { name: "SECRET", type: "string", jsonPath: ".spec.secretRef.name" },
      { name: "PHASE", type: "string", jsonPath: ".status.phase" },
      { name: "VERSION", type: "integer", jsonPath: ".status.currentVersion" },
      { name: "LAST", type: "date", jsonPath: ".status.lastRotatedAt" },
      { name: "NEXT", type: "date", jsonPath: ".status.nextRotationAt" },
    ],
    spec: { ...spec, "x-kubernetes-validations": [{ rule: "has(self.rotateEvery) != has(self.schedule)", message: "set exactly one of rotateEvery or schedule" }] },
    status: {
      phase: { type: "string", description: "Idle, Waiting (for a hand-over), or Failed (retrying)." },
      currentVersion: { type: "integer", description: "Version of the value apps read (never the value)." },
      lastRotatedAt: { type: "string", format: "date-time" },
      nextRotationAt: { type: "string", format: "date-time" },
      nextCheckAt: { type: "string", format: "date-time", description: "When the app Secret and Key Vault are next compared with the current value (drift)." },
      retryAt: { type: "string", format: "date-time", description: "When a failed rotation is retried." },
      lastError: { type: "string", description: "Why the last attempt failed, in plain words (never a value)." },
      handledTrigger: { type: "string", description: "The last azplatform.io/rotate-now value acted on." },
      schedule: { type: "string", description: "The schedule nextRotationAt was computed from." },
    },
  });
}

export const generated: Record<string, Schema> = {
  "package/input/fn.azplatform.io_databasepolicies.yaml": inputCrd(
    DatabasePolicy,
    POLICY_KIND,
    "databasepolicies",
    "DatabasePolicy is the DBA team's policy for Database XRs: the input of the function-azure-platform step in a Composition.",
  ),
  "package/input/fn.azplatform.io_secretrotationpolicies.yaml": inputCrd(
    RotationPolicy,
    ROTATION_POLICY_KIND,
    "secretrotationpolicies",
    "SecretRotationPolicy decides what SecretRotation XRs may touch: the input of the function-azure-platform step in a Composition.",
  ),
  "package/input/fn.azplatform.io_rolloutpolicies.yaml": inputCrd(
    RolloutPolicy,
    ROLLOUT_POLICY_KIND,
    "rolloutpolicies",
    "RolloutPolicy says which Deployments to roll when a rotated Secret changes: the input of the function-azure-platform step in a WatchOperation that watches Secrets.",
  ),
  "package/input/fn.azplatform.io_duerotationspolicies.yaml": inputCrd(
    DueRotationsPolicy,
    DUE_ROTATIONS_POLICY_KIND,
    "duerotationspolicies",
    "DueRotationsPolicy says which due SecretRotations to nudge and how many per run: the input of the function-azure-platform step in a CronOperation.",
  ),
  "xrds/database.yaml": xrd(),
  "xrds/secretrotation.yaml": rotationXrd(),
};

const header = "# Generated by scripts/manifests.ts from the zod schemas in functions/. Do not edit; run npm run manifests.\n";
export function render(doc: Schema): string {
  return header + stringify(doc, { lineWidth: 0 });
}

if (import.meta.main) {
  const check = process.argv.includes("--check");
  let drift = false;
  for (const [file, doc] of Object.entries(generated)) {
    const path = join(root, file);
    const text = render(doc);
    if (check) {
      let current: string;
      try {
        current = readFileSync(path, "utf8");
      } catch {
        current = "";
      }
      if (current !== text) {
        drift = true;
        process.stderr.write(`${file} is out of date; run npm run manifests\n`);
      }
    } else {
      writeFileSync(path, text);
      process.stdout.write(`wrote ${file}\n`);
    }
  }
  process.exit(drift ? 1 : 0);
}
