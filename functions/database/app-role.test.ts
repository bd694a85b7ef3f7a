// The application role: its stages (roleStage), its name, and the whole response of the Database function at each
// stage, for a new Database and for one made before the role existed.
import { Ready, Severity, Target, type RunFunctionRequest, type RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { describe, expect, it } from "vitest";
import { applicationRoleName, roleStage, type RoleFacts, type RoleStage } from "./app-role.ts";
import { runDatabase } from "./fn.ts";
import {
  APPLIED,
  FQDN,
  LABELS,
  LOOKUP,
  NOT_READY,
  READY,
  READY_CONDITION,
  SERVER,
  SQL_PROVIDER_CONFIG,
  type Json,
  composed,
  cond,
  database,
  db,
  everythingReady,
  fatal,
  observedServer,
  ok,
  parameter,
  policy,
  request,
  response,
  secret,
  server,
  warning,
  withStatus,
} from "./fn.fixture.ts";

// ---- the stages -------------------------------------------------------------------------------------------

const FACTS: RoleFacts = {
  wanted: true,
  roleName: "orders_app",
  adminLogin: "pgadmin",
  serverReady: true,
  connection: { exists: true, username: "pgadmin", password: "admin-pw" },
  connectionPasswordRotated: false,
  adminSecret: { exists: true, password: "admin-pw", stagedPassword: "app-pw" },
  role: { exists: true, ready: true },
  roleSyncedPassword: "app-pw",
  grantsReady: true,
  switchApproved: true,
};
const facts = (over: Partial<RoleFacts>): RoleFacts => ({ ...FACTS, ...over });
const NEW = { connection: { exists: false }, adminSecret: { exists: false }, role: { exists: false, ready: false }, grantsReady: false, serverReady: false };

const stages: Record<string, { facts: RoleFacts; want: RoleStage }> = {
  PolicyOffLeavesTheAdminToTheApps: { facts: facts({ wanted: false }), want: { kind: "Off" } },
  ANewDatabaseIsSplitFromTheStartTheRoleWaitsForTheServer: { facts: facts(NEW), want: { kind: "Split", switching: false, composeRole: false } },
  ANewDatabasesRoleIsCreatedOnceTheServerIsReadyAndItsPasswordIsInTheSecret: {
    facts: facts({ ...NEW, serverReady: true, connection: { exists: true, username: "orders_app", password: "app-pw" } }),
    want: { kind: "Split", switching: false, composeRole: true },
  },
  ANewDatabaseWithBothSecretsWaitsForItsServer: {
    facts: facts({ ...NEW, connection: { exists: true, username: "orders_app", password: "app-pw" }, adminSecret: { exists: true, password: "admin-pw" } }),
    want: { kind: "Split", switching: false, composeRole: false },
  },
  ANewDatabaseWhoseSecretHasNoPasswordYetWaits: {
    facts: facts({ ...NEW, serverReady: true, connection: { exists: true, username: "orders_app" } }),
    want: { kind: "Split", switching: false, composeRole: false },
  },
  AnExistingDatabaseFirstGetsItsAdminSecret: {
    facts: facts({ adminSecret: { exists: false }, role: { exists: false, ready: false }, grantsReady: false }),
    want: { kind: "Migrating", composeRole: false, waitingFor: "the admin Secret" },
  },
  ThenItsRoleFromTheStagedPasswordOnceTheServerIsReady: {
    facts: facts({ role: { exists: false, ready: false }, grantsReady: false }),
    want: { kind: "Migrating", composeRole: true, waitingFor: "role orders_app and its grants" },
  },
  NoRoleWhileTheServerIsNotReady: {
    facts: facts({ role: { exists: false, ready: false }, grantsReady: false, serverReady: false }),
    want: { kind: "Migrating", composeRole: false, waitingFor: "role orders_app and its grants" },
  },
  AnExistingRoleStaysComposedWhateverTheServerSays: {
    facts: facts({ role: { exists: true, ready: false }, grantsReady: false, serverReady: false }),
    want: { kind: "Migrating", composeRole: true, waitingFor: "role orders_app and its grants" },
  },
  GrantsNotReadyHoldTheSwitch: { facts: facts({ grantsReady: false }), want: { kind: "Migrating", composeRole: true, waitingFor: "role orders_app and its grants" } },
  // The staged password made anew (an admin Secret deleted by hand, say) after the role was: provider-sql sets it first.
  TheSwitchWaitsForTheRoleToTakeTheStagedPassword: {
    facts: facts({ roleSyncedPassword: "staged-before-pw" }),
    want: { kind: "Migrating", composeRole: true, waitingFor: "provider-sql to set the staged password on role orders_app" },
  },
  AnAdminSecretBehindARotatedAdminHoldsTheSwitch: {
    facts: facts({ connection: { exists: true, username: "pgadmin", password: "rotated-pw" } }),
    want: { kind: "Migrating", composeRole: true, waitingFor: "the admin Secret to hold the current admin password" },
  },
  AnAppsSecretWithoutAPasswordNeverSwitches: {
    facts: facts({ connection: { exists: true, username: "pgadmin" }, adminSecret: { exists: true, stagedPassword: "app-pw" } }),
    want: { kind: "Migrating", composeRole: true, waitingFor: "the admin Secret to hold the current admin password" },
  },
  // The admin owns the tables apps use now: the role may not use them until the team has granted it, and says so.
  TheSwitchWaitsForTheTeamsAnnotation: {
    facts: facts({ switchApproved: false }),
    want: {
      kind: "Migrating",
      composeRole: true,
      waitingFor:
        "the Database's annotation azplatform.io/application-role: switch, to be set once role orders_app may use the tables and sequences that exist " +
        "(as the admin, in each database: GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO orders_app; " +
        "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO orders_app)",
    },
  },
  ASecretRotationOfTheAdminInTheAppsSecretHoldsTheSwitch: {
    facts: facts({ connectionPasswordRotated: true }),
    want: { kind: "Migrating", composeRole: true, waitingFor: "the SecretRotation of the admin password in the connection Secret to be deleted" },
  },
  EverythingReadySwitches: { facts: FACTS, want: { kind: "Split", switching: true, composeRole: true } },
  SwitchedStaysSplit: { facts: facts({ connection: { exists: true, username: "orders_app", password: "app-pw" } }), want: { kind: "Split", switching: false, composeRole: true } },
  SwitchedStaysSplitThoughThePolicyTurnedItOff: {
    facts: facts({ wanted: false, connection: { exists: true, username: "orders_app", password: "app-pw" } }),
    want: { kind: "Split", switching: false, composeRole: true },
  },
  // An alternating SecretRotation of the role hands apps its _clone half of the time: still the role's side.
  SwitchedStaysSplitWhileAppsReadTheRolesClone: {
    facts: facts({ wanted: false, connection: { exists: true, username: "orders_app_clone", password: "app-pw" } }),
    want: { kind: "Split", switching: false, composeRole: true },
  },
  PolicyTurnedOffWhileMovingStopsBeforeTheSwitch: { facts: facts({ wanted: false }), want: { kind: "Off" } },
};

describe("roleStage", () => {
  for (const [name, t] of Object.entries(stages)) it(name, () => expect(roleStage(t.facts)).toEqual(t.want));
});

describe("applicationRoleName", () => {
  const names: Record<string, { name: string; want: string }> = {
    Plain: { name: "orders", want: "orders_app" },
    DashesAndDotsBecomeUnderscores: { name: "orders-api.v2", want: "orders_api_v2_app" },
    ExactlySixtyThree: { name: "a".repeat(59), want: `${"a".repeat(59)}_app` },
    // Cut, and told apart from every other long name by a hash of the whole name.
    TooLong: { name: `${"a".repeat(59)}-x`, want: `${"a".repeat(52)}_649edb_app` },
    TooLongTheOtherOne: { name: `${"a".repeat(59)}-y`, want: `${"a".repeat(52)}_465c87_app` },
    ReservedByPostgreSQL: { name: "pg-orders", want: "app_pg_orders_app" },
    ReservedByAzure: { name: "azure-orders", want: "app_azure_orders_app" },
  };
  for (const [name, t] of Object.entries(names)) {
    it(name, () => {
      const got = applicationRoleName(t.name);
      expect(got).toBe(t.want);
      expect(got.length).toBeLessThanOrEqual(63);
    });
  }
});

// ---- the whole response at each stage ---------------------------------------------------------------------

const ADMIN_PASSWORD = "Admin-Passw0rd-Generated";
const APP_PASSWORD = "App-Passw0rd-Generated";
const ROLE_ON = policy({ applicationRole: { enabled: true } });
const SQL_API = "postgresql.sql.m.crossplane.io/v1alpha1";
const ENVELOPE = { managementPolicies: SERVER.policies, providerConfigRef: { kind: "ProviderConfig", name: "orders-sql" } };
const ROLE_STATUS = { applicationRole: "orders_app", adminSecretName: "orders-db-admin" };

/** Passwords in the order the function asks for them. */
function passwords(...values: string[]) {
  const left = [...values];
  return { newPassword: () => left.shift() ?? "Unexpected-Extra-Passw0rd", now: () => new Date("2026-11-24T12:00:00Z") };
}

/** A Secret the function composes: the connection Secret's shape under another name, and any extra keys. */
function secretNamed(name: string, o: Parameters<typeof secret>[0], extra: Record<string, string> = {}): Json {
  const s = secret(o) as { metadata: Json; data: Record<string, string> };
  const data = { ...s.data, ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, Buffer.from(v).toString("base64")])) };
  return { ...s, metadata: { ...s.metadata, name }, data: Object.fromEntries(Object.entries(data).sort(([a], [b]) => a.localeCompare(b))) };
}
const appSecret = (password: string) => secret({ password, login: "orders_app" });
const adminSecret = (password: string, staged?: string) => secretNamed("orders-db-admin", { password }, staged === undefined ? {} : { "application-password": staged });

