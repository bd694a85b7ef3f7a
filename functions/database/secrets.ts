// The Secrets a Database composes: the one apps read and, once apps connect as the application role, the admin's
// (app-role.ts). Each is read as it is now (observed, or found by a lookup), and its passwords are generated once and
// re-emitted from it on every later call; a reset of a password in use is reported as one.
import type { RunFunctionRequest } from "@crossplane-org/function-sdk-typescript";
import { ROTATED_BY, cloneOf, ownedKeysOf } from "../shared/rotation-contract.ts";
import { STAGED_PASSWORD_KEY, type RoleStage } from "./app-role.ts";
import { observed, observedFrom, read, secretValue, type Observed } from "./observed.ts";
import { connectionSecret, entraConnectionSecret, type ServerPlan } from "./resources.ts";

type Selector = { apiVersion: string; kind: string; matchName: string; namespace: string };

export interface ComposedSecret {
  /** As observed, or else as the lookup found it. */
  current: Observed;
  awaitingLookup: boolean;
  rotatedBy: string | undefined;
  rotationGone: boolean;
  /** Keys a SecretRotation marked as its own. */
  markedKeys: string[];
  /** The marked keys while that SecretRotation still exists: never applied here. */
  heldKeys: string[];
  lookups: Record<string, Selector>;
  /** Found by the lookup, but made by someone else: Crossplane would take it over and overwrite its keys. */
  taken: (xr: { name: string; uid?: string }) => boolean;
}

/**
 * A Secret this function composes, as it is now. Whenever it is not among the observed resources it is looked up by
 * name: Crossplane's cache can miss an object for a moment, and a Secret left out of desired state would be deleted
 * (or its password generated anew). Keys a SecretRotation took over are its own for as long as it exists; once
 * Crossplane reports it deleted they come back here, with the values the Secret holds (the rotated ones), so its marks
 * never silence the Database for good.
 */
export function composedSecret(req: RunFunctionRequest, o: { key: string; rotationKey: string; name: string; namespace: string; lookUp: boolean }): ComposedSecret {
  const seen = observed(req, o.key);
  const lookupNeeded = o.lookUp && !seen.exists;
  const lookup = lookupNeeded ? req.requiredResources?.[o.key] : undefined;
  const current = seen.exists ? seen : observedFrom(lookup?.items[0]?.resource);
  const marks = read.obj(read.obj(current.resource.metadata).annotations);
  const rotatedBy = read.str(marks[ROTATED_BY]);
  const rotation = rotatedBy === undefined ? undefined : req.requiredResources?.[o.rotationKey];
  const rotationGone = rotation !== undefined && rotation.items.length === 0;
  return {
    current,
    awaitingLookup: lookupNeeded && lookup === undefined,
    rotatedBy,
    rotationGone,
    markedKeys: ownedKeysOf(marks),
    heldKeys: rotationGone ? [] : ownedKeysOf(marks),
    lookups: {
      ...(lookupNeeded ? { [o.key]: { apiVersion: "v1", kind: "Secret", matchName: o.name, namespace: o.namespace } } : {}),
      ...(rotatedBy !== undefined ? { [o.rotationKey]: { apiVersion: "azplatform.io/v1alpha1", kind: "SecretRotation", matchName: rotatedBy, namespace: o.namespace } } : {}),
    },
    taken: (xr) => !seen.exists && current.exists && !controlledBy(current, xr),
  };
}

/** Whether this XR controls the object (Crossplane's controller reference); the uid decides when the XR has one. */
function controlledBy(o: Observed, xr: { name: string; uid?: string }): boolean {
  const refs = Array.isArray(read.obj(o.resource.metadata).ownerReferences) ? (read.obj(o.resource.metadata).ownerReferences as unknown[]) : [];
  return refs.map(read.obj).some((r) => r.controller === true && r.kind === "Database" && r.name === xr.name && (xr.uid === undefined || r.uid === xr.uid));
}

/** The composition-resource-names of the two Secrets. */
export const SECRET_KEY = { connection: "connection-secret", admin: "admin-secret" } as const;

export interface PlannedSecret {
  key: string;
  name: string;
  state: ComposedSecret;
  data: ReturnType<typeof connectionSecret>;
  /** The admin Secret of a Database on its way to the role, which its apps do not read yet: it holds nothing back. */
  staging?: boolean;
}

