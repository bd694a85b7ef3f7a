// npm run bench [-- --quick] [-- --json] [-- --scenario S --transport T --concurrency C --calls N (only those cells)]
// Drives the real server (a separate process) over real gRPC with realistic requests, beside a baseline built on
// the official SDK's server that echoes desired state, in the same run, and prints every figure with its ratio.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { startAzureFake } from "../test/servers/azure/index.ts";
import { makeTestPki } from "../test/support/certs.ts";
import { startCountingServer } from "../test/support/counting-server.ts";
import { writeKubeconfig } from "../test/support/kubeconfig.ts";
import { clientCredentials, connect, healthCheck } from "../test/support/proto-client.ts";
import { freePort, startServer, stopAllServers, type RunningServer } from "../test/support/server-process.ts";
import { bundle } from "../scripts/bundle.ts";
import { database, load, rotationDue, scenarios, summarize, type Run } from "./requests.ts";
import { INSTALL_MANIFEST, clusterRuntime } from "./runtime.ts";

// --smoke: a few calls per cell, for the test that keeps this script working; its figures mean nothing.
// --scenario, --transport, --concurrency: only the cells named (to reproduce one figure, or to see the effect of a change).
const { values } = parseArgs({
  options: {
    quick: { type: "boolean" },
    json: { type: "boolean" },
    smoke: { type: "boolean" },
    scenario: { type: "string", multiple: true },
    transport: { type: "string", multiple: true },
    concurrency: { type: "string", multiple: true },
    calls: { type: "string" },
  },
});
const mode = values.smoke ? "smoke" : values.quick ? "quick" : "full";
const CALLS = values.calls === undefined ? { smoke: 20, quick: 400, full: 5000 }[mode] : Number(values.calls);
if (!Number.isInteger(CALLS) || CALLS < 1) throw new Error(`--calls ${values.calls ?? ""}: must be a whole number above 0`);
const WARMUP = { smoke: 5, quick: 50, full: 500 }[mode];
function only<T extends string | number>(flag: string, given: string[] | undefined, all: readonly T[]): T[] {
  if (given === undefined) return [...all];
  const picked = all.filter((v) => given.includes(String(v)));
  const unknown = given.filter((g) => !all.some((v) => String(v) === g));
  if (unknown.length > 0) throw new Error(`--${flag} ${unknown.join(", ")}: must be one of ${all.join(", ")}`);
  return picked;
}
const SCENARIOS = only("scenario", values.scenario, Object.keys(scenarios));
const TRANSPORTS = only("transport", values.transport, ["insecure", "mtls"] as const);
const CONCURRENCY = only("concurrency", values.concurrency, [1, 16, 64]);
// Cells picked by hand: the leak check and start-up (whole-run figures) are left out.
const PICKED = values.scenario !== undefined || values.transport !== undefined || values.concurrency !== undefined;
const LEAK = { smoke: { first: 50, total: 100 }, quick: { first: 1_000, total: 8_000 }, full: { first: 20_000, total: 200_000 } }[mode];
const STARTUP_RUNS = mode === "smoke" ? 1 : 5;
/** Each cell's calls go in up to this many rounds, alternating between ours and the baseline. */
const ROUNDS = mode === "smoke" ? 2 : 10;
const WHO = ["ours", "base"] as const;
// Both servers run with the V8 flags the cluster gives ours, so the ratios compare code, not configuration, and the
// peak RSS is the one the container's limit must hold.
const RUNTIME = clusterRuntime();
const NODE_OPTIONS = { NODE_OPTIONS: RUNTIME.nodeOptions };
type Who = (typeof WHO)[number];
const CLK_TCK = 100;

// ---- measurement -------------------------------------------------------------------------------------------
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}
function rssMB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) / 1024;
}
type Figures = Record<string, number>;
const out: Record<string, number> = {};
const rows: string[][] = [];
const round = (n: number) => Math.round(n * 100) / 100;
function record(prefix: string, ours: Figures, base: Figures) {
  for (const [k, v] of Object.entries(ours)) {
    out[`${prefix}.${k}`] = round(v);
    const b = base[k];
    if (b !== undefined) {
      out[`${prefix}.${k}_baseline`] = round(b);
      // Keys as the issue names them: database.mtls.c16.p99_ms beside database.mtls.c16.p99_ratio.
      out[`${prefix}.${k.replace(/_ms$/, "")}_ratio`] = round(b === 0 ? 0 : v / b);
    }
    rows.push([prefix, k, String(round(v)), b === undefined ? "" : String(round(b)), b === undefined || b === 0 ? "" : `${round(v / b)}x`]);
  }
}

