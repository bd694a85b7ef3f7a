// The CLI as a team gets it. The package is not on the npm registry: a release of this repository carries the
// tarball `npm pack` writes (docs/installing-the-cli.md), and a team runs that through npx. Here the tarball is packed
// from this checkout and served over HTTP the way GitHub serves a release asset (a redirect to the file), and the
// commands that README, the docs and examples/ci/ give run as written, through a shell, in temporary team
// repositories holding one Database (examples/database/xr.yaml) under apps/.
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { passwordGenerated, recorded, renderedDocs } from "../support/render-output.ts";
import { repoRoot } from "../support/schema.ts";

const exec = promisify(execFile);
const VERSION = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;
const TARBALL = `function-azure-platform-${VERSION}.tgz`;
const RELEASE_PATH = `/azplatform/function-azure-platform/releases/download/v${VERSION}/${TARBALL}`;
const RELEASE_URL = `https://github.com${RELEASE_PATH}`;
const ASSET_PATH = `/release-assets/${TARBALL}`;

// The commands as README, docs/installing-the-cli.md and examples/ci/ give them.
const WORKFLOW_RUN = `npx --yes --package=${RELEASE_URL} function-azure-platform validate --format github apps/`;
const ONE_OFF = `npx --yes --package=${RELEASE_URL} function-azure-platform validate apps/`;
const INSTALL = `npm install --save-dev ${RELEASE_URL}`;
const INSTALLED_VALIDATE = "npx function-azure-platform validate apps/";
const INSTALLED_RENDER = "npx function-azure-platform render apps/orders/database.yaml";
const DOWNLOAD_PRIVATE = `gh release download v${VERSION} --repo azplatform/function-azure-platform --pattern ${TARBALL} --dir "$RUNNER_TEMP"`;
const PRIVATE_RUN = `npx --yes --package="$RUNNER_TEMP/${TARBALL}" function-azure-platform validate --format github apps/`;

const GOOD = "checked 1 Database: 0 error(s), 0 warning(s)\n";

/**
 * npm and npx without what an outer npm passed down. README's `npx -y -p node@24 -c 'npm ci && npm test'` runs the
 * tests under an npm exec, and npm exports its options to the scripts it runs as npm_config_* (call, package, yes,
 * prefix, ...): an npx started here would take them for its own and run README's command instead of ours (EUSAGE).
 * A team's shell or runner has none of them. Kept: what says where packages come from (a registry mirror, a proxy,
 * a CA), which a machine sets in its environment.
 */
const KEEP = /^npm_config_(registry|@[^:]+:registry|\/\/.+|cache|userconfig|globalconfig|cafile|ca|cert|key|proxy|https_proxy|noproxy|strict_ssl)$/i;
function teamEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) || KEEP.test(k)));
  const noproxy = [env["npm_config_noproxy"] ?? process.env["NO_PROXY"] ?? process.env["no_proxy"], "127.0.0.1"].filter((s) => s !== undefined && s !== "").join(",");
  // Settings of the test run, not of the commands: quiet, dependencies from npm's cache when it has them (npm ci
  // filled it), and the local release server reached directly.
  return { ...env, npm_config_loglevel: "error", npm_config_prefer_offline: "true", npm_config_audit: "false", npm_config_fund: "false", npm_config_noproxy: noproxy, ...extra };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
const outcome = (p: Promise<{ stdout: string; stderr: string }>): Promise<Run> =>
  p.then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

const dir = mkdtempSync(join(tmpdir(), "fap-pack-"));
const releaseDir = join(dir, "release"); // what npm pack wrote; RUNNER_TEMP of the private workflow
let origin = ""; // the local stand-in for https://github.com

/** A command line run by a shell (as a workflow's run step is) in a team repository, the release URL served locally. */
function sh(command: string, cwd: string, extra: NodeJS.ProcessEnv = {}): Promise<Run> {
  const local = command.replaceAll(RELEASE_URL, `${origin}${RELEASE_PATH}`);
  return outcome(exec("sh", ["-c", local], { cwd, env: teamEnv(extra), maxBuffer: 64 * 1024 * 1024 }));
}

/** The CLI from this checkout's sources, to compare the installed one with. */
const source = (...args: string[]) => outcome(exec(process.execPath, [join(repoRoot, "cli/main.ts"), ...args], { cwd: repoRoot }));

