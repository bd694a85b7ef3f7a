// npm run bench:profile [-- --scenario database|rotation_idle] [-- --calls N] [-- --entry FILE (default: the bundle)] [-- --top N]
// Runs one scenario against the server under `node --cpu-prof` and prints where its CPU time goes: self time by
// package and by function, from the V8 profile it writes (open the .cpuprofile in Chrome DevTools for the tree).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connect } from "../test/support/proto-client.ts";
import { startServer, stopAllServers } from "../test/support/server-process.ts";
import { bundle } from "../scripts/bundle.ts";
import { load, scenarios } from "./requests.ts";
import { clusterRuntime } from "./runtime.ts";

const { values } = parseArgs({ options: { scenario: { type: "string", default: "database" }, calls: { type: "string", default: "5000" }, entry: { type: "string" }, top: { type: "string", default: "25" } } });
const req = scenarios[values.scenario ?? ""];
if (req === undefined) throw new Error(`--scenario must be one of ${Object.keys(scenarios).join(", ")}`);
// The default: the bundle as the image runs it, built into a directory of its own (a test run may be using dist/server).
let entry = values.entry ?? "";
let bundleDir: string | undefined;
if (values.entry === undefined) {
  bundleDir = mkdtempSync(join(tmpdir(), "fn-prof-bundle-"));
  await bundle(bundleDir);
  entry = join(bundleDir, "main.mjs");
}
const dir = mkdtempSync(join(tmpdir(), "fn-prof-"));
// With the V8 flags the cluster gives the server (examples/install/function.yaml): they set how often it collects garbage.
const server = await startServer({ insecure: true, entry, env: { NODE_OPTIONS: `${clusterRuntime().nodeOptions} --cpu-prof --cpu-prof-dir=${dir}`.trim() } });
const client = connect(server.address);
const calls = Number(values.calls);
await load(client, req, calls, 16);
client.close();
await server.stop("SIGTERM");
await stopAllServers();
if (bundleDir !== undefined) rmSync(bundleDir, { recursive: true, force: true });

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
if (file === undefined) throw new Error(`no profile written in ${dir}`);
const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const where = (url: string) => {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1] ?? url;
  if (url.startsWith("node:")) return url;
  if (url === "") return "(native/vm)";
  return url.includes("/functions/") ? "functions (ours)" : url.replace(/^file:\/\/.*\/(dist|bench|fn-prof-bundle-[^/]+)\//, "$1/");
};
const sum = (key: (n: Node) => string) => {
  const m = new Map<string, number>();
  for (const [id, t] of self) {
    const n = byId.get(id);
    if (n) m.set(key(n), (m.get(key(n)) ?? 0) + t);
  }
  return [...m].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top));
};
const print = (title: string, rows: [string, number][]) => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, t] of rows) process.stdout.write(`${((t / total) * 100).toFixed(1).padStart(5)}%  ${(t / 1000 / calls).toFixed(3)} ms/call  ${k}\n`);
};
print(`self time by package (${(total / 1e6).toFixed(2)} s over ${calls} calls)`, sum((n) => where(n.callFrame.url)));
print("self time by function", sum((n) => `${n.callFrame.functionName || "(anonymous)"} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`));
process.stdout.write(`\nprofile: ${join(dir, file)}\n`);
