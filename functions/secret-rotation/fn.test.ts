import { Ready, Severity, Status, Target, type RunFunctionRequest, type RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { describe, expect, it } from "vitest";
import { memoryPorts, newWorld, type World } from "../../test/support/memory-ports.ts";
import { runSecretRotation, type ConnectArgs } from "./fn.ts";

type Json = Record<string, unknown>;
const NOW = new Date("2026-11-24T12:00:00Z");
const DAY_S = 86_400;

function policy(over: Json = {}): Json {
  return {
    apiVersion: "fn.azplatform.io/v1alpha1",
    kind: "SecretRotationPolicy",
    subscriptionId: "00000000-0000-0000-0000-000000000001",
    tenants: [{ namespaces: ["team-payments"], keyVaults: ["kv-{namespace}", "kv-payments"], roles: ["orders_*"] }],
    allowedRoles: ["*_app"],
    credentials: { azure: "azure" },
    ...over,
  };
}

function xr(spec: Json = {}, o: { annotations?: Json; status?: Json; namespace?: string } = {}): Json {
  return {
    apiVersion: "azplatform.io/v1alpha1",
    kind: "SecretRotation",
    metadata: { name: "orders-pw", namespace: o.namespace ?? "team-payments", annotations: o.annotations ?? {} },
    spec: {
      team: "payments",
      secretRef: { name: "orders-db", key: "password" },
      rotateEvery: "720h",
      targets: { postgresRole: { name: "orders_app", adminSecretRef: { name: "orders-admin" } } },
      ...spec,
    },
    ...(o.status ? { status: o.status } : {}),
  };
}

const AZURE = { credentialData: { data: { clientId: Buffer.from("c"), clientSecret: Buffer.from("s"), tenantId: Buffer.from("t") } } };

function request(o: { xr?: Json; input?: Json; credentials?: RunFunctionRequest["credentials"]; required?: RunFunctionRequest["requiredResources"] } = {}): RunFunctionRequest {
  return {
    meta: { tag: "r-1", capabilities: [] },
    observed: { composite: { resource: o.xr ?? xr(), connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }, resources: {} },
    desired: { composite: undefined, resources: {} },
    input: o.input ?? policy(),
    extraResources: {},
    credentials: o.credentials ?? { azure: AZURE },
    requiredResources: o.required ?? {},
    requiredSchemas: {},
  };
}

function world(): World {
  const w = newWorld();
  const secret = (data: Record<string, string>) => ({ data, annotations: {}, labels: {}, resourceVersion: w.rv++, owners: {} });
  w.secrets.set("orders-db", secret({ host: "db", port: "5432", database: "orders", username: "orders_app", password: "old-Pass1!" }));
  w.secrets.set("orders-admin", secret({ host: "db", port: "5432", database: "orders", username: "pgadmin", password: "admin-Pass1!" }));
  w.roles.set("pgadmin", { password: "admin-Pass1!", version: 0 });
  w.roles.set("orders_app", { password: "old-Pass1!", version: 0 });
  w.deployments.set("api", { secrets: ["orders-db"], annotations: {}, rollouts: 0 });
  return w;
}

function deps(w: World, seen: ConnectArgs[] = []) {
  return {
    now: () => NOW,
    connect: async (args: ConnectArgs) => {
      seen.push(args);
      return memoryPorts(w);
    },
  };
}

function response(status: Json, o: { ttl: number; ready: boolean; results?: RunFunctionResponse["results"]; conditions: RunFunctionResponse["conditions"] }): RunFunctionResponse {
  return {
    meta: { tag: "r-1", ttl: { seconds: o.ttl, nanos: 0 } },
    desired: { composite: { resource: { status }, connectionDetails: {}, ready: o.ready ? Ready.READY_TRUE : Ready.READY_FALSE }, resources: {} },
    results: o.results ?? [],
    conditions: o.conditions,
    requirements: undefined,
    context: undefined,
  };
}
const cond = (status: boolean, reason: string, message: string) => ({
  type: "RotationSucceeded",
  status: status ? Status.STATUS_CONDITION_TRUE : Status.STATUS_CONDITION_FALSE,
  reason,
  message,
  target: Target.TARGET_COMPOSITE,
});
const res = (severity: Severity, reason: string, message: string) => ({ severity, reason, message, target: Target.TARGET_COMPOSITE });

const IDLE_STATUS = {
  phase: "Idle",
  currentVersion: 3,
  lastRotatedAt: "2026-11-20T12:00:00.000Z",
  nextRotationAt: "2026-12-20T12:00:00.000Z",
  schedule: "720h",
};

describe("SecretRotation RunFunction", () => {
  it("NoDriftCheckDueMakesZeroExternalCallsAndAsksToBeCalledAtTheCheck", async () => {
    const seen: ConnectArgs[] = [];
    const status = { ...IDLE_STATUS, nextCheckAt: "2026-11-24T12:10:00.000Z" };
    const rsp = await runSecretRotation(request({ xr: xr({}, { status }) }), deps(world(), seen));
    expect(seen).toEqual([]);
    expect(rsp.meta?.ttl).toEqual({ seconds: 600, nanos: 0 });
  });

  it("NothingDueMakesZeroExternalCalls", async () => {
    const seen: ConnectArgs[] = [];
    const rsp = await runSecretRotation(request({ xr: xr({}, { status: IDLE_STATUS }) }), deps(world(), seen));
    expect(seen).toEqual([]);
    expect(rsp).toEqual(
      response(IDLE_STATUS, {
        ttl: DAY_S,
        ready: true,
        conditions: [cond(true, "Rotated", "version 3, rotated at 2026-11-20T12:00:00.000Z; next rotation at 2026-12-20T12:00:00.000Z")],
      }),
    );
  });

  const notCheap: Record<string, Json> = {
    NewManualTrigger: xr({}, { status: { ...IDLE_STATUS, handledTrigger: "1" }, annotations: { "azplatform.io/rotate-now": "2" } }),
    ScheduleChanged: xr({ rotateEvery: "168h" }, { status: IDLE_STATUS }),
    DueTimeReached: xr({}, { status: { ...IDLE_STATUS, nextRotationAt: "2026-11-24T11:59:59.000Z" } }),
    DriftCheckDue: xr({}, { status: { ...IDLE_STATUS, nextCheckAt: "2026-11-24T11:59:59.000Z" } }),
    NoStatusYet: xr(),
  };
  for (const [name, x] of Object.entries(notCheap)) {
    it(`${name}ConsultsTheDurableState`, async () => {
      const seen: ConnectArgs[] = [];
      await runSecretRotation(request({ xr: x }), deps(world(), seen));
      expect(seen.map((s) => s.namespace)).toEqual(["team-payments"]);
    });
  }

  it("FirstCallRotatesAndReportsTheNextDueTime", async () => {
    const w = world();
    const rsp = await runSecretRotation(request(), deps(w));
    expect(rsp).toEqual(
      response(
        { currentVersion: 1, lastRotatedAt: NOW.toISOString(), schedule: "720h", phase: "Idle", nextRotationAt: "2026-12-24T12:00:00.000Z", nextCheckAt: "2026-11-24T12:10:00.000Z" },
        {
          // Called again at the next drift check, ten minutes on (the policy's default driftCheckEvery).
          ttl: 600,
          ready: true,
          results: [res(Severity.SEVERITY_NORMAL, "Rotated", "rotated to version 1; rolled 1 workload(s): api")],
          conditions: [cond(true, "Rotated", "version 1, rotated at 2026-11-24T12:00:00.000Z; next rotation at 2026-12-24T12:00:00.000Z")],
        },
      ),
    );
    expect(w.roles.get("orders_app")?.password).toBe(w.secrets.get("orders-db")?.data.password);
    expect(JSON.stringify(rsp)).not.toContain(w.secrets.get("orders-db")?.data.password);
  });

  it("DriftRepairedNamesTheWriterSoAPersistentOneCanBeFound", async () => {
    const w = world();
    await runSecretRotation(request(), deps(w));
    const app = w.secrets.get("orders-db");
    // ArgoCD's self-heal puts the value from Git back.
    if (app) [app.data.password, app.owners.password] = ["old-Pass1!", ["argocd-controller"]];
    const rotated = { currentVersion: 1, lastRotatedAt: NOW.toISOString(), schedule: "720h", phase: "Idle", nextRotationAt: "2026-12-24T12:00:00.000Z" };
    const checkAt = new Date("2026-11-24T12:10:00Z");
    const rsp = await runSecretRotation(request({ xr: xr({}, { status: { ...rotated, nextCheckAt: checkAt.toISOString() } }) }), { ...deps(w), now: () => checkAt });
    const message =
      "data.password held another value than version 1, last written by field manager(s) argocd-controller; version 1 was written back. " +
      "A writer that keeps applying these keys must stop, or apps will read a value the target rejects between drift checks";
    expect(rsp).toEqual(
      response(
        { ...rotated, nextCheckAt: "2026-11-24T12:20:00.000Z" },
        {
          ttl: 600,
          ready: true,
          results: [res(Severity.SEVERITY_WARNING, "DriftRepaired", message)],
          conditions: [cond(true, "Rotated", "version 1, rotated at 2026-11-24T12:00:00.000Z; next rotation at 2026-12-24T12:00:00.000Z")],
        },
      ),
    );
    expect(app?.data.password).toBe(w.roles.get("orders_app")?.password);
  });

  it("FailureReportsInPlainWordsAndRetriesLater", async () => {
    const w = world();
    w.roles.delete("orders_app");
    const rsp = await runSecretRotation(request(), deps(w));
    const message = 'Set failed: role "orders_app" does not exist; the apps keep version 0, retrying at 2026-11-24T12:00:02.000Z (attempt 1)';
    expect(rsp).toEqual(
      response(
        { currentVersion: 0, schedule: "720h", phase: "Failed", retryAt: "2026-11-24T12:00:02.000Z", lastError: message },
        { ttl: 2, ready: false, results: [res(Severity.SEVERITY_WARNING, "RotationFailed", message)], conditions: [cond(false, "RotationFailed", message)] },
      ),
    );
  });

  const unavailable: Record<string, (w: World) => void> = {
    StateCannotBeRead: (w) => w.failing.set("k8s.getSecret", "cannot reach the Kubernetes API to read Secret orders-pw-rotation-state: fetch failed (connect ECONNREFUSED)"),
    FailureCannotBeSaved: (w) => {
      w.roles.delete("orders_app");
      w.failing.set("k8s.replaceSecret", "cannot reach the Kubernetes API to replace Secret orders-pw-rotation-state: fetch failed (connect ECONNREFUSED)");
    },
  };
  for (const [name, breakIt] of Object.entries(unavailable)) {
    it(`${name}KeepsTheObservedStatusAndRetriesSoon`, async () => {
      const w = world();
      breakIt(w);
      const status = { ...IDLE_STATUS, nextRotationAt: "2026-11-24T11:00:00.000Z" };
      const rsp = await runSecretRotation(request({ xr: xr({}, { status }) }), deps(w));
      const cause =
        name === "StateCannotBeRead"
          ? w.failing.get("k8s.getSecret")
          : `Set failed: role "orders_app" does not exist; the failure could not be recorded: ${w.failing.get("k8s.replaceSecret")}`;
      const message = `cannot rotate now: ${cause}; the rotation resumes from its last saved step, retrying in 30 s`;
      expect(rsp).toEqual(
        response(status, { ttl: 30, ready: false, results: [res(Severity.SEVERITY_WARNING, "StateUnavailable", message)], conditions: [cond(false, "StateUnavailable", message)] }),
      );
      expect(w.secrets.get("orders-db")?.data.password).toBe("old-Pass1!");
    });
  }

  it("FailedRotationWaitingForItsRetryMakesZeroExternalCalls", async () => {
    const seen: ConnectArgs[] = [];
    const status = { phase: "Failed", currentVersion: 2, schedule: "720h", retryAt: "2026-11-24T12:05:00.000Z", lastError: "Set failed: boom; retrying" };
    const rsp = await runSecretRotation(request({ xr: xr({}, { status }) }), deps(world(), seen));
    expect(seen).toEqual([]);
    expect(rsp).toEqual(response(status, { ttl: 300, ready: false, conditions: [cond(false, "RotationFailed", "Set failed: boom; retrying")] }));
  });

  it("PassesTheAzureCredentialFromTheStepCredentials", async () => {
    const seen: ConnectArgs[] = [];
    await runSecretRotation(request({ xr: xr({ targets: { keyVault: { vaultName: "kv-payments", secretName: "orders" } } }) }), deps(world(), seen));
    expect(seen[0]?.azure).toEqual({ kind: "clientSecret", tenantId: "t", clientId: "c", clientSecret: "s" });
  });

  const fatals: Record<string, { req: RunFunctionRequest; reason: string; message: string }> = {
    RefusesBadDuration: { req: request({ xr: xr({ rotateEvery: "30 days" }) }), reason: "InvalidSpec", message: 'spec.rotateEvery "30 days" is not a duration such as 720h or 168h30m' },
    RefusesBadCron: {
      req: request({ xr: xr({ rotateEvery: undefined, schedule: "61 * * * *" }) }),
      reason: "InvalidSpec",
      message: 'spec.schedule "61 * * * *" minute "61": Constraint error, got value 61 expected range 0-59',
    },
    RefusesCronWithASixthField: {
      req: request({ xr: xr({ rotateEvery: undefined, schedule: "0 3 * * 1 2026" }) }),
      reason: "InvalidSpec",
      message:
        'spec.schedule "0 3 * * 1 2026" has 6 field(s) (the sixth, "2026", would be read as a day of the week after a seconds field); a schedule has 5: minute hour day-of-month month day-of-week (UTC, no seconds, no year)',
    },
    RefusesCronWithFourFields: {
      req: request({ xr: xr({ rotateEvery: undefined, schedule: "0 3 * *" }) }),
      reason: "InvalidSpec",
      message: 'spec.schedule "0 3 * *" has 4 field(s); a schedule has 5: minute hour day-of-month month day-of-week (UTC, no seconds, no year)',
    },
    RefusesJenkinsHashedMinute: {
      req: request({ xr: xr({ rotateEvery: undefined, schedule: "H 3 * * THU" }) }),
      reason: "InvalidSpec",
      message: 'spec.schedule "H 3 * * THU" minute "H" uses H, Jenkins\' hashed value, which is not cron (it would pick another time each time it is read); write the minute itself',
    },
    RefusesDayOfWeekOutOfRange: {
      req: request({ xr: xr({ rotateEvery: undefined, schedule: "0 3 * * 8" }) }),
      reason: "InvalidSpec",
      message: 'spec.schedule "0 3 * * 8" day-of-week "8": Constraint error, got value 8 expected range 0-7',
    },
    RefusesScheduleFasterThanPolicy: {
      req: request({ xr: xr({ rotateEvery: undefined, schedule: "*/10 * * * *" }) }),
      reason: "ScheduleTooFast",
      message: "spec.schedule rotates every 10m; the policy allows at most one rotation every 1h",
    },
    RefusesBothScheduleAndInterval: {
      req: request({ xr: xr({ schedule: "0 3 * * 1" }) }),
      reason: "InvalidSpec",
      message: "the SecretRotation is invalid: spec.rotateEvery: set exactly one of rotateEvery or schedule",
    },
    RefusesNoTargets: { req: request({ xr: xr({ targets: {} }) }), reason: "InvalidSpec", message: "the SecretRotation is invalid: spec.targets: set at least one of postgresRole, flexibleServerAdmin, keyVault" },
    RefusesVaultNotGrantedToTheNamespace: {
      req: request({ xr: xr({ targets: { keyVault: { vaultName: "kv-finance", secretName: "x" } } }) }),
      reason: "TargetNotAllowed",
      message: 'spec.targets.keyVault.vaultName "kv-finance" is not granted to namespace team-payments by the policy; granted: kv-team-payments, kv-payments',
    },
    RefusesAdminPasswordLongerThanAzureAccepts: {
      req: request({ xr: xr({ generator: { length: 200 }, targets: { flexibleServerAdmin: { databaseRef: { name: "orders" } } } }), input: policy({ length: { min: 24, max: 256, default: 32 } }) }),
      reason: "InvalidSpec",
      message: "spec.generator.length 200 is longer than the 128 characters Azure accepts for an administrator password",
    },
    RefusesACloneTheSharedAdminGrantDoesNotCover: {
      req: request({
        xr: xr({ targets: { postgresRole: { name: "orders_app", strategy: "alternating" } } }),
        input: policy({ credentials: { azure: "azure", postgresAdmin: "pg-admin" }, tenants: [{ namespaces: ["team-payments"], roles: ["orders_app"] }] }),
      }),
      reason: "TargetNotAllowed",
      message: 'spec.targets.postgresRole.name "orders_app_clone" is not granted to namespace team-payments on the policy\'s shared admin; granted: orders_app',
    },
    RefusesARoleAndTheServerAdminInOneRotation: {
      req: request({ xr: xr({ targets: { postgresRole: { name: "orders_app", adminSecretRef: { name: "orders-admin" } }, flexibleServerAdmin: { databaseRef: { name: "orders" } } } }) }),
      reason: "TargetNotAllowed",
      message: "spec.targets: postgresRole and flexibleServerAdmin are two passwords; rotate each with its own SecretRotation",
    },
    RefusesTwoAdminSourcesForOneRole: {
      req: request({ xr: xr({ targets: { postgresRole: { name: "orders_app", databaseRef: { name: "orders" }, adminSecretRef: { name: "orders-admin" } } } }) }),
      reason: "InvalidSpec",
      message: "the SecretRotation is invalid: spec.targets.postgresRole: set databaseRef or adminSecretRef, not both",
    },
    RefusesRoleOutsidePolicy: {
      req: request({ xr: xr({ targets: { postgresRole: { name: "pgadmin", adminSecretRef: { name: "orders-admin" } } } }) }),
      reason: "TargetNotAllowed",
      message: 'spec.targets.postgresRole.name "pgadmin" is not allowed by the policy; allowed: *_app (never azure_* or pg_*)',
    },
    RefusesReservedRoleEvenIfPolicyAllowsAll: {
      req: request({ xr: xr({ targets: { postgresRole: { name: "azure_pg_admin", adminSecretRef: { name: "orders-admin" } } } }), input: policy({ allowedRoles: ["*"] }) }),
      reason: "TargetNotAllowed",
      message: 'spec.targets.postgresRole.name "azure_pg_admin" is not allowed by the policy; allowed: * (never azure_* or pg_*)',
    },
    RefusesEveryTargetProblemAtOnce: {
      req: request({ xr: xr({ targets: { postgresRole: { name: "pgadmin" }, keyVault: { vaultName: "kv-ledger", secretName: "x" } } }) }),
      reason: "TargetNotAllowed",
      message:
        'spec.targets.keyVault.vaultName "kv-ledger" is not granted to namespace team-payments by the policy; granted: kv-team-payments, kv-payments; ' +
        'spec.targets.postgresRole.name "pgadmin" is not allowed by the policy; allowed: *_app (never azure_* or pg_*); ' +
        "spec.targets.postgresRole names neither databaseRef nor adminSecretRef, and the policy has no shared admin (credentials.postgresAdmin)",
    },
    RefusesLengthOutsidePolicy: {
      req: request({ xr: xr({ generator: { length: 12 } }) }),
      reason: "InvalidSpec",
      message: "spec.generator.length 12 is outside the policy's 24 to 128",
    },
    RefusesMissingAzureCredential: {
      req: request({ xr: xr({ targets: { keyVault: { vaultName: "kv-payments", secretName: "x" } } }), credentials: {} }),
      reason: "MissingCredentials",
      message: 'the pipeline step has no credential "azure" (policy credentials.azure); add it to the step\'s credentials',
    },
    RefusesIncompleteAzureCredential: {
      req: request({
        xr: xr({ targets: { keyVault: { vaultName: "kv-payments", secretName: "x" } } }),
        credentials: { azure: { credentialData: { data: { clientId: Buffer.from("c") } } } },
      }),
      reason: "MissingCredentials",
      message: 'the credential "azure" has no clientSecret, tenantId',
    },
    RefusesPolicyWithoutAzureCredential: {
      req: request({ xr: xr({ targets: { keyVault: { vaultName: "kv-payments", secretName: "x" } } }), input: policy({ credentials: {} }) }),
      reason: "MissingCredentials",
      message: "the policy names no Azure credential (credentials.azure or credentials.azureWorkloadIdentity), which Key Vault and Flexible Server targets need",
    },
    RefusesMissingPostgresAdminCredential: {
      req: request({ xr: xr({ targets: { postgresRole: { name: "orders_app" } } }), input: policy({ credentials: { postgresAdmin: "pg-admin" } }) }),
      reason: "MissingCredentials",
      message: 'the pipeline step has no credential "pg-admin" (policy credentials.postgresAdmin); add it to the step\'s credentials',
    },
    RefusesServerTargetWithoutSubscription: {
      req: request({ xr: xr({ targets: { flexibleServerAdmin: { databaseRef: { name: "orders" } } } }), input: policy({ subscriptionId: undefined }) }),
      reason: "InvalidPolicy",
      message: "the policy sets no subscriptionId, which spec.targets.flexibleServerAdmin needs",
    },
    RefusesInvalidPolicyField: {
      req: request({ input: policy({ tenants: "kv-payments" }) }),
      reason: "InvalidPolicy",
      message: "the Composition's SecretRotationPolicy input is invalid: tenants: Invalid input: expected array, received string",
    },
    RefusesSecretRefWithoutKey: {
      req: request({ xr: xr({ secretRef: { name: "orders-db" } }) }),
      reason: "InvalidSpec",
      message: "the SecretRotation is invalid: spec.secretRef.key: Required value",
    },
  };
  for (const [name, { req, reason, message }] of Object.entries(fatals)) {
    it(name, async () => {
      const seen: ConnectArgs[] = [];
      expect(await runSecretRotation(req, deps(world(), seen))).toEqual({
        meta: { tag: "r-1", ttl: { seconds: 60, nanos: 0 } },
        desired: { composite: undefined, resources: {} },
        results: [{ severity: Severity.SEVERITY_FATAL, reason, message, target: Target.TARGET_COMPOSITE }],
        conditions: [],
        requirements: undefined,
        context: undefined,
      });
      expect(seen).toEqual([]);
    });
  }
});

describe("the tenant boundary: a SecretRotation reaches only what its namespace owns", () => {
  const DATABASE_LOOKUP = (ns: string) => ({
    extraResources: {},
    schemas: {},
    resources: { "database-orders": { apiVersion: "azplatform.io/v1alpha1", kind: "Database", matchName: "orders", namespace: ns } },
  });
  const database = (ns: string, status: Json = { serverName: "pg-payments-orders-prod-edfe87", resourceGroupName: "rg-data-prod", connectionSecretName: "orders-db" }) => ({
    "database-orders": {
      items: [{ resource: { apiVersion: "azplatform.io/v1alpha1", kind: "Database", metadata: { name: "orders", namespace: ns }, spec: { connectionSecretName: "orders-db" }, status }, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }],
    },
  });
  const adminOf = (database: string) => ({ flexibleServerAdmin: { databaseRef: { name: database } } });
  const roleOn = (database: string) => ({ postgresRole: { name: "orders_app", databaseRef: { name: database } } });

  // Each would have reached team-payments' server, vault or role from team-marketing.
  const hostile: Record<string, { targets: Json; required?: RunFunctionRequest["requiredResources"]; reason: string; message: string }> = {
    KeyVaultOfAnotherTeam: {
      targets: { keyVault: { vaultName: "kv-payments", secretName: "orders-db-admin-password" } },
      reason: "TargetNotAllowed",
      message: 'spec.targets.keyVault.vaultName "kv-payments" is not granted to namespace team-marketing by the policy; granted: none',
    },
    ServerAdminOfADatabaseNotInTheNamespace: {
      targets: adminOf("orders"),
      required: { "database-orders": { items: [] } },
      reason: "TargetNotFound",
      message: 'spec.targets.flexibleServerAdmin.databaseRef: Database "orders" does not exist in namespace team-marketing; a SecretRotation reaches only the Databases of its own namespace',
    },
    ServerAdminOfADatabaseFromAnotherNamespace: {
      targets: adminOf("orders"),
      required: database("team-payments"),
      reason: "TargetNotFound",
      message: 'spec.targets.flexibleServerAdmin.databaseRef: Database "orders" does not exist in namespace team-marketing; a SecretRotation reaches only the Databases of its own namespace',
    },
    RoleOnADatabaseNotInTheNamespace: {
      targets: roleOn("orders"),
      required: { "database-orders": { items: [] } },
      reason: "TargetNotFound",
      message: 'spec.targets.postgresRole.databaseRef: Database "orders" does not exist in namespace team-marketing; a SecretRotation reaches only the Databases of its own namespace',
    },
    // Not another team's, but nothing to rotate: the namespace's own Database signs in with Entra ID only.
    ServerAdminOfAnEntraOnlyDatabase: {
      targets: adminOf("orders"),
      required: database("team-marketing", { serverName: "pg-marketing-orders-prod-1a2b3c", resourceGroupName: "rg-data-prod", connectionSecretName: "orders-db", passwordAuthEnabled: false }),
      reason: "TargetNotAllowed",
      message:
        'spec.targets.flexibleServerAdmin.databaseRef: Database "orders" signs in with Microsoft Entra ID only (the DBA policy\'s authentication.mode is EntraId), so its server has no password that signs in to rotate; ' +
        "Entra access tokens expire by themselves, and access follows membership of the namespace's Entra group",
    },
    RoleOnAnEntraOnlyDatabase: {
      targets: roleOn("orders"),
      required: database("team-marketing", { serverName: "pg-marketing-orders-prod-1a2b3c", resourceGroupName: "rg-data-prod", connectionSecretName: "orders-db", passwordAuthEnabled: false }),
      reason: "TargetNotAllowed",
      message:
        'spec.targets.postgresRole.databaseRef: Database "orders" signs in with Microsoft Entra ID only (the DBA policy\'s authentication.mode is EntraId), so its server has no password that signs in to rotate; ' +
        "Entra access tokens expire by themselves, and access follows membership of the namespace's Entra group",
    },
    RoleThroughTheSharedAdminNotGranted: {
      targets: { postgresRole: { name: "orders_app" } },
      reason: "TargetNotAllowed",
      message: 'spec.targets.postgresRole.name "orders_app" is not granted to namespace team-marketing on the policy\'s shared admin; granted: none',
    },
  };
  const sharedAdmin = policy({ credentials: { azure: "azure", postgresAdmin: "pg-admin" } });
  for (const [name, t] of Object.entries(hostile)) {
    it(`refuses, touching nothing: ${name}`, async () => {
      const seen: ConnectArgs[] = [];
      const w = world();
      const req = request({ xr: xr({ team: "payments", targets: t.targets }, { namespace: "team-marketing" }), input: sharedAdmin, ...(t.required ? { required: t.required } : {}) });
      const rsp = await runSecretRotation(req, deps(w, seen));
      expect(rsp.results).toEqual([{ severity: Severity.SEVERITY_FATAL, reason: t.reason, message: t.message, target: Target.TARGET_COMPOSITE }]);
      expect(rsp.desired).toEqual({ composite: undefined, resources: {} });
      expect(seen).toEqual([]);
      expect(w.calls).toEqual([]);
    });
  }

  it("asks Crossplane for the Database in its own namespace first, touching nothing, then sets the admin password of that Database's server", async () => {
    const w = world();
    const seen: ConnectArgs[] = [];
    const spec = { targets: adminOf("orders") };
    const first = await runSecretRotation(request({ xr: xr(spec) }), deps(w, seen));
    expect(first.requirements).toEqual(DATABASE_LOOKUP("team-payments"));
    expect(first.results).toEqual([]);
    expect(seen).toEqual([]);

    // The Database's connection Secret holds its server's admin: the login that proves the new password.
    w.serverTags.set("rg-data-prod/pg-payments-orders-prod-edfe87", { team: "payments", "azplatform-namespace": "team-payments" });
    const connection = w.secrets.get("orders-db");
    if (connection) connection.data = { ...connection.data, username: "pgadmin", password: "admin-Pass1!" };
    const second = await runSecretRotation(request({ xr: xr(spec), required: database("team-payments") }), deps(w, seen));
    expect(second.requirements).toEqual(DATABASE_LOOKUP("team-payments"));
    expect(second.results.map((r) => r.reason)).toEqual(["Rotated"]);
    const password = w.secrets.get("orders-db")?.data.password;
    expect(w.adminPasswords).toEqual(new Map([["rg-data-prod/pg-payments-orders-prod-edfe87", password]]));
  });

  // A namespace editor who may write its Database's status (Crossplane's aggregated edit roles grant <plural>/status)
  // names another team's server there. Azure's own record of whose server it is decides; nothing is set.
  const paymentsServer = "rg-data-prod/pg-payments-orders-prod-edfe87";
  const statusNamesAnotherServer: Record<string, { tags?: Record<string, string>; found: string }> = {
    ServerTaggedWithAnotherNamespace: {
      tags: { team: "marketing", "azplatform-namespace": "team-payments" },
      found: "carries another namespace's Azure tag azplatform-namespace, not team-marketing",
    },
    ServerTaggedInAnotherCase: { tags: { "AzPlatform-Namespace": "team-payments" }, found: "carries another namespace's Azure tag azplatform-namespace, not team-marketing" },
    ServerWithoutTheTag: { tags: { team: "marketing" }, found: "has no Azure tag azplatform-namespace, not team-marketing" },
    ServerThatDoesNotExist: { found: "" },
  };
  for (const [name, t] of Object.entries(statusNamesAnotherServer)) {
    it(`never sets the admin of a server Azure does not record as the namespace's: ${name}`, async () => {
      const w = world();
      if (t.tags !== undefined) w.serverTags.set(paymentsServer, t.tags);
      const connection = w.secrets.get("orders-db");
      if (connection) connection.data = { ...connection.data, username: "pgadmin", password: "admin-Pass1!" };
      const req = request({ xr: xr({ targets: adminOf("orders") }, { namespace: "team-marketing" }), required: database("team-marketing") });
      const rsp = await runSecretRotation(req, deps(w));
      const cause =
        t.tags === undefined
          ? `Azure Resource Manager: cannot read Flexible Server ${paymentsServer}: HTTP 404 ResourceNotFound`
          : `Flexible Server ${paymentsServer} ${t.found}: a SecretRotation changes the admin only of a server a Database of its own namespace made (a Database tags its server on its next reconcile); nothing was changed`;
      const message = `Pending failed: ${cause}; the apps keep version 0, retrying at 2026-11-24T12:00:30.000Z (attempt 1)`;
      const status = { currentVersion: 0, schedule: "720h", phase: "Failed", retryAt: "2026-11-24T12:00:30.000Z", nextCheckAt: "2026-11-24T12:00:00.000Z", lastError: message };
      expect(rsp).toEqual({
        ...response(status, {
          ttl: 1, ready: false, results: [res(Severity.SEVERITY_WARNING, "RotationFailed", message)],
          conditions: [cond(false, "RotationFailed", message)],
        }),
        requirements: DATABASE_LOOKUP("team-marketing"),
      });
      expect(w.calls.filter((c) => c.startsWith("arm."))).toEqual(["arm.serverTags"]);
      expect(w.adminPasswords).toEqual(new Map());
      expect(w.secrets.get("orders-db")?.data.password).toBe("admin-Pass1!");
    });
  }

  it("refuses, touching nothing, an admin password rotated into another Secret than the Database's connection Secret", async () => {
    const seen: ConnectArgs[] = [];
    const rsp = await runSecretRotation(request({ xr: xr({ secretRef: { name: "orders-app-db", key: "password" }, targets: adminOf("orders") }), required: database("team-payments") }), deps(world(), seen));
    const message = "spec.secretRef.name must be orders-db, the connection Secret of Database orders, to rotate its admin password";
    expect(rsp.results).toEqual([{ severity: Severity.SEVERITY_FATAL, reason: "TargetNotAllowed", message, target: Target.TARGET_COMPOSITE }]);
    expect(seen).toEqual([]);
  });

  // Once apps connect as the Database's application role, the server's admin is in the Database's admin Secret.
  const splitStatus = { serverName: "pg-payments-orders-prod-edfe87", resourceGroupName: "rg-data-prod", connectionSecretName: "orders-db", adminSecretName: "orders-db-admin" };
  it("refuses, touching nothing, an admin password rotated into the Secret apps read once they connect as the application role", async () => {
    const seen: ConnectArgs[] = [];
    const rsp = await runSecretRotation(request({ xr: xr({ targets: adminOf("orders") }), required: database("team-payments", splitStatus) }), deps(world(), seen));
    const message = "spec.secretRef.name must be orders-db-admin, the admin Secret (apps connect as its application role) of Database orders, to rotate its admin password";
    expect(rsp.results).toEqual([{ severity: Severity.SEVERITY_FATAL, reason: "TargetNotAllowed", message, target: Target.TARGET_COMPOSITE }]);
    expect(seen).toEqual([]);
  });

  it("rotates the application role in the Secret apps read, as the admin from the Database's admin Secret", async () => {
    const w = world();
    const secret = (data: Record<string, string>) => ({ data, annotations: {}, labels: {}, resourceVersion: w.rv++, owners: {} });
    // The app's value no longer logs in (say, a role restored from a backup): only the admin can set a new one.
    w.secrets.set("orders-db", secret({ host: "db", port: "5432", database: "orders", username: "orders_app", password: "stale-Pass1!" }));
    w.secrets.set("orders-db-admin", secret({ host: "db", port: "5432", database: "orders", username: "pgadmin", password: "admin-Pass1!" }));
    const spec = { secretRef: { name: "orders-db", key: "password" }, targets: roleOn("orders") };
    const rsp = await runSecretRotation(request({ xr: xr(spec), required: database("team-payments", splitStatus) }), deps(w));
    expect(rsp.results.map((r) => r.reason)).toEqual(["Rotated"]);
    const rotated = w.secrets.get("orders-db")?.data.password;
    expect(rotated).not.toBe("stale-Pass1!");
    expect(w.roles.get("orders_app")?.password).toBe(rotated);
    expect(w.secrets.get("orders-db-admin")?.data.password).toBe("admin-Pass1!");
  });

  it("waits, touching nothing, while the Database has no server yet", async () => {
    const seen: ConnectArgs[] = [];
    const message = "waiting for Database orders to report its server (status.serverName, status.resourceGroupName, status.connectionSecretName)";
    const rsp = await runSecretRotation(request({ xr: xr({ targets: adminOf("orders") }), required: database("team-payments", {}) }), deps(world(), seen));
    expect(rsp).toEqual({
      ...response({ phase: "Waiting" }, { ttl: 30, ready: false, results: [res(Severity.SEVERITY_NORMAL, "Waiting", message)], conditions: [cond(false, "Waiting", message)] }),
      requirements: DATABASE_LOOKUP("team-payments"),
    });
    expect(seen).toEqual([]);
  });

  it("changes a role on the Database's server with the admin from the Database's own connection Secret", async () => {
    const w = world();
    const connection = w.secrets.get("orders-db");
    if (connection) connection.data = { host: "db", port: "5432", database: "orders", username: "pgadmin", password: "admin-Pass1!" };
    w.secrets.set("orders-app-db", { data: { username: "orders_app", password: "old-Pass1!" }, annotations: {}, labels: {}, resourceVersion: w.rv++, owners: {} });
    const rsp = await runSecretRotation(request({ xr: xr({ secretRef: { name: "orders-app-db", key: "password" }, targets: roleOn("orders") }), required: database("team-payments") }), deps(w));
    expect(rsp.results.map((r) => r.reason)).toEqual(["Rotated"]);
    expect(w.roles.get("orders_app")?.password).toBe(w.secrets.get("orders-app-db")?.data.password);
    expect(w.roles.get("pgadmin")?.password).toBe("admin-Pass1!");
  });
});

describe("a Secret still marked by another SecretRotation", () => {
  const LOOKUP = {
    extraResources: {},
    schemas: {},
    resources: { "secretrotation-old-pw": { apiVersion: "azplatform.io/v1alpha1", kind: "SecretRotation", matchName: "old-pw", namespace: "team-payments" } },
  };
  const found = (exists: boolean): RunFunctionRequest["requiredResources"] => ({
    "secretrotation-old-pw": {
      items: exists
        ? [{ resource: { apiVersion: "azplatform.io/v1alpha1", kind: "SecretRotation", metadata: { name: "old-pw", namespace: "team-payments" } }, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }]
        : [],
    },
  });
  // old-pw rotated orders-db to version 3 and fenced the role with it.
  const claimed = () => {
    const w = world();
    const app = w.secrets.get("orders-db");
    // Applied by the same field manager as every SecretRotation's: the successor's apply removes what it omits.
    if (app) app.annotations = { "rotation.azplatform.io/rotated-by": "old-pw", "rotation.azplatform.io/version": "3", "rotation.azplatform.io/last-trigger": "t3" };
    if (app) app.appliedAnnotations = Object.keys(app.annotations);
    w.roles.set("orders_app", { password: "old-Pass1!", version: 3, rotation: "team-payments/old-pw" });
    return w;
  };
  const CLAIMED = "Secret orders-db is already rotated by SecretRotation old-pw; a Secret can have only one rotation (delete old-pw to hand it over)";

  it("asks Crossplane whether it exists, changing nothing; while it exists, says so and waits without calling anyone", async () => {
    const w = claimed();
    const asking = "Secret orders-db is marked as rotated by SecretRotation old-pw; asking Crossplane whether it still exists";
    const withVault = xr({ targets: { postgresRole: { name: "orders_app", adminSecretRef: { name: "orders-admin" } }, keyVault: { vaultName: "kv-payments", secretName: "orders-db" } } });
    expect(await runSecretRotation(request({ xr: withVault }), deps(w))).toEqual({
      ...response({ phase: "Waiting" }, { ttl: 30, ready: false, results: [res(Severity.SEVERITY_NORMAL, "Waiting", asking)], conditions: [cond(false, "Waiting", asking)] }),
      requirements: LOOKUP,
    });
    const second = await runSecretRotation(request({ xr: withVault, required: found(true) }), deps(w));
    const status = { phase: "Failed", currentVersion: 0, schedule: "720h", retryAt: "2026-11-24T12:01:00.000Z", lastError: CLAIMED };
    expect(second).toEqual({
      ...response(status, { ttl: 60, ready: false, results: [res(Severity.SEVERITY_WARNING, "SecretClaimed", CLAIMED)], conditions: [cond(false, "SecretClaimed", CLAIMED)] }),
      requirements: LOOKUP,
    });
    expect(w.mutations).toEqual([]);
    // Reads of the state and the app Secret only: no Azure call, no write.
    expect(w.calls.filter((c) => !c.startsWith("k8s.get"))).toEqual([]);
  });

  it("once Crossplane reports it deleted, takes the Secret and the role over and carries on from its version", async () => {
    const w = claimed();
    const rsp = await runSecretRotation(request({ required: found(false) }), deps(w));
    expect(rsp.results).toEqual([res(Severity.SEVERITY_NORMAL, "Rotated", "rotated to version 4; rolled 1 workload(s): api")]);
    // The same requirement as the call before: Crossplane's loop ends here.
    expect(rsp.requirements).toEqual(LOOKUP);
    const password = w.secrets.get("orders-db")?.data.password;
    expect(w.roles.get("orders_app")).toEqual({ password, version: 4, rotation: "team-payments/orders-pw" });
    expect(w.secrets.get("orders-db")?.annotations).toEqual({
      "rotation.azplatform.io/rotated-by": "orders-pw",
      "rotation.azplatform.io/took-over-from": "old-pw",
      "rotation.azplatform.io/owned-keys": "password",
      "rotation.azplatform.io/version": "4",
      "rotation.azplatform.io/last-rotated-at": NOW.toISOString(),
    });
    // The next reconcile no longer asks; the predecessor's last trigger was its own, so the same text is a new one here.
    const next = await runSecretRotation(request({ xr: xr({}, { annotations: { "azplatform.io/rotate-now": "t3" } }) }), deps(w));
    expect(next.requirements).toBeUndefined();
    expect(next.results).toEqual([res(Severity.SEVERITY_NORMAL, "Rotated", "rotated to version 5; rolled 1 workload(s): api")]);
  });
});
