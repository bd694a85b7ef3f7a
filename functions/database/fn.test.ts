import { Ready, Severity, Target, type RunFunctionRequest, type RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { describe, expect, it } from "vitest";
import { route } from "../router.ts";
import { runDatabase } from "./fn.ts";
import {
  SUBNET,
  ZONE,
  PASSWORD,
  WORKSPACE,
  type Json,
  policy,
  db,
  ok,
  request,
  b64,
  SERVER,
  LABELS,
  server,
  database,
  parameter,
  secret,
  READY,
  NOT_READY,
  composed,
  warning,
  fatal,
  cond,
  WAITING_ALL,
  APPLIED,
  response,
  fresh,
  observedServer,
  withStatus,
  everythingReady,
  READY_CONDITION,
  FQDN,
  readyResources,
  LOOKUP,
  NOT_FOUND,
  ROTATION,
  LOOKUP_ROTATION,
  ALERTS,
  ALERT_KEYS,
  alertsOf,
  WAITING_ALERTS,
  EXTENSIONS,
  SQL_PROVIDER_CONFIG,
  extension,
  RESTART,
  TENANT,
  GROUP,
  ENTRA,
  ENTRA_ADMIN,
  serverSigningIn,
  WAITING_ENTRA,
  COPY,
  RESTORE_SOURCE_LOOKUP,
  copy,
  sourceDatabase,
  restoredServer,
} from "./fn.fixture.ts";

const cases: Record<string, { req: RunFunctionRequest; want: RunFunctionResponse }> = {
  ARestoreLooksItsSourceUpInItsOwnNamespaceBeforeComposingAnything: {
    req: request({ xr: copy(), input: policy({ subscriptionId: "00000000-0000-0000-0000-000000000001" }) }),
    want: {
      meta: { tag: "t-1", ttl: { seconds: 60, nanos: 0 } },
      desired: { composite: undefined, resources: {} },
      results: [],
      conditions: [cond("DatabaseReady", false, "RestoreSourcePending", "looking up Database orders to restore from")],
      requirements: { extraResources: {}, schemas: {}, resources: { "restore-source": RESTORE_SOURCE_LOOKUP } },
      context: undefined,
    },
  },
  ARestoredServerIsCreatedFromTheSourcesBackupWithItsStorageAndNoLoginOrPassword: {
    req: request({
      xr: copy(),
      input: policy({ subscriptionId: "00000000-0000-0000-0000-000000000001" }),
      required: { ...NOT_FOUND, "restore-source": sourceDatabase() },
    }),
    want: {
      ...response({
        requirements: { extraResources: {}, schemas: {}, resources: { ...LOOKUP.resources, "restore-source": RESTORE_SOURCE_LOOKUP } },
        resources: fresh({
          server: composed(restoredServer(), NOT_READY),
          "connection-secret": composed(secret({ host: `${COPY}.postgres.database.azure.com` }), NOT_READY),
        }),
        status: { serverName: COPY, storageGB: 256 },
        conditions: [cond("DatabaseReady", false, "Creating", WAITING_ALL.replace(SERVER.name, COPY)), APPLIED],
      }),
    },
  },
  PasswordAndEntraIdMakesTheNamespacesGroupTheEntraAdminBesideThePasswordAdmin: {
    req: request({ required: NOT_FOUND, input: policy({ authentication: ENTRA("PasswordAndEntraId") }) }),
    want: response({
      requirements: LOOKUP,
      resources: fresh({
        server: composed(serverSigningIn({ activeDirectoryAuthEnabled: true, passwordAuthEnabled: true, tenantId: TENANT }, true), NOT_READY),
        [`entra-admin-${GROUP.objectId}`]: composed(ENTRA_ADMIN, NOT_READY),
      }),
      conditions: [cond("DatabaseReady", false, "Creating", WAITING_ENTRA), APPLIED],
    }),
  },
  EntraIdOnlyCreatesAServerWithoutPasswordsAndASecretWithoutOne: {
    req: request({ required: NOT_FOUND, input: policy({ authentication: ENTRA("EntraId") }) }),
    want: response({
      requirements: LOOKUP,
      resources: fresh({
        server: composed(serverSigningIn({ activeDirectoryAuthEnabled: true, passwordAuthEnabled: false, tenantId: TENANT }, false), NOT_READY),
        [`entra-admin-${GROUP.objectId}`]: composed(ENTRA_ADMIN, NOT_READY),
        "connection-secret": composed(
          {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "orders-db", namespace: "team-payments", labels: LABELS },
            type: "Opaque",
            data: {
              database: b64("orders"),
              host: b64("pg-payments-orders-prod-edfe87.postgres.database.azure.com"),
              port: b64("5432"),
              sslmode: b64("require"),
              username: b64(GROUP.principalName),
            },
          },
          NOT_READY,
        ),
      }),
      status: { passwordAuthEnabled: false },
      conditions: [cond("DatabaseReady", false, "Creating", WAITING_ENTRA), APPLIED],
    }),
  },
  ExtensionsAreAllowListedPreloadedAndCreatedInEveryDatabase: {
    req: request({ required: NOT_FOUND, xr: db({ extensions: ["vector", "pg_stat_statements"], databases: ["orders", "orders_audit"] }), input: policy({ extensions: EXTENSIONS }) }),
    want: response({
      requirements: LOOKUP,
      resources: fresh({
        "database-orders_audit": composed(database("orders_audit"), NOT_READY),
        "parameter-azure.extensions": composed(parameter("azure.extensions", "PG_STAT_STATEMENTS,VECTOR"), NOT_READY),
        "parameter-shared_preload_libraries": composed(parameter("shared_preload_libraries", "pg_stat_statements"), NOT_READY),
        "sql-provider-config": composed(SQL_PROVIDER_CONFIG, NOT_READY),
        "extension-orders-pg_stat_statements": composed(extension("pg_stat_statements", "orders"), NOT_READY),
        "extension-orders-vector": composed(extension("vector", "orders"), NOT_READY),
        "extension-orders_audit-pg_stat_statements": composed(extension("pg_stat_statements", "orders_audit"), NOT_READY),
        "extension-orders_audit-vector": composed(extension("vector", "orders_audit"), NOT_READY),
      }),
      conditions: [
        cond(
          "DatabaseReady",
          false,
          "Creating",
          `waiting for FlexibleServer ${SERVER.name}: not created yet; FlexibleServerDatabase orders: not created yet; FlexibleServerDatabase orders_audit: not created yet; ` +
            "FlexibleServerConfiguration azure.extensions: not created yet; FlexibleServerConfiguration require_secure_transport: not created yet; " +
            "FlexibleServerConfiguration shared_preload_libraries: not created yet; ProviderConfig orders-sql: not created yet; " +
            "Extension pg_stat_statements in orders: not created yet; Extension vector in orders: not created yet; " +
            "Extension pg_stat_statements in orders_audit: not created yet; Extension vector in orders_audit: not created yet; Secret orders-db: not created yet",
        ),
        APPLIED,
      ],
    }),
  },
  APreloadedExtensionOnAnExistingServerSaysTheServerRestarts: {
    req: request({
      xr: db({ extensions: ["pg_cron"] }),
      input: policy({ extensions: EXTENSIONS, serverParameters: { require_secure_transport: "on", shared_preload_libraries: "pg_stat_statements" } }),
      observed: { ...everythingReady(), "parameter-shared_preload_libraries": withStatus(parameter("shared_preload_libraries", "pg_stat_statements"), ok()) },
    }),
    want: response({
      resources: {
        ...readyResources(),
        "parameter-azure.extensions": composed(parameter("azure.extensions", "PG_CRON"), NOT_READY),
        "parameter-shared_preload_libraries": composed(parameter("shared_preload_libraries", "pg_cron,pg_stat_statements"), READY),
        "sql-provider-config": composed(SQL_PROVIDER_CONFIG, NOT_READY),
        "extension-orders-pg_cron": composed(extension("pg_cron", "orders"), NOT_READY),
      },
      status: FQDN,
      results: [RESTART("pg_stat_statements", "pg_cron,pg_stat_statements")],
      conditions: [
        cond(
          "DatabaseReady",
          false,
          "Creating",
          "waiting for FlexibleServerConfiguration azure.extensions: not created yet; ProviderConfig orders-sql: not created yet; Extension pg_cron in orders: not created yet",
        ),
        APPLIED,
      ],
    }),
  },
  AnExtensionTakenOutOfTheListStaysAllowedAndLoadedAndIsNotDropped: {
    req: request({
      xr: db({ extensions: ["vector"] }),
      input: policy({ extensions: EXTENSIONS }),
      observed: {
        ...everythingReady(),
        "parameter-azure.extensions": withStatus(parameter("azure.extensions", "PG_CRON,VECTOR"), ok()),
        "parameter-shared_preload_libraries": withStatus(parameter("shared_preload_libraries", "pg_cron"), ok()),
        "sql-provider-config": SQL_PROVIDER_CONFIG,
        "extension-orders-vector": withStatus(extension("vector", "orders"), ok()),
        "extension-orders-pg_cron": withStatus(extension("pg_cron", "orders"), ok()),
      },
    }),
    want: response({
      resources: {
        ...readyResources(),
        "parameter-azure.extensions": composed(parameter("azure.extensions", "PG_CRON,VECTOR"), READY),
        "parameter-shared_preload_libraries": composed(parameter("shared_preload_libraries", "pg_cron"), READY),
        "sql-provider-config": composed(SQL_PROVIDER_CONFIG, READY),
        "extension-orders-vector": composed(extension("vector", "orders"), READY),
      },
      status: FQDN,
      conditions: [READY_CONDITION, APPLIED],
    }),
  },
  AlertsComeWithANewServerRoutedToItsNamespacesActionGroup: {
    req: request({ required: NOT_FOUND, input: policy({ alerts: ALERTS }) }),
    want: response({
      requirements: LOOKUP,
      resources: fresh(alertsOf(ALERTS, NOT_READY)),
      conditions: [cond("DatabaseReady", false, "Creating", `${WAITING_ALL.replace("; Secret orders-db", `; ${WAITING_ALERTS}; Secret orders-db`)}`), APPLIED],
    }),
  },
  AlertsAreReadyWithTheirServerAndTheLogsGoToTheWorkspace: {
    req: request({
      input: policy({ alerts: { ...ALERTS, logAnalyticsWorkspaceId: WORKSPACE } }),
      observed: { ...everythingReady(), ...Object.fromEntries(Object.entries(alertsOf({ ...ALERTS, logAnalyticsWorkspaceId: WORKSPACE }, READY)).map(([k, r]) => [k, withStatus(r.resource, ok())])) },
    }),
    want: response({ resources: { ...readyResources(), ...alertsOf({ ...ALERTS, logAnalyticsWorkspaceId: WORKSPACE }, READY) }, status: FQDN, conditions: [READY_CONDITION, APPLIED] }),
  },
  AnActiveConnectionsAlertForASkuWithoutAKnownMaximumIsLeftOutWithAWarning: {
    req: request({ required: NOT_FOUND, input: policy({ alerts: { ...ALERTS, cpu: { enabled: false } }, sizes: { medium: { skuName: "GP_Standard_D2ds_v6", storageGB: 128 } }, highAvailability: { allowedSizes: [] } }) }),
    want: response({
      requirements: LOOKUP,
      resources: fresh({ server: composed(server({ sku: "GP_Standard_D2ds_v6" }), NOT_READY), ...alertsOf({ ...ALERTS, cpu: { enabled: false } }, NOT_READY, "GP_Standard_D2ds_v6") }),
      results: [
        warning(
          "policy alerts.maxConnectionsBySku has no max_connections for SKU GP_Standard_D2ds_v6, and Azure's table of defaults (concepts-limits) does not list it; " +
            `the active connections alert of server ${SERVER.name} is left out until the DBA team adds it`,
          "AlertLeftOut",
        ),
      ],
      conditions: [
        cond(
          "DatabaseReady",
          false,
          "Creating",
          WAITING_ALL.replace(
            "; Secret orders-db",
            `; ${WAITING_ALERTS.split("; ").filter((w) => !/-(cpu|active-connections):/.test(w)).join("; ")}; Secret orders-db`,
          ),
        ),
        APPLIED,
      ],
    }),
  },
  NewDatabaseComposesServerDatabaseParameterAndSecret: {
    req: request({ required: NOT_FOUND, }),
    want: response({ requirements: LOOKUP,  resources: fresh(), conditions: [cond("DatabaseReady", false, "Creating", WAITING_ALL), APPLIED] }),
  },
  ReadyWhenEverythingIsReadyAndPasswordComesFromObservedSecret: {
    req: request({ observed: everythingReady() }),
    want: response({ resources: readyResources(), status: FQDN, conditions: [READY_CONDITION, APPLIED] }),
  },
  NotReadyExplainsProviderError: {
    req: request({
      observed: {
        ...everythingReady(),
        server: observedServer({}, {}, [
          { type: "Ready", status: "False", reason: "Creating" },
          { type: "Synced", status: "False", reason: "ReconcileError", message: "cannot create: quota exceeded" },
        ]),
      },
    }),
    want: response({
      resources: { ...readyResources(), server: composed(server(), NOT_READY) },
      status: FQDN,
      conditions: [
        cond("DatabaseReady", false, "Creating", "waiting for FlexibleServer pg-payments-orders-prod-edfe87: not synced: ReconcileError (cannot create: quota exceeded)"),
        APPLIED,
      ],
    }),
  },
  DatabasesDefaultToNameAndListIsHonoured: {
    req: request({ required: NOT_FOUND,  xr: db({ databases: ["orders", "orders_audit"], connectionSecretName: "orders-db" }) }),
    want: response({ requirements: LOOKUP, 
      resources: fresh({ "database-orders_audit": composed(database("orders_audit"), NOT_READY) }),
      conditions: [
        cond(
          "DatabaseReady",
          false,
          "Creating",
          WAITING_ALL.replace("FlexibleServerDatabase orders: not created yet; ", "FlexibleServerDatabase orders: not created yet; FlexibleServerDatabase orders_audit: not created yet; "),
        ),
        APPLIED,
      ],
    }),
  },
  HighAvailabilityOnAllowedSizeWithZoneInInitProviderOnly: {
    req: request({ required: NOT_FOUND,  xr: db({ highAvailability: true, size: "large" }), input: policy({ zone: "2", maintenanceWindow: { dayOfWeek: 0, startHour: 2, startMinute: 30 } }) }),
    want: response({ requirements: LOOKUP, 
      resources: fresh({
        server: composed(server({ ha: "ZoneRedundant", zone: "2", sku: "GP_Standard_D4ds_v5", storageMb: 262144, tier: "P15", window: { dayOfWeek: 0, startHour: 2, startMinute: 30 } }), NOT_READY),
      }),
      status: { storageGB: 256 },
      conditions: [cond("DatabaseReady", false, "Creating", WAITING_ALL), APPLIED],
    }),
  },
  TagFromLabelAndProtectedFromDeletion: {
    req: request({ required: NOT_FOUND,  xr: db({}, { labels: { "azplatform.io/cost-center": "cc-4711" } }), input: policy({ protectFromDeletion: true }) }),
    want: response({ requirements: LOOKUP, 
      resources: {
        server: composed(server({ tags: { ...SERVER.tags, "cost-center": "cc-4711" }, policies: ["Observe", "Create", "Update"] }), NOT_READY),
        "database-orders": composed(database("orders", ["Observe", "Create", "Update"]), NOT_READY),
        "parameter-require_secure_transport": composed(parameter("require_secure_transport", "on", ["Observe", "Create", "Update"]), NOT_READY),
        "connection-secret": composed(secret(), NOT_READY),
      },
      conditions: [cond("DatabaseReady", false, "Creating", WAITING_ALL), APPLIED],
    }),
  },
  VersionDowngradeRefusedAndObservedKept: {
    req: request({ xr: db({ version: "15" }), observed: everythingReady() }),
    want: response({
      resources: readyResources(),
      status: FQDN,
      results: [warning('spec.version: "15" would downgrade the server from "16"; PostgreSQL cannot be downgraded in place, so it stays on "16"')],
      conditions: [READY_CONDITION, cond("ChangesApplied", false, "ChangeRefused", 'spec.version: "15" would downgrade the server from "16"; PostgreSQL cannot be downgraded in place, so it stays on "16"')],
    }),
  },
  VersionUpgradeApplied: {
    req: request({ xr: db({ version: "17" }), observed: everythingReady() }),
    want: response({ resources: readyResources({ version: "17" }), status: { ...FQDN, version: "17" }, conditions: [READY_CONDITION, APPLIED] }),
  },
  StorageShrinkRefusedAndObservedKept: {
    req: request({ xr: db({ storageGB: 64 }), observed: everythingReady() }),
    want: response({
      resources: readyResources(),
      status: FQDN,
      results: [warning("spec.storageGB: 64 is less than the server's 128; storage can only grow, so it stays at 128")],
      conditions: [READY_CONDITION, cond("ChangesApplied", false, "ChangeRefused", "spec.storageGB: 64 is less than the server's 128; storage can only grow, so it stays at 128")],
    }),
  },
  StorageAutoGrownByAzureIsNeverShrunk: {
    req: request({ observed: everythingReady({}, { storageMb: 262144 }) }),
    want: response({ resources: readyResources({ storageMb: 262144, tier: "P15" }), status: { ...FQDN, storageGB: 256 }, conditions: [READY_CONDITION, APPLIED] }),
  },
  StorageGrowthApplied: {
    req: request({ xr: db({ storageGB: 512 }), observed: everythingReady() }),
    want: response({ resources: readyResources({ storageMb: 524288, tier: "P20" }), status: { ...FQDN, storageGB: 512 }, conditions: [READY_CONDITION, APPLIED] }),
  },
};

