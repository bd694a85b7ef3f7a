// A server that does not start empty: a point-in-time restore of another Database's server (spec.restoreFrom, the
// engineer's), or an existing server the DBA team hands to a Database (policy adopt). The XR field, the policy blocks,
// and pure plans; the source Database comes in as a Crossplane required resource, looked up in the XR's own namespace.
//
// Azure and provider facts (provider-upjet-azure v2.7.0, azurerm 4.80):
// - A PITR creates a new server in the source's region "with the source server's configuration for the pricing tier,
//   compute generation, number of virtual cores, storage size, backup retention period, and backup redundancy
//   option"; the availability zone and the virtual network may be chosen; public and private access cannot be crossed
//   (learn.microsoft.com/azure/postgresql/backup-restore/concepts-backup-restore, "Point-in-time recovery",
//   "Restore and networking").
// - High availability is not restored and must be enabled afterwards (same page, FAQ); the API silently ignores it on
//   a PITR create (Azure/azure-rest-api-specs#20600, hashicorp/terraform-provider-azurerm#18253).
// - pointInTimeUTC and createMode are create-only and never read back; sourceServerResourceId is returned for replicas
//   only (ARM 2025-08-01 ServerProperties). azurerm reads both back from the configuration, and source_server_id and
//   point_in_time_restore_time_in_utc are ForceNew (internal/services/postgres/postgresql_flexible_server_resource.go).
// - azurerm requires administrator_login, the password, sku_name and version only when create_mode is Default, and
//   sends whatever else is set (same file, resourcePostgresqlFlexibleServerCreate). Its own PITR acceptance test
//   (TestAccPostgresqlFlexibleServer_pointInTimeRestore) sets only name, resource group, location, create_mode,
//   source_server_id, zone and the time.
import type { RunFunctionRequest } from "@crossplane-org/function-sdk-typescript";
import { z } from "zod";
import { RESOURCE_GROUP_NAME, SERVER_NAME_MAX, SERVER_NAME_MIN, SERVER_NAME_PATTERN, STORAGE_GB } from "./azure.ts";
import { serverName } from "./naming.ts";
import { existsInAzure, read, type Observed } from "./observed.ts";
// Types only: xr.ts and policy.ts import the schemas below, so a value import back would be a cycle.
import type { DatabasePolicy } from "./policy.ts";
import type { DatabaseXR } from "./xr.ts";
import { DNS_LABEL, UUID } from "../shared/patterns.ts";

const NAMESPACED_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/**
 * RFC 3339 in UTC, seconds 00-59 (Go's time.Parse, the provider's parser, refuses a leap second). No lookarounds, so
 * the generated CRD (Go RE2) means the same.
 */
export const RFC3339_UTC =
  /^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?Z$/;

const DAY_MS = 24 * 60 * 60 * 1000;

/** Milliseconds since the epoch of an RFC3339_UTC time; digits past milliseconds do not count. */
function instant(time: string): number {
  const fraction = time.length > 20 ? time.slice(20, -1) : "";
  return Date.parse(time.slice(0, 19) + "Z") + Number(`${fraction}000`.slice(0, 3));
}

/** The regex lets 2026-02-30 through; JavaScript would roll it over to March. */
function exists(time: string): boolean {
  const at = Date.parse(time.slice(0, 19) + "Z");
  return !Number.isNaN(at) && new Date(at).toISOString().slice(0, 19) === time.slice(0, 19);
}

const utc = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

const adoptKey = (m: { namespace: string; name: string }) => `${m.namespace}/${m.name}`;

// ---- API -------------------------------------------------------------------------------------------------------

/**
 * spec.restoreFrom of the Database XR. There is no namespace field: the source is always a Database of the XR's own
 * namespace, so its author can never name another namespace's server. Strict, so a `namespace` written anyway is
 * refused where the schema is checked (the function, PR checks) rather than silently meaning this namespace.
 */
export const RestoreFrom = z
  .strictObject({
    database: z
      .string()
      .describe("A Database of this namespace whose server is restored. There is no namespace field: a restore never reaches another namespace.")
      .max(63)
      .regex(DNS_LABEL, "must be the name of a Database in this namespace (a lowercase DNS label)"),
    pointInTime: z
      .string()
      .describe("Time to restore to, RFC 3339 in UTC, e.g. 2026-11-24T09:30:00Z: not in the future, and within the source's backup retention.")
      .regex(RFC3339_UTC, { message: "must be an RFC 3339 time in UTC such as 2026-11-24T09:30:00Z", abort: true })
      .refine(exists, { message: "is not a date that exists" }),
  })
  .describe(
    "Create the server by a point-in-time restore of another Database's server of this namespace. " +
      "Used when the server is created; a later change is refused with a warning.",
  );

