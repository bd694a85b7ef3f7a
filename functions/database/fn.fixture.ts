// The builders of the Database function's whole-response tables: the policy, the XR, what the function composes and
// what Crossplane observes. Shared by fn.test.ts and app-role.test.ts.
import { Ready, Severity, Status, Target, type RunFunctionRequest, type RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { AlertsPolicy, monitoring } from "./alerts.ts";

// ---- builders (kept beside the tests that use them) -------------------------------------------------------

export const SUBNET = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-net-prod/providers/Microsoft.Network/virtualNetworks/vnet-prod/subnets/postgres";
export const ZONE = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-net-prod/providers/Microsoft.Network/privateDnsZones/prod.private.postgres.database.azure.com";
export const PASSWORD = "Generated-Passw0rd-For-Tests";
export const WORKSPACE = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ops/providers/Microsoft.OperationalInsights/workspaces/law-prod";

export type Json = Record<string, unknown>;

export function policy(over: Json = {}): Json {
  return {
    apiVersion: "fn.azplatform.io/v1alpha1",
    kind: "DatabasePolicy",
    environment: "prod",
    location: "westeurope",
    resourceGroupName: "rg-data-prod",
    network: { delegatedSubnetId: SUBNET, privateDnsZoneId: ZONE },
    backup: { retentionDays: 14 },
    versions: { allowed: ["15", "16", "17"], default: "16" },
    sizes: {
      small: { skuName: "B_Standard_B2s", storageGB: 32 },
      medium: { skuName: "GP_Standard_D2ds_v5", storageGB: 128 },
      large: { skuName: "GP_Standard_D4ds_v5", storageGB: 256 },
    },
    highAvailability: { allowedSizes: ["medium", "large"] },
    serverParameters: { require_secure_transport: "on" },
    tags: { static: { "managed-by": "crossplane" }, fromMetadata: [{ key: "cost-center", label: "azplatform.io/cost-center", required: false }] },
    ...over,
  };
}

export function db(spec: Json = {}, meta: Json = {}): Json {
  return {
    apiVersion: "azplatform.io/v1alpha1",
    kind: "Database",
    metadata: { name: "orders", namespace: "team-payments", ...meta },
    spec: { team: "payments", size: "medium", ...spec },
  };
}

export function ok(reason = "ReconcileSuccess"): Json[] {
  return [
    { type: "Ready", status: "True", reason: "Available" },
    { type: "Synced", status: "True", reason },
  ];
}

export function request(o: {
  xr?: Json;
  input?: Json | null;
  observed?: Record<string, Json>;
  desired?: RunFunctionRequest["desired"];
  required?: RunFunctionRequest["requiredResources"];
}): RunFunctionRequest {
  return {
    meta: { tag: "t-1", capabilities: [] },
    observed: {
      composite: { resource: o.xr ?? db(), connectionDetails: {}, ready: Ready.READY_UNSPECIFIED },
      resources: Object.fromEntries(Object.entries(o.observed ?? {}).map(([k, r]) => [k, { resource: r, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }])),
    },
    desired: o.desired ?? { composite: undefined, resources: {} },
    input: o.input === null ? undefined : (o.input ?? policy()),
    extraResources: {},
    credentials: {},
    requiredResources: o.required ?? {},
    requiredSchemas: {},
  };
}

export const b64 = (s: string) => Buffer.from(s).toString("base64");

export interface ServerWant {
  name: string;
  sku: string;
  version: string;
  storageMb: number;
  tier: string;
  location: string;
  rg: string;
  subnet: string;
  geo: boolean;
  login: string;
  ha: string | undefined;
  zone: string | undefined;
  tags: Record<string, string>;
  policies: string[];
  window: Json | undefined;
}

export const SERVER: ServerWant = {
  name: "pg-payments-orders-prod-edfe87",
  sku: "GP_Standard_D2ds_v5",
  version: "16",
  storageMb: 131072,
  tier: "P10",
  location: "westeurope",
  rg: "rg-data-prod",
  subnet: SUBNET,
  geo: false,
  login: "pgadmin",
  ha: undefined,
  zone: undefined,
  tags: { "azplatform-namespace": "team-payments", environment: "prod", "managed-by": "crossplane", team: "payments" },
  policies: ["Observe", "Create", "Update", "Delete"],
  window: undefined,
};

export const LABELS = { "azplatform.io/team": "payments" };
export const PROVIDER = { kind: "ClusterProviderConfig", name: "default" };

export function server(w: Partial<ServerWant> = {}): Json {
  const s = { ...SERVER, ...w };
  return {
    apiVersion: "dbforpostgresql.azure.m.upbound.io/v1beta1",
    kind: "FlexibleServer",
    metadata: { namespace: "team-payments", labels: LABELS, annotations: { "crossplane.io/external-name": s.name } },
    spec: {
      managementPolicies: s.policies,
      providerConfigRef: PROVIDER,
      ...(s.zone ? { initProvider: { zone: s.zone } } : {}),
      forProvider: {
        administratorLogin: s.login,
        administratorPasswordSecretRef: { name: "orders-db", key: "password" },
        authentication: { activeDirectoryAuthEnabled: false, passwordAuthEnabled: true },
        autoGrowEnabled: true,
        backupRetentionDays: 14,
        delegatedSubnetId: s.subnet,
        geoRedundantBackupEnabled: s.geo,
        ...(s.ha ? { highAvailability: { mode: s.ha } } : {}),
        location: s.location,
        ...(s.window ? { maintenanceWindow: s.window } : {}),
        privateDnsZoneId: ZONE,
        publicNetworkAccessEnabled: false,
        resourceGroupName: s.rg,
        skuName: s.sku,
        storageMb: s.storageMb,
        storageTier: s.tier,
        tags: s.tags,
        version: s.version,
      },
    },
  };
}

export function database(name: string, policies = SERVER.policies): Json {
  return {
    apiVersion: "dbforpostgresql.azure.m.upbound.io/v1beta1",
    kind: "FlexibleServerDatabase",
    metadata: { namespace: "team-payments", labels: LABELS, annotations: { "crossplane.io/external-name": name } },
    spec: {
      managementPolicies: policies,
      providerConfigRef: PROVIDER,
      forProvider: { charset: "UTF8", collation: "en_US.utf8", serverIdSelector: { matchControllerRef: true } },
    },
  };
}

export function parameter(name: string, value: string, policies = SERVER.policies): Json {
  return {
    apiVersion: "dbforpostgresql.azure.m.upbound.io/v1beta1",
    kind: "FlexibleServerConfiguration",
    metadata: { namespace: "team-payments", labels: LABELS },
    spec: { managementPolicies: policies, providerConfigRef: PROVIDER, forProvider: { name, value, serverIdSelector: { matchControllerRef: true } } },
  };
}

export function secret(o: { password?: string; host?: string; database?: string; login?: string } = {}): Json {
  const password = o.password ?? PASSWORD;
  const host = o.host ?? "pg-payments-orders-prod-edfe87.postgres.database.azure.com";
  const database = o.database ?? "orders";
  const login = o.login ?? "pgadmin";
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "orders-db", namespace: "team-payments", labels: LABELS },
    type: "Opaque",
    data: {
      database: b64(database),
      host: b64(host),
      password: b64(password),
      port: b64("5432"),
      sslmode: b64("require"),
      uri: b64(`postgresql://${login}:${encodeURIComponent(password)}@${host}:5432/${database}?sslmode=require`),
      username: b64(login),
    },
  };
}

