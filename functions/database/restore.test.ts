import { Ready, type RunFunctionRequest } from "@crossplane-org/function-sdk-typescript";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { azureValidator } from "../../test/support/schema.ts";
import { describeIssues } from "../shared/zod-errors.ts";
import { sortKeys } from "../shared/sort-keys.ts";
import { observedFrom } from "./observed.ts";
import { DatabasePolicy } from "./policy.ts";
import { flexibleServer } from "./resources.ts";
import { testPlan } from "./plan.fixture.ts";
import {
  AdoptPolicy,
  KEEP_FROM_AZURE,
  OMIT_ON_RESTORE,
  RestoreFrom,
  adoptionPlan,
  restorePlan,
  restoreRequirement,
  type AdoptionPlan,
  type RestoreInput,
  type RestorePlan,
  type RestoreRefusal,
} from "./restore.ts";

// ---- builders (kept beside the tests that use them) -------------------------------------------------------

type Json = Record<string, unknown>;

const NS = "team-payments";
const NOW = new Date("2026-11-24T12:00:00Z");
const SUBSCRIPTION = "00000000-0000-0000-0000-000000000001";
const NETWORK = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-net-prod/providers/Microsoft.Network`;
/** What the policy below names Database team-payments/orders of team payments. */
const SOURCE_SERVER = "pg-payments-orders-prod-edfe87";
const SOURCE_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-data-prod/providers/Microsoft.DBforPostgreSQL/flexibleServers/${SOURCE_SERVER}`;
/** What the policy names Database team-x/orders: another namespace's server. */
const OTHER_NAMESPACE_SERVER = "pg-payments-orders-prod-e592c4";
const LEGACY_SERVER = "pg-legacy-orders";
const ADOPTED_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-legacy/providers/Microsoft.DBforPostgreSQL/flexibleServers/${LEGACY_SERVER}`;
/** The policy keeps 14 days of backups. */
const WINDOW = "choose a time between 2026-11-10T12:00:00Z and 2026-11-24T12:00:00Z (UTC)";

const POLICY = DatabasePolicy.parse({
  apiVersion: "fn.azplatform.io/v1alpha1",
  kind: "DatabasePolicy",
  environment: "prod",
  location: "westeurope",
  resourceGroupName: "rg-data-prod",
  network: {
    delegatedSubnetId: `${NETWORK}/virtualNetworks/vnet-prod/subnets/postgres`,
    privateDnsZoneId: `${NETWORK}/privateDnsZones/prod.private.postgres.database.azure.com`,
  },
  backup: { retentionDays: 14 },
  versions: { allowed: ["15", "16", "17"], default: "16" },
  sizes: { medium: { skuName: "GP_Standard_D2ds_v5", storageGB: 128 } },
});

const FROM: RestoreFrom = { database: "orders", pointInTime: "2026-11-24T09:30:00Z" };

function xr(restoreFrom?: RestoreFrom, name = "orders-restore"): RestoreInput["xr"] {
  return { metadata: { name, namespace: NS }, spec: restoreFrom === undefined ? {} : { restoreFrom } };
}

/** Database team-payments/orders as Crossplane returns it: ready, reporting its server. */
function sourceDb(o: { metadata?: Json; status?: Json } = {}): Json {
  return {
    apiVersion: "azplatform.io/v1alpha1",
    kind: "Database",
    metadata: { name: "orders", namespace: NS, ...o.metadata },
    spec: { team: "payments", size: "medium" },
    status: {
      serverName: SOURCE_SERVER,
      resourceGroupName: "rg-data-prod",
      version: "16",
      storageGB: 128,
      connectionSecretName: "orders-db",
      conditions: [
        { type: "Synced", status: "True", reason: "ReconcileSuccess" },
        { type: "Ready", status: "True", reason: "Available" },
      ],
      ...o.status,
    },
  };
}

function answer(...items: Json[]): RunFunctionRequest["requiredResources"] {
  return { "restore-source": { items: items.map((resource) => ({ resource, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED })) } };
}

/** The observed FlexibleServer; none at all by default. */
function server(o: { annotations?: Json; initProvider?: Json; atProvider?: Json } = {}) {
  if (Object.keys(o).length === 0) return observedFrom(undefined);
  return observedFrom({
    apiVersion: "dbforpostgresql.azure.m.upbound.io/v1beta1",
    kind: "FlexibleServer",
    metadata: { name: "orders-restore-x7k2p", namespace: NS, annotations: { "crossplane.io/external-name": "pg-payments-orders-restore-prod-4b1c2d", ...o.annotations } },
    spec: { initProvider: o.initProvider ?? {}, forProvider: {} },
    status: { atProvider: o.atProvider ?? {} },
  });
}

const EMITTED = { createMode: "PointInTimeRestore", pointInTimeRestoreTimeInUtc: FROM.pointInTime, sourceServerId: SOURCE_ID, zone: "1" };
const RESTORED_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-data-prod/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-payments-orders-restore-prod-4b1c2d`;
/** A server the restore created: the provider has its id, and it carries what was emitted. */
const RESTORED = server({ annotations: { "azplatform.io/restored-from": "orders" }, initProvider: EMITTED, atProvider: { id: RESTORED_ID } });

