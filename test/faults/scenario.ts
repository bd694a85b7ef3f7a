// The scenario's documents: the policy input, the SecretRotations, and the Secrets they read. The policy and the XR
// shape are still moving; each is written in one function here, so a change of shape is made in one place.
import type { JsonObject } from "../support/proto-client.ts";

const VAULT = "kv-faults";
export const ADMIN_SECRET = "pg-admin";
/** The PostgreSQL login the function changes roles with: CREATEROLE and no superuser, as Azure's admin. */
export const ADMIN_ROLE = "pgadmin";

/** The SecretRotationPolicy input of the pipeline step, for SecretRotations in `namespace`. */
export function policyInput(namespace: string): JsonObject {
  return {
    apiVersion: "fn.azplatform.io/v1alpha1",
    kind: "SecretRotationPolicy",
    tenants: [{ namespaces: [namespace], keyVaults: [VAULT] }],
    allowedRoles: ["*_app"],
    fastestSchedule: "1h",
    // Outside writes are repaired at the next drift check: within the invariants' bounds.
    driftCheckEvery: "5s",
    credentials: { azure: "azure" },
  };
}

/** The SecretRotations under test, as their authors write them: one role with one password, one with two. */
export function secretRotations(namespace: string): JsonObject[] {
  const rotation = (name: string, spec: JsonObject): JsonObject => ({
    apiVersion: "azplatform.io/v1alpha1",
    kind: "SecretRotation",
    metadata: { name, namespace },
    spec: { team: "payments", rotateEvery: "1h", consumers: "auto", ...spec },
  });
  return [
    rotation("orders-password", {
      secretRef: { name: "orders-app-db", key: "password" },
      targets: {
        postgresRole: { name: "orders_app", strategy: "single", adminSecretRef: { name: ADMIN_SECRET } },
        keyVault: { vaultName: VAULT, secretName: "orders-app-password" },
      },
    }),
    rotation("ledger-password", {
      secretRef: { name: "ledger-app-db", key: "password" },
      targets: { postgresRole: { name: "ledger_app", strategy: "alternating", adminSecretRef: { name: ADMIN_SECRET } } },
    }),
  ];
}

/** A PostgreSQL connection Secret's data (the admin's for postgresRole.adminSecretRef, and the apps'). */
export function connectionSecretData(pg: { host: string; port: number }, username: string, password: string): Record<string, string> {
  return { host: pg.host, port: String(pg.port), database: "postgres", username, password, sslmode: "verify-full" };
}

/** What the harness needs to know of a SecretRotation document: where its value lives and what it changes. */
export interface RotationTargets {
  secretName: string;
  key: string;
  role: string;
  strategy: "single" | "alternating";
  vault?: { vaultName: string; secretName: string };
}

export function targetsOf(xr: JsonObject): RotationTargets {
  const spec = xr.spec as { secretRef: { name: string; key: string }; targets: { postgresRole: { name: string; strategy?: "single" | "alternating" }; keyVault?: { vaultName: string; secretName: string } } };
  const { postgresRole, keyVault } = spec.targets;
  return {
    secretName: spec.secretRef.name,
    key: spec.secretRef.key,
    role: postgresRole.name,
    strategy: postgresRole.strategy ?? "single",
    ...(keyVault === undefined ? {} : { vault: keyVault }),
  };
}