export const READY = Ready.READY_TRUE;
export const NOT_READY = Ready.READY_FALSE;
export const composed = (resource: Json, ready: Ready) => ({ resource, connectionDetails: {}, ready });

export function warning(message: string, reason = "ChangeRefused") {
  return { severity: Severity.SEVERITY_WARNING, message, reason, target: Target.TARGET_COMPOSITE };
}
export function fatal(reason: string, message: string) {
  return { severity: Severity.SEVERITY_FATAL, message, reason, target: Target.TARGET_COMPOSITE };
}
export function cond(type: string, status: boolean, reason: string, message: string) {
  return { type, status: status ? Status.STATUS_CONDITION_TRUE : Status.STATUS_CONDITION_FALSE, reason, message, target: Target.TARGET_COMPOSITE };
}

export const WAITING_ALL =
  "waiting for FlexibleServer pg-payments-orders-prod-edfe87: not created yet; FlexibleServerDatabase orders: not created yet; " +
  "FlexibleServerConfiguration require_secure_transport: not created yet; Secret orders-db: not created yet";
export const APPLIED = cond("ChangesApplied", true, "Applied", "the Database spec and the DBA policy are applied");

export function response(o: {
  resources: Record<string, ReturnType<typeof composed>>;
  status?: Json;
  results?: RunFunctionResponse["results"];
  conditions: RunFunctionResponse["conditions"];
  requirements?: RunFunctionResponse["requirements"];
}): RunFunctionResponse {
  return {
    meta: { tag: "t-1", ttl: { seconds: 60, nanos: 0 } },
    desired: {
      composite: {
        resource: { status: { ...o.status, serverName: "pg-payments-orders-prod-edfe87", resourceGroupName: "rg-data-prod", connectionSecretName: "orders-db", version: "16", storageGB: 128, passwordAuthEnabled: true, ...o.status } },
        connectionDetails: {},
        ready: Ready.READY_UNSPECIFIED,
      },
      resources: o.resources,
    },
    results: o.results ?? [],
    conditions: o.conditions,
    requirements: o.requirements,
    context: undefined,
  };
}