function input(over: Partial<RestoreInput> = {}): RestoreInput {
  return { xr: xr(FROM), required: answer(sourceDb()), server: server(), policy: POLICY, adopt: {}, subscriptionId: SUBSCRIPTION, now: NOW, ...over };
}

function restore(o: { time?: string; id?: string; version?: string; storageGB?: number } = {}): RestorePlan {
  return {
    kind: "Restore",
    initProvider: { createMode: "PointInTimeRestore", pointInTimeRestoreTimeInUtc: o.time ?? FROM.pointInTime, sourceServerId: o.id ?? SOURCE_ID },
    annotations: { "azplatform.io/restored-from": "orders" },
    onCreate: { omit: OMIT_ON_RESTORE, version: "version" in o ? o.version : "16", storageGB: "storageGB" in o ? o.storageGB : 128 },
    keepFromAzure: KEEP_FROM_AZURE,
    warnings: [],
  };
}

/** The plan after creation: what was emitted, as it was. */
function kept(warnings: string[] = [], annotations: Record<string, string> = { "azplatform.io/restored-from": "orders" }): RestorePlan {
  return {
    kind: "Restore",
    initProvider: { createMode: "PointInTimeRestore", pointInTimeRestoreTimeInUtc: FROM.pointInTime, sourceServerId: SOURCE_ID },
    annotations,
    onCreate: undefined,
    keepFromAzure: KEEP_FROM_AZURE,
    warnings,
  };
}

const refused = (reason: RestoreRefusal, message: string): RestorePlan => ({ kind: "Refused", reason, message });
const notFound = refused(
  "RestoreSourceNotFound",
  "spec.restoreFrom.database: Database orders does not exist in namespace team-payments; a Database restores only from the Databases of its own namespace",
);
const waiting: RestorePlan = { kind: "Waiting", message: "waiting for Database orders to be ready and report its server (status.serverName, status.resourceGroupName)" };
const stays = (what: string) =>
  `spec.restoreFrom: the server was created by a restore of Database orders at 2026-11-24T09:30:00Z, not of ${what}; ` +
  "a restore happens only when a server is created, so it stays";
const SELF =
  "spec.restoreFrom.database: Database orders-restore cannot restore from itself: a restore creates its server from another one; " +
  "name another Database of namespace team-payments";

// ---- restorePlan ---------------------------------------------------------------------------------------------

