// The application's own login role: apps connect as it, not as the server admin. provider-sql creates it (Role) and
// grants it exactly the Database's databases (Grant); the admin's credentials sit in a Secret of their own, which the
// server, provider-sql's connection and a rotation of the admin use.
//
// A Database made before the role existed moves over in stages, so that at every instant apps read a value the server
// accepts: the admin Secret comes first (a copy of the admin the apps read, and the role's future password), then the
// role is created from it, and only once the role and its grants are ready does the Secret apps read switch to it.
import { hash } from "node:crypto";
import { z } from "zod";
import { SQL_API } from "./extensions.ts";
import { metadata, type ServerPlan } from "./resources.ts";

export const ApplicationRolePolicy = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        "Apps connect as a login role of their own (<metadata.name>_app, granted the Database's databases), not as the server admin; the admin's credentials go to the Secret <connection Secret>-admin. Existing Databases move over in stages, without a moment where apps read a password the server refuses; each switches once its team annotates it azplatform.io/application-role: switch.",
      ),
  })
  .default({ enabled: false });
export type ApplicationRolePolicy = z.infer<typeof ApplicationRolePolicy>;

/** PostgreSQL's identifier limit: a longer name is cut by the server, and would no longer match. */
const MAX_IDENTIFIER = 63;

/**
 * The role apps log in as: the Database's name as a PostgreSQL identifier (`-` and `.` become `_`), with `_app`. Any
 * Database gets one: a name PostgreSQL or Azure reserve (`pg_`, `azure_`) starts with `app_`, and one past 63
 * characters is cut and told apart by a hash of the whole name.
 */
export function applicationRoleName(databaseName: string): string {
  const base = databaseName.replace(/[-.]/g, "_");
  const safe = /^(pg_|azure_)/.test(base) ? `app_${base}` : base;
  const name = `${safe}_app`;
  if (name.length <= MAX_IDENTIFIER) return name;
  const suffix = `_${hash("sha256", databaseName, "hex").slice(0, 6)}_app`;
  return `${safe.slice(0, MAX_IDENTIFIER - suffix.length)}${suffix}`;
}

/**
 * The Database's annotation with which its team moves its apps to the role. A Database made before the role has
 * tables and sequences its admin owns, which the role may not use until someone grants it; the team says when.
 */
export const SWITCH_ANNOTATION = "azplatform.io/application-role";
export const SWITCH_VALUE = "switch";

/** The admin's Secret beside the one apps read. */
export const adminSecretNameFor = (connectionSecretName: string): string => `${connectionSecretName}-admin`;

/** The Secret provider-sql writes the role's password to while the Role has writeConnectionSecretToRef. */
export const roleSyncSecretNameFor = (connectionSecretName: string): string => `${connectionSecretName}-role`;

/** The admin Secret's key that holds the role's password while an existing Database moves over. */
export const STAGED_PASSWORD_KEY = "application-password";

/** What the function observed, as far as the role's stage depends on it. */
export interface RoleFacts {
  /** The policy wants the role, and the server has a password admin with password sign-in on. */
  wanted: boolean;
  roleName: string;
  adminLogin: string;
  serverReady: boolean;
  /** The Secret apps read, as observed (or found by a lookup). */
  connection: { exists: boolean; username?: string; password?: string };
  /** A SecretRotation that still exists owns the connection Secret's password. */
  connectionPasswordRotated: boolean;
  adminSecret: { exists: boolean; password?: string; stagedPassword?: string };
  role: { exists: boolean; ready: boolean };
  /**
   * The password provider-sql last set on the role, from the Secret it writes while the Role has
   * writeConnectionSecretToRef (roleSyncSecretName): the proof that the role takes the staged password.
   */
  roleSyncedPassword?: string;
  grantsReady: boolean;
  /** The Database carries SWITCH_ANNOTATION: its team has granted the role what the existing objects need. */
  switchApproved: boolean;
}

export type RoleStage =
  /** No role: the Secret apps read holds the admin, as before. */
  | { kind: "Off" }
  /** Apps read the role; the admin is in the admin Secret. `switching`: this response moves an existing Database over. */
  | { kind: "Split"; switching: boolean; composeRole: boolean }
  /** An existing Database on its way: apps still read the admin; the role is created from the admin Secret. */
  | { kind: "Migrating"; composeRole: boolean; waitingFor: string };