/** A team repository: apps/orders/database.yaml is the example Database, or `database` when given. */
function teamRepo(name: string, opts: { packageJson?: boolean; database?: string } = {}): string {
  const d = join(dir, name);
  mkdirSync(join(d, "apps/orders"), { recursive: true });
  if (opts.database === undefined) copyFileSync(join(repoRoot, "examples/database/xr.yaml"), join(d, "apps/orders/database.yaml"));
  else writeFileSync(join(d, "apps/orders/database.yaml"), opts.database);
  if (opts.packageJson === true) writeFileSync(join(d, "package.json"), `${JSON.stringify({ name: name, version: "1.0.0", private: true }, null, 2)}\n`);
  return d;
}

/** The steps of a workflow under examples/ci/. */
function steps(file: string): Record<string, unknown>[] {
  const wf = parse(readFileSync(join(repoRoot, "examples/ci", file), "utf8")) as { jobs: Record<string, { steps: Record<string, unknown>[] }> };
  return Object.values(wf.jobs).flatMap((j) => j.steps);
}
const runOf = (s: Record<string, unknown> | undefined) => String(s?.["run"]);

const requests = new Set<string>();
const server = createServer((req, res) => {
  requests.add(`${req.method} ${req.url}`);
  // GitHub answers a release download with a redirect to its asset storage.
  if (req.url === RELEASE_PATH) res.writeHead(302, { location: `${origin}${ASSET_PATH}` }).end();
  else if (req.url === ASSET_PATH) {
    const tgz = readFileSync(join(releaseDir, TARBALL));
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": tgz.length }).end(tgz);
  } else res.writeHead(404).end();
});

const ci = teamRepo("ci-checkout");
const ciPrivate = teamRepo("ci-checkout-private");
const app = teamRepo("team-repo", { packageJson: true });
let npmCache = "";
const first: Partial<Record<"workflow" | "private" | "install", Run>> = {};

beforeAll(async () => {
  mkdirSync(releaseDir);
  await exec("npm", ["pack", "--pack-destination", releaseDir], { cwd: repoRoot, env: teamEnv(), maxBuffer: 64 * 1024 * 1024 });
  if (!existsSync(join(releaseDir, TARBALL))) throw new Error(`npm pack wrote ${readdirSync(releaseDir).join(", ")}, not ${TARBALL}`);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  npmCache = (await exec("npm", ["config", "get", "cache"], { env: teamEnv() })).stdout.trim();
  // The three ways install the package and its dependencies; side by side, they take the time of one.
  [first.workflow, first.private, first.install] = await Promise.all([
    sh(runOf(steps("github-actions.yml").at(-1)), ci),
    sh(runOf(steps("github-actions-private.yml").at(-1)), ciPrivate, { RUNNER_TEMP: releaseDir }),
    sh(INSTALL, app),
  ]);
}, 420_000);

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  // npx installed each package spec under <cache>/_npx/<hash>; those of this run's specs go with it.
  const npx = join(npmCache, "_npx");
  const ours = (e: string) => {
    try {
      const pkg = JSON.parse(readFileSync(join(npx, e, "package.json"), "utf8")) as { _npx?: { packages?: string[] } };
      return (pkg._npx?.packages ?? []).some((p) => p.includes(`${origin}/`) || p.includes(`${dir}/`));
    } catch {
      return false; // not an install, or one npx is still writing
    }
  };
  const installs = npmCache !== "" && origin !== "" && existsSync(npx) ? readdirSync(npx).filter(ours) : [];
  // Three node_modules trees of about 90 MB: removed side by side, without blocking.
  await Promise.all([...installs.map((e) => join(npx, e)), dir].map((d) => rm(d, { recursive: true, force: true })));
}, 240_000);

