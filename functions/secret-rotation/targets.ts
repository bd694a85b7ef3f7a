// What a SecretRotation may reach, resolved before anything is touched. The boundary is its namespace: a Flexible
// Server only through a Database of that namespace (looked up by Crossplane as a required resource, so the
// server, its resource group and its admin Secret follow from the Database, never from the XR's author), Key
// Vaults and the shared admin's roles only through the policy's grants for that namespace. spec.team is never read.
import type { RunFunctionRequest } from "@crossplane-org/function-sdk-typescript";
import { cloneOf } from "../shared/rotation-contract.ts";
import { globMatch, grantsFor, type RotationPolicy } from "./policy.ts";
import type { RotationSpec } from "./xr.ts";

/** Where the admin session that changes a role comes from. */
export type AdminSource = { kind: "secret"; secretName: string } | { kind: "shared" };

export interface Targets {
  role?: { name: string; strategy: "single" | "alternating"; admin: AdminSource };
  server?: { resourceGroupName: string; serverName: string; connectionSecretName: string };
  vault?: { vaultName: string; secretName: string };
}

export type Resolution =
  | { kind: "Resolved"; targets: Targets }
  /** Crossplane has not passed the Databases the spec names yet: ask for them, touch nothing. */
  | { kind: "Lookup" }
  | { kind: "Refused"; reason: "TargetNotAllowed" | "TargetNotFound" | "InvalidPolicy"; message: string }
  | { kind: "Waiting"; message: string };

type Required = RunFunctionRequest["requiredResources"];
type Selector = { apiVersion: string; kind: string; matchName: string; namespace: string };

const requirementKey = (database: string) => `database-${database}`;

/** The Databases the spec names, as required resources in the XR's own namespace; the same on every call. */
export function databaseRequirements(spec: RotationSpec, namespace: string): Record<string, Selector> {
  const names = [spec.targets.flexibleServerAdmin?.databaseRef.name, spec.targets.postgresRole?.databaseRef?.name].filter((n): n is string => n !== undefined);
  return Object.fromEntries(names.map((name) => [requirementKey(name), { apiVersion: "azplatform.io/v1alpha1", kind: "Database", matchName: name, namespace }]));
}

const ROTATION_KEY_PREFIX = "secretrotation-";

/**
 * Another SecretRotation of the namespace, as a required resource: an app Secret still marked by one may be taken
 * over only once Crossplane reports it deleted (this function's own identity does not read XRs).
 */
export function rotationRequirement(apiVersion: string, name: string, namespace: string): Record<string, Selector> {
  return { [`${ROTATION_KEY_PREFIX}${name}`]: { apiVersion, kind: "SecretRotation", matchName: name, namespace } };
}

/** The SecretRotation an earlier call of this reconcile asked Crossplane about, and whether Crossplane found it. */
export function rotationLookedUp(required: Required): { name: string; exists: boolean } | undefined {
  const key = Object.keys(required).find((k) => k.startsWith(ROTATION_KEY_PREFIX));
  if (key === undefined) return undefined;
  return { name: key.slice(ROTATION_KEY_PREFIX.length), exists: (required[key]?.items.length ?? 0) > 0 };
}

interface DatabaseFacts {
  serverName: string;
  resourceGroupName: string;
  connectionSecretName: string;
  /** Where the server's admin is: its own Secret once apps connect as an application role, else the connection Secret. */
  adminSecretName: string;
}

type Looked = { kind: "Found"; facts: DatabaseFacts } | Exclude<Resolution, { kind: "Resolved" }>;

function lookUp(field: string, name: string, namespace: string, required: Required): Looked {
  const found = required[requirementKey(name)];
  if (found === undefined) return { kind: "Lookup" };
  const db = found.items[0]?.resource as { metadata?: { namespace?: string }; spec?: { connectionSecretName?: string }; status?: Record<string, unknown> } | undefined;
  // Crossplane looks in the namespace the function names; a Database from anywhere else is never trusted.
  if (db === undefined || db.metadata?.namespace !== namespace) {
    return { kind: "Refused", reason: "TargetNotFound", message: `${field}: Database "${name}" does not exist in namespace ${namespace}; a SecretRotation reaches only the Databases of its own namespace` };
  }
  const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
  const serverName = str(db.status?.serverName);
  const resourceGroupName = str(db.status?.resourceGroupName);
  const connectionSecretName = str(db.status?.connectionSecretName) ?? str(db.spec?.connectionSecretName);
  if (serverName === undefined || resourceGroupName === undefined || connectionSecretName === undefined) {
    return { kind: "Waiting", message: `waiting for Database ${name} to report its server (status.serverName, status.resourceGroupName, status.connectionSecretName)` };
  }
  // A server whose DBA policy turned password sign-in off has no password anyone can sign in with: nothing to rotate.
  if (db.status?.passwordAuthEnabled === false) {
    return {
      kind: "Refused",
      reason: "TargetNotAllowed",
      message:
        `${field}: Database "${name}" signs in with Microsoft Entra ID only (the DBA policy's authentication.mode is EntraId), so its server has no password that signs in to rotate; ` +
        "Entra access tokens expire by themselves, and access follows membership of the namespace's Entra group",
    };
  }
  const adminSecretName = str(db.status?.adminSecretName) ?? connectionSecretName;
  return { kind: "Found", facts: { serverName, resourceGroupName, connectionSecretName, adminSecretName } };
}

