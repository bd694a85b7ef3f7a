// Our render against the real one: crossplane render (CLI v2.5.0) running core v2.3.4's XR reconciler through
// --crossplane-binary, on every example this package renders, compared document by document and field by field, and
// line by line. The real render reaches this package's function over plaintext gRPC at the Development target;
// ours calls the same server (gRPC) or runs the function in-process. The function server's Kubernetes API is one
// that cannot be reached, so a due rotation fails where it would start, as it does on a laptop without a cluster.
// Also checks that the recordings in test/e2e/crossplane-render, which the npm tier compares ours with, are still
// what the real command prints.
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { renderUid } from "../../cli/reconciler.ts";
import { REPO_ROOT } from "../support/proto-client.ts";
import { passwordGenerated, recorded, renderedDocs, unreadyInNameOrder, type RenderedDoc } from "../support/render-output.ts";
import { startServer, stopAllServers, type RunningServer } from "../support/server-process.ts";
import { cluster } from "./context.ts";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- YAML documents
const exec = promisify(execFile);
const { info } = cluster();

const dir = mkdtempSync(join(tmpdir(), "render-"));
let server: RunningServer;
const file = (name: string) => join(dir, name);

/** Writes the inputs the examples do not have as files: an idle rotation, a day two with the Secret gone. */
async function writeInputs(): Promise<void> {
  await writeFile(
    file("kubeconfig"),
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "none", cluster: { server: "https://127.0.0.1:1", "insecure-skip-tls-verify": true } }],
      users: [{ name: "none", user: { token: "none" } }],
      contexts: [{ name: "none", context: { cluster: "none", user: "none" } }],
      "current-context": "none",
    }),
  );
  // crossplane render needs the Secret a step's credentials name; the values are never used offline.
  const placeholder = Buffer.from("placeholder").toString("base64");
  await writeFile(
    file("credentials.yaml"),
    stringify({ apiVersion: "v1", kind: "Secret", metadata: { name: "secret-rotation-azure", namespace: "crossplane-system" }, data: { clientId: placeholder, clientSecret: placeholder, tenantId: placeholder } }),
  );
  const example = async (f: string) => parse(await readFile(join(REPO_ROOT, f), "utf8")) as Obj;
  const idle = (schedule: string) => ({ phase: "Idle", currentVersion: 3, lastRotatedAt: "2026-11-23T03:00:00.000Z", nextRotationAt: "2099-01-05T03:00:00.000Z", schedule });
  await writeFile(file("admin-idle.yaml"), stringify({ ...(await example("examples/secret-rotation/database-admin.yaml")), status: idle("720h") }));
  await writeFile(file("app-role-idle.yaml"), stringify({ ...(await example("examples/secret-rotation/app-role.yaml")), status: idle("0 3 * * 1") }));
  const observed = (await readFile(join(REPO_ROOT, "examples/database/observed.yaml"), "utf8")).split(/^---$/m);
  const isSecret = (d: string) => /^kind: Secret$/m.test(d) && /composition-resource-name: connection-secret$/m.test(d);
  await writeFile(file("observed-without-secret.yaml"), observed.filter((d) => !isSecret(d)).join("---"));
  // The same Secret, missing from the observed resources (a cache miss): what a lookup by name finds. Crossplane
  // composed it, so it carries the XR's controller reference (the uid crossplane render gives the example XR).
  const secretDoc = parse(observed.filter(isSecret).join("")) as Obj;
  delete secretDoc.metadata.annotations["crossplane.io/composition-resource-name"];
  const xr = await example("examples/database/xr.yaml");
  secretDoc.metadata.ownerReferences = [{ apiVersion: xr.apiVersion, kind: xr.kind, name: xr.metadata.name, uid: renderUid(xr), controller: true, blockOwnerDeletion: true }];
  await writeFile(file("required-secret.yaml"), stringify(secretDoc));
  // The Database the rotation examples name, as Crossplane finds it in their namespace once it is composed.
  const status = { serverName: "pg-payments-orders-prod-edfe87", resourceGroupName: "rg-data-prod", connectionSecretName: "orders-db", adminSecretName: "orders-db-admin" };
  await writeFile(file("required-database.yaml"), stringify({ ...xr, status }));
  await writeFile(file("xr-invalid.yaml"), (await readFile(join(REPO_ROOT, "examples/database/xr.yaml"), "utf8")).replace("size: medium", "size: huge"));
}

