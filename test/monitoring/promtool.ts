// Helpers for the alert tests: run promtool, turn the PrometheusRule into a rules file and the scenarios into
// a promtool test file, render the annotation templates the scenarios expect, and list the metric names an
// expression reads.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { SEVERITY, type AlertName, type Scenario } from "./scenarios.ts";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
export const RULE_FILE = "deploy/monitoring/prometheusrule.yaml";
export const POD_MONITOR_FILE = "deploy/monitoring/podmonitor.yaml";

export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface RuleGroup {
  name: string;
  rules: Rule[];
}

export function readYaml(rel: string): unknown {
  return parse(readFileSync(`${repoRoot}/${rel}`, "utf8"));
}

export function ruleGroups(): RuleGroup[] {
  const doc = readYaml(RULE_FILE) as { spec?: { groups?: RuleGroup[] } };
  return doc.spec?.groups ?? [];
}

export const allRules = (groups: RuleGroup[]): Rule[] => groups.flatMap((g) => g.rules);

// ---- promtool ----------------------------------------------------------------------------------------------

export const PROMTOOL = process.env.PROMTOOL ?? "promtool";
export const INSTALL_HINT = `promtool is not installed (looked for "${PROMTOOL}" on PATH). Install Debian's prometheus package, which provides /usr/bin/promtool: apt-get install --no-install-recommends prometheus (.ci/run does this in CI).`;

export interface PromtoolRun {
  code: number;
  output: string;
}

/** Runs promtool; throws with the install hint when it is missing. */
export function promtool(args: string[], cwd?: string, bin: string = PROMTOOL): PromtoolRun {
  const r = spawnSync(bin, args, { encoding: "utf8", cwd, timeout: 120_000 });
  if (r.error !== undefined) {
    if ((r.error as NodeJS.ErrnoException).code === "ENOENT") throw new Error(INSTALL_HINT);
    throw r.error;
  }
  return { code: r.status ?? -1, output: `$ ${bin} ${args.join(" ")}\n${r.stdout}${r.stderr}` };
}

// ---- Test files --------------------------------------------------------------------------------------------

/**
 * What promtool renders for a template, from the alert's labels and the rendered `$value`. Only label
 * references and `$value` (optionally piped to humanize*) are allowed: promtool renders a label the alert does
 * not carry as an empty string, so here it is an error.
 */
export function renderTemplate(template: string, labels: Record<string, string>, value: string | undefined): string {
  return template.replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (_m, action: string) => {
    const label = /^\$labels\.([A-Za-z_]\w*)$/.exec(action);
    if (label !== null) {
      const v = labels[label[1] ?? ""];
      if (v === undefined) throw new Error(`template uses $labels.${label[1]}, which the alert does not carry (it has ${Object.keys(labels).join(", ") || "no labels"}): ${template}`);
      return v;
    }
    if (/^\$value(\s*\|\s*humanize(Duration|Percentage)?)?$/.test(action)) {
      if (value === undefined) throw new Error(`template uses $value but the scenario gives no expected value: ${template}`);
      return value;
    }
    throw new Error(`unsupported template action {{ ${action} }} in: ${template}`);
  });
}

const durationSeconds = (d: string): number => {
  let s = 0;
  for (const [, n, unit] of d.matchAll(/(\d+)([smhd])/g)) s += Number(n) * { s: 1, m: 60, h: 3600, d: 86_400 }[unit as "s" | "m" | "h" | "d"];
  return s;
};

/** `up` values: 1 for the whole scenario. */
export const steadyUp = (interval: string, checks: Scenario["checks"]): string => {
  const samples = Math.ceil(Math.max(...checks.map((c) => durationSeconds(c.at))) / durationSeconds(interval)) + 10;
  return `1x${samples}`;
};

/** The promtool test file of one scenario: every alert is checked at every check time. */
export function promtoolTest(scenario: Scenario, rulesFile: string, alerts: Map<string, Rule>, upFor: (interval: string) => Record<string, string>): unknown {
  const interval = scenario.interval ?? "1m";
  const series = { ...(scenario.up ?? upFor(interval)), ...scenario.series };
  return {
    rule_files: [rulesFile],
    evaluation_interval: interval,
    tests: [
      {
        name: scenario.name,
        interval,
        input_series: Object.entries(series).map(([s, values]) => ({ series: s, values })),
        alert_rule_test: scenario.checks.flatMap((check) =>
          [...alerts.keys()].map((alertname) => ({
            eval_time: check.at,
            alertname,
            exp_alerts: check.firing
              .filter((f) => f.alert === alertname)
              .map((f) => {
                const annotations = alerts.get(alertname)?.annotations ?? {};
                return {
                  exp_labels: { ...f.labels, severity: SEVERITY[f.alert as AlertName] },
                  exp_annotations: Object.fromEntries(Object.entries(annotations).map(([k, t]) => [k, renderTemplate(t, f.labels, f.value)])),
                };
              }),
          })),
        ),
      },
    ],
  };
}

// ---- Metric names ------------------------------------------------------------------------------------------

/** The series the function and Prometheus export, as fixed by the metrics contract. */
export const KNOWN_METRICS = new Set([
  "azplatform_function_calls_total",
  "azplatform_function_call_duration_seconds_bucket",
  "azplatform_function_call_duration_seconds_sum",
  "azplatform_function_call_duration_seconds_count",
  "azplatform_function_results_total",
  "azplatform_function_requests_refused_total",
  "azplatform_rotations_total",
  "azplatform_rotation_failing",
  "azplatform_rotation_seconds_since_last_success",
  "azplatform_rotation_max_age_seconds",
  "azplatform_rotation_next_due_timestamp_seconds",
  "up",
  "process_resident_memory_bytes",
  "process_cpu_seconds_total",
  "process_start_time_seconds",
  "process_open_fds",
  "process_max_fds",
  "nodejs_eventloop_lag_seconds",
  "nodejs_heap_size_used_bytes",
]);

const KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan"]);

/** Metric names a PromQL expression reads: every identifier that is not a function, keyword, label or duration. */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/#.*$/gm, "") // comments
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // string literals
    .replace(/\{[^}]*\}/g, " ") // label matchers
    .replace(/\[[^\]]*\]/g, " ") // ranges and subqueries
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ") // label lists
    .replace(/\boffset\s+-?(?:\d+[smhdwy])+/g, " ")
    .replace(/@\s*(?:start\(\)|end\(\)|[\d.]+)/g, " ");
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w:.])([A-Za-z_:][\w:]*)\b(?!\s*\()/g)) {
    const name = m[1] ?? "";
    if (!KEYWORDS.has(name.toLowerCase())) names.add(name);
  }
  return [...names].sort();
}
