// The Dockerfile, followed step by step without Docker (none runs here): its build stage's COPY and RUN lines in
// a scratch directory, then only what the image stage copies, started with the image's ENTRYPOINT in a directory
// with no node_modules anywhere above it. This is what shows that the image needs nothing but Node and the bundle,
// including the adapters it loads only when a rotation is due.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INSTALL_MANIFEST, clusterRuntime } from "../../bench/runtime.ts";
import { readDocs } from "../../cli/yaml.ts";
import { connect, type JsonObject, type PlainRequest } from "../support/proto-client.ts";
import { freePort, startServer, stopAllServers, type RunningServer } from "../support/server-process.ts";
import { repoRoot } from "../support/schema.ts";

interface Stage {
  name: string;
  workdir: string;
  copies: { from?: string; sources: string[]; dest: string }[];
  runs: string[];
  env: Record<string, string>;
  entrypoint?: string[];
}

function stages(dockerfile: string): Stage[] {
  const out: Stage[] = [];
  for (const raw of dockerfile.replace(/\\\n/g, " ").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [instr = "", ...rest] = line.split(/\s+/);
    const args = rest.join(" ");
    const stage = out.at(-1);
    switch (instr.toUpperCase()) {
      case "FROM":
        out.push({ name: /\bAS\s+(\S+)/i.exec(args)?.[1] ?? String(out.length), workdir: "/", copies: [], runs: [], env: {} });
        break;
      case "WORKDIR":
        if (stage) stage.workdir = resolve(stage.workdir, args);
        break;
      case "COPY": {
        const words = rest.filter((w) => !w.startsWith("--") || w.startsWith("--from="));
        const from = words.find((w) => w.startsWith("--from="))?.slice("--from=".length);
        const paths = words.filter((w) => !w.startsWith("--"));
        stage?.copies.push({ ...(from === undefined ? {} : { from }), sources: paths.slice(0, -1), dest: paths.at(-1) ?? "" });
        break;
      }
      case "RUN":
        stage?.runs.push(args);
        break;
      case "ENV": {
        // ENV KEY="value with spaces" (one pair per line, as this Dockerfile writes it).
        const pair = /^([A-Za-z_][A-Za-z0-9_]*)=(?:"([^"]*)"|(\S*))$/.exec(args);
        if (pair === null) throw new Error(`Dockerfile: ENV ${args} is not one KEY=value pair, which this test reads`);
        if (stage) stage.env[pair[1] ?? ""] = pair[2] ?? pair[3] ?? "";
        break;
      }
      case "ENTRYPOINT":
        if (stage) stage.entrypoint = JSON.parse(args) as string[];
        break;
    }
  }
  return out;
}

const root = mkdtempSync(join(tmpdir(), "fap-image-"));
/** Maps a path inside a stage's filesystem to the scratch directory standing in for it. */
const inStage = (stage: string, p: string) => join(root, stage, p);
let build: Stage;
let image: Stage;
let server: RunningServer;
let closedPort: number;

beforeAll(async () => {
  const all = stages(readFileSync(join(repoRoot, "Dockerfile"), "utf8"));
  build = all.find((s) => s.name === "build") as Stage;
  image = all.at(-1) as Stage;
  for (const c of build.copies) {
    for (const src of c.sources) {
      const dest = inStage("build", resolve(build.workdir, c.dest, c.dest.endsWith("/") || c.sources.length > 1 ? src.split("/").at(-1) ?? src : ""));
      mkdirSync(dirname(dest), { recursive: true });
      cpSync(join(repoRoot, src), dest, { recursive: true });
    }
  }
  const cwd = inStage("build", build.workdir);
  for (const run of build.runs) {
    // `npm ci` is the one step stood in for: the repository's installed node_modules (same lock file).
    if (/^npm ci\b/.test(run)) symlinkSync(join(repoRoot, "node_modules"), join(cwd, "node_modules"));
    else execFileSync("sh", ["-c", run], { cwd, stdio: "pipe" });
  }
  for (const c of image.copies) {
    const stage = c.from ?? "context";
    for (const src of c.sources) cpSync(inStage(stage, src), inStage("image", resolve(image.workdir, c.dest)), { recursive: true });
  }
  const [nodeBinary, ...args] = image.entrypoint ?? [];
  expect(nodeBinary).toBe("/nodejs/bin/node"); // distroless's node
  const kubeconfig = join(root, "kubeconfig");
  // A cluster that refuses connections: a due rotation must reach the Kubernetes adapter and fail in plain words.
  closedPort = await freePort();
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:${closedPort}'}}]\n` +
      "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n",
  );
  server = await startServer({
    insecure: true,
    entry: args[0] ?? "",
    cwd: inStage("image", image.workdir),
    env: { ...image.env, KUBECONFIG: kubeconfig, NODE_PATH: "" },
  });
}, 120_000);
afterAll(async () => {
  await stopAllServers();
  rmSync(root, { recursive: true, force: true });
});

