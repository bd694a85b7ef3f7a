// A Database's default Azure Monitor alerts and log export: the DBA policy block (alerts), its refusals, and pure
// builders of the MonitorMetricAlert and MonitorDiagnosticSetting managed resources.
// Metric names, units and aggregations: learn.microsoft.com/azure/postgresql/monitor/concepts-monitoring and
// learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/microsoft-dbforpostgresql-flexibleservers-metrics.
import { z } from "zod";
import { SKU_PATTERN } from "./azure.ts";
import type { Refusal } from "./fn.ts";
import { metadata, type ServerPlan } from "./resources.ts";
import { sortKeys } from "../shared/sort-keys.ts";
import { NAMESPACE_NAME, UUID, UUID_SOURCE } from "../shared/patterns.ts";

export const MONITOR_API = "insights.azure.m.upbound.io/v1beta1";
const METRIC_NAMESPACE = "Microsoft.DBforPostgreSQL/flexibleServers";

const ACTION_GROUP_TYPE = "Microsoft.Insights/actionGroups";
const WORKSPACE_TYPE = "Microsoft.OperationalInsights/workspaces";
const armIdShape = (type: string) => `/subscriptions/<id>/resourceGroups/<rg>/providers/${type}/<name>`;
/**
 * Fixed segments match in any case, as Azure itself returns them (microsoft.insights, resourcegroups). Inline (?i:)
 * groups rather than a flag, so the pattern means the same in the generated CRD (Go RE2). Groups: subscription,
 * resource group, name.
 */
const armId = (type: string, name: string) =>
  new RegExp(`^/(?i:subscriptions)/(${UUID_SOURCE})/(?i:resourceGroups)/([-\\w._()]{1,90})/(?i:providers/${type.replaceAll(".", "\\.")})/(${name})$`);
export const ACTION_GROUP_ID = armId(ACTION_GROUP_TYPE, String.raw`[^/:<>+&%\\?]{1,260}`);
export const WORKSPACE_ID = armId(WORKSPACE_TYPE, "[a-zA-Z0-9][a-zA-Z0-9-]{2,61}[a-zA-Z0-9]");

/**
 * Log categories of Microsoft.DBforPostgreSQL/flexibleServers (learn.microsoft.com/azure/postgresql/monitor/
 * how-to-configure-and-access-logs, July 2026). PostgreSQLLogs carries the server log, pgaudit included.
 */
export const LOG_CATEGORIES = [
  "PostgreSQLLogs",
  "PostgreSQLFlexSessions",
  "PostgreSQLFlexQueryStoreRuntime",
  "PostgreSQLFlexQueryStoreWaitStats",
  "PostgreSQLQueryStoreSqlText",
  "PostgreSQLFlexTableStats",
  "PostgreSQLFlexDatabaseXacts",
  "PostgreSQLFlexPGBouncer",
] as const;

/** One diagnostic setting per server, so a constant name is unique (names are scoped to the target resource). */
export const DIAGNOSTIC_SETTING_NAME = "azplatform";

// ---- max_connections -------------------------------------------------------------------------------------------

/**
 * Azure's default max_connections per compute size (learn.microsoft.com/azure/postgresql/configure-maintain/
 * concepts-limits, "Maximum connections", 2025-11-13). The docs also give a formula, but from memory, which no SKU
 * name carries; a size missing here (e.g. the v6 series) is left to alerts.maxConnectionsBySku rather than guessed.
 */