async function startupMs(entry: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < STARTUP_RUNS; i++) {
    const port = await freePort();
    const t = Date.now();
    const env = { ...process.env, METRICS_ADDRESS: "127.0.0.1:0", HEALTH_ADDRESS: "127.0.0.1:0", ...NODE_OPTIONS };
    const child = spawn(process.execPath, [entry, "--insecure", "--address", `127.0.0.1:${port}`], { stdio: "ignore", env });
    for (;;) {
      const status = await healthCheck(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), "", { deadlineMs: 200 }).catch(() => "DOWN");
      if (status === "SERVING") break;
      await new Promise((r) => setTimeout(r, 5));
    }
    times.push(Date.now() - t);
    child.kill("SIGKILL");
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? 0;
}

// Measure what ships: the bundle the image runs (built as the Dockerfile builds it, into a directory of the
// benchmark's own so a test run using dist/server is never disturbed), not the TypeScript sources.
const BUNDLE = mkdtempSync(join(tmpdir(), "fn-bench-bundle-"));
const OURS = join(BUNDLE, "main.mjs");

/** What the image ships besides Node: the bundle directory, which is all the Dockerfile copies. */
function imageMB(): { bundle_mb: number } {
  const bytes = readdirSync(BUNDLE).reduce((sum, f) => sum + statSync(join(BUNDLE, f)).size, 0);
  return { bundle_mb: bytes / 1024 / 1024 };
}

async function main() {
  await bundle(BUNDLE);
  const pki = await makeTestPki();
  // No Kubernetes API: an idle rotation must not call one, and the listener counts every connection made to it.
  const kube = await startCountingServer();
  const azure = await startAzureFake({ vaults: ["kv-payments"] });
  const kubeconfig = await writeKubeconfig(join(tmpdir(), `bench-kubeconfig-${process.pid}`), { server: `https://${kube.host}:${kube.port}`, token: "bench" });
  const env = { KUBECONFIG: kubeconfig, NODE_EXTRA_CA_CERTS: azure.caFile, HTTPS_PROXY: azure.proxy.url, NO_PROXY: "127.0.0.1,localhost", ...NODE_OPTIONS };
  const base = { entry: "bench/baseline.ts", env: NODE_OPTIONS };
  const servers: Record<string, { ours: RunningServer; base: RunningServer }> = {
    insecure: { ours: await startServer({ insecure: true, env, entry: OURS }), base: await startServer({ insecure: true, ...base }) },
    mtls: { ours: await startServer({ pki, env, entry: OURS }), base: await startServer({ pki, ...base }) },
  };
  const creds = { insecure: grpc.credentials.createInsecure(), mtls: clientCredentials(pki).mtls };
  // A server in a cluster has rotated something: one due rotation each loads the adapters (about 95 MiB of RSS) before
  // any figure is taken. It fails at once (the Kubernetes API here takes no request), as a first rotation may.
  for (const transport of ["insecure", "mtls"] as const) {
    const client = connect(servers[transport]?.ours.address ?? "", creds[transport]);
    const rsp = await client.runFunction(rotationDue, { deadlineMs: 30_000 });
    client.close();
    if (rsp.results?.[0]?.reason !== "StateUnavailable") throw new Error(`a due rotation should stop at the Kubernetes API: ${JSON.stringify(rsp.results)}`);
  }
  for (const name of SCENARIOS) {
    const req = scenarios[name];
    if (req === undefined) continue;
    for (const transport of TRANSPORTS) {
      for (const c of CONCURRENCY) {
        const pair = servers[transport];
        if (pair === undefined) continue;
        kube.reset();
        azure.resetCalls();
        // Interleaved: the calls go in rounds, ours and the baseline's taking turns (and turns at going first), so
        // a slow spell of a shared machine falls on both alike instead of on whichever ran then.
        const clients = { ours: connect(pair.ours.address, creds[transport]), base: connect(pair.base.address, creds[transport]) };
        const runs: Record<Who, Run[]> = { ours: [], base: [] };
        for (const who of WHO) await load(clients[who], req, WARMUP, c);
        // CPU over the whole cell, as /proc counts it in 10 ms ticks: a server waiting for its turn uses next to none
        // (its idle-time GC is charged to it, as it would be in a cluster).
        const cpu0 = { ours: cpuSeconds(pair.ours.process.pid ?? 0), base: cpuSeconds(pair.base.process.pid ?? 0) };
        // A round holds at least 4 calls per worker, so the cell runs at its concurrency most of the time (each
        // round ends with the workers running out one by one, for ours and the baseline's alike).
        const rounds = Math.max(1, Math.min(ROUNDS, Math.floor(CALLS / (4 * c))));
        const per = Math.ceil(CALLS / rounds);
        for (let round = 0, done = 0; done < CALLS; round++, done += per) {
          const calls = Math.min(per, CALLS - done);
          for (const who of round % 2 === 0 ? WHO : [...WHO].reverse()) runs[who].push(await load(clients[who], req, calls, c));
        }
        const figures = {} as Record<Who, Figures>;
        for (const who of WHO) {
          clients[who].close();
          const r = summarize(runs[who]);
          const cpu = cpuSeconds(pair[who].process.pid ?? 0) - cpu0[who];
          figures[who] = { p50_ms: r.p50, p90_ms: r.p90, p99_ms: r.p99, throughput: r.throughput, cpu_s_per_1k: (cpu / CALLS) * 1000, peak_rss_mb: rssMB(pair[who].process.pid ?? 0, "VmHWM") };
        }
        if (name === "rotation_idle") figures.ours.external_calls = kube.connections() + azure.calls().length;
        record(`${name}.${transport}.c${c}`, figures.ours, figures.base);
      }
    }
  }
  if (!PICKED) await wholeRun(servers);
  peakMemory(servers);
  record("image", imageMB(), {});

  await stopAllServers();
  await kube.close();
  await azure.close();
  rmSync(kubeconfig, { force: true });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    const header = ["scenario", "figure", "function", "baseline", "ratio"];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
    for (const r of [header, ...rows]) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ")}\n`);
    process.stdout.write(`\n${new Date().toISOString()} · ${(await import("node:os")).cpus().length} cores · node ${process.version} · ${mode} (${CALLS} calls per cell)\n`);
    process.stdout.write(`NODE_OPTIONS "${RUNTIME.nodeOptions}" and memory limit ${RUNTIME.memoryLimitMiB} MiB from ${INSTALL_MANIFEST}; RSS figures are MiB\n`);
  }
}