// Changes the DBA team makes to policy that Azure cannot apply to an existing server.
const IMMUTABLE_POLICY_MESSAGES = [
  'policy location: the server was created with "westeurope", not "northeurope"; Azure cannot move a server, so it stays',
  'policy resourceGroupName: the server was created with "rg-data-prod", not "rg-other"; Azure cannot move a server to another resource group, so it stays',
  `policy network.delegatedSubnetId: the server was created with "${SUBNET}", not "${SUBNET}2"; Azure cannot move a server to another subnet, so it stays`,
  "policy backup.geoRedundant: the server was created with false, not true; geo-redundant backup is chosen at creation only, so it stays",
  'policy administratorLogin: the server was created with "pgadmin", not "dbowner"; the admin login is fixed for the server\'s life, so it stays',
];
cases.ImmutablePolicyChangesRefusedAndObservedKept = {
  req: request({
    observed: everythingReady(),
    input: policy({
      location: "northeurope",
      resourceGroupName: "rg-other",
      network: { delegatedSubnetId: `${SUBNET}2`, privateDnsZoneId: ZONE },
      backup: { retentionDays: 14, geoRedundant: true },
      administratorLogin: "dbowner",
    }),
  }),
  want: response({
    resources: readyResources(),
    status: FQDN,
    results: IMMUTABLE_POLICY_MESSAGES.map((m) => warning(m)),
    conditions: [READY_CONDITION, cond("ChangesApplied", false, "ChangeRefused", IMMUTABLE_POLICY_MESSAGES.join("; "))],
  }),
};