const MAX_CONNECTIONS: Readonly<Record<string, number>> = Object.fromEntries(
  (
    [
      [50, "B1ms"],
      [429, "B2s"],
      [859, "B2ms D2s_v3 D2ds_v4 D2ds_v5 D2ads_v5"],
      [1718, "B4ms D4s_v3 D4ds_v4 D4ds_v5 D4ads_v5 E2s_v3 E2ds_v4 E2ds_v5 E2ads_v5"],
      [3437, "B8ms D8s_v3 D8ds_v4 D8ds_v5 D8ads_v5 E4s_v3 E4ds_v4 E4ds_v5 E4ads_v5"],
      [
        5000,
        "B12ms B16ms B20ms D16s_v3 D16ds_v4 D16ds_v5 D16ads_v5 D32s_v3 D32ds_v4 D32ds_v5 D32ads_v5 D48s_v3 D48ds_v4 D48ds_v5 D48ads_v5 " +
          "D64s_v3 D64ds_v4 D64ds_v5 D64ads_v5 D96ds_v5 D96ads_v5 E8s_v3 E8ds_v4 E8ds_v5 E8ads_v5 E16s_v3 E16ds_v4 E16ds_v5 E16ads_v5 " +
          "E20ds_v4 E20ds_v5 E20ads_v5 E32s_v3 E32ds_v4 E32ds_v5 E32ads_v5 E48s_v3 E48ds_v4 E48ds_v5 E48ads_v5 E64s_v3 E64ds_v4 E64ds_v5 E64ads_v5 " +
          "E96ds_v5 E96ads_v5",
      ],
    ] as const
  ).flatMap(([connections, sizes]) => sizes.split(" ").map((size) => [size, connections])),
);

/** Azure's default max_connections for a provider skuName (B_Standard_B1ms, GP_Standard_D2ds_v5 …), if documented. */
export function defaultMaxConnections(skuName: string): number | undefined {
  return MAX_CONNECTIONS[skuName.replace(/^(B|GP|MO)_Standard_/, "")];
}

// ---- policy ----------------------------------------------------------------------------------------------------

const severity = (fallback: number) =>
  z.number().int().min(0).max(4).default(fallback).describe("Azure Monitor severity: 0 critical, 1 error, 2 warning, 3 informational, 4 verbose.");

// Percents from 1: a CRD schema (OpenAPI v3.0) has no exclusive minimum in the form zod writes.
const percent = z.number().min(1).max(100);

function rule(description: string, defaults: { severity: number; threshold: number }, threshold: z.ZodNumber) {
  return z
    .strictObject({ enabled: z.boolean().default(true), severity: severity(defaults.severity), threshold: threshold.default(defaults.threshold) })
    .default({ enabled: true, ...defaults })
    .describe(description);
}

export const AlertsPolicy = z.strictObject({
  subscriptionId: z
    .string()
    .regex(UUID, "must be a subscription id (a UUID)")
    .describe(
      "Subscription the servers are created in. Alerts and the diagnostic setting name their server by ARM id: " +
        "the provider's MonitorMetricAlert can reference only storage Accounts.",
    ),
  // Keyed by namespace, never by spec.team: spec.team is whatever the Database's author writes, so keying routing on it
  // would let a team send its alerts (and its servers' names and load) to another team's on-call.
  actionGroups: z
    .record(
      z.string().regex(NAMESPACE_NAME, "is not a Kubernetes namespace name"),
      z.string().regex(ACTION_GROUP_ID, `must be the ARM id of an action group (${armIdShape(ACTION_GROUP_TYPE)})`),
    )
    .describe("Action group that receives the alerts of each Kubernetes namespace's Databases. A Database in a namespace not listed here is refused."),
  logAnalyticsWorkspaceId: z
    .string()
    .regex(WORKSPACE_ID, `must be the ARM id of a Log Analytics workspace (${armIdShape(WORKSPACE_TYPE)})`)
    .optional()
    .describe("Log Analytics workspace that receives every server's logs, in resource-specific tables. Unset: no diagnostic setting."),
  logCategories: z
    .array(z.enum(LOG_CATEGORIES))
    .min(1)
    .default([...LOG_CATEGORIES])
    .describe("Log categories sent to the workspace; all by default."),
  maxConnectionsBySku: z
    .record(z.string().regex(SKU_PATTERN, "is not a Flexible Server SKU the provider accepts"), z.number().int().min(25).max(5000))
    .default({})
    .describe("max_connections per SKU, for SKUs the built-in table of Azure's defaults (concepts-limits) lacks, e.g. new series, or overrides it."),
  cpu: rule("CPU percent, average over 15 minutes, above threshold (%).", { severity: 2, threshold: 80 }, percent),
  memory: rule("Memory percent, average over 15 minutes, above threshold (%).", { severity: 2, threshold: 90 }, percent),
  storage: rule("Storage percent used, average over 15 minutes, above threshold (%).", { severity: 2, threshold: 80 }, percent),
  iops: rule("Disk IOPS consumed, percent of the disk's limit, average over 15 minutes, above threshold (%).", { severity: 2, threshold: 90 }, percent),
  failedConnections: rule("Failed connections in 15 minutes above threshold (count).", { severity: 3, threshold: 10 }, z.number().int().min(1)),
  activeConnections: rule(
    "Connections, maximum over 5 minutes, above threshold percent of max_connections (the SKU's default unless serverParameters sets it).",
    { severity: 2, threshold: 80 },
    percent,
  ),
  serverAlive: z
    .strictObject({ enabled: z.boolean().default(true), severity: severity(1) })
    .default({ enabled: true, severity: 1 })
    .describe("The database has not been alive (is_db_alive) at any time in 5 minutes."),
  storageFree: rule(
    "Free storage, minimum over 15 minutes, below threshold (bytes). Azure makes a server read-only below 5 GiB free; the default leaves twice that.",
    { severity: 1, threshold: 10 * 2 ** 30 },
    z.number().int().min(2 ** 30),
  ),
  // Not Azure's baseline alert (azure-monitor-baseline-alerts: 10,737,418,240), which is above the ceiling and never fires.
  transactionIdWraparound: rule(
    "Maximum used transaction IDs, maximum over 1 hour, above threshold (count). PostgreSQL stops writes near 2.1 billion.",
    { severity: 1, threshold: 1_000_000_000 },
    z
      .number()
      .int()
      .min(
        500_000_000,
        "must be at least 500,000,000: autovacuum freezes from 200 million (autovacuum_freeze_max_age) on, so lower thresholds fire on healthy servers",
      )
      .max(
        1_500_000_000,
        "must be at most 1,500,000,000: PostgreSQL stops assigning transaction IDs before 2^31 (about 2.1 billion) are in use, " +
          "so a higher threshold leaves too little time to vacuum, and one above 2.1 billion can never fire",
      ),
  ),
});

