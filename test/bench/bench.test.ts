// Keeps `npm run bench` working: the script run end to end with a few calls per cell (--smoke), its --json output
// checked for every figure the issue names, each beside its baseline and ratio. Timings are not asserted (that
// is what the benchmark itself is for); what must hold on any machine is: an idle rotation calls nothing outside.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { clusterRuntime, mebibytes } from "../../bench/runtime.ts";
import { repoRoot } from "../support/schema.ts";

const exec = promisify(execFile);
const PER_CALL = ["p50_ms", "p90_ms", "p99_ms", "throughput", "cpu_s_per_1k", "peak_rss_mb"];
const ratioKey = (k: string) => `${k.replace(/_ms$/, "")}_ratio`;

function expectedKeys(): string[] {
  const keys: string[] = [];
  const withBaseline = (prefix: string, figures: string[]) => {
    for (const f of figures) keys.push(`${prefix}.${f}`, `${prefix}.${f}_baseline`, `${prefix}.${ratioKey(f)}`);
  };
  for (const scenario of ["database", "rotation_idle"]) {
    for (const transport of ["insecure", "mtls"]) {
      for (const c of [1, 16, 64]) {
        withBaseline(`${scenario}.${transport}.c${c}`, PER_CALL);
        if (scenario === "rotation_idle") keys.push(`${scenario}.${transport}.c${c}.external_calls`);
      }
    }
  }
  withBaseline("leak.database.50_to_100", ["rss_first_mb", "rss_last_mb", "rss_growth_pct"]);
  withBaseline("startup", ["serving_ms"]);
  for (const transport of ["insecure", "mtls"]) withBaseline(`memory.${transport}`, ["peak_rss_mb"]);
  keys.push("memory.limit_mb", "memory.peak_of_limit_pct", "image.bundle_mb");
  return keys.sort();
}

describe("npm run bench", () => {
  it("reports every figure with its baseline and ratio, and an idle rotation makes no external call", async () => {
    const { stdout } = await exec(process.execPath, ["bench/run.ts", "--smoke", "--json"], { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 });
    const out = JSON.parse(stdout) as Record<string, number>;
    expect(Object.keys(out).sort()).toEqual(expectedKeys());
    expect(Object.entries(out).filter(([, v]) => !Number.isFinite(v))).toEqual([]);
    expect(Object.entries(out).filter(([k]) => k.endsWith("external_calls"))).toEqual(
      ["insecure", "mtls"].flatMap((t) => [1, 16, 64].map((c) => [`rotation_idle.${t}.c${c}.external_calls`, 0])),
    );
    // Each ratio is the figure over the baseline's (both rounded to 2 places in the output).
    for (const [k, ratio] of Object.entries(out).filter(([k]) => k.endsWith("_ratio"))) {
      const figure = Object.keys(out).find((f) => !f.endsWith("_baseline") && !f.endsWith("_ratio") && ratioKey(f) === k) ?? "";
      expect(figure, k).not.toBe("");
      const [v, b] = [out[figure] ?? NaN, out[`${figure}_baseline`] ?? NaN];
      // Small baselines (an idle call's CPU) round too coarsely for the check to mean anything.
      if (b >= 1) expect(Math.abs(ratio - v / b), `${k}: ${v} / ${b}`).toBeLessThan(0.05 + (0.01 * v) / b);
    }
    expect(out["image.bundle_mb"]).toBeGreaterThan(1);
    // The limit the install manifest gives the container, and the peak held against it.
    expect(out["memory.limit_mb"]).toBe(clusterRuntime().memoryLimitMiB);
    const peak = Math.max(out["memory.insecure.peak_rss_mb"] ?? NaN, out["memory.mtls.peak_rss_mb"] ?? NaN);
    expect(out["memory.peak_of_limit_pct"]).toBeCloseTo((peak / (out["memory.limit_mb"] ?? NaN)) * 100, 0);
  }, 180_000);

  it("runs only the cells named by --scenario, --transport and --concurrency, and leaves out the leak check and start-up", async () => {
    const args = ["bench/run.ts", "--smoke", "--json", "--scenario", "rotation_idle", "--transport", "mtls", "--concurrency", "1", "--concurrency", "16"];
    const { stdout } = await exec(process.execPath, args, { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 });
    const cells = [...new Set(Object.keys(JSON.parse(stdout) as Record<string, number>).map((k) => k.split(".").slice(0, 3).join(".")))];
    // The peak RSS is the one of the cells run, on the transport named.
    const memory = ["memory.limit_mb", "memory.mtls.peak_rss_mb", "memory.mtls.peak_rss_mb_baseline", "memory.mtls.peak_rss_mb_ratio", "memory.peak_of_limit_pct"];
    expect(cells.sort()).toEqual(["image.bundle_mb", ...memory, "rotation_idle.mtls.c1", "rotation_idle.mtls.c16"]);
  }, 180_000);

  it("reads the container's NODE_OPTIONS and memory limit from the install manifest, in the units Kubernetes writes", () => {
    expect(clusterRuntime()).toEqual({ nodeOptions: "--max-semi-space-size=8 --max-old-space-size=128", memoryLimitMiB: 256 });
    expect(["256Mi", "1Gi", "1048576Ki", "268435456", "300M"].map(mebibytes)).toEqual([256, 1024, 1024, 256, 300e6 / 2 ** 20]);
    expect(() => mebibytes("lots")).toThrow('examples/install/function.yaml: memory limit "lots" is not a quantity this benchmark reads');
  });

  const refused: [string, string[], string][] = [
    ["an unknown scenario", ["--scenario", "nope"], "--scenario nope: must be one of database, rotation_idle"],
    ["an unknown transport", ["--transport", "tls"], "--transport tls: must be one of insecure, mtls"],
    ["an unknown concurrency", ["--concurrency", "8"], "--concurrency 8: must be one of 1, 16, 64"],
    ["a call count that is not a whole number", ["--calls", "1.5"], "--calls 1.5: must be a whole number above 0"],
  ];
  it.each(refused)("refuses %s before starting anything", async (_name, flags, message) => {
    const err = await exec(process.execPath, ["bench/run.ts", "--smoke", ...flags], { cwd: repoRoot }).then(
      () => undefined,
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toContain(message);
  });
});
