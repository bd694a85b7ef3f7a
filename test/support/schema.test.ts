import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  SchemaRegistry,
  azureValidator,
  coreValidator,
  crossplaneValidator,
  formatPath,
  loadCrds,
  loadYamlDocuments,
  prefixProblems,
  referenceDir,
  repoRoot,
} from "./schema.ts";
import type { Problem } from "./schema.ts";

const azure = azureValidator();
const crossplane = crossplaneValidator();
const core = coreValidator();

// ---------------------------------------------------------------------------------------------------------------
// fixtures

const FLEXIBLE_SERVER = "dbforpostgresql.azure.m.upbound.io/v1beta1";

function flexibleServer(spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: FLEXIBLE_SERVER,
    kind: "FlexibleServer",
    metadata: { name: "orders-db", namespace: "team-orders", labels: { team: "orders" }, ...metadata },
    spec: {
      forProvider: {
        location: "westeurope",
        resourceGroupName: "rg-orders",
        skuName: "GP_Standard_D2ds_v5",
        storageMb: 32768,
        version: "16",
        administratorLogin: "pgadmin",
        administratorPasswordSecretRef: { name: "orders-db-admin", key: "password" },
        tags: { team: "orders" },
      },
      providerConfigRef: { kind: "ProviderConfig", name: "azure" },
      ...spec,
    },
  };
}

function forProviderWithout(field: string): Record<string, unknown> {
  const fp = (flexibleServer()["spec"] as { forProvider: Record<string, unknown> }).forProvider;
  return Object.fromEntries(Object.entries(fp).filter(([k]) => k !== field));
}

function composition(spec: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: "apiextensions.crossplane.io/v1",
    kind: "Composition",
    metadata: { name: "databases.platform.example.org" },
    spec: {
      compositeTypeRef: { apiVersion: "platform.example.org/v1alpha1", kind: "Database" },
      mode: "Pipeline",
      pipeline: [
        {
          step: "database",
          functionRef: { name: "function-azure-platform" },
          input: { apiVersion: "platform.example.org/v1alpha1", kind: "DatabasePolicy", tier: "standard" },
        },
      ],
      ...spec,
    },
  };
}

/** A tiny v2 XRD of our own, with a transition rule. */
const XRD = {
  apiVersion: "apiextensions.crossplane.io/v2",
  kind: "CompositeResourceDefinition",
  metadata: { name: "databases.platform.example.org" },
  spec: {
    group: "platform.example.org",
    names: { kind: "Database", plural: "databases" },
    scope: "Namespaced",
    versions: [
      {
        name: "v1alpha1",
        served: true,
        referenceable: true,
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: {
              spec: {
                type: "object",
                required: ["team"],
                properties: {
                  team: { type: "string", maxLength: 63 },
                  size: { type: "string", enum: ["S", "M", "L"] },
                  storageGB: {
                    type: "integer",
                    minimum: 32,
                    "x-kubernetes-validations": [{ rule: "self >= oldSelf", message: "storageGB can only grow" }],
                  },
                },
              },
              status: { type: "object", properties: { host: { type: "string" } } },
            },
          },
        },
      },
      { name: "v1alpha0", served: false, referenceable: false, schema: { openAPIV3Schema: { type: "object" } } },
    ],
  },
};

function xr(spec: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: "platform.example.org/v1alpha1",
    kind: "Database",
    metadata: { name: "orders", namespace: "team-orders" },
    spec: { team: "orders", size: "M", storageGB: 64, ...spec },
    ...extra,
  };
}

const xrs = new SchemaRegistry();
xrs.add(XRD, "inline XRD");