export function resolveTargets(spec: RotationSpec, namespace: string, policy: RotationPolicy, required: Required): Resolution {
  const { postgresRole, flexibleServerAdmin, keyVault } = spec.targets;
  const grants = grantsFor(policy, namespace);
  const targets: Targets = {};
  // Every refusal that needs no lookup comes first, all of them at once: a hostile spec is refused without a single
  // read, and an engineer sees every problem in one push.
  const refusals: Array<{ reason: "TargetNotAllowed" | "InvalidPolicy"; message: string }> = [];
  const refuse = (reason: "TargetNotAllowed" | "InvalidPolicy", message: string) => void refusals.push({ reason, message });
  if (keyVault !== undefined) {
    if (!grants.keyVaults.some((v) => globMatch(v, keyVault.vaultName))) {
      const granted = grants.keyVaults.join(", ") || "none";
      refuse("TargetNotAllowed", `spec.targets.keyVault.vaultName "${keyVault.vaultName}" is not granted to namespace ${namespace} by the policy; granted: ${granted}`);
    }
    targets.vault = { vaultName: keyVault.vaultName, secretName: keyVault.secretName };
  }
  if (postgresRole !== undefined) {
    const { name, strategy } = postgresRole;
    // Alternating users change <name>_clone too: it must fit PostgreSQL's 63 bytes and, on the shared admin, be
    // granted to the namespace as <name> is (on a Database's own server every role is the namespace's).
    const roles = strategy === "alternating" ? [name, cloneOf(name)] : [name];
    if (strategy === "alternating" && name.length > 57) {
      refuse("TargetNotAllowed", `spec.targets.postgresRole.name "${name}" is too long for alternating users: ${name}_clone must fit PostgreSQL's 63 characters`);
    }
    const allowed = !/^(azure_|pg_)/.test(name) && policy.allowedRoles.some((r) => globMatch(r, name));
    if (!allowed) {
      refuse("TargetNotAllowed", `spec.targets.postgresRole.name "${name}" is not allowed by the policy; allowed: ${policy.allowedRoles.join(", ")} (never azure_* or pg_*)`);
    }
    const shared = postgresRole.databaseRef === undefined && postgresRole.adminSecretRef === undefined;
    if (shared && policy.credentials.postgresAdmin === undefined) {
      refuse("TargetNotAllowed", "spec.targets.postgresRole names neither databaseRef nor adminSecretRef, and the policy has no shared admin (credentials.postgresAdmin)");
    } else if (shared && allowed) {
      const notGranted = roles.find((role) => !grants.roles.some((r) => globMatch(r, role)));
      const granted = grants.roles.join(", ") || "none";
      if (notGranted !== undefined) refuse("TargetNotAllowed", `spec.targets.postgresRole.name "${notGranted}" is not granted to namespace ${namespace} on the policy's shared admin; granted: ${granted}`);
    }
    if (flexibleServerAdmin !== undefined) {
      refuse("TargetNotAllowed", "spec.targets: postgresRole and flexibleServerAdmin are two passwords; rotate each with its own SecretRotation");
    }
  }
  if (flexibleServerAdmin !== undefined && policy.subscriptionId === undefined) {
    refuse("InvalidPolicy", "the policy sets no subscriptionId, which spec.targets.flexibleServerAdmin needs");
  }

  const first = refusals[0];
  if (first !== undefined) return { kind: "Refused", reason: first.reason, message: refusals.map((r) => r.message).join("; ") };

  if (postgresRole !== undefined) {
    let admin: AdminSource = { kind: "shared" };
    if (postgresRole.adminSecretRef !== undefined) admin = { kind: "secret", secretName: postgresRole.adminSecretRef.name };
    if (postgresRole.databaseRef !== undefined) {
      const db = lookUp("spec.targets.postgresRole.databaseRef", postgresRole.databaseRef.name, namespace, required);
      if (db.kind !== "Found") return db;
      admin = { kind: "secret", secretName: db.facts.adminSecretName };
    }
    targets.role = { name: postgresRole.name, strategy: postgresRole.strategy, admin };
  }
  if (flexibleServerAdmin !== undefined) {
    const db = lookUp("spec.targets.flexibleServerAdmin.databaseRef", flexibleServerAdmin.databaseRef.name, namespace, required);
    if (db.kind !== "Found") return db;
    // The Secret the server's admin password lives in (and where the provider reads it from): rotated anywhere else,
    // the Database and the server would disagree for good.
    const { adminSecretName, connectionSecretName } = db.facts;
    if (spec.secretRef.name !== adminSecretName) {
      const which = adminSecretName === connectionSecretName ? "the connection Secret" : "the admin Secret (apps connect as its application role)";
      const message = `spec.secretRef.name must be ${adminSecretName}, ${which} of Database ${flexibleServerAdmin.databaseRef.name}, to rotate its admin password`;
      return { kind: "Refused", reason: "TargetNotAllowed", message };
    }
    targets.server = { resourceGroupName: db.facts.resourceGroupName, serverName: db.facts.serverName, connectionSecretName: adminSecretName };
  }
  return { kind: "Resolved", targets };
}
