// Pure builders of the composed resources: each returns exactly what the function wants applied, every call.
import { sortKeys } from "../shared/sort-keys.ts";

export const FLEXIBLE_SERVER_API = "dbforpostgresql.azure.m.upbound.io/v1beta1";
export const POSTGRES_PORT = "5432";
export const TEAM_LABEL = "azplatform.io/team";

export interface ServerPlan {
  namespace: string;
  team: string;
  name: string;
  location: string;
  resourceGroupName: string;
  skuName: string;
  version: string;
  storageMb: number;
  storageTier: string;
  autoGrow: boolean;
  backupRetentionDays: number;
  geoRedundantBackup: boolean;
  highAvailabilityMode: "ZoneRedundant" | "SameZone" | undefined;
  zone: string | undefined;
  delegatedSubnetId: string;
  privateDnsZoneId: string;
  administratorLogin: string;
  /** The server has a password admin (administratorLogin and its password); false for a server created Entra-only. */
  passwordAdmin: boolean;
  authentication: { activeDirectoryAuthEnabled: boolean; passwordAuthEnabled: boolean; tenantId?: string };
  maintenanceWindow: { dayOfWeek: number; startHour: number; startMinute: number } | undefined;
  tags: Record<string, string>;
  providerConfigRef: { kind: string; name: string };
  protectFromDeletion: boolean;
  secretName: string;
  /** The Secret the server's admin password is read from: the one apps read, unless they connect as an application role. */
  adminPasswordSecretName?: string;
  /** A server created by a point-in-time restore (restore.ts): its create-only fields, and what its create leaves out. */
  restore?: { initProvider: Record<string, string>; annotations: Record<string, string>; omitOnCreate: readonly string[] };
}

/** A composed resource's metadata: the XR's namespace, the team label, and the Azure name where it has one. */
export function metadata(plan: ServerPlan, externalName?: string) {
  return {
    namespace: plan.namespace,
    labels: { [TEAM_LABEL]: plan.team },
    ...(externalName !== undefined ? { annotations: { "crossplane.io/external-name": externalName } } : {}),
  };
}

function envelope(plan: ServerPlan) {
  return {
    // No LateInitialize: observed zones and defaults never flow back into forProvider, so an HA failover
    // cannot wedge the resource (provider-upjet-azure#1089, #1303). No Delete when the DBAs protect servers.
    managementPolicies: plan.protectFromDeletion ? ["Observe", "Create", "Update"] : ["Observe", "Create", "Update", "Delete"],
    providerConfigRef: plan.providerConfigRef,
  };
}

/** Dependents find the server through their controller (this XR), so no composed resource needs a fixed name. */
const SERVER_SELECTOR = { serverIdSelector: { matchControllerRef: true } };

export function flexibleServer(plan: ServerPlan) {
  const base = metadata(plan, plan.name);
  const initProvider = sortKeys({ ...(plan.zone !== undefined ? { zone: plan.zone } : {}), ...plan.restore?.initProvider });
  const server = {
    apiVersion: FLEXIBLE_SERVER_API,
    kind: "FlexibleServer",
    metadata: plan.restore === undefined ? base : { ...base, annotations: sortKeys({ ...base.annotations, ...plan.restore.annotations }) },
    spec: {
      ...envelope(plan),
      ...(Object.keys(initProvider).length > 0 ? { initProvider } : {}),
      forProvider: {
        // Azure refuses a login on a server created with password sign-in off.
        ...(plan.passwordAdmin ? { administratorLogin: plan.administratorLogin, administratorPasswordSecretRef: { name: plan.adminPasswordSecretName ?? plan.secretName, key: "password" } } : {}),
        authentication: plan.authentication,
        autoGrowEnabled: plan.autoGrow,
        backupRetentionDays: plan.backupRetentionDays,
        delegatedSubnetId: plan.delegatedSubnetId,
        geoRedundantBackupEnabled: plan.geoRedundantBackup,
        ...(plan.highAvailabilityMode !== undefined ? { highAvailability: { mode: plan.highAvailabilityMode } } : {}),
        location: plan.location,
        ...(plan.maintenanceWindow !== undefined ? { maintenanceWindow: plan.maintenanceWindow } : {}),
        privateDnsZoneId: plan.privateDnsZoneId,
        publicNetworkAccessEnabled: false,
        resourceGroupName: plan.resourceGroupName,
        skuName: plan.skuName,
        storageMb: plan.storageMb,
        storageTier: plan.storageTier,
        tags: plan.tags,
        version: plan.version,
      } as Record<string, unknown>,
    },
  };
  const omit = plan.restore?.omitOnCreate ?? [];
  if (omit.length === 0) return server;
  const forProvider = Object.fromEntries(Object.entries(server.spec.forProvider).filter(([field]) => !omit.includes(field)));
  return { ...server, spec: { ...server.spec, forProvider } };
}

export function flexibleServerDatabase(plan: ServerPlan, database: string) {
  return {
    apiVersion: FLEXIBLE_SERVER_API,
    kind: "FlexibleServerDatabase",
    metadata: metadata(plan, database),
    spec: {
      ...envelope(plan),
      // Canonical casing: the provider treats a collation case change as a replacement it cannot make.
      forProvider: { charset: "UTF8", collation: "en_US.utf8", ...SERVER_SELECTOR },
    },
  };
}

export function flexibleServerConfiguration(plan: ServerPlan, name: string, value: string) {
  return {
    apiVersion: FLEXIBLE_SERVER_API,
    kind: "FlexibleServerConfiguration",
    metadata: metadata(plan),
    spec: { ...envelope(plan), forProvider: { name, value, ...SERVER_SELECTOR } },
  };
}

export interface Connection {
  host: string;
  username: string;
  password: string;
  database: string;
}

/**
 * The connection Secret of a server without password sign-in: members of the namespace's Entra group sign in as the
 * group, with their own Entra access token as the password, so the Secret holds no password and no uri with one.
 */
export function entraConnectionSecret(plan: ServerPlan, c: Omit<Connection, "password">) {
  return opaqueSecret(plan, plan.secretName, { database: c.database, host: c.host, port: POSTGRES_PORT, sslmode: "require", username: c.username });
}

/** The connection details of a login, as apps (or, in the admin Secret, admins and provider-sql) read them. */
export function connectionSecret(plan: ServerPlan, c: Connection, secretName = plan.secretName, extra: Record<string, string> = {}) {
  const uri =
    `postgresql://${encodeURIComponent(c.username)}:${encodeURIComponent(c.password)}` +
    `@${c.host}:${POSTGRES_PORT}/${encodeURIComponent(c.database)}?sslmode=require`;
  return opaqueSecret(plan, secretName, { database: c.database, host: c.host, password: c.password, port: POSTGRES_PORT, sslmode: "require", uri, username: c.username, ...extra });
}

/** A Secret of the XR's namespace, its values base64-encoded and its keys sorted. */
function opaqueSecret(plan: ServerPlan, name: string, data: Record<string, string>) {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, ...metadata(plan) },
    type: "Opaque",
    data: sortKeys(Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")]))),
  };
}