const RENAME = 'server name: the server was created with "pg-payments-orders-prod-edfe87", not "psql-prod-orders-edfe87"; Azure server names cannot change, so it stays';
cases.ServerNameKeptWhenNamingPatternChanges = {
  req: request({ observed: everythingReady(), input: policy({ naming: { serverName: "psql-{environment}-{name}-{hash}" } }) }),
  want: response({ resources: readyResources(), status: FQDN, results: [warning(RENAME)], conditions: [READY_CONDITION, cond("ChangesApplied", false, "ChangeRefused", RENAME)] }),
};

const HA_SWITCH = "policy highAvailability.mode: the server runs SameZone; Azure cannot switch to ZoneRedundant directly (disable high availability, then enable it), so it stays SameZone";
cases.HighAvailabilityModeSwitchRefused = {
  req: request({ xr: db({ highAvailability: true }), observed: everythingReady({ ha: "SameZone" }) }),
  want: response({
    resources: readyResources({ ha: "SameZone" }),
    status: FQDN,
    results: [warning(HA_SWITCH)],
    conditions: [READY_CONDITION, cond("ChangesApplied", false, "ChangeRefused", HA_SWITCH)],
  }),
};

const DROPPED =
  'spec.databases: "legacy" was removed from the list, but deleting a database deletes its data; the DBA policy does not allow it, so it stays';