/** A tiny CRD exercising the schema keywords the library has to translate for ajv. */
const WIDGET_CRD = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "widgets.example.org" },
  spec: {
    group: "example.org",
    names: { kind: "Widget", plural: "widgets" },
    scope: "Namespaced",
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: {
              spec: {
                type: "object",
                properties: {
                  port: { "x-kubernetes-int-or-string": true, anyOf: [{ type: "integer" }, { type: "string" }] },
                  note: { type: "string", nullable: true },
                  when: { type: "string", format: "date-time" },
                  flavour: { type: "string", format: "no-such-format" },
                  code: { type: "string", pattern: "^[A-Z]{3}$" },
                  tags: { type: "array", maxItems: 2, items: { type: "string" }, "x-kubernetes-list-type": "set" },
                  extra: { type: "object", "x-kubernetes-preserve-unknown-fields": true, properties: { known: { type: "integer" } } },
                  empty: { type: "object" },
                  replicas: {
                    type: "integer",
                    "x-kubernetes-validations": [
                      { rule: "self <= 5", messageExpression: "'at most 5 replicas, not ' + string(self)" },
                      { rule: "self % 2 == 1" },
                    ],
                  },
                  // CEL has no int/double arithmetic: this only works if a `type: number` value becomes a double
                  ratio: { type: "number", "x-kubernetes-validations": [{ rule: "self / 2.0 <= 1.0", message: "ratio must be at most 2" }] },
                  window: {
                    type: "object",
                    properties: { start: { type: "integer" }, end: { type: "integer" } },
                    "x-kubernetes-validations": [{ rule: "self.start < self.end", message: "start must precede end", fieldPath: ".start" }],
                  },
                },
              },
            },
          },
        },
      },
    ],
  },
};

const widgets = new SchemaRegistry();
widgets.add(WIDGET_CRD, "inline CRD");

function widget(spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: "example.org/v1", kind: "Widget", metadata: { name: "w", creationTimestamp: null }, spec };
}

/** A hand-written CRD with a pattern no regex engine accepts. */
const broken = new SchemaRegistry();
broken.add(
  {
    ...WIDGET_CRD,
    spec: {
      ...WIDGET_CRD.spec,
      versions: [{ name: "v1", served: true, storage: true, schema: { openAPIV3Schema: { type: "object", properties: { spec: { type: "string", pattern: "([a-z" } } } } }],
    },
  },
  "broken.yaml#0",
);

// ---------------------------------------------------------------------------------------------------------------
// validate()

interface Case {
  name: string;
  registry: SchemaRegistry;
  doc: unknown;
  want: Problem[];
}