/** The composed set of a fresh medium Database, with overrides per key. */
export function fresh(over: Record<string, ReturnType<typeof composed>> = {}) {
  return {
    server: composed(server(), NOT_READY),
    "database-orders": composed(database("orders"), NOT_READY),
    "parameter-require_secure_transport": composed(parameter("require_secure_transport", "on"), NOT_READY),
    "connection-secret": composed(secret(), NOT_READY),
    ...over,
  };
}

/** Observed state of a server that exists and is ready, as the provider reports it. */
export function observedServer(w: Partial<ServerWant> = {}, atProvider: Json = {}, conditions = ok()): Json {
  const s = server(w) as { metadata: Json; spec: Json };
  return {
    ...s,
    metadata: { ...s.metadata, name: "orders-x7k2p" },
    status: {
      atProvider: {
        id: "/subscriptions/0001/resourceGroups/rg-data-prod/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-payments-orders-prod-edfe87",
        fqdn: "pg-payments-orders-prod-edfe87.postgres.database.azure.com",
        storageMb: w.storageMb ?? SERVER.storageMb,
        version: w.version ?? SERVER.version,
        ...atProvider,
      },
      conditions,
    },
  };
}

export function withStatus(r: Json, conditions: Json[]): Json {
  return { ...r, status: { conditions } };
}

export const everythingReady = (w: Partial<ServerWant> = {}, atProvider: Json = {}) => ({
  server: observedServer(w, atProvider),
  "database-orders": withStatus(database("orders"), ok()),
  "parameter-require_secure_transport": withStatus(parameter("require_secure_transport", "on"), ok()),
  "connection-secret": secret({ password: "Observed-Passw0rd" }),
});

export const READY_CONDITION = cond("DatabaseReady", true, "Available", "server pg-payments-orders-prod-edfe87 and 1 database(s) are ready; connect with Secret orders-db");
export const FQDN = { fqdn: "pg-payments-orders-prod-edfe87.postgres.database.azure.com" };