cases.RemovedDatabaseKeptUnlessPolicyAllowsDeletion = {
  req: request({ observed: { ...everythingReady(), "database-legacy": withStatus(database("legacy"), ok()) } }),
  want: response({
    resources: { ...readyResources(), "database-legacy": composed(database("legacy"), READY) },
    status: FQDN,
    results: [warning(DROPPED)],
    conditions: [cond("DatabaseReady", true, "Available", "server pg-payments-orders-prod-edfe87 and 2 database(s) are ready; connect with Secret orders-db"), cond("ChangesApplied", false, "ChangeRefused", DROPPED)],
  }),
};
cases.RemovedDatabaseDroppedWhenPolicyAllowsDeletion = {
  req: request({ observed: { ...everythingReady(), "database-legacy": withStatus(database("legacy"), ok()) }, input: policy({ allowDatabaseDeletion: true }) }),
  want: response({ resources: readyResources(), status: FQDN, conditions: [READY_CONDITION, APPLIED] }),
};

// The server exists but the Secret is not observed: look it up by name before anything else (a cache miss must
// never cost the password), keep what is found, and reset deliberately only what is really gone.
const withoutSecret = () => (({ "connection-secret": _, ...rest }) => rest)(everythingReady());
const RESET = (how: string) =>
  warning(`the connection Secret orders-db ${how} while server pg-payments-orders-prod-edfe87 exists; a new admin password was generated and the provider sets it on the server`, "AdminPasswordReset");
cases.SecretNotObservedWhileServerExistsIsLookedUpFirst = {
  req: request({ observed: withoutSecret() }),
  want: response({
    resources: (({ "connection-secret": _, ...rest }) => rest)(readyResources()),
    status: FQDN,
    requirements: LOOKUP,
    conditions: [cond("DatabaseReady", false, "ConnectionSecretMissing", "looking up connection Secret orders-db"), APPLIED],
  }),
};
/** What Crossplane sets on every object it composes for this XR: a controller reference to it. */
const controlledByXr = (o: Json): Json => ({
  ...o,
  metadata: { ...(o.metadata as Json), ownerReferences: [{ apiVersion: "azplatform.io/v1alpha1", kind: "Database", name: "orders", uid: "", controller: true, blockOwnerDeletion: true }] },
});
const found = (o: Json) => ({ "connection-secret": { items: [{ resource: o, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }] } });
// A cache miss: the Secret exists, so it keeps its password and stays ready.
cases.SecretFoundByTheLookupKeepsItsPassword = {
  req: request({ observed: withoutSecret(), required: found(controlledByXr(secret({ password: "Observed-Passw0rd" }))) }),
  want: response({
    resources: { ...readyResources(), "connection-secret": composed(secret({ password: "Observed-Passw0rd" }), READY) },
    status: FQDN,
    requirements: LOOKUP,
    conditions: [READY_CONDITION, APPLIED],
  }),
};
// A cache miss on a Secret whose keys a SecretRotation took over: they stay the rotation's, even then.
const rotatedSecret = () => {
  const s = secret({ password: "Rotated-Passw0rd" }) as { metadata: Json };
  return { ...s, metadata: { ...s.metadata, annotations: { "rotation.azplatform.io/rotated-by": "orders-pw", "rotation.azplatform.io/owned-keys": "password,uri" } } };
};
const withoutRotatedKeys = () => {
  const s = secret({ password: "Rotated-Passw0rd" }) as { data: Record<string, string> };
  const { password: _p, uri: _u, ...data } = s.data;
  return { ...s, data };
};
cases.SecretFoundByTheLookupKeepsWhatARotationOwns = {
  req: request({ observed: withoutSecret(), required: found(controlledByXr(rotatedSecret())) }),
  want: response({
    resources: { ...readyResources(), "connection-secret": composed(withoutRotatedKeys(), READY) },
    status: FQDN,
    requirements: { ...LOOKUP, resources: { ...LOOKUP.resources, ...ROTATION } },
    conditions: [READY_CONDITION, APPLIED],
  }),
};
cases.SecretReallyGoneIsResetDeliberately = {
  req: request({ observed: withoutSecret(), required: { "connection-secret": { items: [] } } }),
  want: response({
    resources: { ...readyResources(), "connection-secret": composed(secret(), NOT_READY) },
    status: FQDN,
    requirements: LOOKUP,
    results: [RESET("is gone")],
    conditions: [cond("DatabaseReady", false, "Creating", "waiting for Secret orders-db: not created yet"), APPLIED],
  }),
};
cases.SecretWithoutPasswordIsResetDeliberately = {
  req: request({
    observed: {
      ...everythingReady(),
      "connection-secret": (() => {
        const s = secret() as { data: Record<string, string> };
        const { password: _p, ...data } = s.data;
        return { ...s, data };
      })(),
    },
  }),
  want: response({
    resources: { ...readyResources(), "connection-secret": composed(secret(), READY) },
    status: FQDN,
    results: [RESET("holds no password")],
    conditions: [READY_CONDITION, APPLIED],
  }),
};