export type RestoreFrom = z.infer<typeof RestoreFrom>;

/** DBA policy: the subscription of the servers (the ProviderConfig's); a restore names its source by ARM id in it. */
export const SubscriptionId = z
  .string()
  .regex(UUID, "must be a subscription id (a UUID)")
  .describe("Subscription the servers live in; a restore names its source server by ARM id in it.");

/**
 * DBA policy: existing servers handed to Databases, keyed by <namespace>/<Database name>. Never in the XR: whoever
 * writes a Database could otherwise take over any server the provider's credentials reach. An adopted server keeps
 * its Azure name; naming.serverName ({hash} of namespace/name) only names servers the platform creates, and is what
 * keeps one namespace from ever generating another's name. Adoption bypasses it, so one server named by two entries
 * is refused (adoptionPlan).
 */
export const AdoptPolicy = z
  .record(
    z.string(),
    z.strictObject({
      serverName: z
        .string()
        .describe("The existing server's Azure name; the Database keeps it.")
        .min(SERVER_NAME_MIN)
        .max(SERVER_NAME_MAX)
        .regex(SERVER_NAME_PATTERN, "must be a server name: lowercase letters, digits and hyphens, not starting or ending with a hyphen"),
      resourceGroupName: z
        .string()
        .describe("Its resource group, when it is not the policy's resourceGroupName.")
        .regex(RESOURCE_GROUP_NAME, "is not a valid resource group name")
        .optional(),
    }),
  )
  // Checked here rather than by the key schema, whose message zod replaces with "Invalid key in record".
  .superRefine((entries, ctx) => {
    for (const key of Object.keys(entries).filter((k) => !NAMESPACED_NAME.test(k))) {
      ctx.addIssue({ code: "custom", path: [key], message: "must be <namespace>/<Database name>" });
    }
  })
  .default({})
  .describe(
    "Existing servers that Databases take over, by <namespace>/<Database name>: the Database observes the server first and " +
      "manages it once the provider has found it, never creating or recreating it. From then on it applies the Database's " +
      "spec and this policy to it, the admin password included.",
  );

export type AdoptPolicy = z.infer<typeof AdoptPolicy>;

// ---- restore ---------------------------------------------------------------------------------------------------

export const RESTORE_SOURCE_KEY = "restore-source";
export const DATABASE_API_VERSION = "azplatform.io/v1alpha1";
/** On the FlexibleServer: the Database it was restored from, so a later spec.restoreFrom can be compared with it. */
export const RESTORED_FROM_ANNOTATION = "azplatform.io/restored-from";

/**
 * forProvider fields left out of the create call of a restored server; emitted again once it exists.
 * - highAvailability: Azure restores a single server and ignores HA on a PITR create (see the top of the file); once
 *   the server exists, the provider enables it with an update.
 * - administratorLogin: the server comes with the source's admin, whose login can never change (ARM administratorLogin;
 *   azurerm forces a new server on any change, which the provider cannot do). See KEEP_FROM_AZURE.
 * - administratorPasswordSecretRef: the restored data holds the source's admin password. Sent at creation, the
 *   provider would take the Secret's password as applied whether or not Azure used it; added once the server exists,
 *   it is a change the provider applies by an update, so the Secret and the server agree.
 */
export const OMIT_ON_RESTORE = ["administratorLogin", "administratorPasswordSecretRef", "highAvailability"] as const;

/**
 * forProvider fields of a restored server whose value Azure took from the source, whatever was sent, and that the
 * provider can never change back (a login, geo-redundancy) or not downwards (storage, version): once the server
 * exists, emit status.atProvider's value for these where the spec or policy differs (notes §4 #1).
 */
export const KEEP_FROM_AZURE = ["administratorLogin", "geoRedundantBackupEnabled", "storageMb", "version"] as const;

export interface RestoreInitProvider {
  createMode: "PointInTimeRestore";
  pointInTimeRestoreTimeInUtc: string;
  sourceServerId: string;
}