export const readyResources = (w: Partial<ServerWant> = {}) => ({
  server: composed(server(w), READY),
  "database-orders": composed(database("orders"), READY),
  "parameter-require_secure_transport": composed(parameter("require_secure_transport", "on"), READY),
  "connection-secret": composed(secret({ password: "Observed-Passw0rd" }), READY),
});

// ---- the table --------------------------------------------------------------------------------------------

// While the connection Secret is not observed, the function looks it up by name first; Crossplane calls again with
// the answer. These are the second calls: no Secret of that name exists yet.
export const LOOKUP = { extraResources: {}, schemas: {}, resources: { "connection-secret": { apiVersion: "v1", kind: "Secret", matchName: "orders-db", namespace: "team-payments" } } };
export const NOT_FOUND = { "connection-secret": { items: [] } };
export const ROTATION = { "secret-rotation": { apiVersion: "azplatform.io/v1alpha1", kind: "SecretRotation", matchName: "orders-pw", namespace: "team-payments" } };
export const LOOKUP_ROTATION = { extraResources: {}, schemas: {}, resources: ROTATION };

export const ACTION_GROUP = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ops/providers/Microsoft.Insights/actionGroups/payments-oncall";
export const ALERTS = { subscriptionId: "00000000-0000-0000-0000-000000000001", actionGroups: { "team-payments": ACTION_GROUP } };
export const ALERT_KEYS = [
  "alert-active-connections",
  "alert-cpu",
  "alert-failed-connections",
  "alert-iops",
  "alert-memory",
  "alert-server-alive",
  "alert-storage",
  "alert-storage-free",
  "alert-transaction-id-wraparound",
];
/** The alerts of the default medium server (their contents are alerts.test.ts's table; here, how they are composed). */
export function alertsOf(alerts: Json, ready: Ready, sku = SERVER.sku) {
  const plan = { namespace: "team-payments", team: "payments", name: SERVER.name, resourceGroupName: "rg-data-prod", skuName: sku, tags: SERVER.tags, providerConfigRef: PROVIDER };
  const { resources } = monitoring({ plan, alerts: AlertsPolicy.parse(alerts), serverParameters: { require_secure_transport: "on" } } as unknown as Parameters<typeof monitoring>[0]);
  return Object.fromEntries(Object.entries(resources).map(([k, r]) => [k, composed(r, ready)]));
}
export const WAITING_ALERTS = ALERT_KEYS.map((k) => `MonitorMetricAlert ${SERVER.name}-${k.slice("alert-".length)}: not created yet`).join("; ");

export const EXTENSIONS = { allowed: ["vector", "pg_stat_statements", "pg_cron", "postgis"] };
export const SQL_PROVIDER_CONFIG = {
  apiVersion: "postgresql.sql.m.crossplane.io/v1alpha1",
  kind: "ProviderConfig",
  metadata: { name: "orders-sql", namespace: "team-payments", labels: LABELS },
  spec: {
    credentials: {
      source: "PostgreSQLConnectionSecret",
      connectionSecretRef: { name: "orders-db" },
      secretKeyMapping: { endpoint: "host", password: "password", port: "port", username: "username" },
    },
    defaultDatabase: "postgres",
    sslMode: "verify-full",
  },
};
export function extension(name: string, database: string): Json {
  return {
    apiVersion: "postgresql.sql.m.crossplane.io/v1alpha1",
    kind: "Extension",
    metadata: { namespace: "team-payments", labels: LABELS },
    spec: { managementPolicies: ["Observe", "Create", "Update"], providerConfigRef: { kind: "ProviderConfig", name: "orders-sql" }, forProvider: { database, extension: name } },
  };
}
export const RESTART = (from: string, to: string) =>
  warning(
    `spec.extensions: shared_preload_libraries of server ${SERVER.name} changes from "${from}" to "${to}"; it is a static parameter, so the provider restarts the server to apply it ` +
      "(a few minutes without connections), unless its ProviderConfig sets features.postgreSQLFlexibleServer.restartServerOnConfigurationValueChange: false, " +
      "and then it applies at the server's next restart",
    "ServerRestart",
  );

