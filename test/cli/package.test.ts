// The CLI as a team gets it: `npm pack` (which builds dist/), installed into a fresh project, run through npx.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { passwordGenerated, recorded, renderedDocs } from "../support/render-output.ts";
import { repoRoot } from "../support/schema.ts";

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "fap-pack-"));
const app = join(dir, "team-repo");
const npm = (args: string[], cwd: string) => exec("npm", args, { cwd, env: { ...process.env, npm_config_loglevel: "error" }, maxBuffer: 64 * 1024 * 1024 });
const npx = (args: string[]) =>
  exec("npx", ["--no-install", "function-azure-platform", ...args], { cwd: app, env: { ...process.env, npm_config_loglevel: "error" } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

beforeAll(async () => {
  await npm(["pack", "--pack-destination", dir], repoRoot);
  const tgz = readdirSync(dir).find((f) => f.endsWith(".tgz"));
  if (tgz === undefined) throw new Error(`npm pack wrote no tarball to ${dir}`);
  await exec("mkdir", [app]);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "team-repo", version: "1.0.0", private: true }));
  await npm(["install", "--prefer-offline", "--no-audit", "--no-fund", join(dir, tgz)], app);
}, 240_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("npx function-azure-platform (installed from the packed tarball)", () => {
  it("validate finds the bad PR's problems with the package's own Compositions and XRDs", async () => {
    const r = await npx(["validate", join(repoRoot, "test/cli/prs/bad")]);
    expect(r.code).toBe(1);
    expect(r.stdout.trim().split("\n").at(-1)).toBe("checked 1 Cache, 3 Database, 2 SecretRotation: 7 error(s), 0 warning(s)");
    expect(r.stdout).toContain(`${join(repoRoot, "test/cli/prs/bad/databases.yaml")}:24: error: document 1 (Database team-billing/ledger): spec.version "13" is not allowed; choose one of 15, 16, 17`);
  });

  it("render prints what crossplane render printed for the installed example", async () => {
    const r = await npx(["render", "node_modules/function-azure-platform/examples/database/xr.yaml"]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    // A first render generates the admin password: the recorded one reads <generated>.
    const want = recorded("database-first").filter((d) => d.doc.kind !== "Result");
    expect(passwordGenerated(renderedDocs(r.stdout)).map((d) => d.text)).toEqual(want.map((d) => d.text));
  });

  it("version and help", async () => {
    expect(await npx(["version"])).toEqual({ code: 0, stdout: "0.1.0\n", stderr: "" });
    const help = await npx(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: function-azure-platform <command>/);
  });
});
