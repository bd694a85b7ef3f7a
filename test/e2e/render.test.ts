// The examples render through the real server exactly as a user runs them: examples/functions.yaml points the
// Development runtime at a running server (here started by the test, in plaintext as crossplane render needs).
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { readDocs } from "../../scripts/render.ts";
import { azureValidator, coreValidator, repoRoot } from "../support/schema.ts";
import { startServer, stopAllServers, type RunningServer } from "../support/server-process.ts";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- rendered YAML
const exec = promisify(execFile);
let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ insecure: true });
});
afterAll(stopAllServers);

async function renderCli(...extra: string[]): Promise<Json[]> {
  const { stdout } = await exec(
    process.execPath,
    [
      "scripts/render.ts",
      "examples/database/xr.yaml",
      "compositions/database-postgres.yaml",
      "examples/functions.yaml",
      "-a",
      `render.crossplane.io/runtime-development-target=${server.address}`,
      ...extra,
    ],
    { cwd: repoRoot },
  );
  return parseAllDocuments(stdout).map((d) => d.toJS() as Json);
}

const RESOURCE_NAME = "crossplane.io/composition-resource-name";
const nameOf = (d: Json) => d.metadata.annotations[RESOURCE_NAME] as string;
const owner = [{ apiVersion: "azplatform.io/v1alpha1", kind: "Database", name: "orders", uid: "", controller: true, blockOwnerDeletion: true }];

describe("crossplane render of examples/database", () => {
  it("first render: the XR, five managed resources and the Secret, each valid against its schema", async () => {
    const [xr, ...composed] = await renderCli();
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
            type: "DatabaseReady",
            status: "False",
            reason: "Creating",
            message:
              "waiting for FlexibleServer pg-payments-orders-prod-edfe87: not created yet; FlexibleServerDatabase orders: not created yet; FlexibleServerDatabase orders_audit: not created yet; " +
              "FlexibleServerConfiguration log_min_duration_statement: not created yet; FlexibleServerConfiguration require_secure_transport: not created yet; Secret orders-db: not created yet",
          },
          { type: "ChangesApplied", status: "True", reason: "Applied", message: "the Database spec and the DBA policy are applied" },
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
    const [xr, ...composed] = await renderCli("-o", "examples/database/observed.yaml", "-r");
    expect(xr?.status).toEqual({
      serverName: "pg-payments-orders-prod-edfe87",
      fqdn: "pg-payments-orders-prod-edfe87.postgres.database.azure.com",
      connectionSecretName: "orders-db",
      version: "16",
      storageGB: 128,
      conditions: [
        {
          type: "DatabaseReady",
          status: "False",
          reason: "Creating",
          message: "waiting for FlexibleServerConfiguration log_min_duration_statement: not synced: ReconcileError (async update failed: parameter value 2000 requires a server restart)",
        },
        { type: "ChangesApplied", status: "True", reason: "Applied", message: "the Database spec and the DBA policy are applied" },
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

  it("a fatal result fails the render with the function's message", async () => {
    const dir = mkdtempSync(join(tmpdir(), "render-"));
    const bad = join(dir, "xr.yaml");
    writeFileSync(bad, readFileSync(join(repoRoot, "examples/database/xr.yaml"), "utf8").replace("size: medium", "size: huge"));
    const args = ["scripts/render.ts", bad, "compositions/database-postgres.yaml", "examples/functions.yaml", "-a", `render.crossplane.io/runtime-development-target=${server.address}`];
    const err = await exec(process.execPath, args, { cwd: repoRoot }).then(
      () => undefined,
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(err).toMatchObject({
      code: 1,
      stdout: "",
      stderr: 'crossplane render (local): pipeline step "provision-postgres" returned a fatal result: the Database is invalid: spec.size: Invalid option: expected one of "small"|"medium"|"large"\n',
    });
  });
});