const cases: Record<string, { input: RestoreInput; want: RestorePlan }> = {
  NoRestoreFrom: { input: input({ xr: xr() }), want: { kind: "None", warnings: [] } },
  AsksForTheSourceFirst: { input: input({ required: {} }), want: { kind: "Lookup" } },
  RestoresFromReadySourceOfItsNamespace: { input: input(), want: restore() },
  SubscriptionIdInAnyCaseNamedInLowercase: {
    input: input({ subscriptionId: "ABCDEF00-0000-0000-0000-00000000000A" }),
    want: restore({ id: SOURCE_ID.replace(SUBSCRIPTION, "abcdef00-0000-0000-0000-00000000000a") }),
  },
  WindowIncludesNow: { input: input({ xr: xr({ database: "orders", pointInTime: "2026-11-24T12:00:00Z" }) }), want: restore({ time: "2026-11-24T12:00:00Z" }) },
  WindowIncludesItsFirstMillisecond: {
    input: input({ xr: xr({ database: "orders", pointInTime: "2026-11-10T12:00:00.0004Z" }) }),
    want: restore({ time: "2026-11-10T12:00:00.0004Z" }),
  },
  // The restored server starts with the source's version and storage; values no Database could report are not used.
  SourceVersionAndStorageThatNoDatabaseReports: {
    input: input({ required: answer(sourceDb({ status: { version: "sixteen", storageGB: 100 } })) }),
    want: restore({ version: undefined, storageGB: undefined }),
  },

  // Refused before any lookup, all at once.
  RestoreFromItself: {
    input: input({ xr: xr({ database: "orders-restore", pointInTime: FROM.pointInTime }), required: {} }),
    want: refused("RestoreRefused", SELF),
  },
  TimeInTheFuture: {
    input: input({ xr: xr({ database: "orders", pointInTime: "2026-11-24T12:00:01Z" }), required: {} }),
    want: refused("RestoreTimeOutOfRange", `spec.restoreFrom.pointInTime 2026-11-24T12:00:01Z is in the future; ${WINDOW}`),
  },
  TimeOlderThanBackupRetention: {
    input: input({ xr: xr({ database: "orders", pointInTime: "2026-11-10T11:59:59.999Z" }), required: {} }),
    want: refused(
      "RestoreTimeOutOfRange",
      `spec.restoreFrom.pointInTime 2026-11-10T11:59:59.999Z is older than the 14 days of backups the DBA policy keeps (backup.retentionDays); ${WINDOW}`,
    ),
  },
  EveryRefusalAtOnce: {
    input: input({ xr: xr({ database: "orders-restore", pointInTime: "2027-01-01T00:00:00Z" }), subscriptionId: undefined, required: {} }),
    want: refused(
      "RestoreRefused",
      `${SELF}; spec.restoreFrom.pointInTime 2027-01-01T00:00:00Z is in the future; ${WINDOW}; ` +
        "the DBA policy sets no subscriptionId, which spec.restoreFrom needs to name the source server",
    ),
  },
  PolicyWithoutSubscription: {
    input: input({ subscriptionId: undefined }),
    want: refused("InvalidPolicy", "the DBA policy sets no subscriptionId, which spec.restoreFrom needs to name the source server"),
  },

  // The lookup's answer.
  SourceNotFound: { input: input({ required: answer() }), want: notFound },
  AnotherNamespacesDatabaseInTheAnswer: { input: input({ required: answer(sourceDb({ metadata: { namespace: "team-x" } })) }), want: notFound },
  AnotherDatabaseInTheAnswer: { input: input({ required: answer(sourceDb({ metadata: { name: "invoices" } })) }), want: notFound },
  MoreThanTheSourceInTheAnswer: { input: input({ required: answer(sourceDb(), sourceDb({ metadata: { namespace: "team-x" } })) }), want: notFound },
  SourceNotReady: {
    input: input({ required: answer(sourceDb({ status: { conditions: [{ type: "Ready", status: "False", reason: "Creating" }] } })) }),
    want: waiting,
  },
  SourceWithoutConditions: { input: input({ required: answer(sourceDb({ status: { conditions: undefined } })) }), want: waiting },
  SourceThatReportsNoServer: { input: input({ required: answer(sourceDb({ status: { serverName: undefined } })) }), want: waiting },
  SourceThatReportsNoResourceGroup: { input: input({ required: answer(sourceDb({ status: { resourceGroupName: undefined } })) }), want: waiting },
  SourceOfAnotherShape: { input: input({ required: answer({ ...sourceDb(), spec: { team: 7 } }) }), want: waiting },
  SourceBeingDeleted: {
    input: input({ required: answer(sourceDb({ metadata: { deletionTimestamp: "2026-11-24T11:00:00Z" } })) }),
    want: refused("RestoreRefused", "spec.restoreFrom.database: Database orders is being deleted, and its server with it; restore from another Database"),
  },
  // A namespace editor may write a Database's status (and keep it there by pausing the Database): the server it
  // reports must be the one it owns.
  SourceStatusNamingAnotherNamespacesServer: {
    input: input({ required: answer(sourceDb({ status: { serverName: OTHER_NAMESPACE_SERVER } })) }),
    want: refused(
      "RestoreRefused",
      `spec.restoreFrom.database: Database orders reports server ${OTHER_NAMESPACE_SERVER}, which is not a server it owns (${SOURCE_SERVER}); ` +
        `if ${OTHER_NAMESPACE_SERVER} is its server, named under an earlier naming pattern, the DBA team can confirm it with adopt["team-payments/orders"]`,
    ),
  },
  SourceStatusWithAPathForResourceGroup: {
    input: input({ required: answer(sourceDb({ status: { resourceGroupName: "rg-data-prod/providers/x/y/../rg-other" } })) }),
    want: refused(
      "RestoreRefused",
      'spec.restoreFrom.database: Database orders reports resource group "rg-data-prod/providers/x/y/../rg-other", which is not a resource group name',
    ),
  },
  SourceThatAdoptedItsServer: {
    input: input({ required: answer(sourceDb({ status: { serverName: LEGACY_SERVER } })), adopt: { "team-payments/orders": { serverName: LEGACY_SERVER } } }),
    want: restore({ id: SOURCE_ID.replace(SOURCE_SERVER, LEGACY_SERVER) }),
  },
  ThisDatabaseAdoptsAServer: {
    input: input({ adopt: { "team-payments/orders-restore": { serverName: LEGACY_SERVER } } }),
    want: {
      kind: "None",
      warnings: [
        `spec.restoreFrom: the DBA policy hands existing server ${LEGACY_SERVER} to this Database (adopt["team-payments/orders-restore"]); ` +
          "a restore creates a new server, so spec.restoreFrom is ignored",
      ],
    },
  },

  // Once the create has started, the restore is what the server was made from: emitted as it was, whatever the spec says.
  RestoredServerKeepsItsRestore: { input: input({ server: RESTORED, required: {} }), want: kept() },
  RestoreFromRemovedAfterCreation: { input: input({ xr: xr(), server: RESTORED }), want: kept() },
  SameTimeWrittenAnotherWay: { input: input({ xr: xr({ database: "orders", pointInTime: "2026-11-24T09:30:00.000Z" }), server: RESTORED }), want: kept() },
  SourceGoneAfterCreation: { input: input({ server: RESTORED, required: answer() }), want: kept() },
  SourceChangedAfterCreation: {
    input: input({ xr: xr({ database: "invoices", pointInTime: FROM.pointInTime }), server: RESTORED }),
    want: kept([stays("invoices at 2026-11-24T09:30:00Z")]),
  },
  TimeChangedAfterCreation: {
    input: input({ xr: xr({ database: "orders", pointInTime: "2026-11-24T10:00:00Z" }), server: RESTORED }),
    want: kept([stays("orders at 2026-11-24T10:00:00Z")]),
  },
  CreateInFlight: {
    input: input({
      xr: xr({ database: "orders", pointInTime: "2026-11-24T10:00:00Z" }),
      server: server({
        annotations: { "azplatform.io/restored-from": "orders", "crossplane.io/external-create-pending": "2026-11-24T11:00:00Z" },
        initProvider: EMITTED,
      }),
    }),
    want: kept([stays("orders at 2026-11-24T10:00:00Z")]),
  },
  CreateFailedBeforeTheLastAttempt: {
    input: input({
      xr: xr({ database: "orders", pointInTime: "2026-11-24T10:00:00Z" }),
      server: server({
        annotations: {
          "azplatform.io/restored-from": "orders",
          "crossplane.io/external-create-failed": "2026-11-24T10:59:00Z",
          "crossplane.io/external-create-pending": "2026-11-24T11:00:00Z",
        },
        initProvider: EMITTED,
      }),
    }),
    want: kept([stays("orders at 2026-11-24T10:00:00Z")]),
  },
  // Without the record of the source, only the time can be compared; what was emitted is kept as it is.
  RestoreWithoutItsRecord: {
    input: input({
      xr: xr({ database: "invoices", pointInTime: "2026-11-24T10:00:00Z" }),
      server: server({ initProvider: EMITTED, atProvider: { id: RESTORED_ID } }),
    }),
    want: kept(
      [
        "spec.restoreFrom: the server was created by a restore of Database (not recorded) at 2026-11-24T09:30:00Z, not of invoices at 2026-11-24T10:00:00Z; " +
          "a restore happens only when a server is created, so it stays",
      ],
      {},
    ),
  },
  // Azure refused the create (a time before the source's first backup, say): the engineer corrects it, the provider tries again.
  CreateFailedSoTheRestoreCanBeCorrected: {
    input: input({
      xr: xr({ database: "orders", pointInTime: "2026-11-24T10:00:00Z" }),
      server: server({
        annotations: { "crossplane.io/external-create-failed": "2026-11-24T11:00:05Z", "crossplane.io/external-create-pending": "2026-11-24T11:00:00Z" },
        initProvider: EMITTED,
      }),
    }),
    want: restore({ time: "2026-11-24T10:00:00Z" }),
  },
  RestoreAddedToAServerCreatedEmpty: {
    input: input({ server: server({ initProvider: { zone: "1" }, atProvider: { id: RESTORED_ID } }) }),
    want: {
      kind: "None",
      warnings: [
        "spec.restoreFrom: the server was created empty, not restored from Database orders; a restore happens only when a server is created, so it stays as it is",
      ],
    },
  },
  RestoreAddedToAnAdoptedServer: {
    input: input({
      adopt: { "team-payments/orders-restore": { serverName: LEGACY_SERVER } },
      server: server({ annotations: { "crossplane.io/external-name": LEGACY_SERVER }, atProvider: { id: ADOPTED_ID } }),
    }),
    want: {
      kind: "None",
      warnings: [
        `spec.restoreFrom: the server was adopted (existing server ${LEGACY_SERVER}), not restored from Database orders; ` +
          "a restore happens only when a server is created, so it stays as it is",
      ],
    },
  },
  NoRestoreOnAServerCreatedEmpty: { input: input({ xr: xr(), server: server({ atProvider: { id: RESTORED_ID } }) }), want: { kind: "None", warnings: [] } },
};