// Crossplane adopts an object that has no controller: a Secret someone made under the name would be overwritten.
const TAKEN =
  "spec.connectionSecretName: Secret orders-db already exists in namespace team-payments and does not belong to this Database; Crossplane would take it over and overwrite its keys. Choose another name, or delete that Secret if it is unused";
const fatalFor = (req: RunFunctionRequest): RunFunctionResponse => ({
  meta: { tag: "t-1", ttl: { seconds: 60, nanos: 0 } },
  desired: req.desired,
  results: [fatal("ConnectionSecretTaken", TAKEN)],
  conditions: [],
  requirements: undefined,
  context: undefined,
});
for (const [name, req] of Object.entries({
  ASecretMadeByHandUnderTheNameIsRefused: request({ required: found({ apiVersion: "v1", kind: "Secret", metadata: { name: "orders-db", namespace: "team-payments" }, data: { password: "bm90LW91cnM=" } }) }),
  ASecretOfAnotherDatabaseIsRefused: request({
    xr: db({}, { uid: "uid-orders" }),
    required: found({ ...(controlledByXr(secret()) as Json), metadata: { name: "orders-db", namespace: "team-payments", ownerReferences: [{ apiVersion: "azplatform.io/v1alpha1", kind: "Database", name: "orders", uid: "uid-of-an-older-orders", controller: true }] } }),
  }),
})) {
  cases[name] = { req, want: fatalFor(req) };
}

const RENAME_SECRET = 'spec.connectionSecretName: the connection Secret is "orders-db", not "orders-conn"; Crossplane cannot rename a composed resource, so it stays';
cases.ConnectionSecretRenameRefused = {
  req: request({ xr: db({ connectionSecretName: "orders-conn" }), observed: everythingReady() }),
  want: response({ resources: readyResources(), status: FQDN, results: [warning(RENAME_SECRET)], conditions: [READY_CONDITION, cond("ChangesApplied", false, "ChangeRefused", RENAME_SECRET)] }),
};

// The managed resource exists but Azure never created the server (e.g. the name was taken): anything may change.
cases.ChangesBeforeTheServerExistsInAzureAreApplied = {
  req: request({ required: NOT_FOUND, 
    input: policy({ location: "northeurope", naming: { serverName: "psql-{name}-{hash}" } }),
    observed: { server: withStatus(server(), [{ type: "Synced", status: "False", reason: "ReconcileError", message: "name not available" }]) },
  }),
  want: response({ requirements: LOOKUP, 
    resources: fresh({
      server: composed(server({ name: "psql-orders-edfe87", location: "northeurope" }), NOT_READY),
      "connection-secret": composed(secret({ host: "psql-orders-edfe87.postgres.database.azure.com" }), NOT_READY),
    }),
    status: { serverName: "psql-orders-edfe87" },
    conditions: [
      cond(
        "DatabaseReady",
        false,
        "Creating",
        WAITING_ALL.replace("FlexibleServer pg-payments-orders-prod-edfe87: not created yet", "FlexibleServer psql-orders-edfe87: not synced: ReconcileError (name not available)").replace(
          "FlexibleServerDatabase orders",
          "FlexibleServerDatabase orders",
        ),
      ),
      APPLIED,
    ],
  }),
};

// A DBA raising defaults must not upgrade or grow servers that never asked for a version or a size.
cases.NewPolicyDefaultsDoNotMoveExistingServers = {
  req: request({
    input: policy({
      versions: { allowed: ["16", "17"], default: "17" },
      sizes: { small: { skuName: "B_Standard_B2s", storageGB: 32 }, medium: { skuName: "GP_Standard_D2ds_v5", storageGB: 256 }, large: { skuName: "GP_Standard_D4ds_v5", storageGB: 512 } },
    }),
    observed: everythingReady(),
  }),
  want: response({ resources: readyResources(), status: FQDN, conditions: [READY_CONDITION, APPLIED] }),
};

// A SecretRotation took the password (and the URI that embeds it) over: the Database stops applying them.
cases.KeysTakenOverByASecretRotationAreNotApplied = {
  req: request({
    observed: {
      ...everythingReady(),
      "connection-secret": (() => {
        const s = secret({ password: "Rotated-Passw0rd" }) as { metadata: Json };
        return { ...s, metadata: { ...s.metadata, annotations: { "rotation.azplatform.io/rotated-by": "orders-pw", "rotation.azplatform.io/owned-keys": "password,uri" } } };
      })(),
    },
  }),
  want: response({
    resources: {
      ...readyResources(),
      "connection-secret": composed(
        (() => {
          const s = secret({ password: "Rotated-Passw0rd" }) as { data: Record<string, string> };
          const { password: _p, uri: _u, ...data } = s.data;
          return { ...s, data };
        })(),
        READY,
      ),
    },
    status: FQDN,
    // Whether the SecretRotation still exists is asked on every call: its marks bind the Database only while it does.
    requirements: LOOKUP_ROTATION,
    conditions: [READY_CONDITION, APPLIED],
  }),
};
// The SecretRotation was deleted: its marks stay on the Secret, but the keys come back to the Database as they are.
cases.KeysOfADeletedSecretRotationAreAppliedAgainAsTheyAre = {
  req: request({ observed: { ...everythingReady(), "connection-secret": rotatedSecret() }, required: { "secret-rotation": { items: [] } } }),
  want: response({
    resources: { ...readyResources(), "connection-secret": composed(secret({ password: "Rotated-Passw0rd" }), READY) },
    status: FQDN,
    requirements: LOOKUP_ROTATION,
    results: [
      {
        severity: Severity.SEVERITY_NORMAL,
        reason: "RotationRemoved",
        message: "SecretRotation orders-pw no longer exists; the Database applies password, uri of Secret orders-db again, as they are",
        target: Target.TARGET_COMPOSITE,
      },
    ],
    conditions: [READY_CONDITION, APPLIED],
  }),
};