export type AlertsPolicy = z.infer<typeof AlertsPolicy>;

// ---- refusals --------------------------------------------------------------------------------------------------

/** Every way a Database in `namespace` breaks the alerts policy; none when the policy has no alerts block. */
export function alertsRefusals(alerts: AlertsPolicy | undefined, namespace: string): Refusal[] {
  if (alerts === undefined || alerts.actionGroups[namespace] !== undefined) return [];
  return [
    {
      reason: "NoActionGroup",
      message:
        `metadata.namespace: ${namespace} has no action group in the DBA policy's alerts.actionGroups; every server's alerts must reach its team, ` +
        `so the DBA team must add one before Databases in ${namespace} can be composed`,
    },
  ];
}

// ---- builders --------------------------------------------------------------------------------------------------

export const MONITORING_KEY = {
  alert: (suffix: string) => `alert-${suffix}`,
  diagnostics: "diagnostics",
};

type Aggregation = "Average" | "Maximum" | "Minimum" | "Total";
type RuleName = Exclude<keyof AlertsPolicy, "subscriptionId" | "actionGroups" | "logAnalyticsWorkspaceId" | "logCategories" | "maxConnectionsBySku">;

interface MetricRule {
  /** Suffix of the composition key (alert-<suffix>) and of the Azure alert name (<server>-<suffix>). */
  suffix: string;
  metricName: string;
  aggregation: Aggregation;
  operator: "GreaterThan" | "LessThan";
  windowSize: "PT5M" | "PT15M" | "PT1H";
  frequency: "PT1M" | "PT5M" | "PT15M";
  /** What fired, in words, for a threshold. */
  says: (threshold: number) => string;
}

const OVER = { PT5M: "5 minutes", PT15M: "15 minutes", PT1H: "1 hour" };