export const TENANT = "11111111-2222-3333-4444-555555555555";
export const GROUP = { objectId: "aaaaaaaa-0000-0000-0000-000000000001", principalName: "pg-admins-payments" };
export const ENTRA = (mode: string) => ({ mode, tenantId: TENANT, groups: { "team-payments": GROUP } });
export const ENTRA_ADMIN = {
  apiVersion: "dbforpostgresql.azure.m.upbound.io/v1beta1",
  kind: "FlexibleServerActiveDirectoryAdministrator",
  metadata: { namespace: "team-payments", labels: LABELS },
  spec: {
    managementPolicies: SERVER.policies,
    providerConfigRef: PROVIDER,
    forProvider: {
      objectId: GROUP.objectId,
      principalName: GROUP.principalName,
      principalType: "Group",
      resourceGroupName: "rg-data-prod",
      serverNameSelector: { matchControllerRef: true },
      tenantId: TENANT,
    },
  },
};
/** The server as composed with another sign-in: `passwordAdmin` false leaves out the login and its password. */
export function serverSigningIn(authentication: Json, passwordAdmin: boolean): Json {
  const s = server() as { spec: { forProvider: Json } };
  const { administratorLogin: _l, administratorPasswordSecretRef: _p, ...rest } = s.spec.forProvider;
  return { ...s, spec: { ...s.spec, forProvider: { ...(passwordAdmin ? s.spec.forProvider : rest), authentication } } };
}
export const WAITING_ENTRA = WAITING_ALL.replace("; Secret orders-db", "; FlexibleServerActiveDirectoryAdministrator pg-admins-payments: not created yet; Secret orders-db");

// A restore of Database orders (its server pg-payments-orders-prod-edfe87) into Database orders-copy.
export const COPY = "pg-payments-orders-copy-prod-971f19";
export const RESTORE_FROM = { database: "orders", pointInTime: "2026-11-24T09:30:00Z" };
export const RESTORE_SOURCE_LOOKUP = { apiVersion: "azplatform.io/v1alpha1", kind: "Database", matchName: "orders", namespace: "team-payments" };
export const copy = (spec: Json = {}) => db({ restoreFrom: RESTORE_FROM, databases: ["orders"], connectionSecretName: "orders-db", ...spec }, { name: "orders-copy" });
export function sourceDatabase(namespace = "team-payments", status: Json = {}): NonNullable<RunFunctionRequest["requiredResources"]>[string] {
  const resource = {
    apiVersion: "azplatform.io/v1alpha1",
    kind: "Database",
    metadata: { name: "orders", namespace },
    spec: { team: "payments", size: "medium" },
    status: { serverName: SERVER.name, resourceGroupName: "rg-data-prod", version: "16", storageGB: 256, conditions: [{ type: "Ready", status: "True" }], ...status },
  };
  return { items: [{ resource, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }] };
}
/** The restored server as composed before its create: the source's backup, without a login, password or HA. */
export function restoredServer(): Json {
  const s = server({ name: COPY, storageMb: 262144, tier: "P15" }) as { metadata: { annotations: Json }; spec: { forProvider: Json } };
  const { administratorLogin: _l, administratorPasswordSecretRef: _p, ...forProvider } = s.spec.forProvider;
  return {
    ...s,
    metadata: { ...s.metadata, annotations: { "azplatform.io/restored-from": "orders", "crossplane.io/external-name": COPY } },
    spec: {
      ...s.spec,
      initProvider: {
        createMode: "PointInTimeRestore",
        pointInTimeRestoreTimeInUtc: "2026-11-24T09:30:00Z",
        sourceServerId: `/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-data-prod/providers/Microsoft.DBforPostgreSQL/flexibleServers/${SERVER.name}`,
      },
      forProvider,
    },
  };
}

