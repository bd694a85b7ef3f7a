// scripts/real-systems.sh takes what is given (envtest's assets, an official crossplane install) and builds only
// what is missing. These cases run it with Go kept off PATH, so a build it should not start fails loudly.
import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot } from "../test/support/schema.ts";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "real-systems-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function executables(folder: string, names: string[]): string {
  mkdirSync(folder, { recursive: true });
  for (const n of names) {
    writeFileSync(join(folder, n), "#!/bin/sh\n");
    chmodSync(join(folder, n), 0o755);
  }
  return folder;
}

async function script(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  // PATH without Go: only the shell's own tools and node (the script parses the release's go.mod with it).
  const base = { PATH: `${join(process.execPath, "..")}:/usr/bin:/bin`, HOME: join(dir, "home"), REAL_SYSTEMS_CACHE: join(dir, "cache") };
  try {
    const { stdout, stderr } = await run("bash", [join(repoRoot, "scripts/real-systems.sh")], { env: { ...base, ...env } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const assets = executables(join(dir, "envtest"), ["etcd", "kube-apiserver", "kubectl"]);
const withControllerManager = executables(join(dir, "envtest-kcm"), ["etcd", "kube-apiserver", "kubectl", "kube-controller-manager"]);
const core = join(executables(join(dir, "core"), ["crossplane"]), "crossplane");
const cli = join(executables(join(dir, "cli"), ["crossplane"]), "crossplane");
const crds = executables(join(dir, "core-crds"), []);

describe("scripts/real-systems.sh", () => {
  it("uses everything given and builds nothing", async () => {
    const r = await script({ KUBEBUILDER_ASSETS: withControllerManager, CROSSPLANE_CORE_BINARY: core, CROSSPLANE_CORE_CRDS: crds, CROSSPLANE_CLI_BINARY: cli });
    expect(r).toEqual({
      code: 0,
      stderr: "",
      stdout: [
        `export KUBEBUILDER_ASSETS='${withControllerManager}'`,
        `export KUBE_CONTROLLER_MANAGER_BINARY='${withControllerManager}/kube-controller-manager'`,
        `export CROSSPLANE_CORE_BINARY='${core}'`,
        `export CROSSPLANE_CORE_CRDS='${crds}'`,
        `export CROSSPLANE_CLI_BINARY='${cli}'`,
        "",
      ].join("\n"),
    });
  });

  it("takes kube-controller-manager from its cache when envtest's assets lack it", async () => {
    const cached = executables(join(dir, "cache/k8s/1.36.3-linux-amd64"), ["kube-controller-manager"]);
    const r = await script({ KUBEBUILDER_ASSETS: assets, CROSSPLANE_CORE_BINARY: core, CROSSPLANE_CORE_CRDS: crds, CROSSPLANE_CLI_BINARY: cli });
    rmSync(join(cached, "kube-controller-manager"));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`export KUBE_CONTROLLER_MANAGER_BINARY='${cached}/kube-controller-manager'`);
  });

  it("names what is missing and how to provide it when it would have to build without Go", async () => {
    const r = await script({ KUBEBUILDER_ASSETS: assets, CROSSPLANE_CORE_BINARY: core, CROSSPLANE_CORE_CRDS: crds, CROSSPLANE_CLI_BINARY: cli });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("real-systems: kubernetes kube-controller-manager is missing and Go is not installed to build it; install Go ≥ 1.26 or point KUBEBUILDER_ASSETS at a binary");
  });

  it("names the binary envtest's assets lack", async () => {
    const partial = executables(join(dir, "envtest-partial"), ["kube-apiserver", "kubectl"]);
    const r = await script({ KUBEBUILDER_ASSETS: partial, CROSSPLANE_CORE_BINARY: core, CROSSPLANE_CORE_CRDS: crds, CROSSPLANE_CLI_BINARY: cli });
    expect(r).toEqual({ code: 1, stdout: "", stderr: `real-systems: KUBEBUILDER_ASSETS=${partial} has no etcd (setup-envtest provides etcd, kube-apiserver and kubectl)\n` });
  });

  it("refuses a core binary without its CRDs", async () => {
    const r = await script({ KUBEBUILDER_ASSETS: withControllerManager, CROSSPLANE_CORE_BINARY: core, CROSSPLANE_CLI_BINARY: cli });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("CROSSPLANE_CORE_CRDS must name core's CRD directory");
  });
});