// Windows are at least 15 minutes for metrics Azure publishes in 5-minute batches (disk_iops_consumed_percentage) and
// for slow ones; connections and liveness use 5 minutes, so an outage pages within minutes.
const RULES: Record<RuleName, MetricRule> = {
  cpu: {
    suffix: "cpu",
    metricName: "cpu_percent",
    aggregation: "Average",
    operator: "GreaterThan",
    windowSize: "PT15M",
    frequency: "PT5M",
    says: (t) => `CPU above ${t}%`,
  },
  memory: {
    suffix: "memory",
    metricName: "memory_percent",
    aggregation: "Average",
    operator: "GreaterThan",
    windowSize: "PT15M",
    frequency: "PT5M",
    says: (t) => `memory above ${t}%`,
  },
  storage: {
    suffix: "storage",
    metricName: "storage_percent",
    aggregation: "Average",
    operator: "GreaterThan",
    windowSize: "PT15M",
    frequency: "PT5M",
    says: (t) => `storage above ${t}% used`,
  },
  iops: {
    suffix: "iops",
    metricName: "disk_iops_consumed_percentage",
    aggregation: "Average",
    operator: "GreaterThan",
    windowSize: "PT15M",
    frequency: "PT5M",
    says: (t) => `disk IOPS above ${t}% of the disk's limit`,
  },
  failedConnections: {
    suffix: "failed-connections",
    metricName: "connections_failed",
    aggregation: "Total",
    operator: "GreaterThan",
    windowSize: "PT15M",
    frequency: "PT5M",
    says: (t) => `more than ${count(t)} failed connections`,
  },
  activeConnections: {
    suffix: "active-connections",
    metricName: "active_connections",
    aggregation: "Maximum",
    operator: "GreaterThan",
    windowSize: "PT5M",
    frequency: "PT1M",
    says: (t) => `more than ${count(t)} connections`,
  },
  serverAlive: {
    suffix: "server-alive",
    metricName: "is_db_alive",
    aggregation: "Maximum",
    operator: "LessThan",
    windowSize: "PT5M",
    frequency: "PT1M",
    says: () => "database not alive",
  },
  storageFree: {
    suffix: "storage-free",
    metricName: "storage_free",
    aggregation: "Minimum",
    operator: "LessThan",
    windowSize: "PT15M",
    frequency: "PT5M",
    says: (t) => `less than ${gib(t)} storage free (read-only below 5 GiB)`,
  },
  transactionIdWraparound: {
    suffix: "transaction-id-wraparound",
    metricName: "maximum_used_transactionIDs",
    aggregation: "Maximum",
    operator: "GreaterThan",
    windowSize: "PT1H",
    frequency: "PT15M",
    says: (t) => `more than ${count(t)} transaction IDs used (writes stop near 2.1 billion; vacuum to freeze)`,
  },
};

const count = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
const gib = (bytes: number) => `${Number((bytes / 2 ** 30).toFixed(2))} GiB`;

export interface MonitoringInput {
  plan: ServerPlan;
  alerts: AlertsPolicy;
  /** The policy's serverParameters: a max_connections there is what the servers run, whatever their SKU. */
  serverParameters: Record<string, string>;
}

export interface Monitoring {
  /** Composed resources by composition key (alert-cpu … diagnostics), keys sorted. */
  resources: Record<string, Record<string, unknown>>;
  /** Messages for Warning results: what was left out, and what the DBA team can set to bring it back. */
  warnings: string[];
}

/**
 * The alerts and the diagnostic setting of one server. Alerts go only to the action group of the plan's namespace:
 * without one, none are built (alertsRefusals refuses that Database first).
 */
export function monitoring({ plan, alerts, serverParameters }: MonitoringInput): Monitoring {
  const serverId = `/subscriptions/${alerts.subscriptionId.toLowerCase()}/resourceGroups/${plan.resourceGroupName}/providers/${METRIC_NAMESPACE}/${plan.name}`;
  const resources: Record<string, Record<string, unknown>> = {};
  const warnings: string[] = [];
  const actionGroup = alerts.actionGroups[plan.namespace];
  if (actionGroup !== undefined) {
    const actionGroupId = canonical(ACTION_GROUP_ID, actionGroup, ACTION_GROUP_TYPE);
    for (const [name, r] of Object.entries(RULES) as Array<[RuleName, MetricRule]>) {
      const setting = alerts[name];
      if (!setting.enabled) continue;
      // is_db_alive is 1 while the database is up: serverAlive has no threshold to tune.
      let threshold = "threshold" in setting ? setting.threshold : 1;
      if (name === "activeConnections") {
        const max = maxConnections(plan.skuName, alerts, serverParameters);
        if (max === undefined) {
          warnings.push(
            `policy alerts.maxConnectionsBySku has no max_connections for SKU ${plan.skuName}, ` +
              "and Azure's table of defaults (concepts-limits) does not list it; " +
              `the active connections alert of server ${plan.name} is left out until the DBA team adds it`,
          );
          continue;
        }
        threshold = Math.floor((max * threshold) / 100);
      }
      resources[MONITORING_KEY.alert(r.suffix)] = metricAlert(plan, r, { severity: setting.severity, threshold, serverId, actionGroupId });
    }
  }
  if (alerts.logAnalyticsWorkspaceId !== undefined) {
    const workspaceId = canonical(WORKSPACE_ID, alerts.logAnalyticsWorkspaceId, WORKSPACE_TYPE);
    resources[MONITORING_KEY.diagnostics] = diagnosticSetting(plan, serverId, workspaceId, alerts.logCategories);
  }
  return { resources: sortKeys(resources), warnings };
}