/** What the create call of a restored server changes: fields to leave out, and the source's version and size. */
export interface RestoreOnCreate {
  omit: typeof OMIT_ON_RESTORE;
  /** The source's PostgreSQL version: the restored server runs it; any other would be an up- or downgrade right after. */
  version: string | undefined;
  /** The source's storage: the restored server has at least that, and storage cannot shrink. */
  storageGB: number | undefined;
}

export type RestoreRefusal = "RestoreRefused" | "RestoreSourceNotFound" | "RestoreTimeOutOfRange" | "InvalidPolicy";

export type RestorePlan =
  | { kind: "None"; warnings: string[] }
  /** Crossplane has not answered the restore-source requirement yet: ask for it, compose nothing new. */
  | { kind: "Lookup" }
  | { kind: "Waiting"; message: string }
  | { kind: "Refused"; reason: RestoreRefusal; message: string }
  | {
      kind: "Restore";
      /** Merged into the FlexibleServer's spec.initProvider on every call, the server's life long. */
      initProvider: RestoreInitProvider;
      /** Merged into the FlexibleServer's metadata.annotations. */
      annotations: Record<string, string>;
      /** Only while the create has not started. */
      onCreate: RestoreOnCreate | undefined;
      keepFromAzure: typeof KEEP_FROM_AZURE;
      /** ChangeRefused warnings. */
      warnings: string[];
    };

type Refused = Extract<RestorePlan, { kind: "Refused" }>;
const refuse = (reason: RestoreRefusal, message: string): Refused => ({ kind: "Refused", reason, message });

type Selector = { apiVersion: string; kind: string; matchName: string; namespace: string };
type RestoreXR = { metadata: { name: string; namespace: string }; spec: { restoreFrom?: RestoreFrom | undefined } };

/**
 * The source Database as a required resource, always in the XR's own namespace: the spec names a Database, never a
 * namespace. Ask for it on every call while spec.restoreFrom is set (restorePlan ignores the answer once the server
 * exists), so the requirements are the same on every call of a reconcile.
 */
export function restoreRequirement(xr: Pick<RestoreXR, "spec"> & { metadata: { namespace: string } }): Record<string, Selector> {
  const from = xr.spec.restoreFrom;
  if (from === undefined) return {};
  const selector = { apiVersion: DATABASE_API_VERSION, kind: "Database", matchName: from.database, namespace: xr.metadata.namespace };
  return { [RESTORE_SOURCE_KEY]: selector };
}

export interface RestoreInput {
  xr: RestoreXR;
  required: RunFunctionRequest["requiredResources"];
  /** The observed FlexibleServer (composition key "server"). */
  server: Observed;
  /** For the names it gives servers, and backup.retentionDays. */
  policy: DatabasePolicy;
  adopt: AdoptPolicy;
  subscriptionId: string | undefined;
  now: Date;
}

export function restorePlan(input: RestoreInput): RestorePlan {
  const { xr, server } = input;
  const wanted = xr.spec.restoreFrom;
  const key = adoptKey(xr.metadata);
  const adopted = input.adopt[key];
  if (createStarted(server)) return restoredAlready(wanted, server, adopted?.serverName);
  if (wanted === undefined) return { kind: "None", warnings: [] };
  if (adopted !== undefined) {
    const warning =
      `spec.restoreFrom: the DBA policy hands existing server ${adopted.serverName} to this Database (adopt["${key}"]); ` +
      "a restore creates a new server, so spec.restoreFrom is ignored";
    return { kind: "None", warnings: [warning] };
  }

  // Every refusal that needs no lookup first, all of them at once: a hostile spec is refused without a single read.
  const refusals = requestRefusals(input, wanted);
  const { subscriptionId } = input;
  if (refusals.length > 0 || subscriptionId === undefined) {
    return refuse(refusals[0]?.reason ?? "InvalidPolicy", refusals.map((r) => r.message).join("; "));
  }

  const answer = input.required[RESTORE_SOURCE_KEY];
  if (answer === undefined) return { kind: "Lookup" };
  const source = sourceServer(input, wanted.database, answer.items);
  if (source.kind !== "Found") return source;
  const rg = source.resourceGroupName;
  return {
    kind: "Restore",
    initProvider: {
      createMode: "PointInTimeRestore",
      pointInTimeRestoreTimeInUtc: wanted.pointInTime,
      sourceServerId: `/subscriptions/${subscriptionId.toLowerCase()}/resourceGroups/${rg}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${source.serverName}`,
    },
    annotations: { [RESTORED_FROM_ANNOTATION]: wanted.database },
    onCreate: { omit: OMIT_ON_RESTORE, version: source.version, storageGB: source.storageGB },
    keepFromAzure: KEEP_FROM_AZURE,
    warnings: [],
  };
}