/** The server reading its admin password from `from`. */
function serverReadingFrom(from: string): Json {
  const s = server() as { spec: { forProvider: Json } };
  return { ...s, spec: { ...s.spec, forProvider: { ...s.spec.forProvider, administratorPasswordSecretRef: { name: from, key: "password" } } } };
}
function providerConfigOn(secretName: string): Json {
  const spec = SQL_PROVIDER_CONFIG.spec;
  return { ...SQL_PROVIDER_CONFIG, spec: { ...spec, credentials: { ...spec.credentials, connectionSecretRef: { name: secretName } } } };
}
/** The role; `synced`: provider-sql has not reported it ready, so it also sets the password of a role that exists. */
function role(passwordFrom: { name: string; key: string }, synced = false): Json {
  return {
    apiVersion: SQL_API,
    kind: "Role",
    metadata: { namespace: "team-payments", labels: LABELS, annotations: { "crossplane.io/external-name": "orders_app" } },
    spec: {
      ...ENVELOPE,
      ...(synced ? { writeConnectionSecretToRef: { name: "orders-db-role" } } : {}),
      forProvider: {
        passwordSecretRef: passwordFrom,
        privileges: { bypassRls: false, createDb: false, createRole: false, inherit: true, login: true, replication: false, superUser: false },
      },
    },
  };
}
const grant = (forProvider: Json): Json => ({ apiVersion: SQL_API, kind: "Grant", metadata: { namespace: "team-payments", labels: LABELS }, spec: { ...ENVELOPE, forProvider } });
const DATABASE_GRANT = grant({ database: "orders", privileges: ["CONNECT", "CREATE", "TEMPORARY"], role: "orders_app" });
const SCHEMA_GRANT = grant({ database: "orders", privileges: ["CREATE", "USAGE"], role: "orders_app", schema: "public" });
const FROM_APP_SECRET = { name: "orders-db", key: "password" };
const FROM_STAGED = { name: "orders-db-admin", key: "application-password" };