cases.EarlierPipelineStepsAreKept = {
  req: request({ required: NOT_FOUND, 
    desired: {
      composite: { resource: { status: { owner: "step-1" } }, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED },
      resources: { other: { resource: { apiVersion: "v1", kind: "ConfigMap" }, connectionDetails: {}, ready: Ready.READY_TRUE } },
    },
  }),
  want: response({ requirements: LOOKUP, 
    resources: { other: { resource: { apiVersion: "v1", kind: "ConfigMap" }, connectionDetails: {}, ready: Ready.READY_TRUE }, ...fresh() },
    status: { owner: "step-1" },
    conditions: [cond("DatabaseReady", false, "Creating", WAITING_ALL), APPLIED],
  }),
};

// Bad input: each gives one Fatal result naming the field, and leaves desired state as it came in.
const fatals: Record<string, { req: RunFunctionRequest; reason: string; message: string }> = {
  RefusesHighAvailabilityOnBurstable: {
    req: request({ xr: db({ size: "small", highAvailability: true }) }),
    reason: "HighAvailabilityNotAllowed",
    message: "spec.highAvailability is not allowed for size small (SKU B_Standard_B2s); choose size medium or large, or set highAvailability: false",
  },
  RefusesSizeThePolicyDoesNotOffer: {
    req: request({ xr: db({ size: "small" }), input: policy({ sizes: { medium: { skuName: "GP_Standard_D2ds_v5", storageGB: 128 } }, highAvailability: { allowedSizes: [] } }) }),
    reason: "SizeNotAllowed",
    message: 'spec.size "small" is not allowed; choose one of medium',
  },
  RefusesUnknownSize: {
    req: request({ xr: db({ size: "huge" }) }),
    reason: "InvalidSpec",
    message: 'the Database is invalid: spec.size: Invalid option: expected one of "small"|"medium"|"large"',
  },
  RefusesVersionOutsideAllowlist: {
    req: request({ xr: db({ version: "13" }) }),
    reason: "VersionNotAllowed",
    message: 'spec.version "13" is not allowed; choose one of 15, 16, 17',
  },
  RefusesEveryPolicyProblemAtOnceNamingEachField: {
    req: request({ xr: db({ size: "small", version: "13", storageGB: 2048, highAvailability: true }, { labels: {} }), input: policy({ storage: { maxGB: 1024 } }) }),
    reason: "VersionNotAllowed",
    message:
      'spec.version "13" is not allowed; choose one of 15, 16, 17; spec.storageGB 2048 exceeds the policy\'s maximum of 1024; ' +
      "spec.highAvailability is not allowed for size small (SKU B_Standard_B2s); choose size medium or large, or set highAvailability: false",
  },
  RefusesADatabaseInANamespaceWithoutAnActionGroup: {
    req: request({ xr: db({}, { namespace: "team-growth" }), input: policy({ alerts: ALERTS }) }),
    reason: "NoActionGroup",
    message:
      "metadata.namespace: team-growth has no action group in the DBA policy's alerts.actionGroups; every server's alerts must reach its team, " +
      "so the DBA team must add one before Databases in team-growth can be composed",
  },
  RefusesNoActionGroupTogetherWithTheSpecsOwnProblems: {
    req: request({ xr: db({ version: "13" }, { namespace: "team-growth" }), input: policy({ alerts: ALERTS }) }),
    reason: "VersionNotAllowed",
    message:
      'spec.version "13" is not allowed; choose one of 15, 16, 17; ' +
      "metadata.namespace: team-growth has no action group in the DBA policy's alerts.actionGroups; " +
      "every server's alerts must reach its team, so the DBA team must add one before Databases in team-growth can be composed",
  },
  RefusesExtensionsThePolicyDoesNotAllowNamingWhatItDoes: {
    req: request({ xr: db({ extensions: ["vector", "timescaledb", "plpython3u"] }), input: policy({ extensions: { allowed: ["vector", "pg_trgm"] } }) }),
    reason: "ExtensionNotAllowed",
    message: 'spec.extensions: "timescaledb", "plpython3u" are not allowed; the DBA policy allows pg_trgm, vector',
  },
  RefusesAnyExtensionWhenThePolicyAllowsNone: {
    req: request({ xr: db({ extensions: ["vector"] }) }),
    reason: "ExtensionNotAllowed",
    message: 'spec.extensions: "vector" is not allowed; the DBA policy allows none (extensions.allowed)',
  },
  RefusesAnExtensionNameThatIsNotOne: {
    req: request({ xr: db({ extensions: ["vector", "Vector;DROP", "vector"] }), input: policy({ extensions: EXTENSIONS }) }),
    reason: "InvalidSpec",
    message: "the Database is invalid: spec.extensions[1]: must be an extension name: lowercase letters, digits and _; spec.extensions: must not repeat a name",
  },
  RefusesADatabaseInANamespaceWithoutAnEntraGroup: {
    req: request({ xr: db({}, { namespace: "team-growth" }), input: policy({ authentication: ENTRA("PasswordAndEntraId") }) }),
    reason: "NoEntraGroup",
    message:
      "metadata.namespace: team-growth has no Entra group in the DBA policy's authentication.groups; with authentication.mode PasswordAndEntraId " +
      "every server's Entra admin is its team's group, so the DBA team must add one before Databases in team-growth can be composed",
  },
  RefusesExtensionsOnAServerWithoutPasswords: {
    req: request({ xr: db({ extensions: ["vector"] }), input: policy({ authentication: ENTRA("EntraId"), extensions: EXTENSIONS }) }),
    reason: "ExtensionsNeedPasswordSignIn",
    message:
      "spec.extensions: the DBA policy turns password sign-in off (authentication.mode EntraId), and extensions are created through provider-sql, " +
      "which signs in with the admin password only; remove spec.extensions, or ask the DBA team for authentication.mode PasswordAndEntraId",
  },
  RefusesARestoreFromADatabaseOfAnotherNamespace: {
    req: request({ xr: copy(), input: policy({ subscriptionId: "00000000-0000-0000-0000-000000000001" }), required: { "restore-source": sourceDatabase("team-growth") } }),
    reason: "RestoreSourceNotFound",
    message: "spec.restoreFrom.database: Database orders does not exist in namespace team-payments; a Database restores only from the Databases of its own namespace",
  },
  RefusesStorageAboveMaximum: {
    req: request({ xr: db({ storageGB: 2048 }), input: policy({ storage: { maxGB: 1024 } }) }),
    reason: "StorageNotAllowed",
    message: "spec.storageGB 2048 exceeds the policy's maximum of 1024",
  },
  RefusesStorageSizeAzureDoesNotOffer: {
    req: request({ xr: db({ storageGB: 100 }) }),
    reason: "InvalidSpec",
    message: "the Database is invalid: spec.storageGB: must be one of 32, 64, 128, 256, 512, 1024, 2048, 4095, 4096, 8192, 16384, 32768",
  },
  RefusesReservedAndDuplicateDatabaseNames: {
    req: request({ xr: db({ databases: ["postgres", "Bad-Name"] }) }),
    reason: "InvalidSpec",
    message:
      "the Database is invalid: spec.databases[0]: is reserved on every server (postgres, azure_maintenance, azure_sys, template0, template1); " +
      "spec.databases[1]: must start with a lowercase letter or _ and hold only lowercase letters, digits and _ (at most 63)",
  },
  RefusesMissingTeam: {
    req: request({ xr: { ...db(), spec: { size: "medium" } } }),
    reason: "InvalidSpec",
    message: "the Database is invalid: spec.team: Required value",
  },
  RefusesServerNameTooLong: {
    req: request({ xr: db({ team: "payments-and-settlements-platform" }, { name: "orders-history-archive-service" }) }),
    reason: "InvalidName",
    message:
      'server name "pg-payments-and-settlements-platform-orders-history-archive-service-prod-683fae" (from naming.serverName "pg-{team}-{name}-{environment}-{hash}") is 79 characters; Azure needs 3 to 63: choose a shorter metadata.name or spec.team',
  },
  RefusesServerNameEqualToDnsZoneLabel: {
    // prod/orders hashes to 99cbf7.
    req: request({ xr: db({}, { namespace: "prod" }), input: policy({ naming: { serverName: "{name}-{hash}" }, network: { delegatedSubnetId: SUBNET, privateDnsZoneId: ZONE.replace("/prod.private.", "/orders-99cbf7.") } }) }),
    reason: "InvalidName",
    message:
      'server name "orders-99cbf7" (from naming.serverName "{name}-{hash}") equals the first label of the private DNS zone orders-99cbf7.postgres.database.azure.com; Azure refuses that (PrivateDnsZoneNameNotValid)',
  },
  RefusesMissingRequiredTagSource: {
    req: request({ input: policy({ tags: { fromMetadata: [{ key: "cost-center", label: "azplatform.io/cost-center" }] } }) }),
    reason: "InvalidTags",
    message: 'metadata: label azplatform.io/cost-center is required by the DBA policy (tags.fromMetadata[0], Azure tag "cost-center"); add it to the Database',
  },
  RefusesMoreThanFiftyTags: {
    req: request({ input: policy({ tags: { static: Object.fromEntries(Array.from({ length: 48 }, (_, i) => [`k${i}`, "v"])) } }) }),
    reason: "InvalidTags",
    message: "51 tags exceed Azure's limit of 50 per resource",
  },
  RefusesTagKeysThatDifferOnlyInCase: {
    req: request({ input: policy({ tags: { static: { Team: "x" } } }) }),
    reason: "InvalidTags",
    message: 'tags "Team" and "team" differ only in case; Azure tag names are case-insensitive',
  },
  // The namespace tag is what a SecretRotation checks in Azure before it changes a server's admin: never the policy's.
  RefusesPolicyThatSetsTheNamespaceTag: {
    req: request({ input: policy({ tags: { static: { "AzPlatform-Namespace": "team-payments" }, fromMetadata: [{ key: "azplatform-namespace", label: "ns" }] } }) }),
    reason: "InvalidPolicy",
    message:
      "the Composition's DatabasePolicy input is invalid: tags.static.AzPlatform-Namespace: is reserved: the function tags every resource with azplatform-namespace, the Database's namespace, which a SecretRotation checks before it changes a server; " +
      "tags.fromMetadata[0].key: is reserved: the function tags every resource with azplatform-namespace, the Database's namespace, which a SecretRotation checks before it changes a server",
  },
  RefusesInvalidPolicyFieldByPath: {
    req: request({ input: policy({ backup: { retentionDays: 3 }, network: { delegatedSubnetId: "subnet-1", privateDnsZoneId: ZONE } }) }),
    reason: "InvalidPolicy",
    message:
      "the Composition's DatabasePolicy input is invalid: network.delegatedSubnetId: must be the ARM id of a subnet (/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>); " +
      "backup.retentionDays: Too small: expected number to be >=7",
  },
  RefusesPolicyWithReservedAdminLogin: {
    req: request({ input: policy({ administratorLogin: "azure_superuser" }) }),
    reason: "InvalidPolicy",
    message: `the Composition's DatabasePolicy input is invalid: administratorLogin: "azure_superuser" is reserved by Azure`,
  },
  RefusesPolicyOfferingHighAvailabilityOnBurstable: {
    req: request({ input: policy({ highAvailability: { allowedSizes: ["small"] } }) }),
    reason: "InvalidPolicy",
    message: "the Composition's DatabasePolicy input is invalid: highAvailability.allowedSizes: size small uses Burstable SKU B_Standard_B2s, which cannot run high availability",
  },
  RefusesPolicyDefaultVersionOutsideAllowlist: {
    req: request({ input: policy({ versions: { allowed: ["16"], default: "15" } }) }),
    reason: "InvalidPolicy",
    message: "the Composition's DatabasePolicy input is invalid: versions.default: default must be one of allowed",
  },
  ...Object.fromEntries(
    // Without {hash}, namespace a-b's "c" and namespace a's "b-c" name one server; without {name}, names can be tried until the hash matches.
    [["WithoutHash", "pg-{team}-{name}"], ["NamespaceAndNameWithoutHash", "pg-{namespace}-{name}"], ["HashWithoutName", "pg-{team}-{hash}"]].map(([why, serverName]) => [
      `RefusesNamingThatCouldCollideAcrossNamespaces${why}`,
      {
        req: request({ input: policy({ naming: { serverName } }) }),
        reason: "InvalidPolicy",
        message: "the Composition's DatabasePolicy input is invalid: naming.serverName: must contain {name} and {hash}, so a Database of one namespace can never name the server of another",
      },
    ]),
  ),
  RefusesReservedDefaultDatabaseName: {
    req: request({ xr: db({}, { name: "postgres" }) }),
    reason: "InvalidSpec",
    message: 'the default database name "postgres" (from metadata.name) is reserved on every server; set spec.databases',
  },
  RefusesUnknownPolicyField: {
    req: request({ input: policy({ backups: {} }) }),
    reason: "InvalidPolicy",
    message: 'the Composition\'s DatabasePolicy input is invalid: unknown field "backups"',
  },
  RefusesMissingInput: {
    req: request({ input: null }),
    reason: "MissingInput",
    message: "the pipeline step has no input; set input to one of: DatabasePolicy (fn.azplatform.io/v1alpha1), SecretRotationPolicy (fn.azplatform.io/v1alpha1), RolloutPolicy (fn.azplatform.io/v1alpha1), DueRotationsPolicy (fn.azplatform.io/v1alpha1)",
  },
  RefusesUnknownInputKind: {
    req: request({ input: { apiVersion: "example.org/v1", kind: "Other" } }),
    reason: "UnknownInput",
    message: "this function does not serve input example.org/v1/Other; set input to one of: DatabasePolicy (fn.azplatform.io/v1alpha1), SecretRotationPolicy (fn.azplatform.io/v1alpha1), RolloutPolicy (fn.azplatform.io/v1alpha1), DueRotationsPolicy (fn.azplatform.io/v1alpha1)",
  },
};

