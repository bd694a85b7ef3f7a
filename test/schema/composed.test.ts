// Every resource the Database function composes validates against the provider's CRD (or core schema),
// across the policy and XR variations that change its shape.
import { Ready, Severity, type RunFunctionRequest } from "@crossplane-org/function-sdk-typescript";
import { describe, expect, it } from "vitest";
import { runDatabase } from "../../functions/database/fn.ts";
import { readDocs } from "../../cli/yaml.ts";
import { coreValidator, providerValidator } from "../support/schema.ts";

type Json = Record<string, unknown>;
const [xr] = readDocs("examples/database/xr.yaml");
const [composition] = readDocs("compositions/database-postgres.yaml");
const policy = composition?.spec.pipeline[0].input as Json;
const observedDay2 = readDocs("examples/database/observed.yaml");

function request(spec: Json, over: Json, observed: Json[] = [], name?: string): RunFunctionRequest {
  return {
    meta: { tag: "schema", capabilities: [] },
    observed: {
      composite: { resource: { ...xr, metadata: { ...xr?.metadata, ...(name ? { name } : {}) }, spec: { ...xr?.spec, ...spec } }, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED },
      resources: Object.fromEntries(
        observed.map((r) => [(r.metadata as { annotations: Record<string, string> }).annotations["crossplane.io/composition-resource-name"], { resource: r, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }]),
      ),
    },
    desired: { composite: undefined, resources: {} },
    input: { ...policy, ...over },
    extraResources: {},
    credentials: {},
    requiredResources: {},
    requiredSchemas: {},
  };
}

const variations: Record<string, RunFunctionRequest> = {
  ExamplePolicyMedium: request({}, {}),
  LargeWithHighAvailability: request({ size: "large", highAvailability: true, storageGB: 1024 }, {}),
  SmallBurstableWithoutZoneOrWindow: request({ size: "small", storageGB: 32 }, { zone: undefined, maintenanceWindow: undefined }),
  SameZoneHighAvailabilityNotProtected: request({ highAvailability: true }, { highAvailability: { mode: "SameZone", allowedSizes: ["medium"] }, protectFromDeletion: false }),
  NamespacedProviderConfigAndGeoBackup: request({}, { providerConfigRef: { kind: "ProviderConfig", name: "team-payments" }, backup: { retentionDays: 35, geoRedundant: true } }),
  DayTwoFromObservedState: request({}, {}, observedDay2),
  WithoutAlerts: request({}, { alerts: undefined }),
  EntraIdOnly: request(
    { extensions: undefined },
    { authentication: { mode: "EntraId", tenantId: "11111111-2222-3333-4444-555555555555", groups: { "team-payments": { objectId: "aaaaaaaa-0000-0000-0000-000000000001", principalName: "pg-admins-payments" } } } },
  ),
  AlertsTunedAndSomeOff: request({ size: "small", storageGB: 32 }, { alerts: { ...(policy.alerts as Json), cpu: { severity: 1, threshold: 95 }, iops: { enabled: false }, logCategories: ["PostgreSQLLogs"] } }),
};

// The application role: a new Database (both Secrets looked up and not found), and the example moving over (its admin
// Secret made, the role created from the password staged in it).
const ROLE_ON = { applicationRole: { enabled: true } };
const NOT_FOUND = { "connection-secret": { items: [] }, "admin-secret": { items: [] } };
variations.ApplicationRoleOnANewDatabase = { ...request({}, ROLE_ON), requiredResources: NOT_FOUND };
const staged = (() => {
  const connection = observedDay2.find((r) => r.kind === "Secret") as Json & { metadata: Json; data: Json };
  const metadata = { ...connection.metadata, name: "orders-db-admin", annotations: { "crossplane.io/composition-resource-name": "admin-secret" } };
  return { ...connection, metadata, data: { ...connection.data, "application-password": Buffer.from("Staged-App-Passw0rd").toString("base64") } };
})();
variations.ApplicationRoleMovingTheExample = request({}, ROLE_ON, [...observedDay2, staged]);
it("the role variation composes the role and two grants per database", () => {
  const kinds = Object.values(runDatabase(variations.ApplicationRoleMovingTheExample as RunFunctionRequest).desired?.resources ?? {}).map((r) => (r.resource as Json).kind);
  expect(kinds.filter((k) => k === "Role" || k === "Grant").sort()).toEqual(["Grant", "Grant", "Grant", "Grant", "Role"]);
});

// An existing server the DBA policy hands to the example: observed first (the server alone, Observe-only).
variations.AdoptingAnExistingServer = request({}, { adopt: { "team-payments/orders": { serverName: "pg-orders-legacy", resourceGroupName: "rg-legacy" } } });

// A restore of the example into a second Database, its source found in the namespace.
const anHourAgo = new Date(Date.now() - 3_600_000).toISOString().replace(/\.\d+Z$/, "Z");
const source = { metadata: { name: "orders", namespace: "team-payments" }, spec: { team: "payments", size: "medium" } };
variations.RestoredFromAnotherDatabase = {
  ...request({ restoreFrom: { database: "orders", pointInTime: anHourAgo } }, { subscriptionId: "00000000-0000-0000-0000-000000000000" }, [], "orders-copy"),
  requiredResources: {
    "restore-source": {
      items: [
        {
          resource: { apiVersion: "azplatform.io/v1alpha1", kind: "Database", ...source, status: { serverName: "pg-payments-orders-prod-edfe87", resourceGroupName: "rg-data-prod", conditions: [{ type: "Ready", status: "True" }] } },
          connectionDetails: {},
          ready: Ready.READY_UNSPECIFIED,
        },
      ],
    },
  },
};

const azure = providerValidator();
const core = coreValidator();

describe("composed resources validate against their schemas", () => {
  for (const [name, req] of Object.entries(variations)) {
    it(name, () => {
      const rsp = runDatabase(req);
      // Normal results tell progress (a role on its way); no warning but a refused change.
      expect(rsp.results.filter((r) => r.reason !== "ChangeRefused" && r.severity !== Severity.SEVERITY_NORMAL)).toEqual([]);
      const resources = Object.entries(rsp.desired?.resources ?? {});
      expect(resources.length).toBeGreaterThanOrEqual(name === "AdoptingAnExistingServer" ? 1 : 5);
      for (const [key, r] of resources) {
        const doc = r.resource as Json;
        const validator = doc.apiVersion === "v1" ? core : azure;
        expect({ key, problems: validator.validate(doc) }).toEqual({ key, problems: [] });
      }
    });
  }
});