describe("restorePlan", () => {
  for (const [name, c] of Object.entries(cases)) it(name, () => expect(restorePlan(c.input)).toEqual(c.want));
});

describe("restoreRequirement", () => {
  const cases: Record<string, { xr: RestoreInput["xr"]; want: ReturnType<typeof restoreRequirement> }> = {
    NothingToLookUp: { xr: xr(), want: {} },
    // The spec names a Database only; the namespace is always the XR's own.
    SourceInTheXRsOwnNamespace: {
      xr: xr(FROM),
      want: { "restore-source": { apiVersion: "azplatform.io/v1alpha1", kind: "Database", matchName: "orders", namespace: NS } },
    },
  };
  for (const [name, c] of Object.entries(cases)) it(name, () => expect(restoreRequirement(c.xr)).toEqual(c.want));
});

describe("RestoreFrom", () => {
  const cases: Record<string, { value: Json; want: string }> = {
    TimeInUtc: { value: { database: "orders", pointInTime: "2026-11-24T09:30:00Z" }, want: "accepted" },
    TimeWithNanoseconds: { value: { database: "orders", pointInTime: "2026-11-24T09:30:00.123456789Z" }, want: "accepted" },
    LeapDay: { value: { database: "orders", pointInTime: "2028-02-29T00:00:00Z" }, want: "accepted" },
    TimeWithOffset: {
      value: { database: "orders", pointInTime: "2026-11-24T10:30:00+01:00" },
      want: "spec.restoreFrom.pointInTime: must be an RFC 3339 time in UTC such as 2026-11-24T09:30:00Z",
    },
    DateOnly: {
      value: { database: "orders", pointInTime: "2026-11-24" },
      want: "spec.restoreFrom.pointInTime: must be an RFC 3339 time in UTC such as 2026-11-24T09:30:00Z",
    },
    LeapSecond: {
      value: { database: "orders", pointInTime: "2026-12-31T23:59:60Z" },
      want: "spec.restoreFrom.pointInTime: must be an RFC 3339 time in UTC such as 2026-11-24T09:30:00Z",
    },
    DayThatDoesNotExist: { value: { database: "orders", pointInTime: "2026-02-29T00:00:00Z" }, want: "spec.restoreFrom.pointInTime: is not a date that exists" },
    DatabaseInAnotherNamespace: {
      value: { database: "team-x/orders", pointInTime: "2026-11-24T09:30:00Z" },
      want: "spec.restoreFrom.database: must be the name of a Database in this namespace (a lowercase DNS label)",
    },
    NamespaceField: { value: { database: "orders", namespace: "team-x", pointInTime: "2026-11-24T09:30:00Z" }, want: 'spec.restoreFrom: unknown field "namespace"' },
    NoTime: { value: { database: "orders" }, want: "spec.restoreFrom.pointInTime: Required value" },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const parsed = RestoreFrom.safeParse(c.value);
      expect(parsed.success ? "accepted" : describeIssues("spec.restoreFrom", parsed.error)).toEqual(c.want);
    });
  }

  // What the generated XRD holds: patterns Go's RE2 reads, no exclusive bounds; the refinement stays in the function.
  it("SchemaACrdCanHold", () => {
    expect(z.toJSONSchema(RestoreFrom, { target: "openapi-3.0", io: "input", unrepresentable: "any" })).toEqual({
      type: "object",
      description:
        "Create the server by a point-in-time restore of another Database's server of this namespace. " +
        "Used when the server is created; a later change is refused with a warning.",
      properties: {
        database: {
          type: "string",
          maxLength: 63,
          pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
          description: "A Database of this namespace whose server is restored. There is no namespace field: a restore never reaches another namespace.",
        },
        pointInTime: {
          type: "string",
          pattern: "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?Z$",
          description: "Time to restore to, RFC 3339 in UTC, e.g. 2026-11-24T09:30:00Z: not in the future, and within the source's backup retention.",
        },
      },
      required: ["database", "pointInTime"],
      additionalProperties: false,
    });
  });
});