/** The role and its grants, composed with these readinesses; `synced` while the role is not ready yet. */
function roleAndGrants(passwordFrom: { name: string; key: string }, ready: Ready, synced = false) {
  return {
    "application-role": composed(role(passwordFrom, synced), ready),
    "grant-orders": composed(DATABASE_GRANT, ready),
    "grant-orders-public-schema": composed(SCHEMA_GRANT, ready),
  };
}
/** Observed, as provider-sql reports them once ready. */
function roleAndGrantsObserved(passwordFrom: { name: string; key: string }) {
  return {
    "application-role": withStatus(role(passwordFrom), ok()),
    "grant-orders": withStatus(DATABASE_GRANT, ok()),
    "grant-orders-public-schema": withStatus(SCHEMA_GRANT, ok()),
  };
}

const LOOKUPS = { extraResources: {}, schemas: {}, resources: { ...LOOKUP.resources, "admin-secret": { apiVersion: "v1", kind: "Secret", matchName: "orders-db-admin", namespace: "team-payments" } } };
const ADMIN_LOOKUP = { extraResources: {}, schemas: {}, resources: { "admin-secret": LOOKUPS.resources["admin-secret"] } };
/** While an existing Database is staged: the Secret provider-sql writes the role's password to when it sets it. */
const ROLE_SYNC = { "role-sync-secret": { apiVersion: "v1", kind: "Secret", matchName: "orders-db-role", namespace: "team-payments" } };
const SYNC_LOOKUP = { extraResources: {}, schemas: {}, resources: ROLE_SYNC };
/** provider-sql's record of the password it set on the role. */
const synced = (password: string) => ({
  "role-sync-secret": { items: [{ resource: { apiVersion: "v1", kind: "Secret", metadata: { name: "orders-db-role", namespace: "team-payments" }, data: { password: Buffer.from(password).toString("base64") } }, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }] },
});
const NOTHING_FOUND = { "connection-secret": { items: [] }, "admin-secret": { items: [] } };
const result = (reason: string, message: string) => ({ severity: Severity.SEVERITY_NORMAL, reason, message, target: Target.TARGET_COMPOSITE });
const MOVING = (waitingFor: string) =>
  result(
    "ApplicationRoleMigrating",
    `apps still connect to server ${SERVER.name} as its admin; Secret orders-db switches to role orders_app once it is ready (waiting for ${waitingFor})`,
  );

