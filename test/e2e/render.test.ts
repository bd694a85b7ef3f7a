// The examples render exactly as a user runs them: through a running server that examples/functions.yaml points the
// Development runtime at (here started by the test, in plaintext as crossplane render needs), in-process, and with
// --serve; the three must print the same thing.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { readDocs } from "../../cli/yaml.ts";
import { azureValidator, coreValidator, repoRoot } from "../support/schema.ts";
import { startServer, stopAllServers, type RunningServer } from "../support/server-process.ts";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- rendered YAML
const exec = promisify(execFile);
let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ insecure: true });
});
afterAll(stopAllServers);

type Mode = "grpc" | "in-process" | "serve";
async function renderCli(mode: Mode, ...extra: string[]): Promise<Json[]> {
  const args =
    mode === "grpc"
      ? ["examples/database/xr.yaml", "compositions/database-postgres.yaml", "examples/functions.yaml", "-a", `render.crossplane.io/runtime-development-target=${server.address}`]
      : mode === "serve"
        ? ["examples/database/xr.yaml", "compositions/database-postgres.yaml", "examples/functions.yaml", "--serve"]
        : ["examples/database/xr.yaml"];
  const { stdout } = await exec(process.execPath, ["cli/main.ts", "render", ...args, ...extra], { cwd: repoRoot });
  return parseAllDocuments(stdout).map((d) => d.toJS() as Json);
}
const at = "2024-01-01T00:00:00Z";

const RESOURCE_NAME = "crossplane.io/composition-resource-name";
const nameOf = (d: Json) => d.metadata.annotations[RESOURCE_NAME] as string;
const owner = [{ apiVersion: "azplatform.io/v1alpha1", kind: "Database", name: "orders", uid: "", controller: true, blockOwnerDeletion: true }];

describe("crossplane render of examples/database", () => {
  it("first render: the XR, five managed resources and the Secret, each valid against its schema", async () => {
    const [xr, ...composed] = await renderCli("grpc");
    expect(xr).toEqual({
      apiVersion: "azplatform.io/v1alpha1",
      kind: "Database",
      metadata: { name: "orders", namespace: "team-payments" },
      status: {
        serverName: "pg-payments-orders-prod-edfe87",
        connectionSecretName: "orders-db",
        version: "16",
        storageGB: 128,
        conditions: [
          {
            lastTransitionTime: at,
            type: "Ready",
            status: "False",
            reason: "Creating",
            message:
              "Unready resources: connection-secret, database-orders, database-orders_audit, parameter-log_min_duration_statement, parameter-require_secure_transport, server",
          },
          {
            lastTransitionTime: at,
            type: "DatabaseReady",
            status: "False",
            reason: "Creating",
            message:
              "waiting for FlexibleServer pg-payments-orders-prod-edfe87: not created yet; FlexibleServerDatabase orders: not created yet; FlexibleServerDatabase orders_audit: not created yet; " +
              "FlexibleServerConfiguration log_min_duration_statement: not created yet; FlexibleServerConfiguration require_secure_transport: not created yet; Secret orders-db: not created yet",
          },
          { lastTransitionTime: at, type: "ChangesApplied", status: "True", reason: "Applied", message: "the Database spec and the DBA policy are applied" },
        ],
      },
    });
    expect(composed.map((d) => `${d.kind}/${nameOf(d)}`)).toEqual([
      "Secret/connection-secret",
      "FlexibleServerDatabase/database-orders",
      "FlexibleServerDatabase/database-orders_audit",
      "FlexibleServerConfiguration/parameter-log_min_duration_statement",
      "FlexibleServerConfiguration/parameter-require_secure_transport",
      "FlexibleServer/server",
    ]);
    const azure = azureValidator();
    const core = coreValidator();
    for (const d of composed) {
      const { ownerReferences, generateName, ...meta } = d.metadata;
      expect(ownerReferences).toEqual(owner);
      expect(meta.labels).toEqual({ "azplatform.io/team": "payments", "crossplane.io/composite": "orders" });
      expect(generateName).toBe(d.kind === "Secret" ? undefined : "orders-");
      const v = d.kind === "Secret" ? core : azure;
      expect({ name: nameOf(d), problems: v.validate({ ...d, metadata: meta }) }).toEqual({ name: nameOf(d), problems: [] });
    }
  });

  it("day-two render from examples/database/observed.yaml changes nothing and explains what is not ready", async () => {
    const [xr, ...composed] = await renderCli("grpc", "-o", "examples/database/observed.yaml", "-r");
    expect(xr?.status).toEqual({
      serverName: "pg-payments-orders-prod-edfe87",
      fqdn: "pg-payments-orders-prod-edfe87.postgres.database.azure.com",
      connectionSecretName: "orders-db",
      version: "16",
      storageGB: 128,
      conditions: [
        { lastTransitionTime: at, type: "Ready", status: "False", reason: "Creating", message: "Unready resources: parameter-log_min_duration_statement" },
        {
          lastTransitionTime: at,
          type: "DatabaseReady",
          status: "False",
          reason: "Creating",
          message: "waiting for FlexibleServerConfiguration log_min_duration_statement: not synced: ReconcileError (async update failed: parameter value 2000 requires a server restart)",
        },
        { lastTransitionTime: at, type: "ChangesApplied", status: "True", reason: "Applied", message: "the Database spec and the DBA policy are applied" },
      ],
    });
    // Steady state: what the function wants is exactly what is observed, so a reconcile applies no change and
    // the admin password is the one already in the Secret.
    const observed = new Map(readDocs("examples/database/observed.yaml").map((d) => [nameOf(d), d]));
    const results = composed.filter((d) => d.kind === "Result");
    expect(results).toEqual([]);
    for (const d of composed) {
      const o = observed.get(nameOf(d));
      expect(o, nameOf(d)).toBeDefined();
      expect({ name: nameOf(d), spec: d.spec, data: d.data }).toEqual({ name: nameOf(d), spec: o?.spec, data: o?.data });
    }
  });

  it.each(["in-process", "serve"] as const)("renders %s exactly what the running server renders", async (mode) => {
    // Day two, so the admin password comes from the observed Secret and the three outputs are byte for byte comparable.
    const viaServer = await renderCli("grpc", "-o", "examples/database/observed.yaml", "-r");
    expect(await renderCli(mode, "-o", "examples/database/observed.yaml", "-r")).toEqual(viaServer);
    // First render: everything but the freshly generated password is the same.
    const strip = (docs: Json[]) => docs.map((d) => (d.kind === "Secret" ? { ...d, data: { ...d.data, password: "*", uri: "*" } } : d));
    expect(strip(await renderCli(mode))).toEqual(strip(await renderCli("grpc")));
  });

  it("a fatal result fails the render with the function's message", async () => {
    const dir = mkdtempSync(join(tmpdir(), "render-"));
    const bad = join(dir, "xr.yaml");
    writeFileSync(bad, readFileSync(join(repoRoot, "examples/database/xr.yaml"), "utf8").replace("size: medium", "size: huge"));
    const args = ["cli/main.ts", "render", bad, "compositions/database-postgres.yaml", "examples/functions.yaml", "-a", `render.crossplane.io/runtime-development-target=${server.address}`];
    const err = await exec(process.execPath, args, { cwd: repoRoot }).then(
      () => undefined,
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(err).toMatchObject({
      code: 1,
      stdout: "",
      stderr: 'render: pipeline step "provision-postgres" returned a fatal result: the Database is invalid: spec.size: Invalid option: expected one of "small"|"medium"|"large"\n',
    });
  });
});