describe("a team's pull-request check in GitHub Actions (examples/ci/github-actions.yml)", () => {
  it("sets up Node 24 and runs the release's tarball through npx, as README's snippet does", () => {
    expect(steps("github-actions.yml")).toEqual([{ uses: "actions/checkout@v4" }, { uses: "actions/setup-node@v4", with: { "node-version": 24 } }, { run: WORKFLOW_RUN }]);
    const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
    expect(readme).toContain(["      - uses: actions/setup-node@v4", "        with: {node-version: 24}", `      - run: ${WORKFLOW_RUN}`].join("\n"));
  });

  it("passes the team's Database, the package fetched from the release URL", () => {
    expect(first.workflow).toEqual({ code: 0, stdout: GOOD, stderr: "" });
    expect([...requests].sort()).toEqual([`GET ${RELEASE_PATH}`, `GET ${ASSET_PATH}`]);
  });

  it("puts a problem on the PR's line", async () => {
    const pr = teamRepo("ci-checkout-pr", { database: readFileSync(join(repoRoot, "examples/database/xr.yaml"), "utf8").replace('version: "16"', 'version: "13"') });
    expect(await sh(WORKFLOW_RUN, pr)).toEqual({
      code: 1,
      stdout: [
        '::error file=apps/orders/database.yaml,line=12,title=Database team-payments/orders::document 0: spec.version "13" is not allowed; choose one of 15, 16, 17',
        "checked 1 Database: 1 error(s), 0 warning(s)",
        "",
      ].join("\n"),
      stderr: "",
    });
  }, 120_000);

  it("run by hand the same way, without --format github", async () => {
    expect(await sh(ONE_OFF, ci)).toEqual({ code: 0, stdout: GOOD, stderr: "" });
  }, 120_000);
});

describe("the same check for a private platform repository (examples/ci/github-actions-private.yml)", () => {
  it("downloads the release's tarball with gh into RUNNER_TEMP and runs it through npx", () => {
    expect(steps("github-actions-private.yml")).toEqual([
      { uses: "actions/checkout@v4" },
      { uses: "actions/setup-node@v4", with: { "node-version": 24 } },
      { run: DOWNLOAD_PRIVATE, env: { GH_TOKEN: "${{ secrets.PLATFORM_RELEASES_TOKEN }}" } },
      { run: PRIVATE_RUN },
    ]);
  });

  it("passes the team's Database", () => {
    expect(first.private).toEqual({ code: 0, stdout: GOOD, stderr: "" });
  });
});

describe("installed from the release URL as a devDependency, then README's npx commands", () => {
  it("npm install --save-dev records the release URL", () => {
    expect(first.install?.code).toBe(0);
    expect(JSON.parse(readFileSync(join(app, "package.json"), "utf8"))).toEqual({
      name: "team-repo",
      version: "1.0.0",
      private: true,
      devDependencies: { "function-azure-platform": `${origin}${RELEASE_PATH}` },
    });
  });

  it("validate passes the team's Database", async () => {
    expect(await sh(INSTALLED_VALIDATE, app)).toEqual({ code: 0, stdout: GOOD, stderr: "" });
  });

  it("validate finds the bad PR's problems with the package's own Compositions and XRDs, as the sources do", async () => {
    const bad = join(repoRoot, "test/cli/prs/bad");
    const r = await sh(`npx function-azure-platform validate '${bad}'`, app);
    expect(r).toEqual(await source("validate", bad));
    expect(r.code).toBe(1);
    expect(r.stdout.split("\n").at(-2)).toBe("checked 1 Cache, 3 Database, 2 SecretRotation: 9 error(s), 0 warning(s)");
  });

  it("render prints what crossplane render printed for the example", async () => {
    const r = await sh(INSTALLED_RENDER, app);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    // A first render generates the admin password: the recorded one reads <generated>.
    const want = recorded("database-first").filter((d) => d.doc.kind !== "Result");
    expect(passwordGenerated(renderedDocs(r.stdout)).map((d) => d.text)).toEqual(want.map((d) => d.text));
  });

  it("version and help", async () => {
    expect(await sh("npx function-azure-platform version", app)).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: "" });
    const help = await sh("npx function-azure-platform --help", app);
    expect(help).toEqual(await source("--help"));
    expect(help.stdout).toMatch(/^Usage: function-azure-platform <command>/);
  });
});

describe("the documented commands are the ones run here", () => {
  it.each([
    { file: "README.md", commands: [INSTALL, INSTALLED_VALIDATE, INSTALLED_RENDER, ONE_OFF, WORKFLOW_RUN] },
    { file: "docs/installing-the-cli.md", commands: [INSTALL, INSTALLED_VALIDATE, ONE_OFF, WORKFLOW_RUN, DOWNLOAD_PRIVATE, PRIVATE_RUN] },
  ])("$file", ({ file, commands }) => {
    const text = readFileSync(join(repoRoot, file), "utf8");
    expect(commands.filter((c) => !text.includes(c))).toEqual([]);
  });
});