/** A Database made before the role: everything ready, apps reading the admin (its password Observed-Passw0rd). */
const existing = everythingReady();
/** The composed resources of that Database, as before the role. */
const existingComposed = {
  server: composed(server(), READY),
  "database-orders": composed(database("orders"), READY),
  "parameter-require_secure_transport": composed(parameter("require_secure_transport", "on"), READY),
  "connection-secret": composed(secret({ password: "Observed-Passw0rd" }), READY),
};
/** The same Database after the switch: apps read the role, the server its admin Secret. */
/** That Database staged: its admin Secret with the role's password, and the role and grants made from it. */
const staged = {
  ...existing,
  "admin-secret": adminSecret("Observed-Passw0rd", "Staged-App-Passw0rd"),
  "sql-provider-config": providerConfigOn("orders-db-admin"),
  ...roleAndGrantsObserved(FROM_STAGED),
};
/** What the function composes for it while apps still read the admin. */
const stagedComposed = {
  ...existingComposed,
  "sql-provider-config": composed(providerConfigOn("orders-db-admin"), READY),
  ...roleAndGrants(FROM_STAGED, READY, true),
  "admin-secret": composed(adminSecret("Observed-Passw0rd", "Staged-App-Passw0rd"), READY),
};
const switched = {
  ...existing,
  server: observedServer(),
  "connection-secret": appSecret("Staged-App-Passw0rd"),
  "admin-secret": adminSecret("Observed-Passw0rd"),
  "sql-provider-config": providerConfigOn("orders-db-admin"),
  ...roleAndGrantsObserved(FROM_APP_SECRET),
};
(switched.server as { spec: Json }).spec = (serverReadingFrom("orders-db-admin") as { spec: Json }).spec;
const switchedComposed = {
  ...existingComposed,
  server: composed(serverReadingFrom("orders-db-admin"), READY),
  "connection-secret": composed(appSecret("Staged-App-Passw0rd"), READY),
  "admin-secret": composed(adminSecret("Observed-Passw0rd"), READY),
  "sql-provider-config": composed(providerConfigOn("orders-db-admin"), READY),
  ...roleAndGrants(FROM_APP_SECRET, READY),
};
const markedBy = (s: Json, rotation: string): Json => ({
  ...s,
  metadata: { ...(s.metadata as Json), annotations: { "rotation.azplatform.io/rotated-by": rotation, "rotation.azplatform.io/owned-keys": "password,uri" } },
});
const without = (s: Json, ...keys: string[]): Json => ({ ...s, data: Object.fromEntries(Object.entries(s.data as Json).filter(([k]) => !keys.includes(k))) });