export interface SecretsInput {
  plan: ServerPlan;
  stage: RoleStage;
  connection: ComposedSecret;
  adminSecret: ComposedSecret;
  adminSecretName: string;
  roleName: string;
  roleExists: boolean;
  serverExists: boolean;
  /** The Database's metadata.name, as a SecretRotation's databaseRef names it. */
  databaseName: string;
  connectTo: { host: string; database: string };
  /** Who apps sign in as on a server without passwords: the namespace's Entra group. */
  entraGroup: string;
  newPassword: () => string;
}

/** What each Secret holds on this call, with the warnings of any password generated anew while in use. */
export function plannedSecrets(o: SecretsInput): { secrets: PlannedSecret[]; warnings: Array<{ reason: string; message: string }> } {
  const { plan, stage, connection, adminSecret, adminSecretName, roleName } = o;
  const warnings: Array<{ reason: string; message: string }> = [];
  const { host, database } = o.connectTo;
  const connectionPassword = secretValue(connection.current, "password");
  // A password the server or the role already uses, gone from its Secret: a new one, reported as a reset.
  const kept = (value: string | undefined, inUse: boolean, reason: string, message: string) => {
    if (value !== undefined) return value;
    if (inUse) warnings.push({ reason, message });
    return o.newPassword();
  };
  const gone = (s: ComposedSecret) => (s.current.exists ? "holds no password" : "is gone");
  const adminReset = (s: ComposedSecret, name: string) =>
    `the ${name === plan.secretName ? "connection" : "admin"} Secret ${name} ${gone(s)} while server ${plan.name} exists; a new admin password was generated and the provider sets it on the server`;
  const login = (username: string, password: string, secretName = plan.secretName, extra: Record<string, string> = {}) =>
    connectionSecret(plan, { host, username, password, database }, secretName, extra);

  if (!plan.passwordAdmin) {
    // A server without a password admin (created Entra-only): apps sign in as the namespace's Entra group, with tokens.
    const data = entraConnectionSecret(plan, { host, username: o.entraGroup, database });
    return { secrets: [{ key: SECRET_KEY.connection, name: plan.secretName, state: connection, data }], warnings };
  }
  if (stage.kind === "Split") {
    const admin = stage.switching
      ? (connectionPassword ?? "")
      : kept(secretValue(adminSecret.current, "password"), o.serverExists, "AdminPasswordReset", adminReset(adminSecret, adminSecretName));
    const app = stage.switching
      ? (secretValue(adminSecret.current, STAGED_PASSWORD_KEY) ?? "")
      : kept(
          connectionPassword,
          o.roleExists,
          "ApplicationPasswordReset",
          `the connection Secret ${plan.secretName} ${gone(connection)} while role ${roleName} exists; it holds a new password, which provider-sql does not set on an existing role: ` +
            `a SecretRotation of postgresRole ${roleName} (databaseRef ${o.databaseName}) sets it`,
        );
    // An alternating SecretRotation of the role hands apps its _clone half of the time: kept as the Secret holds it.
    const seen = secretValue(connection.current, "username");
    const user = !stage.switching && seen === cloneOf(roleName) ? seen : roleName;
    return {
      secrets: [
        { key: SECRET_KEY.connection, name: plan.secretName, state: connection, data: login(user, app) },
        { key: SECRET_KEY.admin, name: adminSecretName, state: adminSecret, data: login(plan.administratorLogin, admin, adminSecretName) },
      ],
      warnings,
    };
  }
  const admin = kept(connectionPassword, o.serverExists, "AdminPasswordReset", adminReset(connection, plan.secretName));
  const secrets: PlannedSecret[] = [{ key: SECRET_KEY.connection, name: plan.secretName, state: connection, data: login(plan.administratorLogin, admin) }];
  if (stage.kind === "Migrating") {
    // The admin as apps read it now, and the role's future password: the role is created from it.
    const staged = secretValue(adminSecret.current, STAGED_PASSWORD_KEY) ?? o.newPassword();
    secrets.push({ key: SECRET_KEY.admin, name: adminSecretName, state: adminSecret, data: login(plan.administratorLogin, admin, adminSecretName, { [STAGED_PASSWORD_KEY]: staged }), staging: true });
  }
  return { secrets, warnings };
}