export function roleStage(f: RoleFacts): RoleStage {
  // Apps read the role (or, under an alternating SecretRotation, its _clone): anyone but the admin.
  const switched = f.adminSecret.exists && f.connection.username !== undefined && f.connection.username !== f.adminLogin;
  // Once apps read the role, turning the policy off does not give them the admin back.
  // A new Database's role waits for its server (provider-sql has nothing to connect to before), and for the password
  // it is created with to be in the Secret apps read; once made, it is composed whatever the server says.
  const roleCanBeMade = f.role.exists || (f.serverReady && f.connection.password !== undefined);
  if (switched) return { kind: "Split", switching: false, composeRole: roleCanBeMade };
  if (!f.wanted) return { kind: "Off" };
  const readsAdmin = f.connection.exists && f.connection.username === f.adminLogin;
  if (!readsAdmin) return { kind: "Split", switching: false, composeRole: roleCanBeMade };

  const staged = f.adminSecret.stagedPassword !== undefined;
  const composeRole = f.role.exists || (f.serverReady && staged);
  const waitingFor = (() => {
    if (!staged) return "the admin Secret";
    if (!f.role.ready || !f.grantsReady) return `role ${f.roleName} and its grants`;
    // Whatever happened to the staged password (an admin Secret deleted by hand, a role left from before), provider-sql
    // must have set it on the role before apps get it.
    if (f.roleSyncedPassword !== f.adminSecret.stagedPassword) return `provider-sql to set the staged password on role ${f.roleName}`;
    // The admin Secret must hold what the server accepts before the server reads it.
    if (f.connection.password === undefined || f.adminSecret.password !== f.connection.password) return "the admin Secret to hold the current admin password";
    if (f.connectionPasswordRotated) return "the SecretRotation of the admin password in the connection Secret to be deleted";
    if (!f.switchApproved) {
      return (
        `the Database's annotation ${SWITCH_ANNOTATION}: ${SWITCH_VALUE}, to be set once role ${f.roleName} may use the tables and sequences that exist ` +
        `(as the admin, in each database: GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${f.roleName}; ` +
        `GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO ${f.roleName})`
      );
    }
    return undefined;
  })();
  if (waitingFor === undefined) return { kind: "Split", switching: true, composeRole: true };
  return { kind: "Migrating", composeRole, waitingFor };
}

function envelope(plan: ServerPlan, providerConfigName: string) {
  return {
    // As the server's: a protected Database leaves its role and grants in place when it is deleted.
    managementPolicies: plan.protectFromDeletion ? ["Observe", "Create", "Update"] : ["Observe", "Create", "Update", "Delete"],
    providerConfigRef: { kind: "ProviderConfig", name: providerConfigName },
  };
}

/**
 * The application role. While it has `writeConnectionSecretToRef` (`syncTo`: while an existing Database is staged, and
 * until a new one's role is ready), provider-sql also sets the password of a role that exists already (left from
 * before, or staged anew) to the one in `passwordFrom`, and writes it to that Secret. Once apps read it, it has none,
 * and provider-sql never sets a password again: the only writer is a
 * SecretRotation of this role (one writer per password).
 */
export function applicationRole(plan: ServerPlan, providerConfigName: string, roleName: string, passwordFrom: { name: string; key: string }, syncTo?: string) {
  return {
    apiVersion: SQL_API,
    kind: "Role",
    metadata: metadata(plan, roleName),
    spec: {
      ...envelope(plan, providerConfigName),
      ...(syncTo !== undefined ? { writeConnectionSecretToRef: { name: syncTo } } : {}),
      forProvider: {
        passwordSecretRef: passwordFrom,
        privileges: { bypassRls: false, createDb: false, createRole: false, inherit: true, login: true, replication: false, superUser: false },
      },
    },
  };
}

/** CONNECT, CREATE and TEMPORARY on one database. */
export function databaseGrant(plan: ServerPlan, providerConfigName: string, roleName: string, database: string) {
  return {
    apiVersion: SQL_API,
    kind: "Grant",
    metadata: metadata(plan),
    spec: { ...envelope(plan, providerConfigName), forProvider: { database, privileges: ["CONNECT", "CREATE", "TEMPORARY"], role: roleName } },
  };
}

/**
 * USAGE and CREATE on the database's public schema. Since PostgreSQL 15 only the database's owner (the admin, who
 * created it) may create there; without this the app could connect but not create its tables.
 */
export function publicSchemaGrant(plan: ServerPlan, providerConfigName: string, roleName: string, database: string) {
  return {
    apiVersion: SQL_API,
    kind: "Grant",
    metadata: metadata(plan),
    spec: { ...envelope(plan, providerConfigName), forProvider: { database, privileges: ["CREATE", "USAGE"], role: roleName, schema: "public" } },
  };
}