const CREATE_PENDING = "crossplane.io/external-create-pending";
const CREATE_SUCCEEDED = "crossplane.io/external-create-succeeded";
const CREATE_FAILED = "crossplane.io/external-create-failed";

/**
 * Whether Azure may have started the create: from then on the restore is what the server was made from. Unlike
 * existsInAzure, a create that failed after its last attempt (Azure refused the time, say) leaves the restore open,
 * so the engineer can correct it and the provider tries again with the new values.
 */
function createStarted(server: Observed): boolean {
  if (read.str(server.atProvider.id) !== undefined || read.str(server.annotations[CREATE_SUCCEEDED]) !== undefined) return true;
  const pending = read.str(server.annotations[CREATE_PENDING]);
  const failed = read.str(server.annotations[CREATE_FAILED]);
  if (pending === undefined) return false;
  return failed === undefined || Date.parse(failed) < Date.parse(pending);
}

/**
 * After creation the restore fields are emitted as they were, whatever spec.restoreFrom says now. They matter only
 * when the server is created and Azure keeps no trace of them, so nothing would change in Azure either way. But the
 * provider keeps sourceServerId in its state (status.atProvider): dropped from the spec when the engineer removes
 * spec.restoreFrom, it would be a change of a ForceNew argument, which the provider refuses for good (Synced=False).
 * Kept in initProvider, the provider leaves them out of every later comparison. So removing spec.restoreFrom changes
 * nothing and says nothing; changing it is refused.
 */
function restoredAlready(wanted: RestoreFrom | undefined, server: Observed, adoptedServer: string | undefined): RestorePlan {
  const emitted = read.obj(read.obj(server.resource.spec).initProvider);
  const time = read.str(emitted.pointInTimeRestoreTimeInUtc);
  const sourceServerId = read.str(emitted.sourceServerId);
  if (emitted.createMode !== "PointInTimeRestore" || time === undefined || sourceServerId === undefined) {
    if (wanted === undefined) return { kind: "None", warnings: [] };
    const how = adoptedServer !== undefined ? `was adopted (existing server ${adoptedServer})` : "was created empty";
    const warning =
      `spec.restoreFrom: the server ${how}, not restored from Database ${wanted.database}; ` +
      "a restore happens only when a server is created, so it stays as it is";
    return { kind: "None", warnings: [warning] };
  }
  const recorded = read.str(server.annotations[RESTORED_FROM_ANNOTATION]);
  const otherSource = wanted !== undefined && recorded !== undefined && wanted.database !== recorded;
  const otherTime = wanted !== undefined && instant(wanted.pointInTime) !== instant(time);
  const warnings =
    wanted !== undefined && (otherSource || otherTime)
      ? [
          `spec.restoreFrom: the server was created by a restore of Database ${recorded ?? "(not recorded)"} at ${time}, ` +
            `not of ${wanted.database} at ${wanted.pointInTime}; a restore happens only when a server is created, so it stays`,
        ]
      : [];
  return {
    kind: "Restore",
    initProvider: { createMode: "PointInTimeRestore", pointInTimeRestoreTimeInUtc: time, sourceServerId },
    annotations: recorded !== undefined ? { [RESTORED_FROM_ANNOTATION]: recorded } : {},
    onCreate: undefined,
    keepFromAzure: KEEP_FROM_AZURE,
    warnings,
  };
}

function requestRefusals({ xr, policy, now, subscriptionId }: RestoreInput, wanted: RestoreFrom): Refused[] {
  const out: Refused[] = [];
  if (wanted.database === xr.metadata.name) {
    const message =
      `spec.restoreFrom.database: Database ${xr.metadata.name} cannot restore from itself: a restore creates its server from another one; ` +
      `name another Database of namespace ${xr.metadata.namespace}`;
    out.push(refuse("RestoreRefused", message));
  }
  // The backups the policy keeps. A source server younger than that has less: Azure refuses a time before its first
  // backup, which no field of a Database reports.
  const retention = policy.backup.retentionDays;
  const latest = now.getTime();
  const earliest = latest - retention * DAY_MS;
  const at = instant(wanted.pointInTime);
  const window = `choose a time between ${utc(earliest)} and ${utc(latest)} (UTC)`;
  const field = `spec.restoreFrom.pointInTime ${wanted.pointInTime}`;
  if (at > latest) {
    out.push(refuse("RestoreTimeOutOfRange", `${field} is in the future; ${window}`));
  } else if (!(at >= earliest)) {
    out.push(refuse("RestoreTimeOutOfRange", `${field} is older than the ${retention} days of backups the DBA policy keeps (backup.retentionDays); ${window}`));
  }
  if (subscriptionId === undefined) {
    out.push(refuse("InvalidPolicy", "the DBA policy sets no subscriptionId, which spec.restoreFrom needs to name the source server"));
  }
  return out;
}