const NOW = new Date("2026-11-24T12:00:00Z");
const noPassword = {
  newPassword: () => {
    throw new Error("the password must not be regenerated here");
  },
};

describe("Database RunFunction", () => {
  for (const [name, { req, want }] of Object.entries(cases)) {
    it(name, () => {
      const reuse = (req.observed?.resources["connection-secret"]?.resource as { data?: { password?: string } } | undefined)?.data?.password !== undefined;
      expect(runDatabase(req, { ...(reuse ? noPassword : { newPassword: () => PASSWORD }), now: () => NOW })).toEqual(want);
    });
  }
  it("a protected server keeps its data without Delete, while its alerts and log export can still be deleted", () => {
    const rsp = runDatabase(request({ required: NOT_FOUND, input: policy({ protectFromDeletion: true, alerts: { ...ALERTS, logAnalyticsWorkspaceId: WORKSPACE } }) }), { newPassword: () => PASSWORD });
    const policies = Object.fromEntries(
      Object.entries(rsp.desired?.resources ?? {})
        .filter(([, r]) => r.resource?.kind !== "Secret")
        .map(([k, r]) => [k, ((r.resource as { spec: { managementPolicies: string[] } }).spec.managementPolicies ?? []).join(",")]),
    );
    const keep = "Observe,Create,Update";
    const monitors = Object.fromEntries([...ALERT_KEYS, "diagnostics"].map((k) => [k, `${keep},Delete`]));
    expect(policies).toEqual({ server: keep, "database-orders": keep, "parameter-require_secure_transport": keep, ...monitors });
  });
  it("once a restored server exists, its restore is kept as it was created and its login comes from Azure, with the password the Database sets", () => {
    const created = restoredServer() as { metadata: Json; spec: Json };
    const observedServer = {
      ...created,
      metadata: { ...created.metadata, name: "orders-copy-x1" },
      status: { atProvider: { id: `/subscriptions/0001/resourceGroups/rg-data-prod/providers/Microsoft.DBforPostgreSQL/flexibleServers/${COPY}`, administratorLogin: "pgadmin", storageMb: 262144, version: "16" } },
    };
    // Crossplane no longer answers the restore-source requirement with anything useful: the restore is decided.
    const req = request({ xr: copy(), input: policy({ subscriptionId: "00000000-0000-0000-0000-000000000001" }), observed: { server: observedServer, "connection-secret": secret({ host: `${COPY}.postgres.database.azure.com` }) } });
    const rsp = runDatabase(req, { ...noPassword, now: () => NOW });
    const spec = (rsp.desired?.resources?.server?.resource as { spec: { initProvider: Json; forProvider: Json } }).spec;
    expect({ initProvider: spec.initProvider, login: spec.forProvider.administratorLogin, password: spec.forProvider.administratorPasswordSecretRef, results: rsp.results }).toEqual({
      initProvider: (restoredServer() as { spec: { initProvider: Json } }).spec.initProvider,
      login: "pgadmin",
      password: { name: "orders-db", key: "password" },
      results: [],
    });
  });

  it("refuses a restore to a time outside the backups the policy keeps, naming the window, before any lookup", () => {
    const req = request({ xr: copy({ restoreFrom: { database: "orders", pointInTime: "2026-10-01T00:00:00Z" } }), input: policy({ subscriptionId: "00000000-0000-0000-0000-000000000001" }) });
    expect(runDatabase(req, { newPassword: () => PASSWORD, now: () => NOW }).results).toEqual([
      fatal(
        "RestoreTimeOutOfRange",
        "spec.restoreFrom.pointInTime 2026-10-01T00:00:00Z is older than the 14 days of backups the DBA policy keeps (backup.retentionDays); " +
          "choose a time between 2026-11-10T12:00:00Z and 2026-11-24T12:00:00Z (UTC)",
      ),
    ]);
  });
  for (const [name, { req, reason, message }] of Object.entries(fatals)) {
    it(name, async () => {
      const before = structuredClone(req.desired);
      expect(await route(req)).toEqual({
        meta: { tag: "t-1", ttl: { seconds: 60, nanos: 0 } },
        desired: before,
        results: [fatal(reason, message)],
        conditions: [],
        requirements: undefined,
        context: undefined,
      });
    });
  }
});
