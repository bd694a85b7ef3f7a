// npm run bench [-- --quick] [-- --json]
// Drives the real server (a separate process) over real gRPC with realistic requests, beside a baseline built on
// the official SDK's server that echoes desired state, in the same run, and prints every figure with its ratio.
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { readDocs } from "../cli/yaml.ts";
import { startAzureFake } from "../test/servers/azure/index.ts";
import { startKubeFake } from "../test/servers/kubernetes.ts";
import { makeTestPki } from "../test/support/certs.ts";
import { clientCredentials, connect, healthCheck, type JsonObject, type PlainRequest, type RunFunctionClient } from "../test/support/proto-client.ts";
import { freePort, startServer, stopAllServers, type RunningServer } from "../test/support/server-process.ts";

const { values } = parseArgs({ options: { quick: { type: "boolean" }, json: { type: "boolean" } } });
const quick = values.quick ?? false;
const CALLS = quick ? 400 : 5000;
const WARMUP = quick ? 50 : 500;
const CONCURRENCY = [1, 16, 64];
const LEAK = quick ? { first: 1_000, total: 8_000 } : { first: 20_000, total: 200_000 };
const CLK_TCK = 100;

// ---- requests ----------------------------------------------------------------------------------------------
const [xr] = readDocs("examples/database/xr.yaml") as JsonObject[];
const [composition] = readDocs("compositions/database-postgres.yaml") as JsonObject[];
const observed = readDocs("examples/database/observed.yaml") as JsonObject[];
const dbInput = ((composition?.spec as JsonObject).pipeline as JsonObject[])[0]?.input as JsonObject;
const resources = Object.fromEntries(observed.map((r) => [((r.metadata as JsonObject).annotations as Record<string, string>)["crossplane.io/composition-resource-name"], { resource: r }]));
const database: PlainRequest = { meta: { tag: "bench" }, observed: { composite: { resource: xr as JsonObject }, resources }, input: dbInput };

const [rotationComposition] = readDocs("compositions/secret-rotation.yaml") as JsonObject[];
const rotationInput = ((rotationComposition?.spec as JsonObject).pipeline as JsonObject[])[0]?.input as JsonObject;
const [rotationXr] = readDocs("examples/secret-rotation/database-admin.yaml") as JsonObject[];
const rotationIdle: PlainRequest = {
  meta: { tag: "bench" },
  observed: {
    composite: {
      resource: {
        ...(rotationXr as JsonObject),
        status: { phase: "Idle", currentVersion: 3, lastRotatedAt: new Date().toISOString(), nextRotationAt: new Date(Date.now() + 20 * 86_400_000).toISOString(), schedule: "720h" },
      },
    },
  },
  input: rotationInput,
  credentials: { azure: { credentialData: { data: { clientId: Buffer.from("c"), clientSecret: Buffer.from("s"), tenantId: Buffer.from("t") } } } },
};
const scenarios: Record<string, PlainRequest> = { database, rotation_idle: rotationIdle };

// ---- measurement -------------------------------------------------------------------------------------------
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}
function rssMB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) / 1024;
}
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

async function load(client: RunFunctionClient, req: PlainRequest, calls: number, concurrency: number) {
  const lat: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < calls) {
      next++;
      const t = process.hrtime.bigint();
      const rsp = await client.runFunction(req, { deadlineMs: 30_000 });
      lat.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (rsp.results?.some((r) => r.severity === "SEVERITY_FATAL")) throw new Error(`fatal result: ${rsp.results[0]?.message}`);
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  lat.sort((a, b) => a - b);
  return { p50: pct(lat, 50), p90: pct(lat, 90), p99: pct(lat, 99), throughput: calls / seconds };
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
  for (let i = 0; i < 5; i++) {
    const port = await freePort();
    const t = Date.now();
    const child = spawn(process.execPath, [entry, "--insecure", "--address", `127.0.0.1:${port}`], { stdio: "ignore", env: { ...process.env, METRICS_ADDRESS: "127.0.0.1:0" } });
    for (;;) {
      const status = await healthCheck(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), "", { deadlineMs: 200 }).catch(() => "DOWN");
      if (status === "SERVING") break;
      await new Promise((r) => setTimeout(r, 5));
    }
    times.push(Date.now() - t);
    child.kill("SIGKILL");
  }
  times.sort((a, b) => a - b);
  return times[2] ?? 0;
}