/**
 * Each server's peak RSS over the whole run (VmHWM: every cell, and the leak check when it ran), and the highest of
 * ours as a share of the container's memory limit.
 */
function peakMemory(servers: Record<string, { ours: RunningServer; base: RunningServer }>) {
  const peaks: number[] = [];
  for (const transport of TRANSPORTS) {
    const pair = servers[transport];
    if (pair === undefined) continue;
    const peak = { ours: rssMB(pair.ours.process.pid ?? 0, "VmHWM"), base: rssMB(pair.base.process.pid ?? 0, "VmHWM") };
    peaks.push(peak.ours);
    record(`memory.${transport}`, { peak_rss_mb: peak.ours }, { peak_rss_mb: peak.base });
  }
  record("memory", { limit_mb: RUNTIME.memoryLimitMiB, peak_of_limit_pct: (Math.max(...peaks) / RUNTIME.memoryLimitMiB) * 100 }, {});
}

/** The leak check and start-up: figures of the whole server, not of one cell. */
async function wholeRun(servers: Record<string, { ours: RunningServer; base: RunningServer }>) {
  // Leak check: RSS after the first calls and after many more, same load.
  const leak: Record<"ours" | "base", Figures> = { ours: {}, base: {} };
  for (const who of ["ours", "base"] as const) {
    const s = servers.insecure?.[who];
    if (s === undefined) continue;
    const client = connect(s.address);
    await load(client, database, LEAK.first, 16);
    const first = rssMB(s.process.pid ?? 0, "VmRSS");
    await load(client, database, LEAK.total - LEAK.first, 16);
    const last = rssMB(s.process.pid ?? 0, "VmRSS");
    client.close();
    leak[who] = { rss_first_mb: first, rss_last_mb: last, rss_growth_pct: ((last - first) / first) * 100 };
  }
  record(`leak.database.${LEAK.first}_to_${LEAK.total}`, leak.ours, leak.base);
  record("startup", { serving_ms: await startupMs(OURS) }, { serving_ms: await startupMs("bench/baseline.ts") });
}

try {
  await main();
} finally {
  await stopAllServers();
  rmSync(BUNDLE, { recursive: true, force: true });
}