// ---- adoption --------------------------------------------------------------------------------------------------

const ADOPT: AdoptPolicy = { "team-payments/orders": { serverName: LEGACY_SERVER } };
const LEGACY_MR = server({ annotations: { "crossplane.io/external-name": LEGACY_SERVER } });
/** The first phase of adopting pg-legacy-orders (in `where`). */
function observing(where = "pg-legacy-orders", resourceGroupName?: string): AdoptionPlan {
  return {
    kind: "Adopt",
    phase: "Observe",
    externalName: LEGACY_SERVER,
    resourceGroupName,
    managementPolicies: ["Observe"],
    current: {},
    message: `observing existing server ${where} (DBA policy adopt["team-payments/orders"]); the Database takes it over once the provider has found it, and never creates it`,
  };
}

const adoptions: Record<string, { adopt: AdoptPolicy; server?: ReturnType<typeof server>; want: AdoptionPlan }> = {
  NotAdopted: { adopt: { "team-x/orders": { serverName: LEGACY_SERVER } }, want: { kind: "None" } },
  ObservesBeforeTheServerIsComposed: {
    adopt: ADOPT,
    want: observing(),
  },
  ObservesUntilTheProviderReportsTheServer: {
    adopt: ADOPT,
    server: LEGACY_MR,
    want: observing(),
  },
  ObservesInTheResourceGroupTheDbaNames: {
    adopt: { "team-payments/orders": { serverName: LEGACY_SERVER, resourceGroupName: "rg-legacy" } },
    want: observing("pg-legacy-orders in resource group rg-legacy", "rg-legacy"),
  },
  // An id the provider reported for the generated name is not the adopted server's.
  ObservesWhileTheExternalNameIsAnother: {
    adopt: ADOPT,
    server: server({ annotations: { "crossplane.io/external-name": SOURCE_SERVER, "crossplane.io/external-create-failed": "2026-11-24T11:00:00Z" } }),
    want: observing(),
  },
  TakesOverOnceObserved: {
    adopt: { "team-payments/orders": { serverName: LEGACY_SERVER, resourceGroupName: "rg-legacy" } },
    server: server({
      annotations: { "crossplane.io/external-name": LEGACY_SERVER },
      atProvider: {
        id: ADOPTED_ID,
        location: "westeurope",
        resourceGroupName: "rg-legacy",
        administratorLogin: "legacyadmin",
        version: "14",
        storageMb: 262144,
        geoRedundantBackupEnabled: true,
        delegatedSubnetId: `${NETWORK}/virtualNetworks/vnet-legacy/subnets/postgres`,
        highAvailability: { mode: "SameZone", standbyAvailabilityZone: "1" },
        fqdn: `${LEGACY_SERVER}.postgres.database.azure.com`,
      },
    }),
    want: {
      kind: "Adopt",
      phase: "Manage",
      externalName: LEGACY_SERVER,
      resourceGroupName: "rg-legacy",
      managementPolicies: undefined,
      current: {
        location: "westeurope",
        resourceGroupName: "rg-legacy",
        administratorLogin: "legacyadmin",
        version: "14",
        storageMb: 262144,
        geoRedundantBackupEnabled: true,
        delegatedSubnetId: `${NETWORK}/virtualNetworks/vnet-legacy/subnets/postgres`,
        highAvailabilityMode: "SameZone",
      },
      message: 'server pg-legacy-orders in resource group rg-legacy is adopted (DBA policy adopt["team-payments/orders"])',
    },
  },
  ServerAlsoNamedForAnotherNamespace: {
    adopt: { ...ADOPT, "team-x/orders": { serverName: LEGACY_SERVER } },
    want: {
      kind: "Refused",
      reason: "AdoptionRefused",
      message:
        'adopt["team-payments/orders"]: server pg-legacy-orders is also named by adopt["team-x/orders"] of the DBA policy; a server belongs to one Database only, ' +
        "so no Database adopts it until the DBA team keeps one entry",
    },
  },
  ServerNamedThreeTimes: {
    adopt: { ...ADOPT, "team-x/legacy": { serverName: LEGACY_SERVER }, "team-payments/orders-2": { serverName: LEGACY_SERVER } },
    want: {
      kind: "Refused",
      reason: "AdoptionRefused",
      message:
        'adopt["team-payments/orders"]: server pg-legacy-orders is also named by adopt["team-payments/orders-2"], adopt["team-x/legacy"] of the DBA policy; ' +
        "a server belongs to one Database only, so no Database adopts it until the DBA team keeps one entry",
    },
  },
  DatabaseThatAlreadyHasItsServer: {
    adopt: ADOPT,
    server: server({ annotations: { "crossplane.io/external-name": SOURCE_SERVER }, atProvider: { id: SOURCE_ID } }),
    want: {
      kind: "Refused",
      reason: "AdoptionRefused",
      message: `adopt["team-payments/orders"]: this Database already has server ${SOURCE_SERVER}; a Database's server cannot change, so it cannot adopt ${LEGACY_SERVER}`,
    },
  },
};