/**
 * max_connections the server runs: set by the policy's serverParameters, or the SKU's default. Azure fixes that default
 * when the server is created and keeps it through a resize (concepts-limits), so after a size change only a policy-set
 * max_connections keeps this exact; otherwise the threshold follows the new SKU.
 */
function maxConnections(skuName: string, alerts: AlertsPolicy, serverParameters: Record<string, string>): number | undefined {
  const configured = serverParameters["max_connections"];
  if (configured !== undefined && /^\d+$/.test(configured)) return Number(configured);
  return alerts.maxConnectionsBySku[skuName] ?? defaultMaxConnections(skuName);
}

/** The ARM id with Azure's canonical casing, so the provider never sees a case-only difference as drift. */
function canonical(pattern: RegExp, id: string, type: string): string {
  const [, subscription, resourceGroup, name] = pattern.exec(id) ?? [];
  return `/subscriptions/${subscription?.toLowerCase()}/resourceGroups/${resourceGroup}/providers/${type}/${name}`;
}

function envelope(plan: ServerPlan) {
  return {
    // Always with Delete, even when the DBAs protect servers: monitors hold no data, and an alert the policy no longer
    // wants (disabled, or its Database deleted) must leave Azure rather than keep paging. No LateInitialize, as for the server.
    managementPolicies: ["Observe", "Create", "Update", "Delete"],
    providerConfigRef: plan.providerConfigRef,
  };
}

function metricAlert(plan: ServerPlan, r: MetricRule, o: { severity: number; threshold: number; serverId: string; actionGroupId: string }) {
  const over = `${r.aggregation.toLowerCase()} over ${OVER[r.windowSize]}`;
  return {
    apiVersion: MONITOR_API,
    kind: "MonitorMetricAlert",
    metadata: metadata(plan, `${plan.name}-${r.suffix}`),
    spec: {
      ...envelope(plan),
      forProvider: {
        action: [{ actionGroupId: o.actionGroupId }],
        autoMitigate: true,
        criteria: [{ aggregation: r.aggregation, metricName: r.metricName, metricNamespace: METRIC_NAMESPACE, operator: r.operator, threshold: o.threshold }],
        description: `PostgreSQL server ${plan.name} (namespace ${plan.namespace}): ${r.says(o.threshold)}, ${over}`,
        enabled: true,
        frequency: r.frequency,
        resourceGroupName: plan.resourceGroupName,
        scopes: [o.serverId],
        severity: o.severity,
        tags: plan.tags,
        windowSize: r.windowSize,
      },
    },
  };
}

function diagnosticSetting(plan: ServerPlan, serverId: string, workspaceId: string, categories: readonly string[]) {
  return {
    apiVersion: MONITOR_API,
    kind: "MonitorDiagnosticSetting",
    // The provider names it by "<target id>|<name>" once created (IdentifierFromProvider): no external-name to set.
    metadata: metadata(plan),
    spec: {
      ...envelope(plan),
      forProvider: {
        enabledLog: [...new Set(categories)].sort().map((category) => ({ category })),
        // Resource-specific tables (PGSQLServerLogs …); Azure discourages the shared AzureDiagnostics table for these logs.
        logAnalyticsDestinationType: "Dedicated",
        logAnalyticsWorkspaceId: workspaceId,
        name: DIAGNOSTIC_SETTING_NAME,
        targetResourceId: serverId,
      },
    },
  };
}
