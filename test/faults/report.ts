// The run's report: what was injected, what the rotations did, and what broke, by invariant, with the first examples
// (values by their labels only). Printed, and written as JSON for a long run to be read later.
import { mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Checker, Watched } from "./checker.ts";
import type { FaultConfig } from "./config.ts";
import type { CallEntry } from "./driver.ts";
import type { RunEvent, RunRecord } from "./record.ts";
import type { ValueBook } from "./values.ts";
import { INVARIANTS, type Invariant, type Violation, type Violations } from "./violations.ts";

export interface RotationSummary {
  strategy: string;
  rotationsAsked: number;
  rotationsHandled: number;
  newValues: number;
  /** Every window in which the app Secret did not log in, and in which Key Vault lagged behind it. */
  loginWindowsMs: number[];
  vaultWindowsMs: number[];
  /** Written, not printed: what the checker saw change in the app Secret, Key Vault and the state Secret. */
  changes: string[];
}

export interface FaultReport {
  seed: number;
  faultSeconds: number;
  settle: { seconds: number; settled: boolean };
  faults: Record<string, { setting: string; what: string }>;
  bounds: FaultConfig["bounds"];
  counts: Record<string, number>;
  rotations: Record<string, RotationSummary>;
  /** The function's first Fatal result, if it refused the scenario itself. */
  refused?: string;
  violations: Record<Invariant, { count: number; examples: Violation[] }>;
  /** Written, not printed: every fault in order, and every call of each driver. */
  timeline: RunEvent[];
  calls: Record<string, CallEntry[]>;
}

export interface RunOutcome {
  config: FaultConfig;
  record: RunRecord;
  violations: Violations;
  book: ValueBook;
  checker: Checker;
  watched: Watched[];
  settled: { ms: number; settled: boolean };
}

export function summarize({ config, record, violations, book, checker, watched, settled }: RunOutcome): FaultReport {
  const refused = watched.find((w) => w.driver.fatal !== undefined)?.driver.fatal;
  const rotation = ({ rotation: r, driver }: Watched): RotationSummary => ({
    strategy: r.strategy,
    rotationsAsked: driver.causesIssued().length,
    rotationsHandled: driver.causesHandled().length,
    newValues: book.newValues(r.name).length,
    loginWindowsMs: checker.windowsMs(r.name).login,
    vaultWindowsMs: checker.windowsMs(r.name).vault,
    changes: checker.changesOf(r.name),
  });
  return {
    seed: config.seed,
    faultSeconds: config.faultSeconds,
    settle: { seconds: settled.ms / 1000, settled: settled.settled },
    faults: Object.fromEntries(Object.entries(config.kinds).map(([name, k]) => [name, { setting: k.on ? `${k.rate} per ${k.per}` : "off", what: k.what }])),
    bounds: config.bounds,
    counts: record.counts(),
    rotations: Object.fromEntries(watched.map((w) => [w.rotation.name, rotation(w)])),
    ...(refused === undefined ? {} : { refused: book.redact(refused) }),
    violations: violations.byInvariant(),
    timeline: record.events(),
    calls: Object.fromEntries(watched.map((w) => [w.driver.name, w.driver.journal])),
  };
}

/** The counts, by who made them: the driver, process chaos, the two proxies, the meddlers, the harness itself. */
const GROUPS: [string, (name: string) => boolean][] = [
  ["driver", (n) => n.startsWith("calls") || ["giveUp", "dropReply", "duplicateCall", "replayOldCall", "trigger"].includes(n)],
  ["replicas", (n) => n.endsWith("Replica")],
  ["Kubernetes API", (n) => n.startsWith("kube")],
  ["Azure", (n) => n.startsWith("azure")],
  ["meddlers", (n) => n === "deleteState" || n === "outsideWrite" || n.startsWith("meddler")],
];

function groupedCounts(counts: Record<string, number>): string[] {
  const entries = Object.entries(counts);
  const line = (title: string, of: [string, number][]) => (of.length === 0 ? [] : [`  ${title}: ${of.map(([k, v]) => `${k} ${v}`).join(", ")}`]);
  const grouped = GROUPS.flatMap(([title, test]) => line(title, entries.filter(([k]) => test(k))));
  return [...grouped, ...line("harness", entries.filter(([k]) => !GROUPS.some(([, test]) => test(k))))];
}

const longest = (ms: number[]) => (ms.length === 0 ? "none" : `${ms.length}, longest ${(Math.max(...ms) / 1000).toFixed(1)} s`);

export function formatReport(r: FaultReport, file: string): string {
  const lines = [
    `fault run: seed ${r.seed}, ${r.faultSeconds} s of faults, ${r.settle.settled ? "settled" : "NOT settled"} after ${r.settle.seconds.toFixed(1)} s`,
    "injected and seen:",
    ...groupedCounts(r.counts),
    ...Object.entries(r.rotations).map(
      ([name, s]) =>
        `${name} (${s.strategy}): ${s.rotationsHandled} of ${s.rotationsAsked} rotations handled, ${s.newValues} new values; ` +
        `login-failure windows ${longest(s.loginWindowsMs)}; Key Vault lag windows ${longest(s.vaultWindowsMs)}`,
    ),
    ...(r.refused === undefined ? [] : [`the function refused the scenario: ${r.refused}`]),
  ];
  for (const [invariant, { count, examples }] of Object.entries(r.violations)) {
    lines.push(`${count === 0 ? "ok  " : "FAIL"} ${invariant} (${INVARIANTS[invariant as Invariant]}): ${count} violation(s)`);
    for (const e of examples) {
      lines.push(`       +${e.at} ${e.xr ?? ""} ${e.what}`);
      if (e.recentFaults?.length) lines.push(`         after: ${e.recentFaults.slice(-6).join(" | ")}`);
    }
  }
  lines.push(`report: ${file}`);
  return lines.join("\n");
}

export async function writeReport(r: FaultReport): Promise<string> {
  const dir = join(tmpdir(), "function-azure-platform-faults");
  await mkdir(dir, { recursive: true });
  const file = join(dir, `report-${new Date().toISOString().replaceAll(":", "-")}-seed${r.seed}.json`);
  await writeFile(file, `${JSON.stringify(r, null, 2)}\n`);
  return file;
}
