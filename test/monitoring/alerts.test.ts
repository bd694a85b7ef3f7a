// deploy/monitoring: the PrometheusRule passes `promtool check rules`, and `promtool test rules` proves each
// alert fires when it should and stays quiet when it should not (scenarios.ts). Annotations and labels are
// checked as promtool renders them; metric names are checked against the metrics contract, because PromQL
// accepts a misspelt name and simply never fires. promtool comes from Debian's prometheus package: without
// it these tests fail, they do not skip.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  steadyUp,
  INSTALL_HINT,
  KNOWN_METRICS,
  POD_MONITOR_FILE,
  PROMTOOL,
  RULE_FILE,
  allRules,
  metricNames,
  promtool,
  promtoolTest,
  readYaml,
  renderTemplate,
  ruleGroups,
  type Rule,
} from "./promtool.ts";
import { repoRoot } from "../support/schema.ts";
import { JOB, SCENARIOS, SEVERITY, upSeries, type Scenario } from "./scenarios.ts";

const groups = ruleGroups();
const rules = allRules(groups);
const alerts = new Map(rules.filter((r): r is Rule & { alert: string } => r.alert !== undefined).map((r) => [r.alert, r]));
const recorded = new Set(rules.flatMap((r) => (r.record !== undefined ? [r.record] : [])));
let dir: string;
let rulesFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "azplatform-alerts-"));
  rulesFile = join(dir, "rules.yaml");
  writeFileSync(rulesFile, stringify({ groups }));
});
afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function runScenario(scenario: Scenario, file: string) {
  const test = promtoolTest(scenario, rulesFile, alerts, (interval) => upSeries({ a: steadyUp(interval, scenario.checks), b: steadyUp(interval, scenario.checks) }));
  const path = join(dir, file);
  writeFileSync(path, stringify(test));
  return promtool(["test", "rules", path], dir);
}