describe("the image the Dockerfile builds", () => {
  it("holds the bundle and nothing else: no node_modules in the image or above it", () => {
    const files = execFileSync("find", [".", "-type", "f"], { cwd: inStage("image", "/"), encoding: "utf8" }).trim().split("\n").sort();
    expect(files.every((f) => f.startsWith(`.${image.workdir}/`) && f.endsWith(".mjs"))).toBe(true);
    expect(files).toContain(`.${image.workdir}/main.mjs`);
    for (let d = inStage("image", image.workdir); d !== dirname(d); d = dirname(d)) expect(existsSync(join(d, "node_modules"))).toBe(false);
  });

  it("sets the V8 heap flags that examples/install gives the container beside its memory limit", () => {
    const installed = clusterRuntime(join(repoRoot, INSTALL_MANIFEST));
    expect(image.env).toEqual({ NODE_OPTIONS: installed.nodeOptions });
    expect(installed.nodeOptions).toMatch(/--max-old-space-size=\d+/);
  });

  it("serves the example Database", async () => {
    const [xr] = readDocs(join(repoRoot, "examples/database/xr.yaml")) as JsonObject[];
    const [composition] = readDocs(join(repoRoot, "compositions/database-postgres.yaml")) as JsonObject[];
    const input = ((composition?.spec as JsonObject).pipeline as JsonObject[])[0]?.input as JsonObject;
    const client = connect(server.address);
    // Crossplane's second call: the connection Secret and the admin Secret were looked up and do not exist.
    const rsp = await client.runFunction({ meta: { tag: "image" }, observed: { composite: { resource: xr as JsonObject } }, input, requiredResources: { "connection-secret": {}, "admin-secret": {} } });
    client.close();
    expect(rsp.results ?? []).toEqual([]);
    const alerts = ["active-connections", "cpu", "failed-connections", "iops", "memory", "server-alive", "storage", "storage-free", "transaction-id-wraparound"].map((a) => `alert-${a}`);
    const extensions = ["orders", "orders_audit"].flatMap((d) => [`extension-${d}-pg_trgm`, `extension-${d}-vector`]);
    const parameters = ["azure.extensions", "log_min_duration_statement", "require_secure_transport"].map((p) => `parameter-${p}`);
    expect(Object.keys(rsp.desired?.resources ?? {}).sort()).toEqual(
      [...alerts, "admin-secret", "connection-secret", "database-orders", "database-orders_audit", "diagnostics", ...extensions, ...parameters, "server", "sql-provider-config"].sort(),
    );
  });

  it("loads the Kubernetes, PostgreSQL and Azure adapters when a rotation is due, and reports the unreachable cluster", async () => {
    const [rotationComposition] = readDocs(join(repoRoot, "compositions/secret-rotation.yaml")) as JsonObject[];
    const input = ((rotationComposition?.spec as JsonObject).pipeline as JsonObject[])[0]?.input as JsonObject;
    const [xr] = readDocs(join(repoRoot, "examples/secret-rotation/database-admin.yaml")) as JsonObject[];
    const req: PlainRequest = {
      meta: { tag: "image" },
      observed: { composite: { resource: xr as JsonObject } },
      input,
      credentials: { azure: { credentialData: { data: { clientId: Buffer.from("c"), clientSecret: Buffer.from("s"), tenantId: Buffer.from("t") } } } },
      // Crossplane's second call: the Database it names, found in the SecretRotation's namespace.
      requiredResources: {
        "database-orders": {
          items: [{ resource: { apiVersion: "azplatform.io/v1alpha1", kind: "Database", metadata: { name: "orders", namespace: "team-payments" }, status: { serverName: "pg-payments-orders-prod-edfe87", resourceGroupName: "rg-data-prod", connectionSecretName: "orders-db", adminSecretName: "orders-db-admin" } } }],
        },
      },
    };
    const client = connect(server.address);
    const rsp = await client.runFunction(req, { deadlineMs: 60_000 });
    client.close();
    expect(rsp.results).toEqual([
      {
        severity: "SEVERITY_WARNING",
        reason: "StateUnavailable",
        message: `cannot rotate now: cannot reach the Kubernetes API to read Secret orders-admin-password-rotation-state: fetch failed (connect ECONNREFUSED 127.0.0.1:${closedPort}); the rotation resumes from its last saved step, retrying in 30 s`,
        target: "TARGET_COMPOSITE",
      },
    ]);
  });
});
