// No provider runs in the cluster tier: the tests play provider-upjet-azure (and provider-sql) the way it behaves. On create it marks
// the managed resource with crossplane.io/external-create-pending then -succeeded, sets the external name it got
// from Azure when the composition set none, and reports the ARM id and observed fields in status.atProvider with
// Ready and Synced conditions, all written by its own field manager.
import type { Kube, Obj } from "./kube.ts";

export const PROVIDER_MANAGER = "provider-azure-dbforpostgresql";
const SUBSCRIPTION = "00000000-0000-0000-0000-000000000000";
const API = "dbforpostgresql.azure.m.upbound.io/v1beta1";

export const refOf = (o: Obj) => ({ apiVersion: o.apiVersion as string, kind: o.kind as string, namespace: o.metadata.namespace as string, name: o.metadata.name as string });
export const composedName = (o: Obj) => o.metadata?.annotations?.["crossplane.io/composition-resource-name"] as string | undefined;

/** The composed resources of a namespaced XR, by composition-resource-name. */
export async function composedOf(kube: Kube, namespace: string, xr: string): Promise<Record<string, Obj>> {
  const out: Record<string, Obj> = {};
  const kinds = [
    { apiVersion: API, kind: "FlexibleServer" },
    { apiVersion: API, kind: "FlexibleServerDatabase" },
    { apiVersion: API, kind: "FlexibleServerConfiguration" },
    { apiVersion: "v1", kind: "Secret" },
    { apiVersion: "insights.azure.m.upbound.io/v1beta1", kind: "MonitorMetricAlert" },
    { apiVersion: "insights.azure.m.upbound.io/v1beta1", kind: "MonitorDiagnosticSetting" },
    { apiVersion: "postgresql.sql.m.crossplane.io/v1alpha1", kind: "ProviderConfig" },
    { apiVersion: "postgresql.sql.m.crossplane.io/v1alpha1", kind: "Extension" },
    { apiVersion: "postgresql.sql.m.crossplane.io/v1alpha1", kind: "Role" },
    { apiVersion: "postgresql.sql.m.crossplane.io/v1alpha1", kind: "Grant" },
  ];
  for (const ref of kinds) {
    for (const o of await kube.list({ ...ref, namespace }, `crossplane.io/composite=${xr}`)) out[composedName(o) ?? o.metadata.name] = o;
  }
  return out;
}

function armId(o: Obj, server: Obj | undefined): string {
  const p = o.spec.forProvider;
  const external = o.metadata.annotations?.["crossplane.io/external-name"] as string | undefined;
  const serverId = server?.status?.atProvider?.id as string | undefined;
  switch (o.kind) {
    case "FlexibleServer":
      return `/subscriptions/${SUBSCRIPTION}/resourceGroups/${p.resourceGroupName}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${external}`;
    case "FlexibleServerDatabase":
      return `${serverId}/databases/${external}`;
    case "MonitorMetricAlert":
      return `/subscriptions/${SUBSCRIPTION}/resourceGroups/${p.resourceGroupName}/providers/Microsoft.Insights/metricAlerts/${external}`;
    case "MonitorDiagnosticSetting":
      return `${p.targetResourceId}|${p.name}`;
    case "Extension":
      return `${p.database}/${p.extension}`;
    case "Role":
      return external ?? o.metadata.name;
    case "Grant":
      return `${p.role}/${p.database}${p.schema === undefined ? "" : `/${p.schema}`}`;
    default:
      return `${serverId}/configurations/${p.name}`;
  }
}

/** What Azure reports back for a FlexibleServer: what was asked, plus what only Azure knows. */
export interface AzureAnswers {
  /** What the server's FQDN resolves to, where a test reaches a real PostgreSQL behind it. */
  fqdn?: string;
  /** What an existing server reports, whatever its managed resource asks (an adopted server). */
  existing?: Obj;
}

