// The examples render exactly as the real crossplane render printed them (test/e2e/crossplane-render, recorded from
// CLI v2.5.0 with core v2.3.4 and checked against the real command in the cluster tier), byte for byte: through a
// running server that examples/functions.yaml points the Development runtime at (here started by the test, in
// plaintext as crossplane render needs), in-process, and with --serve.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { coreValidator, providerValidator, repoRoot } from "../support/schema.ts";
import { passwordGenerated, recorded, renderedDocs, unreadyInNameOrder, type RenderedDoc } from "../support/render-output.ts";
import { startServer, stopAllServers, type RunningServer } from "../support/server-process.ts";

const exec = promisify(execFile);
let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ insecure: true });
});
afterAll(stopAllServers);

const EXAMPLE = ["examples/database/xr.yaml", "compositions/database-postgres.yaml", "examples/functions.yaml"];
const OBSERVED = ["-o", "examples/database/observed.yaml"];

type Mode = "grpc" | "in-process" | "serve";
async function renderCli(mode: Mode, ...extra: string[]): Promise<RenderedDoc[]> {
  const args =
    mode === "grpc"
      ? [...EXAMPLE, "-a", `render.crossplane.io/runtime-development-target=${server.address}`]
      : mode === "serve"
        ? [...EXAMPLE, "--serve"]
        : ["examples/database/xr.yaml"];
  const { stdout } = await exec(process.execPath, ["cli/main.ts", "render", ...args, ...extra], { cwd: repoRoot });
  return unreadyInNameOrder(renderedDocs(stdout));
}

const withoutResults = (docs: RenderedDoc[]) => docs.filter((d) => d.doc.kind !== "Result");

// A first render generates the admin password: the recorded one reads <generated>.
const cases: Record<string, { args: string[]; want: () => RenderedDoc[]; generated?: boolean }> = {
  FirstRenderWithResults: { args: ["-r"], want: () => recorded("database-first"), generated: true },
  FirstRender: { args: [], want: () => withoutResults(recorded("database-first")), generated: true },
  DayTwoWithResults: { args: [...OBSERVED, "-r"], want: () => recorded("database-day-two") },
  DayTwo: { args: OBSERVED, want: () => withoutResults(recorded("database-day-two")) },
  DayTwoWithTheFullXr: { args: [...OBSERVED, "-x"], want: () => recorded("database-day-two-full-xr") },
};

describe("render of examples/database prints what crossplane render printed", () => {
  for (const mode of ["grpc", "in-process", "serve"] as const) {
    for (const [name, { args, want, generated = false }] of Object.entries(cases)) {
      it(`${name} (${mode})`, async () => {
        const rendered = await renderCli(mode, ...args);
        const got = generated ? passwordGenerated(rendered) : rendered;
        const expected = want();
        expect(got.map((d) => d.doc)).toEqual(expected.map((d) => d.doc));
        expect(got.map((d) => d.text)).toEqual(expected.map((d) => d.text));
      });
    }
  }

  it("composes the server, its databases, parameters, extensions, alerts and log export, and two Secrets, each valid against its schema", async () => {
    const composed = (await renderCli("grpc")).slice(1).map((d) => d.doc);
    const azure = providerValidator();
    const core = coreValidator();
    const problems = composed.map((d) => ({ kind: d.kind, name: d.metadata.name, problems: (d.kind === "Secret" ? core : azure).validate(d) }));
    expect(problems.filter((p) => p.problems.length > 0)).toEqual([]);
    const count = (kinds: string[]) => Object.fromEntries([...new Set(kinds)].sort().map((k) => [k, kinds.filter((x) => x === k).length]));
    // Two databases with two extensions each; log_min_duration_statement, require_secure_transport and azure.extensions
    // (vector and pg_trgm need no preloaded library); nine alerts.
    expect(count(problems.map((p) => p.kind))).toEqual({
      Extension: 4,
      FlexibleServer: 1,
      FlexibleServerConfiguration: 3,
      FlexibleServerDatabase: 2,
      MonitorDiagnosticSetting: 1,
      MonitorMetricAlert: 9,
      ProviderConfig: 1,
      // The one apps read (the application role's) and the admin's.
      Secret: 2,
    });
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
      stderr:
        `render: warning: ${bad}:11: spec.size: unsupported value "huge": supported values: "small", "medium", "large" (the Database XRD refuses it: the API server would not accept this XR)\n` +
        'render: pipeline step "provision-postgres" returned a fatal result: the Database is invalid: spec.size: Invalid option: expected one of "small"|"medium"|"large"\n',
    });
  });
});