const cases: Case[] = [
  // Azure managed resources
  { name: "a valid namespaced FlexibleServer passes", registry: azure, doc: flexibleServer(), want: [] },
  {
    name: "spec.deletionPolicy (cluster-scoped MRs only) is an unknown field on a namespaced MR",
    registry: azure,
    doc: flexibleServer({ deletionPolicy: "Orphan" }),
    want: [{ path: "spec.deletionPolicy", message: 'unknown field "deletionPolicy"' }],
  },
  {
    name: "the legacy cluster-scoped FlexibleServer has spec.deletionPolicy, but its refs differ from the namespaced kind",
    registry: azure,
    doc: { ...flexibleServer({ deletionPolicy: "Orphan" }), apiVersion: "dbforpostgresql.azure.upbound.io/v1beta2" },
    want: [
      { path: "spec.forProvider.administratorPasswordSecretRef.namespace", message: "Required value" },
      { path: "spec.providerConfigRef.kind", message: 'unknown field "kind"' },
    ],
  },
  {
    name: "a wrong type is flagged at its path",
    registry: azure,
    doc: flexibleServer({ forProvider: { ...forProviderWithout("storageMb"), storageMb: "big" } }),
    want: [{ path: "spec.forProvider.storageMb", message: "must be number, got string" }],
  },
  {
    name: "a missing location trips the provider's CEL rule (managementPolicies defaults to ['*'])",
    registry: azure,
    doc: flexibleServer({ forProvider: forProviderWithout("location") }),
    want: [{ path: "spec", message: "spec.forProvider.location is a required parameter" }],
  },
  {
    name: "the CEL rule accepts location in initProvider",
    registry: azure,
    doc: flexibleServer({ forProvider: forProviderWithout("location"), initProvider: { location: "westeurope" } }),
    want: [],
  },
  {
    name: "the CEL rule does not require location for an observe-only MR",
    registry: azure,
    doc: flexibleServer({ forProvider: forProviderWithout("location"), managementPolicies: ["Observe"] }),
    want: [],
  },
  {
    name: "an enum is enforced",
    registry: azure,
    doc: flexibleServer({ managementPolicies: ["Destroy"] }),
    want: [
      {
        path: "spec.managementPolicies[0]",
        message: 'unsupported value "Destroy": supported values: "Observe", "Create", "Update", "Delete", "LateInitialize", "*"',
      },
    ],
  },
  {
    name: "a missing required field is reported at the field's path",
    registry: azure,
    doc: flexibleServer({ providerConfigRef: { name: "azure" } }),
    want: [{ path: "spec.providerConfigRef.kind", message: "Required value" }],
  },
  {
    name: "an unknown top-level field is flagged",
    registry: azure,
    doc: { ...flexibleServer(), data: { a: "b" } },
    want: [{ path: "data", message: 'unknown field "data"' }],
  },
  {
    name: "a tag value of the wrong type inside a string map is flagged",
    registry: azure,
    doc: flexibleServer({ forProvider: { ...forProviderWithout("tags"), tags: { cost: 12 } } }),
    want: [{ path: "spec.forProvider.tags.cost", message: "must be string, got integer" }],
  },
  {
    name: "an unknown kind is reported",
    registry: azure,
    doc: { apiVersion: "dbforpostgresql.azure.m.upbound.io/v1beta2", kind: "FlexibleServer", metadata: { name: "x" }, spec: {} },
    want: [{ path: "", message: "no schema for dbforpostgresql.azure.m.upbound.io/v1beta2 FlexibleServer" }],
  },
  {
    name: "a document without apiVersion/kind is reported",
    registry: azure,
    doc: { metadata: { name: "x" } },
    want: [{ path: "", message: "apiVersion and kind must be strings" }],
  },

  // metadata (ObjectMeta)
  {
    name: "a label value longer than 63 characters is flagged",
    registry: azure,
    doc: flexibleServer({}, { labels: { team: "x".repeat(64) } }),
    want: [{ path: "metadata.labels.team", message: "must be no more than 63 characters" }],
  },
  {
    name: "label keys and values follow the Kubernetes rules; annotation values may be anything",
    registry: azure,
    doc: flexibleServer(
      {},
      {
        labels: { "app.kubernetes.io/name": "orders", "Bad Key": "ok", owner: "-x", count: 3 },
        annotations: { "example.org/long": "y".repeat(500), "note": "any text, even: this!" },
      },
    ),
    want: [
      {
        path: 'metadata.labels["Bad Key"]',
        message:
          "invalid key \"Bad Key\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
      },
      {
        path: "metadata.labels.owner",
        message:
          "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
      },
      { path: "metadata.labels.count", message: "must be string, got integer" },
    ],
  },
  {
    name: "a typo in metadata is an unknown field; names must be DNS names",
    registry: azure,
    doc: flexibleServer({}, { lables: { a: "b" }, name: "Orders_DB", namespace: "team.orders" }),
    want: [
      { path: "metadata.lables", message: 'unknown field "lables"' },
      {
        path: "metadata.name",
        message:
          "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
      },
      {
        path: "metadata.namespace",
        message: "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
      },
    ],
  },

  // Crossplane kinds
  { name: "a valid Composition passes", registry: crossplane, doc: composition(), want: [] },
  {
    name: "a Composition in Pipeline mode without a pipeline trips its CEL rule",
    registry: crossplane,
    doc: (() => {
      const c = composition();
      delete (c["spec"] as Record<string, unknown>)["pipeline"];
      return c;
    })(),
    want: [{ path: "spec", message: "an array of pipeline steps is required in Pipeline mode" }],
  },
  {
    name: "mode defaults to Pipeline before the CEL rule runs",
    registry: crossplane,
    doc: (() => {
      const c = composition();
      delete (c["spec"] as Record<string, unknown>)["mode"];
      return c;
    })(),
    want: [],
  },
  {
    name: "an embedded function input needs apiVersion and kind and ObjectMeta metadata; step names are list-map keys",
    registry: crossplane,
    doc: composition({
      pipeline: [
        { step: "a", functionRef: { name: "f" }, input: { kind: "DatabasePolicy", metadata: { nam: "x" }, anything: { goes: 1 } } },
        { step: "a", functionRef: { name: "f" } },
      ],
    }),
    want: [
      { path: "spec.pipeline[0].input.apiVersion", message: "Required value" },
      { path: "spec.pipeline[1]", message: 'Duplicate value: {"step":"a"}' },
      { path: "spec.pipeline[0].input.metadata.nam", message: 'unknown field "nam"' },
    ],
  },
  {
    name: "our XRD is itself a valid v2 XRD",
    registry: crossplane,
    doc: XRD,
    want: [],
  },
  {
    name: "an XRD with an upper-case plural trips the XRD CRD's lowerAscii() rule",
    registry: crossplane,
    doc: { ...XRD, spec: { ...XRD.spec, names: { kind: "Database", plural: "Databases" } } },
    want: [{ path: "spec.names", message: "Plural name must be lowercase" }],
  },
  {
    name: "a package image reference is checked with the CRD's matches() rule",
    registry: crossplane,
    doc: { apiVersion: "pkg.crossplane.io/v1", kind: "Function", metadata: { name: "f" }, spec: { package: "function-azure-platform:v0.1.0" } },
    want: [
      {
        path: "spec.package",
        message:
          "must be a fully qualified image name, including the registry, repository, and tag or digest. For example, 'registry.example.com/repo/package:tag' or 'registry.example.com/repo/package[:tag]@sha256:1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef'.",
      },
    ],
  },
  {
    name: "crossplane.yaml (meta.pkg.crossplane.io Function) validates",
    registry: crossplane,
    doc: {
      apiVersion: "meta.pkg.crossplane.io/v1",
      kind: "Function",
      metadata: { name: "function-azure-platform", annotations: { "meta.crossplane.io/maintainer": "Platform <p@example.org>" } },
      spec: { crossplane: { version: ">=v2.0.0" }, capabilities: ["composition"] },
    },
    want: [],
  },
  {
    name: "CronOperation operationTemplate.metadata is a bare object: its labels would be pruned",
    registry: crossplane,
    doc: {
      apiVersion: "ops.crossplane.io/v1alpha1",
      kind: "CronOperation",
      metadata: { name: "rotate" },
      spec: {
        schedule: "0 3 * * *",
        operationTemplate: {
          metadata: { labels: { a: "b" } },
          spec: { mode: "Pipeline", pipeline: [{ step: "s", functionRef: { name: "f" } }] },
        },
      },
    },
    want: [{ path: "spec.operationTemplate.metadata.labels", message: 'unknown field "labels"' }],
  },

  // our XR kinds (from an XRD)
  {
    name: "an XR validates against our XRD, with Crossplane's spec.crossplane and status.conditions",
    registry: xrs,
    doc: xr(
      { crossplane: { compositionRef: { name: "databases" } } },
      {
        status: {
          host: "orders.postgres.database.azure.com",
          conditions: [{ type: "Ready", status: "True", reason: "Available", lastTransitionTime: "2026-01-01T00:00:00Z" }],
        },
      },
    ),
    want: [],
  },
  {
    name: "an XR with an unknown spec field, a bad enum and a missing required field",
    registry: xrs,
    doc: (() => {
      const d = xr({ teem: "orders", size: "XL" });
      delete (d["spec"] as Record<string, unknown>)["team"];
      return d;
    })(),
    want: [
      { path: "spec.team", message: "Required value" },
      { path: "spec.teem", message: 'unknown field "teem"' },
      { path: "spec.size", message: 'unsupported value "XL": supported values: "S", "M", "L"' },
    ],
  },
  {
    name: "an XR needs a spec",
    registry: xrs,
    doc: { apiVersion: "platform.example.org/v1alpha1", kind: "Database", metadata: { name: "orders" } },
    want: [{ path: "spec", message: "Required value" }],
  },
  {
    name: "an XR of an unserved version has no schema",
    registry: xrs,
    doc: { ...xr(), apiVersion: "platform.example.org/v1alpha0" },
    want: [{ path: "", message: "no schema for platform.example.org/v1alpha0 Database" }],
  },
  {
    name: "validate() skips transition rules",
    registry: xrs,
    doc: xr({ storageGB: 32 }),
    want: [],
  },

  // schema keywords
  {
    name: "int-or-string, nullable, date-time, unknown format, pattern, set and preserve-unknown accept good values",
    registry: widgets,
    doc: widget({
      port: 8080,
      note: null,
      when: "2026-01-01T10:00:00Z",
      flavour: "anything",
      code: "ABC",
      tags: ["a", "b"],
      extra: { known: 1, whatever: { deep: true } },
      empty: {},
      replicas: 3,
      ratio: 2,
      window: { start: 1, end: 2 },
    }),
    want: [],
  },
  {
    name: "...and reject bad ones (CEL messageExpression, default message, fieldPath)",
    registry: widgets,
    doc: widget({
      port: true,
      when: "yesterday",
      code: "abc",
      tags: ["a", "a", "b"],
      extra: { known: "one" },
      empty: { pruned: 1 },
      replicas: 6,
      ratio: 3,
      window: { start: 2, end: 1 },
    }),
    want: [
      { path: "spec.port", message: "must be integer or string, got boolean" },
      { path: "spec.when", message: 'must match format "date-time"' },
      { path: "spec.code", message: 'must match pattern "^[A-Z]{3}$"' },
      { path: "spec.tags", message: "must NOT have more than 2 items" },
      { path: "spec.tags", message: "must NOT have duplicate items (items ## 1 and 0 are identical)" },
      { path: "spec.extra.known", message: "must be integer, got string" },
      { path: "spec.empty.pruned", message: 'unknown field "pruned"' },
      { path: "spec.replicas", message: "at most 5 replicas, not 6" },
      { path: "spec.replicas", message: "failed rule: self % 2 == 1" },
      { path: "spec.ratio", message: "ratio must be at most 2" },
      { path: "spec.window.start", message: "start must precede end" },
    ],
  },
  {
    name: "a schema that does not compile is reported, not thrown",
    registry: broken,
    doc: widget({}),
    want: [
      {
        path: "",
        // the tail is the JavaScript engine's wording
        message: expect.stringMatching(
          /^the schema of example\.org\/v1 Widget \(broken\.yaml#0 \(CustomResourceDefinition widgets\.example\.org\)\) does not compile: Invalid regular expression/,
        ),
      },
    ],
  },
  {
    name: "null is rejected where the schema is not nullable (the API server would drop it silently)",
    registry: widgets,
    doc: widget({ code: null }),
    want: [{ path: "spec.code", message: "must be string, got null" }],
  },

  // core kinds
  {
    name: "a v1 Secret gets a light structural check",
    registry: core,
    doc: { apiVersion: "v1", kind: "Secret", metadata: { name: "s" }, type: "Opaque", stringData: { password: "x" }, data: { key: "!!" }, strngData: {} },
    want: [
      { path: "strngData", message: 'unknown field "strngData"' },
      { path: "data.key", message: 'must match format "byte"' },
    ],
  },
  {
    name: "a Namespace name must be a DNS label",
    registry: core,
    doc: { apiVersion: "v1", kind: "Namespace", metadata: { name: "team.orders" } },
    want: [
      {
        path: "metadata.name",
        message: "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
      },
    ],
  },
];

describe("validate", () => {
  it.each(cases)("$name", ({ registry, doc, want }) => {
    expect(registry.validate(doc)).toEqual(want);
  });

  it("does not modify the document (defaults are applied to a copy)", () => {
    const doc = flexibleServer();
    const before = structuredClone(doc);
    azure.validate(doc);
    expect(doc).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// validateUpdate()

interface UpdateCase {
  name: string;
  registry: SchemaRegistry;
  old: unknown;
  doc: unknown;
  want: Problem[];
}

const updates: UpdateCase[] = [
  {
    name: "our XRD's transition rule (self >= oldSelf) rejects a shrink",
    registry: xrs,
    old: xr({ storageGB: 64 }),
    doc: xr({ storageGB: 32 }),
    want: [{ path: "spec.storageGB", message: "storageGB can only grow" }],
  },
  { name: "...and accepts a grow", registry: xrs, old: xr({ storageGB: 64 }), doc: xr({ storageGB: 128 }), want: [] },
  {
    name: "...and does not run when the old object has no value there",
    registry: xrs,
    old: (() => {
      const d = xr();
      delete (d["spec"] as Record<string, unknown>)["storageGB"];
      return d;
    })(),
    doc: xr({ storageGB: 32 }),
    want: [],
  },
  {
    name: "an update also reports what validate() reports",
    registry: xrs,
    old: xr({ storageGB: 64 }),
    doc: xr({ storageGB: 16 }),
    want: [
      { path: "spec.storageGB", message: "must be >= 32" },
      { path: "spec.storageGB", message: "storageGB can only grow" },
    ],
  },
  {
    name: "Composition compositeTypeRef is immutable (self == oldSelf)",
    registry: crossplane,
    old: composition(),
    doc: composition({ compositeTypeRef: { apiVersion: "platform.example.org/v1alpha1", kind: "Cache" } }),
    want: [{ path: "spec.compositeTypeRef", message: "Value is immutable" }],
  },
  {
    name: "XRD group is immutable",
    registry: crossplane,
    old: XRD,
    doc: { ...XRD, spec: { ...XRD.spec, group: "other.example.org" } },
    want: [{ path: "spec.group", message: "Value is immutable" }],
  },
  { name: "an unchanged Composition is a valid update", registry: crossplane, old: composition(), doc: composition(), want: [] },
  {
    name: "apiVersion and kind must match",
    registry: crossplane,
    old: composition(),
    doc: XRD,
    want: [
      {
        path: "",
        message: "cannot update apiextensions.crossplane.io/v1 Composition to apiextensions.crossplane.io/v2 CompositeResourceDefinition: apiVersion and kind must match",
      },
    ],
  },
];

describe("validateUpdate", () => {
  it.each(updates)("$name", ({ registry, old, doc, want }) => {
    expect(registry.validateUpdate(old, doc)).toEqual(want);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// loading

describe("loading", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "schema-test-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("paths are computed from the repo root", () => {
    expect(path.join(repoRoot, "test/support/schema.ts")).toSatisfy((p: string) => fs.existsSync(p));
    expect(referenceDir).toBe(path.resolve(repoRoot, "../shared/reference"));
  });

  it("loadYamlDocuments skips empty documents and keeps each document's position", () => {
    const file = path.join(dir, "multi.yaml");
    fs.writeFileSync(file, "---\n# only a comment\n---\na: 1\n---\n---\nb: [x]\n");
    expect(loadYamlDocuments(file)).toEqual([
      { doc: { a: 1 }, index: 1 },
      { doc: { b: ["x"] }, index: 3 },
    ]);
  });

  it("loadYamlDocuments rejects invalid YAML, duplicate keys included", () => {
    const file = path.join(dir, "dup.yaml");
    fs.writeFileSync(file, "a: 1\na: 2\n");
    expect(() => loadYamlDocuments(file)).toThrow(/dup\.yaml#0: .*[Dd]uplicate|unique/);
  });

  it("loadCrds indexes every served version of every CRD and XRD in files and directories", () => {
    const xrdFile = path.join(dir, "xrd.yaml");
    fs.writeFileSync(xrdFile, JSON.stringify(XRD));
    const registry = loadCrds([path.join(referenceDir, "crossplane/meta"), xrdFile]);
    expect(registry.kinds()).toEqual([
      "meta.pkg.crossplane.io/v1 Configuration",
      "meta.pkg.crossplane.io/v1 Function",
      "meta.pkg.crossplane.io/v1alpha1 Configuration",
      "meta.pkg.crossplane.io/v1beta1 Function",
      "platform.example.org/v1alpha1 Database",
    ]);
  });

  it("loadCrds rejects a document that is not a CRD or XRD", () => {
    const file = path.join(dir, "secret.yaml");
    fs.writeFileSync(file, "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n");
    expect(() => loadCrds([file])).toThrow("secret.yaml#0: not a CustomResourceDefinition or CompositeResourceDefinition");
  });

  it("the ready validators know the reference kinds", () => {
    expect(crossplane.kinds()).toEqual(
      expect.arrayContaining([
        "apiextensions.crossplane.io/v1 Composition",
        "apiextensions.crossplane.io/v2 CompositeResourceDefinition",
        "ops.crossplane.io/v1alpha1 Operation",
        "ops.crossplane.io/v1alpha1 CronOperation",
        "ops.crossplane.io/v1alpha1 WatchOperation",
        "pkg.crossplane.io/v1 Function",
        "pkg.crossplane.io/v1beta1 DeploymentRuntimeConfig",
        "meta.pkg.crossplane.io/v1 Function",
      ]),
    );
    expect(azure.kinds()).toEqual(
      expect.arrayContaining([
        "dbforpostgresql.azure.m.upbound.io/v1beta1 FlexibleServer",
        "dbforpostgresql.azure.m.upbound.io/v1beta1 FlexibleServerDatabase",
        "dbforpostgresql.azure.m.upbound.io/v1beta1 FlexibleServerConfiguration",
        "dbforpostgresql.azure.upbound.io/v1beta2 FlexibleServer",
      ]),
    );
    expect(core.kinds()).toEqual([
      "rbac.authorization.k8s.io/v1 ClusterRole",
      "rbac.authorization.k8s.io/v1 ClusterRoleBinding",
      "rbac.authorization.k8s.io/v1 RoleBinding",
      "v1 ConfigMap",
      "v1 Namespace",
      "v1 Secret",
    ]);
  });

  it("every reference schema compiles", () => {
    for (const registry of [crossplane, azure]) {
      for (const key of registry.kinds()) {
        const [apiVersion = "", kind = ""] = key.split(" ");
        expect(() => registry.compile(apiVersion, kind), key).not.toThrow();
      }
    }
  });
});

describe("paths", () => {
  it.each([
    { segments: [], want: "" },
    { segments: ["spec", "forProvider", "skuName"], want: "spec.forProvider.skuName" },
    { segments: ["spec", "pipeline", 0, "input"], want: "spec.pipeline[0].input" },
    { segments: ["metadata", "labels", "app.kubernetes.io/name"], want: 'metadata.labels["app.kubernetes.io/name"]' },
  ])("formatPath($segments) = $want", ({ segments, want }) => {
    expect(formatPath(segments)).toBe(want);
  });

  it("prefixProblems re-roots problems", () => {
    expect(
      prefixProblems("spec.pipeline[0].input", [
        { path: "", message: "a" },
        { path: "tier", message: "b" },
      ]),
    ).toEqual([
      { path: "spec.pipeline[0].input", message: "a" },
      { path: "spec.pipeline[0].input.tier", message: "b" },
    ]);
  });
});