describe("adoptionPlan", () => {
  for (const [name, c] of Object.entries(adoptions)) {
    it(name, () => expect(adoptionPlan({ adopt: c.adopt, xr: xr(undefined, "orders"), server: c.server ?? server() })).toEqual(c.want));
  }
});

describe("AdoptPolicy", () => {
  const cases: Record<string, { value: unknown; want: string }> = {
    ServerByNamespaceAndName: { value: { "team-payments/orders": { serverName: LEGACY_SERVER, resourceGroupName: "rg-legacy" } }, want: "accepted" },
    None: { value: undefined, want: "accepted" },
    KeyWithoutNamespace: { value: { orders: { serverName: LEGACY_SERVER } }, want: "adopt.orders: must be <namespace>/<Database name>" },
    ServerNameAzureRefuses: {
      value: { "team-payments/orders": { serverName: "PG_Legacy" } },
      want: "adopt.team-payments/orders.serverName: must be a server name: lowercase letters, digits and hyphens, not starting or ending with a hyphen",
    },
    UnknownField: {
      value: { "team-payments/orders": { serverName: LEGACY_SERVER, subscriptionId: SUBSCRIPTION } },
      want: 'adopt.team-payments/orders: unknown field "subscriptionId"',
    },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const parsed = AdoptPolicy.safeParse(c.value);
      expect(parsed.success ? "accepted" : describeIssues("adopt", parsed.error)).toEqual(c.want);
    });
  }
});