/** The fields of the source Database read here; a Database this function composes always has these types. */
const SourceDatabase = z.object({
  metadata: z.object({ name: z.string(), namespace: z.string(), deletionTimestamp: z.string().optional() }),
  spec: z.object({ team: z.string() }),
  status: z
    .object({
      serverName: z.string().optional(),
      resourceGroupName: z.string().optional(),
      version: z.string().regex(/^[0-9]{2}$/).optional().catch(undefined),
      storageGB: z.number().refine((gb) => STORAGE_GB.includes(gb)).optional().catch(undefined),
      conditions: z.array(z.object({ type: z.string(), status: z.string() })).default([]),
    })
    .default({ conditions: [] }),
});

type SourceDatabase = z.infer<typeof SourceDatabase>;
type Found = { kind: "Found"; serverName: string; resourceGroupName: string; version: string | undefined; storageGB: number | undefined };

type Waiting = Extract<RestorePlan, { kind: "Waiting" }>;

function sourceServer(input: RestoreInput, database: string, items: Array<{ resource?: Record<string, unknown> }>): Found | Refused | Waiting {
  const { namespace } = input.xr.metadata;
  const meta = read.obj(items[0]?.resource?.metadata);
  const about = `spec.restoreFrom.database: Database ${database}`;
  // Crossplane looks in the namespace the function names; a Database from anywhere else, or more than the one asked
  // for, is never trusted.
  if (items.length !== 1 || meta.namespace !== namespace || meta.name !== database) {
    return refuse("RestoreSourceNotFound", `${about} does not exist in namespace ${namespace}; a Database restores only from the Databases of its own namespace`);
  }
  const waiting: Waiting = {
    kind: "Waiting",
    message: `waiting for Database ${database} to be ready and report its server (status.serverName, status.resourceGroupName)`,
  };
  const parsed = SourceDatabase.safeParse(items[0]?.resource);
  if (!parsed.success) return waiting;
  const source = parsed.data;
  if (source.metadata.deletionTimestamp !== undefined) {
    return refuse("RestoreRefused", `${about} is being deleted, and its server with it; restore from another Database`);
  }
  const { serverName: name, resourceGroupName, version, storageGB, conditions } = source.status;
  const ready = conditions.some((c) => c.type === "Ready" && c.status === "True");
  if (!ready || name === undefined || resourceGroupName === undefined) return waiting;
  // An XR's status is writable by whoever may edit it in the namespace (Crossplane's aggregate-to-ns-edit role
  // includes <plural>/status), and a paused XR keeps whatever is written there. So the server it reports must be one
  // it owns: the name the policy gives it, or the one the DBA team handed to it.
  const sourceKey = adoptKey(source.metadata);
  const owned = [expectedServerName(input.policy, source), input.adopt[sourceKey]?.serverName].filter((n) => n !== undefined);
  if (!owned.includes(name)) {
    return refuse(
      "RestoreRefused",
      `${about} reports server ${name}, which is not a server it owns (${owned.join(" or ") || "none"}); ` +
        `if ${name} is its server, named under an earlier naming pattern, the DBA team can confirm it with adopt["${sourceKey}"]`,
    );
  }
  if (!RESOURCE_GROUP_NAME.test(resourceGroupName)) {
    return refuse("RestoreRefused", `${about} reports resource group "${resourceGroupName}", which is not a resource group name`);
  }
  return { kind: "Found", serverName: name, resourceGroupName, version, storageGB };
}

function expectedServerName(policy: DatabasePolicy, source: SourceDatabase): string | undefined {
  // serverName() reads metadata.name, metadata.namespace and spec.team only; the rest of a Database does not name it.
  const named = serverName(policy, { metadata: source.metadata, spec: source.spec } as DatabaseXR);
  return named.ok ? named.value : undefined;
}

// ---- adoption --------------------------------------------------------------------------------------------------