beforeAll(async () => {
  await writeInputs();
  server = await startServer({ insecure: true, env: { KUBECONFIG: file("kubeconfig"), METRICS_ADDRESS: "off" } });
});
afterAll(async () => {
  await stopAllServers();
  await rm(dir, { recursive: true, force: true });
});

interface Case {
  xr: string;
  composition: string;
  flags: string[];
  /** A first render generates the admin password anew every time. */
  generated?: boolean;
  /** A rotation that is due: in-process, ours stops before it would reach the cluster. */
  due?: boolean;
  /** The recording in test/e2e/crossplane-render that the real output must still match. */
  recording?: { name: string; withoutResults?: boolean };
}

const DATABASE = { xr: "examples/database/xr.yaml", composition: "compositions/database-postgres.yaml" };
const ROTATION = { composition: "compositions/secret-rotation.yaml" };
const OBSERVED = ["-o", "examples/database/observed.yaml"];
const CREDENTIALS = ["--function-credentials", file("credentials.yaml"), "-e", file("required-database.yaml")];

const cases: Record<string, Case> = {
  DatabaseFirstRender: { ...DATABASE, flags: [], generated: true, recording: { name: "database-first", withoutResults: true } },
  DatabaseFirstRenderWithResults: { ...DATABASE, flags: ["-r"], generated: true, recording: { name: "database-first" } },
  DatabaseDayTwo: { ...DATABASE, flags: OBSERVED, recording: { name: "database-day-two", withoutResults: true } },
  DatabaseDayTwoWithResults: { ...DATABASE, flags: [...OBSERVED, "-r"], recording: { name: "database-day-two" } },
  DatabaseDayTwoWithTheFullXr: { ...DATABASE, flags: [...OBSERVED, "-x"], recording: { name: "database-day-two-full-xr" } },
  DatabaseDayTwoSecretGone: { ...DATABASE, flags: ["-o", file("observed-without-secret.yaml"), "-r"], generated: true },
  DatabaseDayTwoSecretFoundByLookup: { ...DATABASE, flags: ["-o", file("observed-without-secret.yaml"), "-e", file("required-secret.yaml"), "-r"] },
  RotationOfTheAdminPasswordNotDue: { ...ROTATION, xr: file("admin-idle.yaml"), flags: [...CREDENTIALS, "-r"] },
  RotationOfAnAppRoleNotDue: { ...ROTATION, xr: file("app-role-idle.yaml"), flags: [...CREDENTIALS, "-r"] },
  RotationOfTheAdminPasswordDue: { ...ROTATION, xr: "examples/secret-rotation/database-admin.yaml", flags: [...CREDENTIALS, "-r"], due: true },
  RotationOfAnAppRoleDue: { ...ROTATION, xr: "examples/secret-rotation/app-role.yaml", flags: [...CREDENTIALS, "-r"], due: true },
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
const run = (binary: string, args: string[]): Promise<Run> =>
  exec(binary, args, { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: Run) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
const target = () => ["-a", `render.crossplane.io/runtime-development-target=${server.address}`];

function realRender(c: Case): Promise<Run> {
  return run(info.cli, ["render", c.xr, c.composition, "examples/functions.yaml", ...c.flags, `--crossplane-binary=${info.core}`, ...target()]);
}
/** Ours calling the same server, or with no functions file, running the function in-process. */
function ourRender(c: Case, mode: "grpc" | "in-process"): Promise<Run> {
  const positional = mode === "grpc" ? [c.xr, c.composition, "examples/functions.yaml"] : [c.xr, c.composition];
  return run(process.execPath, ["cli/main.ts", "render", ...positional, ...c.flags, ...(mode === "grpc" ? target() : [])]);
}

/** The two edits any two renders need before they compare (test/support/render-output.ts). */
function comparable(stdout: string, c: Case): RenderedDoc[] {
  const docs = unreadyInNameOrder(renderedDocs(stdout));
  return c.generated ? passwordGenerated(docs) : docs;
}

/**
 * A due rotation, as ours prints it in-process: ours does not call the function, because the function would go on
 * to Kubernetes, Azure and PostgreSQL; the real render does, and the function reports why it cannot rotate (here:
 * the unreachable API) in its RotationSucceeded condition and a result. Everything else must match.
 */
function withoutTheDueRotationsAnswer(docs: RenderedDoc[]): Obj[] {
  return docs
    .map((d) => d.doc)
    .filter((d) => !(d.kind === "Result" && String(d.message).startsWith('Pipeline step "rotate":')))
    .map((d) => (d.status?.conditions ? { ...d, status: { ...d.status, conditions: (d.status.conditions as Obj[]).filter((c) => c.type !== "RotationSucceeded") } } : d));
}

describe("ours prints what crossplane render prints", () => {
  const real = new Map<string, Promise<Run>>();
  const realOf = (name: string, c: Case) => {
    let p = real.get(name);
    if (p === undefined) real.set(name, (p = realRender(c)));
    return p;
  };

  for (const [name, c] of Object.entries(cases)) {
    for (const mode of ["grpc", "in-process"] as const) {
      it(`${name} (${mode})`, async () => {
        const [want, got] = await Promise.all([realOf(name, c), ourRender(c, mode)]);
        expect({ code: want.code, stderr: want.stderr }).toEqual({ code: 0, stderr: "" });
        expect(got.code).toBe(0);
        const wantDocs = comparable(want.stdout, c);
        const gotDocs = comparable(got.stdout, c);
        if (c.due === true && mode === "in-process") {
          expect(gotDocs.map((d) => d.doc)).toEqual(withoutTheDueRotationsAnswer(wantDocs));
          return;
        }
        expect(gotDocs.map((d) => d.doc)).toEqual(wantDocs.map((d) => d.doc));
        expect(gotDocs.map((d) => d.text)).toEqual(wantDocs.map((d) => d.text));
      });
    }
  }

  for (const [name, c] of Object.entries(cases)) {
    const { recording } = c;
    if (recording === undefined) continue;
    it(`${name}: the recording test/e2e/crossplane-render/${recording.name}.yaml is what it prints`, async () => {
      const want = recorded(recording.name).filter((d) => !(recording.withoutResults === true && d.doc.kind === "Result"));
      expect(comparable((await realOf(name, c)).stdout, c).map((d) => d.text)).toEqual(want.map((d) => d.text));
    });
  }

  it("a fatal result fails both, with the function's message", async () => {
    const c = { ...DATABASE, xr: file("xr-invalid.yaml"), flags: [] };
    const message = 'pipeline step "provision-postgres" returned a fatal result: the Database is invalid: spec.size: Invalid option: expected one of "small"|"medium"|"large"';
    const [want, got] = await Promise.all([realRender(c), ourRender(c, "grpc")]);
    expect({ code: want.code, stdout: want.stdout, fatal: want.stderr.includes(message) }).toEqual({ code: 1, stdout: "", fatal: true });
    // Ours also says, before running anything, that the XRD refuses the value.
    const warning = `render: warning: ${c.xr}:11: spec.size: unsupported value "huge": supported values: "small", "medium", "large" (the Database XRD refuses it: the API server would not accept this XR)`;
    expect({ code: got.code, stdout: got.stdout, stderr: got.stderr }).toEqual({ code: 1, stdout: "", stderr: `${warning}\nrender: ${message}\n` });
  });
});