// ---- what the caller composes fits the provider's CRD --------------------------------------------------------

describe("FlexibleServer", () => {
  const plan = testPlan({ name: "pg-payments-orders-restore-prod-4b1c2d", highAvailabilityMode: "ZoneRedundant", zone: "1", secretName: "orders-restore-db" });

  const azure = azureValidator();

  it("RestoredOnCreate", () => {
    const plan_ = restorePlan(input());
    if (plan_.kind !== "Restore" || plan_.onCreate === undefined) throw new Error(`unexpected ${plan_.kind}`);
    const base = flexibleServer(plan);
    const { omit } = plan_.onCreate;
    const forProvider = Object.fromEntries(Object.entries(base.spec.forProvider).filter(([k]) => !(omit as readonly string[]).includes(k)));
    const doc = {
      ...base,
      metadata: { ...base.metadata, annotations: { ...base.metadata.annotations, ...plan_.annotations } },
      spec: { ...base.spec, initProvider: sortKeys({ ...base.spec.initProvider, ...plan_.initProvider }), forProvider },
    };
    expect(doc.spec.initProvider).toEqual({ createMode: "PointInTimeRestore", pointInTimeRestoreTimeInUtc: FROM.pointInTime, sourceServerId: SOURCE_ID, zone: "1" });
    expect(azure.validate(doc)).toEqual([]);
  });

  it("ObservedBeforeAdoption", () => {
    const adoption = adoptionPlan({ adopt: ADOPT, xr: xr(undefined, "orders"), server: server() });
    if (adoption.kind !== "Adopt" || adoption.managementPolicies === undefined) throw new Error(`unexpected ${adoption.kind}`);
    const base = flexibleServer({ ...plan, name: adoption.externalName });
    const doc = { ...base, spec: { ...base.spec, managementPolicies: [...adoption.managementPolicies] } };
    expect(azure.validate(doc)).toEqual([]);
  });
});