const cases: Record<string, { req: RunFunctionRequest; deps?: ReturnType<typeof passwords>; want: RunFunctionResponse }> = {
  ANewDatabaseLooksUpBothOfItsSecretsFirst: {
    req: request({ input: ROLE_ON }),
    want: response({
      resources: {
        server: composed(serverReadingFrom("orders-db-admin"), NOT_READY),
        "database-orders": composed(database("orders"), NOT_READY),
        "parameter-require_secure_transport": composed(parameter("require_secure_transport", "on"), NOT_READY),
        "sql-provider-config": composed(providerConfigOn("orders-db-admin"), NOT_READY),
      },
      status: ROLE_STATUS,
      requirements: LOOKUPS,
      conditions: [cond("DatabaseReady", false, "ConnectionSecretMissing", "looking up connection Secret orders-db"), APPLIED],
    }),
  },
  ANewDatabaseGivesAppsTheRoleAndTheServerItsAdminSecret: {
    req: request({ input: ROLE_ON, required: NOTHING_FOUND }),
    deps: passwords(ADMIN_PASSWORD, APP_PASSWORD),
    want: response({
      resources: {
        server: composed(serverReadingFrom("orders-db-admin"), NOT_READY),
        "database-orders": composed(database("orders"), NOT_READY),
        "parameter-require_secure_transport": composed(parameter("require_secure_transport", "on"), NOT_READY),
        "sql-provider-config": composed(providerConfigOn("orders-db-admin"), NOT_READY),
        "connection-secret": composed(appSecret(APP_PASSWORD), NOT_READY),
        "admin-secret": composed(adminSecret(ADMIN_PASSWORD), NOT_READY),
      },
      status: ROLE_STATUS,
      requirements: LOOKUPS,
      conditions: [
        cond(
          "DatabaseReady",
          false,
          "Creating",
          `waiting for FlexibleServer ${SERVER.name}: not created yet; FlexibleServerDatabase orders: not created yet; FlexibleServerConfiguration require_secure_transport: not created yet; ` +
            "ProviderConfig orders-sql: not created yet; Role orders_app: not created yet; Secret orders-db: not created yet; Secret orders-db-admin: not created yet",
        ),
        APPLIED,
      ],
    }),
  },
  OnceTheServerIsReadyTheRoleIsCreatedWithThePasswordAppsRead: {
    req: request({
      input: ROLE_ON,
      observed: {
        ...existing,
        server: { ...observedServer(), spec: (serverReadingFrom("orders-db-admin") as { spec: Json }).spec },
        "connection-secret": appSecret(APP_PASSWORD),
        "admin-secret": adminSecret(ADMIN_PASSWORD),
        "sql-provider-config": providerConfigOn("orders-db-admin"),
      },
    }),
    want: response({
      resources: {
        ...existingComposed,
        server: composed(serverReadingFrom("orders-db-admin"), READY),
        "sql-provider-config": composed(providerConfigOn("orders-db-admin"), READY),
        ...roleAndGrants(FROM_APP_SECRET, NOT_READY, true),
        "connection-secret": composed(appSecret(APP_PASSWORD), READY),
        "admin-secret": composed(adminSecret(ADMIN_PASSWORD), READY),
      },
      status: { ...FQDN, ...ROLE_STATUS },
      conditions: [
        cond("DatabaseReady", false, "Creating", "waiting for Role orders_app: not created yet; Grant on database orders: not created yet; Grant on schema public of orders: not created yet"),
        APPLIED,
      ],
    }),
  },
  AnExistingDatabaseFirstCopiesItsAdminToTheAdminSecretAndStagesTheRolesPassword: {
    req: request({ input: ROLE_ON, observed: existing, required: { "admin-secret": { items: [] } } }),
    deps: passwords(APP_PASSWORD),
    want: response({
      resources: {
        ...existingComposed,
        "sql-provider-config": composed(providerConfigOn("orders-db"), READY),
        // Made for a role the apps do not use yet: it does not hold the Database back.
        "admin-secret": composed(adminSecret("Observed-Passw0rd", APP_PASSWORD), READY),
      },
      status: FQDN,
      requirements: { ...ADMIN_LOOKUP, resources: { ...ADMIN_LOOKUP.resources, ...ROLE_SYNC } },
      results: [MOVING("the admin Secret")],
      conditions: [READY_CONDITION, APPLIED],
    }),
  },
  ThenCreatesTheRoleFromTheStagedPasswordWithoutHoldingTheDatabaseBack: {
    req: request({ input: ROLE_ON, observed: { ...existing, "admin-secret": adminSecret("Observed-Passw0rd", "Staged-App-Passw0rd") } }),
    want: response({
      resources: stagedComposed,
      status: FQDN,
      requirements: SYNC_LOOKUP,
      results: [MOVING("role orders_app and its grants")],
      conditions: [READY_CONDITION, APPLIED],
    }),
  },
  TheSwitchWaitsForTheSecretRotationOfTheAdminInTheAppsSecret: {
    req: request({
      input: ROLE_ON,
      observed: { ...staged, "connection-secret": markedBy(secret({ password: "Observed-Passw0rd" }), "orders-pw") },
      required: synced("Staged-App-Passw0rd"),
    }),
    want: response({
      resources: { ...stagedComposed, "connection-secret": composed(without(secret({ password: "Observed-Passw0rd" }), "password", "uri"), READY) },
      status: FQDN,
      requirements: {
        extraResources: {},
        schemas: {},
        resources: { "secret-rotation": { apiVersion: "azplatform.io/v1alpha1", kind: "SecretRotation", matchName: "orders-pw", namespace: "team-payments" }, ...ROLE_SYNC },
      },
      results: [MOVING("the SecretRotation of the admin password in the connection Secret to be deleted")],
      conditions: [READY_CONDITION, APPLIED],
    }),
  },
  OnceTheRoleIsReadyAndTheTeamSaysSoAppsSwitchToItAndTheServerToTheAdminSecret: {
    req: request({
      xr: db({}, { annotations: { "azplatform.io/application-role": "switch" } }),
      input: ROLE_ON,
      observed: staged,
      required: synced("Staged-App-Passw0rd"),
    }),
    want: response({
      resources: { ...switchedComposed, server: composed(serverReadingFrom("orders-db-admin"), READY) },
      status: { ...FQDN, ...ROLE_STATUS },
      requirements: SYNC_LOOKUP,
      results: [result("ApplicationRoleSwitched", "Secret orders-db now holds role orders_app; the server admin's credentials are in Secret orders-db-admin")],
      conditions: [READY_CONDITION, APPLIED],
    }),
  },
  TheSwitchWaitsForTheTeamToSaySo: {
    req: request({
      input: ROLE_ON,
      observed: staged,
      required: synced("Staged-App-Passw0rd"),
    }),
    want: response({
      resources: stagedComposed,
      status: FQDN,
      requirements: SYNC_LOOKUP,
      results: [
        MOVING(
          "the Database's annotation azplatform.io/application-role: switch, to be set once role orders_app may use the tables and sequences that exist " +
            "(as the admin, in each database: GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO orders_app; " +
            "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO orders_app)",
        ),
      ],
      conditions: [READY_CONDITION, APPLIED],
    }),
  },
  // An alternating SecretRotation of the role was deleted while apps read its _clone: the keys come back as they are.
  AppsReadingTheRolesCloneKeepItWhenTheRotationIsGone: {
    req: request({
      input: ROLE_ON,
      observed: { ...switched, "connection-secret": markedBy(secret({ password: "Clone-Passw0rd", login: "orders_app_clone" }), "orders-app-pw") },
      required: { "secret-rotation": { items: [] } },
    }),
    want: response({
      resources: { ...switchedComposed, "connection-secret": composed(secret({ password: "Clone-Passw0rd", login: "orders_app_clone" }), READY) },
      status: { ...FQDN, ...ROLE_STATUS },
      requirements: { extraResources: {}, schemas: {}, resources: { "secret-rotation": { apiVersion: "azplatform.io/v1alpha1", kind: "SecretRotation", matchName: "orders-app-pw", namespace: "team-payments" } } },
      results: [result("RotationRemoved", "SecretRotation orders-app-pw no longer exists; the Database applies password, uri of Secret orders-db again, as they are")],
      conditions: [READY_CONDITION, APPLIED],
    }),
  },
  // The role reported not ready again while apps read its _clone: provider-sql must not set the clone's password on it.
  ARoleNotReadyWhileAppsReadItsCloneIsNotSynced: {
    req: request({
      input: ROLE_ON,
      observed: { ...switched, "connection-secret": secret({ password: "Clone-Passw0rd", login: "orders_app_clone" }), "application-role": role(FROM_APP_SECRET) },
    }),
    want: response({
      resources: { ...switchedComposed, "connection-secret": composed(secret({ password: "Clone-Passw0rd", login: "orders_app_clone" }), READY), "application-role": composed(role(FROM_APP_SECRET), NOT_READY) },
      status: { ...FQDN, ...ROLE_STATUS },
      conditions: [cond("DatabaseReady", false, "Creating", "waiting for Role orders_app: not ready"), APPLIED],
    }),
  },
  // Someone else's Secret under the admin Secret's name: an existing Database keeps working as before, and says why.
  AnExistingDatabaseWhoseAdminSecretNameIsTakenKeepsTheAdmin: {
    req: request({
      input: ROLE_ON,
      observed: existing,
      required: { "admin-secret": { items: [{ resource: { apiVersion: "v1", kind: "Secret", metadata: { name: "orders-db-admin", namespace: "team-payments" } }, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }] } },
    }),
    want: response({
      resources: existingComposed,
      status: FQDN,
      requirements: ADMIN_LOOKUP,
      results: [
        warning(
          "Secret orders-db-admin already exists in namespace team-payments and does not belong to this Database, so its admin cannot move there and apps keep connecting as the admin; rename or delete that Secret",
          "ApplicationRoleUnavailable",
        ),
      ],
      conditions: [READY_CONDITION, APPLIED],
    }),
  },
  SwitchedAndReady: {
    req: request({ input: ROLE_ON, observed: switched }),
    want: response({ resources: switchedComposed, status: { ...FQDN, ...ROLE_STATUS }, conditions: [READY_CONDITION, APPLIED] }),
  },
  SwitchedStaysSwitchedThoughThePolicyTurnedTheRoleOff: {
    req: request({ observed: switched }),
    want: response({ resources: switchedComposed, status: { ...FQDN, ...ROLE_STATUS }, conditions: [READY_CONDITION, APPLIED] }),
  },
  ASecretRotationOfTheAdminInTheAdminSecretKeepsItsKeys: {
    req: request({ input: ROLE_ON, observed: { ...switched, "admin-secret": markedBy(adminSecret("Rotated-Passw0rd"), "orders-admin-pw") } }),
    want: response({
      resources: { ...switchedComposed, "admin-secret": composed(without(adminSecret("Rotated-Passw0rd"), "password", "uri"), READY) },
      status: { ...FQDN, ...ROLE_STATUS },
      requirements: {
        extraResources: {},
        schemas: {},
        resources: { "admin-secret-rotation": { apiVersion: "azplatform.io/v1alpha1", kind: "SecretRotation", matchName: "orders-admin-pw", namespace: "team-payments" } },
      },
      conditions: [READY_CONDITION, APPLIED],
    }),
  },
  AnAppsSecretGoneWhileTheRoleExistsSaysHowToSetItsNewPassword: {
    req: request({ input: ROLE_ON, observed: { ...switched, "connection-secret": {} }, required: { "connection-secret": { items: [] } } }),
    deps: passwords(APP_PASSWORD),
    want: response({
      resources: { ...switchedComposed, "connection-secret": composed(appSecret(APP_PASSWORD), NOT_READY) },
      status: { ...FQDN, ...ROLE_STATUS },
      requirements: LOOKUP,
      results: [
        warning(
          "the connection Secret orders-db is gone while role orders_app exists; it holds a new password, which provider-sql does not set on an existing role: a SecretRotation of postgresRole orders_app (databaseRef orders) sets it",
          "ApplicationPasswordReset",
        ),
      ],
      conditions: [cond("DatabaseReady", false, "Creating", "waiting for Secret orders-db: not created yet"), APPLIED],
    }),
  },
};

