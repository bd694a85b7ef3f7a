// The application's own login role: apps connect as it, not as the server admin. provider-sql creates it (Role) and
// grants it exactly the Database's databases (Grant); the admin's credentials sit in a Secret of their own, which the
// server, provider-sql's connection and a rotation of the admin use.
//
// A Database made before the role existed moves over in stages, so that at every instant apps read a value the server
// accepts: the admin Secret comes first (a copy of the admin the apps read, and the role's future password), then the
// role is created from it, and only once the role and its grants are ready does the Secret apps read switch to it.
import { z } from "zod";
import { SQL_API } from "./extensions.ts";
import { metadata, type ServerPlan } from "./resources.ts";

export const ApplicationRolePolicy = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        "Apps connect as a login role of their own (<metadata.name>_app, granted the Database's databases), not as the server admin; the admin's credentials go to the Secret <connection Secret>-admin. Existing Databases move over in stages, without a moment where apps read a password the server refuses.",
      ),
  })
  .default({ enabled: false });
export type ApplicationRolePolicy = z.infer<typeof ApplicationRolePolicy>;

/** PostgreSQL's identifier limit: a longer name is cut by the server, and would no longer match. */
const MAX_IDENTIFIER = 63;

/** The role apps log in as: the Database's name as a PostgreSQL identifier (`-` and `.` become `_`), with `_app`. */
export function applicationRoleName(databaseName: string): { ok: true; value: string } | { ok: false; message: string } {
  const value = `${databaseName.replace(/[-.]/g, "_")}_app`;
  if (value.length > MAX_IDENTIFIER) {
    return { ok: false, message: `metadata.name: the application role "${value}" would be ${value.length} characters; PostgreSQL allows ${MAX_IDENTIFIER}: choose a shorter name` };
  }
  if (/^(pg_|azure_)/.test(value)) {
    return { ok: false, message: `metadata.name: the application role "${value}" would start with ${value.startsWith("pg_") ? "pg_" : "azure_"}, which PostgreSQL and Azure reserve for their own roles: choose another name` };
  }
  return { ok: true, value };
}

/** The admin's Secret beside the one apps read. */
export const adminSecretNameFor = (connectionSecretName: string): string => `${connectionSecretName}-admin`;

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
  grantsReady: boolean;
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
    // The admin Secret must hold what the server accepts before the server reads it.
    if (f.connection.password === undefined || f.adminSecret.password !== f.connection.password) return "the admin Secret to hold the current admin password";
    if (f.connectionPasswordRotated) return "the SecretRotation of the admin password in the connection Secret to be deleted";
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
 * The application role. provider-sql reads its password from `passwordFrom` only when it creates the role: without
 * writeConnectionSecretToRef it never sets a password again. After that the only writer of the password is a
 * SecretRotation of this role, so the two never race (one writer per password).
 */
export function applicationRole(plan: ServerPlan, providerConfigName: string, roleName: string, passwordFrom: { name: string; key: string }) {
  return {
    apiVersion: SQL_API,
    kind: "Role",
    metadata: metadata(plan, roleName),
    spec: {
      ...envelope(plan, providerConfigName),
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