function atProvider(o: Obj, id: string, previous: Obj = {}, answers: AzureAnswers = {}): Obj {
  const p = o.spec.forProvider;
  if (o.kind !== "FlexibleServer") return { ...p, id };
  const init = o.spec.initProvider ?? {};
  const name = o.metadata.annotations["crossplane.io/external-name"];
  return {
    ...previous,
    id,
    fqdn: answers.fqdn ?? `${name}.postgres.database.azure.com`,
    administratorLogin: p.administratorLogin,
    location: p.location,
    resourceGroupName: p.resourceGroupName,
    delegatedSubnetId: p.delegatedSubnetId,
    privateDnsZoneId: p.privateDnsZoneId,
    geoRedundantBackupEnabled: p.geoRedundantBackupEnabled,
    skuName: p.skuName,
    storageMb: Math.max(p.storageMb ?? 0, previous.storageMb ?? 0),
    storageTier: p.storageTier,
    version: p.version,
    zone: init.zone ?? previous.zone,
    highAvailability: p.highAvailability,
    publicNetworkAccessEnabled: false,
    tags: p.tags,
    ...answers.existing,
  };
}

/** Plays one reconcile of the provider: the external resource exists in Azure and matches the spec. */
export async function reconcileAsProvider(kube: Kube, o: Obj, server?: Obj, answers: AzureAnswers = {}): Promise<Obj> {
  const ref = refOf(o);
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const annotations = o.metadata.annotations ?? {};
  // One write of the annotations a create leaves (the provider makes a few; core only reads where they end up), so a
  // Database's thirty resources do not trip core's watch circuit breaker more than a provider would.
  const marks: Record<string, string> = {};
  // A resource the provider found (an adopted server, observed first) was never created by it: no create marks.
  const found = o.status?.atProvider?.id !== undefined || !(o.spec.managementPolicies ?? ["*"]).some((p: string) => p === "*" || p === "Create");
  if (annotations["crossplane.io/external-create-succeeded"] === undefined && !found) {
    marks["crossplane.io/external-create-pending"] = now;
    marks["crossplane.io/external-create-succeeded"] = now;
  }
  // Azure's name for a server parameter is the parameter; provider-sql names a grant as its managed resource.
  if (annotations["crossplane.io/external-name"] === undefined) marks["crossplane.io/external-name"] = o.spec.forProvider.name ?? o.metadata.name;
  if (Object.keys(marks).length > 0) await kube.mergePatch(ref, { metadata: { annotations: marks } }, undefined, PROVIDER_MANAGER);
  const fresh = await kube.get(ref);
  const id = fresh.status?.atProvider?.id ?? armId(fresh, server);
  const conditions = [
    { type: "Ready", status: "True", reason: "Available", lastTransitionTime: now },
    { type: "Synced", status: "True", reason: "ReconcileSuccess", lastTransitionTime: now },
  ];
  return kube.mergePatch(ref, { status: { atProvider: atProvider(fresh, id, fresh.status?.atProvider, answers), conditions } }, "status", PROVIDER_MANAGER);
}

/**
 * Plays the providers until the XR is Ready: resources composed only once others are ready (an application role once
 * its server is) are provided as they appear.
 */
export async function provideUntilReady(kube: Kube, ref: { apiVersion: string; kind: string; namespace: string; name: string }, answers: AzureAnswers = {}, timeoutMs = 90_000): Promise<Obj> {
  const deadline = Date.now() + timeoutMs;
  const ready = (o: Obj) => o.status?.conditions?.some((c: Obj) => c.type === "Ready" && c.status === "True") === true;
  await provideAll(kube, ref.namespace, ref.name, answers);
  for (;;) {
    const composed = await composedOf(kube, ref.namespace, ref.name);
    const server = composed.server;
    for (const o of Object.values(composed)) {
      if (o.kind !== "Secret" && o.kind !== "ProviderConfig" && o !== server && !ready(o)) await reconcileAsProvider(kube, o, server);
    }
    const xr = await kube.get(ref);
    if (ready(xr)) return xr;
    if (Date.now() > deadline) throw new Error(`${ref.kind} ${ref.namespace}/${ref.name} not Ready within ${timeoutMs / 1000} s: ${JSON.stringify(xr.status?.conditions)}`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

/** Plays the provider for every managed resource of an XR: the server first, then what refers to it. */
export async function provideAll(kube: Kube, namespace: string, xr: string, answers: AzureAnswers = {}): Promise<Record<string, Obj>> {
  const composed = await composedOf(kube, namespace, xr);
  const server = composed.server === undefined ? undefined : await reconcileAsProvider(kube, composed.server, undefined, answers);
  for (const [name, o] of Object.entries(composed)) {
    // A ProviderConfig has no external resource: it is ready once it exists.
    if (name !== "server" && o.kind !== "Secret" && o.kind !== "ProviderConfig") await reconcileAsProvider(kube, o, server);
  }
  return composedOf(kube, namespace, xr);
}