describe("the Database function with an application role", () => {
  for (const [name, t] of Object.entries(cases)) {
    it(name, () => expect(runDatabase(t.req, t.deps ?? passwords())).toEqual(t.want));
  }

  it("gives an Entra-only Database no role and no admin Secret: nothing signs in with a password", () => {
    const entra = { mode: "EntraId", tenantId: "11111111-2222-3333-4444-555555555555", groups: { "team-payments": { objectId: "aaaaaaaa-0000-0000-0000-000000000001", principalName: "pg-admins-payments" } } };
    const rsp = runDatabase(request({ input: policy({ applicationRole: { enabled: true }, authentication: entra }), required: { "connection-secret": { items: [] } } }), passwords());
    const resources = rsp.desired?.resources ?? {};
    expect(Object.keys(resources).filter((k) => k.startsWith("grant-") || ["application-role", "admin-secret", "sql-provider-config"].includes(k))).toEqual([]);
    const data = (resources["connection-secret"]?.resource as { data: Record<string, string> }).data;
    expect({ username: Buffer.from(data.username ?? "", "base64").toString(), password: data.password }).toEqual({ username: "pg-admins-payments", password: undefined });
    expect(rsp.requirements).toEqual(LOOKUP);
  });

  it("never takes over a Secret someone else made under the admin Secret's name", () => {
    const handMade = { apiVersion: "v1", kind: "Secret", metadata: { name: "orders-db-admin", namespace: "team-payments" }, data: { password: "bWluZQ==" } };
    const req = request({ input: ROLE_ON, required: { "connection-secret": { items: [] }, "admin-secret": { items: [{ resource: handMade, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }] } } });
    const rsp = runDatabase(req, passwords());
    expect(rsp.results).toEqual([
      fatal(
        "ConnectionSecretTaken",
        "spec.connectionSecretName (its admin Secret): Secret orders-db-admin already exists in namespace team-payments and does not belong to this Database; Crossplane would take it over and overwrite its keys. Choose another name, or delete that Secret if it is unused",
      ),
    ]);
    expect(rsp.desired).toEqual(req.desired);
  });
});