// Measure what ships: the compiled server the image runs, not the TypeScript sources.
const OURS = "dist/functions/main.js";

/** Bytes of a directory tree, not descending into `skip` (nested node_modules are counted as their own packages). */
function treeBytes(dir: string, skip = "node_modules"): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) {
      if (e.name !== skip) n += treeBytes(join(dir, e.name), skip);
    } else if (e.isFile()) n += statSync(join(dir, e.name)).size;
  }
  return n;
}

/** What the image ships besides Node: dist/ plus every package `npm ci --omit=dev` installs (the Dockerfile's deps stage). */
function imageMB(): { dist_mb: number; node_modules_mb: number; total_mb: number } {
  const ls = spawnSync("npm", ["ls", "--omit=dev", "--all", "--parseable"], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  const dirs = [...new Set(ls.stdout.split("\n").filter((l) => l.includes("/node_modules/")))];
  const mb = (b: number) => b / 1024 / 1024;
  const deps = mb(dirs.reduce((sum, d) => sum + treeBytes(d), 0));
  const dist = mb(treeBytes("dist"));
  return { dist_mb: dist, node_modules_mb: deps, total_mb: dist + deps };
}

async function main() {
  const built = spawnSync("npm", ["run", "-s", "build"], { stdio: "inherit" });
  if (built.status !== 0) throw new Error("npm run build failed");
  const pki = await makeTestPki();
  const kube = await startKubeFake();
  const azure = await startAzureFake({ vaults: ["kv-payments"] });
  const kubeconfig = join(tmpdir(), `bench-kubeconfig-${process.pid}`);
  writeFileSync(kubeconfig, kube.kubeconfigYaml());
  const env = { KUBECONFIG: kubeconfig, NODE_EXTRA_CA_CERTS: azure.caFile, HTTPS_PROXY: azure.proxy.url, NO_PROXY: "127.0.0.1,localhost" };
  const servers: Record<string, { ours: RunningServer; base: RunningServer }> = {
    insecure: { ours: await startServer({ insecure: true, env, entry: OURS }), base: await startServer({ insecure: true, entry: "bench/baseline.ts" }) },
    mtls: { ours: await startServer({ pki, env, entry: OURS }), base: await startServer({ pki, entry: "bench/baseline.ts" }) },
  };
  const creds = { insecure: grpc.credentials.createInsecure(), mtls: clientCredentials(pki).mtls };
  for (const [name, req] of Object.entries(scenarios)) {
    for (const transport of ["insecure", "mtls"] as const) {
      for (const c of CONCURRENCY) {
        const pair = servers[transport];
        if (pair === undefined) continue;
        const figures: Record<"ours" | "base", Figures> = { ours: {}, base: {} };
        kube.resetCalls();
        azure.resetCalls();
        for (const who of ["ours", "base"] as const) {
          const s = pair[who];
          const client = connect(s.address, creds[transport]);
          await load(client, req, WARMUP, c);
          const cpu0 = cpuSeconds(s.process.pid ?? 0);
          const r = await load(client, req, CALLS, c);
          const cpu = cpuSeconds(s.process.pid ?? 0) - cpu0;
          client.close();
          figures[who] = { p50_ms: r.p50, p90_ms: r.p90, p99_ms: r.p99, throughput: r.throughput, cpu_s_per_1k: (cpu / CALLS) * 1000, peak_rss_mb: rssMB(s.process.pid ?? 0, "VmHWM") };
        }
        if (name === "rotation_idle") figures.ours.external_calls = kube.calls().length + azure.calls().length;
        record(`${name}.${transport}.c${c}`, figures.ours, figures.base);
      }
    }
  }
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
  record("image", imageMB(), {});

  await stopAllServers();
  await kube.close();
  await azure.close();
  if (values.json) {
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    const header = ["scenario", "figure", "function", "baseline", "ratio"];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
    for (const r of [header, ...rows]) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ")}\n`);
    process.stdout.write(`\n${new Date().toISOString()} · ${(await import("node:os")).cpus().length} cores · node ${process.version} · ${quick ? "--quick" : "full"} (${CALLS} calls per cell)\n`);
  }
}

await main();