/** Fields of an adopted server the Database must take from Azure, not from its spec or policy (notes §4 #1). */
export interface AdoptedServer {
  location?: string;
  resourceGroupName?: string;
  administratorLogin?: string;
  version?: string;
  storageMb?: number;
  geoRedundantBackupEnabled?: boolean;
  delegatedSubnetId?: string;
  privateDnsZoneId?: string;
  storageTier?: string;
  highAvailabilityMode?: string;
}

export type AdoptionPlan =
  | { kind: "None" }
  | { kind: "Refused"; reason: "AdoptionRefused"; message: string }
  | {
      kind: "Adopt";
      /** Observe: the provider has not found the server yet. Manage: it has; the Database takes it over. */
      phase: "Observe" | "Manage";
      /** crossplane.io/external-name of the FlexibleServer, instead of naming.serverName. */
      externalName: string;
      /** forProvider.resourceGroupName when the server is not in the policy's resource group. */
      resourceGroupName: string | undefined;
      /** While observing; undefined: the usual management policies. */
      managementPolicies: readonly ["Observe"] | undefined;
      /** Manage phase: what Azure reports (status.atProvider), to keep instead of the spec's create-only values. */
      current: AdoptedServer;
      message: string;
    };

export interface AdoptionInput {
  adopt: AdoptPolicy;
  xr: { metadata: { name: string; namespace: string } };
  /** The observed FlexibleServer (composition key "server"). */
  server: Observed;
}

const EXTERNAL_NAME = "crossplane.io/external-name";

/**
 * Adoption in two phases. First the FlexibleServer is Observe-only: the provider looks the server up by its external
 * name and never creates, updates or deletes it, however the rest of the spec reads. Once the provider reports it
 * (status.atProvider.id) the usual management policies return, so the server is taken over where it stands and never
 * recreated: the provider cannot replace a server, and a create-only field that differed would only wedge it, which
 * is why `current` lists them.
 */
export function adoptionPlan({ adopt, xr, server }: AdoptionInput): AdoptionPlan {
  const key = adoptKey(xr.metadata);
  const entry = adopt[key];
  if (entry === undefined) return { kind: "None" };
  const name = entry.serverName;
  const others = Object.entries(adopt)
    .filter(([k, e]) => k !== key && e.serverName === name)
    .map(([k]) => `adopt["${k}"]`)
    .sort();
  if (others.length > 0) {
    const message =
      `adopt["${key}"]: server ${name} is also named by ${others.join(", ")} of the DBA policy; a server belongs to one Database only, ` +
      "so no Database adopts it until the DBA team keeps one entry";
    return { kind: "Refused", reason: "AdoptionRefused", message };
  }
  const observedName = read.str(server.annotations[EXTERNAL_NAME]);
  if (existsInAzure(server) && observedName !== name) {
    const message = `adopt["${key}"]: this Database already has server ${observedName ?? "(unnamed)"}; a Database's server cannot change, so it cannot adopt ${name}`;
    return { kind: "Refused", reason: "AdoptionRefused", message };
  }
  const where = `${name}${entry.resourceGroupName !== undefined ? ` in resource group ${entry.resourceGroupName}` : ""}`;
  const adoption = { kind: "Adopt" as const, externalName: name, resourceGroupName: entry.resourceGroupName };
  if (read.str(server.atProvider.id) === undefined || observedName !== name) {
    const message = `observing existing server ${where} (DBA policy adopt["${key}"]); the Database takes it over once the provider has found it, and never creates it`;
    return { ...adoption, phase: "Observe", managementPolicies: ["Observe"], current: {}, message };
  }
  const message = `server ${where} is adopted (DBA policy adopt["${key}"])`;
  return { ...adoption, phase: "Manage", managementPolicies: undefined, current: azureFacts(server.atProvider), message };
}

function azureFacts(at: Record<string, unknown>): AdoptedServer {
  return {
    location: read.str(at.location),
    resourceGroupName: read.str(at.resourceGroupName),
    administratorLogin: read.str(at.administratorLogin),
    version: read.str(at.version),
    storageMb: read.num(at.storageMb),
    geoRedundantBackupEnabled: read.bool(at.geoRedundantBackupEnabled),
    delegatedSubnetId: read.str(at.delegatedSubnetId),
    privateDnsZoneId: read.str(at.privateDnsZoneId),
    storageTier: read.str(at.storageTier),
    highAvailabilityMode: read.str(read.obj(at.highAvailability).mode),
  };
}