describe(`promtool on ${RULE_FILE}`, () => {
  it("promtool is installed", () => {
    const r = promtool(["--version"]);
    expect(r.code, `${INSTALL_HINT}\n${r.output}`).toBe(0);
  });

  it("promtool check rules accepts the groups", () => {
    expect(groups.length).toBeGreaterThan(0);
    const r = promtool(["check", "rules", rulesFile]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  for (const [i, scenario] of SCENARIOS.entries()) {
    it(`promtool test rules: ${scenario.name}`, () => {
      const r = runScenario(scenario, `scenario-${i}.test.yaml`);
      expect(r.code, r.output).toBe(0);
      expect(r.output).toContain("SUCCESS");
    });
  }

  it("a wrong expectation makes promtool fail (the harness does not pass vacuously)", () => {
    const overdue = SCENARIOS.find((s) => s.checks.some((c) => c.firing.some((f) => f.alert === "AzPlatformSecretRotationOverdue")));
    expect(overdue).toBeDefined();
    if (overdue === undefined) return;
    const wrong: Scenario = {
      ...overdue,
      checks: overdue.checks.map((c) => ({ ...c, firing: c.firing.map((f) => ({ ...f, labels: { ...f.labels, team: "someone-else" } })) })),
    };
    const r = runScenario(wrong, "wrong.test.yaml");
    expect(r.code, r.output).not.toBe(0);
    expect(r.output).toContain("FAILED");
  });
});

describe("the scenarios cover every alert", () => {
  it("the rules define exactly the alerts of the contract, with its severities", () => {
    expect([...alerts.keys()].sort()).toEqual(Object.keys(SEVERITY).sort());
    for (const [name, rule] of alerts) expect(rule.labels?.severity, name).toBe(SEVERITY[name as keyof typeof SEVERITY]);
  });

  it("every alert fires in some scenario; every check also asserts all other alerts are quiet", () => {
    const fired = new Set(SCENARIOS.flatMap((s) => s.checks.flatMap((c) => c.firing.map((f) => f.alert))));
    expect([...alerts.keys()].filter((a) => !fired.has(a as keyof typeof SEVERITY))).toEqual([]);
    for (const s of SCENARIOS) expect(s.checks.length, s.name).toBeGreaterThan(0);
    // A check lists the complete set of firing alerts, so each alert must be asserted quiet many times; at
    // least one check per alert is a time when that alert stays quiet while its own inputs are present.
    expect(SCENARIOS.filter((s) => s.checks.some((c) => c.firing.length === 0)).length).toBeGreaterThanOrEqual(Object.keys(SEVERITY).length);
  });
});

describe("README", () => {
  it("gives the number of scenarios promtool runs", () => {
    const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
    expect(/unit-tested with `promtool test rules` on (\d+)\s+scenarios/.exec(readme)?.[1]).toBe(String(SCENARIOS.length));
  });
});

describe("rule hygiene", () => {
  it("every alert has a severity, a summary and a description, and a pending period unless it must page at once", () => {
    for (const [name, rule] of alerts) {
      expect(["critical", "warning"], name).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary?.trim(), `${name} summary`).toBeTruthy();
      expect(rule.annotations?.description?.trim(), `${name} description`).toBeTruthy();
      if (name !== "AzPlatformFunctionErrors") expect(rule.for, `${name} for`).toMatch(/^\d+[smh]$/);
    }
  });

  it("rotation alerts carry namespace, name and team and point to kubectl describe secretrotation", () => {
    for (const name of ["AzPlatformSecretRotationFailing", "AzPlatformSecretTooOld", "AzPlatformSecretRotationOverdue"]) {
      const description = alerts.get(name)?.annotations?.description ?? "";
      for (const l of ["namespace", "name", "team"]) expect(description, name).toContain(`{{ $labels.${l} }}`);
      expect(description, name).toContain("kubectl -n {{ $labels.namespace }} describe secretrotation {{ $labels.name }}");
    }
  });

  it("annotation templates use only label references and $value", () => {
    const labels = new Proxy({} as Record<string, string>, { get: (_t, k) => (typeof k === "string" ? `<${k}>` : undefined) });
    for (const [name, rule] of alerts) {
      for (const t of Object.values(rule.annotations ?? {})) expect(() => renderTemplate(t, labels, "<value>"), name).not.toThrow();
    }
  });

  it("the metric-name check finds a misspelt name", () => {
    expect(metricNames('sum by (function) (rate(azplatform_fuction_calls_total{outcome="error"}[5m] offset 1h)) > 0 unless on (x) up # azplatform_nope')).toEqual([
      "azplatform_fuction_calls_total",
      "up",
    ]);
    expect(metricNames("histogram_quantile(0.99, sum by (function, le) (rate(a:b:c[10m]))) > 1e3")).toEqual(["a:b:c"]);
  });

  it("every expression reads only metrics of the contract, or recording rules defined here from them", () => {
    const unknown: string[] = [];
    for (const rule of rules) {
      for (const m of metricNames(rule.expr)) {
        const ok = KNOWN_METRICS.has(m) || (rule.alert !== undefined && recorded.has(m));
        if (!ok) unknown.push(`${rule.alert ?? rule.record}: ${m}`);
      }
    }
    expect(unknown).toEqual([]);
    // Every recording rule is used by an alert, and every name it records follows level:metric:operation.
    for (const r of recorded) {
      expect(r).toMatch(/^[a-z_]+:azplatform_[a-z_]+:[a-z_]+$/);
      expect(rules.some((x) => x.alert !== undefined && x.expr.includes(r)), r).toBe(true);
    }
  });

  it("up is only read for this function's job", () => {
    for (const rule of rules) {
      for (const m of rule.expr.matchAll(/\bup\b(\{[^}]*\})?/g)) expect(m[1], rule.alert).toBe(`{job="${JOB}"}`);
    }
  });
});

describe(POD_MONITOR_FILE, () => {
  type PodMonitor = {
    apiVersion?: string;
    kind?: string;
    metadata?: { name?: string; namespace?: string };
    spec?: {
      jobLabel?: string;
      selector?: { matchLabels?: Record<string, string> };
      podMetricsEndpoints?: { port?: string; path?: string; honorLabels?: boolean }[];
    };
  };
  const pm = readYaml(POD_MONITOR_FILE) as PodMonitor;

  it("selects the function's pods in crossplane-system and scrapes port metrics at /metrics", () => {
    expect(pm.apiVersion).toBe("monitoring.coreos.com/v1");
    expect(pm.kind).toBe("PodMonitor");
    expect(pm.metadata?.namespace).toBe("crossplane-system");
    expect(pm.spec?.selector?.matchLabels).toEqual({ "pkg.crossplane.io/function": JOB });
    expect(pm.spec?.podMetricsEndpoints).toHaveLength(1);
    expect(pm.spec?.podMetricsEndpoints?.[0]).toMatchObject({ port: "metrics", path: "/metrics" });
  });

  it("sets job to the function's name, as the rules expect, and keeps the rotations' namespace label", () => {
    expect(pm.spec?.jobLabel).toBe("pkg.crossplane.io/function");
    expect(pm.spec?.podMetricsEndpoints?.[0]?.honorLabels).toBe(true);
  });
});

describe("promtool", () => {
  it(`a missing promtool (here: not ${PROMTOOL}) fails with how to install it`, () => {
    expect(() => promtool(["--version"], undefined, "/nonexistent/promtool")).toThrow(/Debian's prometheus package/);
  });
});
