import { testPlan } from "./plan.fixture.ts";
import { describe, expect, it } from "vitest";
import { azureValidator } from "../../test/support/schema.ts";
import { describeIssues } from "../shared/zod-errors.ts";
import { AlertsPolicy, alertsRefusals, defaultMaxConnections, monitoring, type Monitoring } from "./alerts.ts";
import type { ServerPlan } from "./resources.ts";

// ---- builders (kept beside the tests that use them) -------------------------------------------------------

type Json = Record<string, unknown>;

const SUBSCRIPTION = "00000000-0000-0000-0000-000000000001";
const ACTION_GROUP = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-monitoring/providers/Microsoft.Insights/actionGroups/ag-payments`;
const WORKSPACE = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-monitoring/providers/Microsoft.OperationalInsights/workspaces/law-platform`;
const SERVER = "pg-payments-orders-prod-edfe87";
const SERVER_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-data-prod/providers/Microsoft.DBforPostgreSQL/flexibleServers/${SERVER}`;
const TAGS = { environment: "prod", "managed-by": "crossplane", team: "payments" };
const GiB = 2 ** 30;

function plan(over: Partial<ServerPlan> = {}): ServerPlan {
  return testPlan({ tags: TAGS, ...over });
}

function alerts(over: Json = {}): AlertsPolicy {
  return AlertsPolicy.parse({ subscriptionId: SUBSCRIPTION, actionGroups: { "team-payments": ACTION_GROUP }, ...over });
}

interface AlertWant {
  metricName: string;
  aggregation: string;
  operator: string;
  threshold: number;
  severity: number;
  windowSize: string;
  frequency: string;
  says: string;
}

/** The alerts the default policy composes for SERVER (GP_Standard_D2ds_v5: max_connections 859). */
const DEFAULTS: Record<string, AlertWant> = {
  cpu: {
    metricName: "cpu_percent",
    aggregation: "Average",
    operator: "GreaterThan",
    threshold: 80,
    severity: 2,
    windowSize: "PT15M",
    frequency: "PT5M",
    says: "CPU above 80%, average over 15 minutes",
  },
  memory: {
    metricName: "memory_percent",
    aggregation: "Average",
    operator: "GreaterThan",
    threshold: 90,
    severity: 2,
    windowSize: "PT15M",
    frequency: "PT5M",
    says: "memory above 90%, average over 15 minutes",
  },
  storage: {
    metricName: "storage_percent",
    aggregation: "Average",
    operator: "GreaterThan",
    threshold: 80,
    severity: 2,
    windowSize: "PT15M",
    frequency: "PT5M",
    says: "storage above 80% used, average over 15 minutes",
  },
  iops: {
    metricName: "disk_iops_consumed_percentage",
    aggregation: "Average",
    operator: "GreaterThan",
    threshold: 90,
    severity: 2,
    windowSize: "PT15M",
    frequency: "PT5M",
    says: "disk IOPS above 90% of the disk's limit, average over 15 minutes",
  },
  "failed-connections": {
    metricName: "connections_failed",
    aggregation: "Total",
    operator: "GreaterThan",
    threshold: 10,
    severity: 3,
    windowSize: "PT15M",
    frequency: "PT5M",
    says: "more than 10 failed connections, total over 15 minutes",
  },
  "active-connections": {
    metricName: "active_connections",
    aggregation: "Maximum",
    operator: "GreaterThan",
    threshold: 687,
    severity: 2,
    windowSize: "PT5M",
    frequency: "PT1M",
    says: "more than 687 connections, maximum over 5 minutes",
  },
  "server-alive": {
    metricName: "is_db_alive",
    aggregation: "Maximum",
    operator: "LessThan",
    threshold: 1,
    severity: 1,
    windowSize: "PT5M",
    frequency: "PT1M",
    says: "database not alive, maximum over 5 minutes",
  },
  "storage-free": {
    metricName: "storage_free",
    aggregation: "Minimum",
    operator: "LessThan",
    threshold: 10 * GiB,
    severity: 1,
    windowSize: "PT15M",
    frequency: "PT5M",
    says: "less than 10 GiB storage free (read-only below 5 GiB), minimum over 15 minutes",
  },
  "transaction-id-wraparound": {
    metricName: "maximum_used_transactionIDs",
    aggregation: "Maximum",
    operator: "GreaterThan",
    threshold: 1_000_000_000,
    severity: 1,
    windowSize: "PT1H",
    frequency: "PT15M",
    says: "more than 1,000,000,000 transaction IDs used (writes stop near 2.1 billion; vacuum to freeze), maximum over 1 hour",
  },
};

const METADATA = { namespace: "team-payments", labels: { "azplatform.io/team": "payments" } };
const ENVELOPE = { managementPolicies: ["Observe", "Create", "Update", "Delete"], providerConfigRef: { kind: "ClusterProviderConfig", name: "default" } };

function alert(suffix: string, w: AlertWant): Json {
  return {
    apiVersion: "insights.azure.m.upbound.io/v1beta1",
    kind: "MonitorMetricAlert",
    metadata: { ...METADATA, annotations: { "crossplane.io/external-name": `${SERVER}-${suffix}` } },
    spec: {
      ...ENVELOPE,
      forProvider: {
        action: [{ actionGroupId: ACTION_GROUP }],
        autoMitigate: true,
        criteria: [
          {
            aggregation: w.aggregation,
            metricName: w.metricName,
            metricNamespace: "Microsoft.DBforPostgreSQL/flexibleServers",
            operator: w.operator,
            threshold: w.threshold,
          },
        ],
        description: `PostgreSQL server ${SERVER} (namespace team-payments): ${w.says}`,
        enabled: true,
        frequency: w.frequency,
        resourceGroupName: "rg-data-prod",
        scopes: [SERVER_ID],
        severity: w.severity,
        tags: TAGS,
        windowSize: w.windowSize,
      },
    },
  };
}

/** Every default alert by composition key, with some changed (`null` leaves one out), plus any extra resources. */
function composed(changes: Record<string, Partial<AlertWant> | null> = {}, extra: Record<string, Json> = {}): Record<string, Json> {
  const out: Record<string, Json> = { ...extra };
  for (const [suffix, w] of Object.entries(DEFAULTS)) {
    const change = changes[suffix];
    if (change !== null) out[`alert-${suffix}`] = alert(suffix, { ...w, ...change });
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

function diagnostics(categories: string[]): Json {
  return {
    apiVersion: "insights.azure.m.upbound.io/v1beta1",
    kind: "MonitorDiagnosticSetting",
    metadata: METADATA,
    spec: {
      ...ENVELOPE,
      forProvider: {
        enabledLog: categories.map((category) => ({ category })),
        logAnalyticsDestinationType: "Dedicated",
        logAnalyticsWorkspaceId: WORKSPACE,
        name: "azplatform",
        targetResourceId: SERVER_ID,
      },
    },
  };
}

const ALL_LOGS = [
  "PostgreSQLFlexDatabaseXacts",
  "PostgreSQLFlexPGBouncer",
  "PostgreSQLFlexQueryStoreRuntime",
  "PostgreSQLFlexQueryStoreWaitStats",
  "PostgreSQLFlexSessions",
  "PostgreSQLFlexTableStats",
  "PostgreSQLLogs",
  "PostgreSQLQueryStoreSqlText",
];

/** The default alerts of a server on `skuName`, whose active connections alert fires above `threshold`. */
const onSku = (skuName: string, threshold: number) => ({
  plan: plan({ skuName }),
  alerts: alerts(),
  want: { resources: composed({ "active-connections": activeConnections(threshold) }), warnings: [] },
});

const activeConnections = (threshold: number) => ({ threshold, says: `more than ${threshold.toLocaleString("en-US")} connections, maximum over 5 minutes` });

// ---- monitoring(): policy and plan in, composed resources and warnings out ---------------------------------

const cases: Record<string, { plan?: ServerPlan; alerts: AlertsPolicy; serverParameters?: Record<string, string>; want: Monitoring }> = {
  DefaultPolicyComposesEveryAlert: { alerts: alerts(), want: { resources: composed(), warnings: [] } },
  TunedThresholdsAndSeverities: {
    alerts: alerts({
      cpu: { threshold: 90, severity: 1 },
      failedConnections: { threshold: 50 },
      activeConnections: { threshold: 90, severity: 1 },
      storageFree: { threshold: 20 * GiB, severity: 0 },
      transactionIdWraparound: { threshold: 1_200_000_000, severity: 0 },
    }),
    want: {
      resources: composed({
        cpu: { threshold: 90, severity: 1, says: "CPU above 90%, average over 15 minutes" },
        "failed-connections": { threshold: 50, says: "more than 50 failed connections, total over 15 minutes" },
        "active-connections": { ...activeConnections(773), severity: 1 },
        "storage-free": { threshold: 20 * GiB, severity: 0, says: "less than 20 GiB storage free (read-only below 5 GiB), minimum over 15 minutes" },
        "transaction-id-wraparound": {
          threshold: 1_200_000_000,
          severity: 0,
          says: "more than 1,200,000,000 transaction IDs used (writes stop near 2.1 billion; vacuum to freeze), maximum over 1 hour",
        },
      }),
      warnings: [],
    },
  },
  DisabledAlertsLeftOut: {
    alerts: alerts({ serverAlive: { enabled: false }, iops: { enabled: false, severity: 0 } }),
    want: { resources: composed({ "server-alive": null, iops: null }), warnings: [] },
  },
  // B1ms: 50 connections, 80% is 40; B2s 429 → 343; D4ds_v5 1718 → 1374; E8ds_v5 5000 → 4000 (concepts-limits).
  ActiveConnectionsFromBurstableB1ms: onSku("B_Standard_B1ms", 40),
  ActiveConnectionsFromBurstableB2s: onSku("B_Standard_B2s", 343),
  ActiveConnectionsFromGeneralPurposeD4: onSku("GP_Standard_D4ds_v5", 1374),
  ActiveConnectionsFromMemoryOptimizedE8: onSku("MO_Standard_E8ds_v5", 4000),
  // Refusing would stop every Database of that size over a missing monitor the engineer cannot fix; guessing could page
  // too late. So the one alert is left out and the DBA team told how to bring it back.
  ActiveConnectionsLeftOutForSkuMissingFromTable: {
    plan: plan({ skuName: "GP_Standard_D2ds_v6" }),
    alerts: alerts(),
    want: {
      resources: composed({ "active-connections": null }),
      warnings: [
        "policy alerts.maxConnectionsBySku has no max_connections for SKU GP_Standard_D2ds_v6, and Azure's table of defaults (concepts-limits) " +
          `does not list it; the active connections alert of server ${SERVER} is left out until the DBA team adds it`,
      ],
    },
  },
  ActiveConnectionsFromPolicyTableOfSkus: {
    plan: plan({ skuName: "GP_Standard_D2ds_v6" }),
    alerts: alerts({ maxConnectionsBySku: { GP_Standard_D2ds_v6: 859 } }),
    want: { resources: composed({ "active-connections": activeConnections(687) }), warnings: [] },
  },
  ActiveConnectionsFromServerParameter: {
    alerts: alerts(),
    serverParameters: { max_connections: "200", require_secure_transport: "on" },
    want: { resources: composed({ "active-connections": activeConnections(160) }), warnings: [] },
  },
  WorkspaceComposesDiagnosticSetting: {
    alerts: alerts({ logAnalyticsWorkspaceId: WORKSPACE }),
    want: { resources: composed({}, { diagnostics: diagnostics(ALL_LOGS) }), warnings: [] },
  },
  WorkspaceWithChosenLogCategories: {
    alerts: alerts({ logAnalyticsWorkspaceId: WORKSPACE, logCategories: ["PostgreSQLLogs", "PostgreSQLFlexDatabaseXacts", "PostgreSQLLogs"] }),
    want: { resources: composed({}, { diagnostics: diagnostics(["PostgreSQLFlexDatabaseXacts", "PostgreSQLLogs"]) }), warnings: [] },
  },
  ActionGroupAndWorkspaceIdsInAnyCaseEmittedCanonical: {
    alerts: alerts({
      subscriptionId: SUBSCRIPTION.toUpperCase(),
      actionGroups: { "team-payments": ACTION_GROUP.replace("/resourceGroups/", "/resourcegroups/").replace("Microsoft.Insights", "microsoft.insights") },
      logAnalyticsWorkspaceId: WORKSPACE.replace("Microsoft.OperationalInsights", "microsoft.operationalinsights"),
    }),
    want: { resources: composed({}, { diagnostics: diagnostics(ALL_LOGS) }), warnings: [] },
  },
  NamespaceWithoutActionGroupGetsNoAlerts: {
    plan: plan({ namespace: "team-x" }),
    alerts: alerts({ logAnalyticsWorkspaceId: WORKSPACE }),
    want: { resources: { diagnostics: { ...diagnostics(ALL_LOGS), metadata: { ...METADATA, namespace: "team-x" } } }, warnings: [] },
  },
};

describe("monitoring", () => {
  const azure = azureValidator();
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const got = monitoring({ plan: c.plan ?? plan(), alerts: c.alerts, serverParameters: c.serverParameters ?? {} });
      expect(got).toEqual(c.want);
      for (const [key, doc] of Object.entries(got.resources)) expect({ key, problems: azure.validate(doc) }).toEqual({ key, problems: [] });
    });
  }
});

describe("defaultMaxConnections", () => {
  const table: Record<string, number | undefined> = {
    B_Standard_B1ms: 50,
    B_Standard_B2s: 429,
    B_Standard_B2ms: 859,
    B_Standard_B4ms: 1718,
    GP_Standard_D2ds_v5: 859,
    GP_Standard_D4ds_v5: 1718,
    GP_Standard_D8ds_v4: 3437,
    GP_Standard_D16s_v3: 5000,
    MO_Standard_E2ds_v5: 1718,
    MO_Standard_E8ds_v5: 5000,
    GP_Standard_D2ds_v6: undefined,
  };
  for (const [sku, want] of Object.entries(table)) it(sku, () => expect(defaultMaxConnections(sku)).toBe(want));
});

describe("alertsRefusals", () => {
  const cases: Record<string, { alerts: AlertsPolicy | undefined; namespace: string; want: ReturnType<typeof alertsRefusals> }> = {
    NoAlertsBlockRefusesNothing: { alerts: undefined, namespace: "team-x", want: [] },
    NamespaceWithActionGroup: { alerts: alerts(), namespace: "team-payments", want: [] },
    // Routing is by namespace: a Database whose spec.team names a team with an action group gains nothing from it.
    NamespaceWithoutActionGroup: {
      alerts: alerts(),
      namespace: "team-x",
      want: [
        {
          reason: "NoActionGroup",
          message:
            "metadata.namespace: team-x has no action group in the DBA policy's alerts.actionGroups; every server's alerts must reach its team, " +
            "so the DBA team must add one before Databases in team-x can be composed",
        },
      ],
    },
  };
  for (const [name, c] of Object.entries(cases)) it(name, () => expect(alertsRefusals(c.alerts, c.namespace)).toEqual(c.want));
});

describe("AlertsPolicy refuses", () => {
  const cases: Record<string, { over: Json; want: string }> = {
    AzureBaselineWraparoundThresholdAboveTheCeiling: {
      over: { transactionIdWraparound: { threshold: 10_700_000_000 } },
      want:
        "alerts.transactionIdWraparound.threshold: must be at most 1,500,000,000: " +
        "PostgreSQL stops assigning transaction IDs before 2^31 (about 2.1 billion) are in use, " +
        "so a higher threshold leaves too little time to vacuum, and one above 2.1 billion can never fire",
    },
    WraparoundThresholdThatFiresOnHealthyServers: {
      over: { transactionIdWraparound: { threshold: 100_000_000 } },
      want:
        "alerts.transactionIdWraparound.threshold: must be at least 500,000,000: " +
        "autovacuum freezes from 200 million (autovacuum_freeze_max_age) on, so lower thresholds fire on healthy servers",
    },
    ActionGroupIdOfAnotherResourceType: {
      over: { actionGroups: { "team-payments": WORKSPACE } },
      want:
        "alerts.actionGroups.team-payments: must be the ARM id of an action group " +
        "(/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Insights/actionGroups/<name>)",
    },
    WorkspaceIdThatIsAName: {
      over: { logAnalyticsWorkspaceId: "law-platform" },
      want:
        "alerts.logAnalyticsWorkspaceId: must be the ARM id of a Log Analytics workspace " +
        "(/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.OperationalInsights/workspaces/<name>)",
    },
    SeverityOutsideAzureRange: { over: { cpu: { severity: 5 } }, want: "alerts.cpu.severity: Too big: expected number to be <=4" },
    UnknownAlert: { over: { deadlocks: { enabled: true } }, want: 'alerts: unknown field "deadlocks"' },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const parsed = AlertsPolicy.safeParse({ subscriptionId: SUBSCRIPTION, actionGroups: { "team-payments": ACTION_GROUP }, ...c.over });
      expect(parsed.success ? "accepted" : describeIssues("alerts", parsed.error)).toEqual(c.want);
    });
  }
});
