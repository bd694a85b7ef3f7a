// Where the function's own Kubernetes configuration comes from (functions/secret-rotation/connect.ts), and what a
// SecretRotation is told when there is none: each way of running the server, built in a temporary directory.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SERVICE_ACCOUNT_DIR, loadKubeConfig } from "../../functions/secret-rotation/connect.ts";

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "kubeconfig-"));
  mkdirSync(join(root, "home"));
});
afterEach(() => {
  vi.unstubAllEnvs();
  rmSync(root, { recursive: true, force: true });
});

function kubeconfig(file: string, server: string, context = "test"): string {
  mkdirSync(join(file, ".."), { recursive: true });
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: context, cluster: { server } }],
    users: [{ name: context, user: { token: "t" } }],
    contexts: [{ name: context, context: { cluster: context, user: context } }],
    "current-context": context,
  };
  writeFileSync(file, JSON.stringify(config));
  return file;
}
function serviceAccount(files: string[]): string {
  const dir = join(root, SERVICE_ACCOUNT_DIR);
  mkdirSync(dir, { recursive: true });
  for (const f of files) writeFileSync(join(dir, f), f === "namespace" ? "crossplane-system" : "x");
  return dir;
}
const ENV = ["KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"] as const;
/** What loading gives in the environment given (and none of ENV else): the current cluster's server and context, or the error's message. */
function load(env: Partial<Record<(typeof ENV)[number], string>>): { server?: string; context?: string; error?: string } {
  for (const name of ENV) vi.stubEnv(name, env[name]);
  const kc = new KubeConfig();
  try {
    loadKubeConfig(kc, () => new KubeConfig(), { home: join(root, "home"), root });
    return { server: kc.getCurrentCluster()?.server ?? "", context: kc.getCurrentContext() };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

const MISSING = "the function's Kubernetes configuration is missing";

describe("the function's Kubernetes configuration", () => {
  it("comes from the files KUBECONFIG names, merged as the Kubernetes client merges them", () => {
    const a = kubeconfig(join(root, "a"), "https://a.example:6443", "a");
    const b = kubeconfig(join(root, "b"), "https://b.example:6443", "b");
    expect(load({ KUBECONFIG: a })).toEqual({ server: "https://a.example:6443", context: "a" });
    expect(load({ KUBECONFIG: [a, b].join(delimiter) })).toEqual({ server: "https://b.example:6443", context: "b" });
  });

  it("comes from ~/.kube/config without KUBECONFIG, even in a pod", () => {
    kubeconfig(join(root, "home", ".kube", "config"), "https://home.example:6443");
    serviceAccount(["token", "ca.crt"]);
    expect(load({ KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" })).toEqual({ server: "https://home.example:6443", context: "test" });
  });

  it("comes from the pod's service account in a pod", () => {
    serviceAccount(["token", "ca.crt", "namespace"]);
    expect(load({ KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" })).toEqual({ server: "https://10.0.0.1:443", context: "inClusterContext" });
  });

  it("names a file KUBECONFIG names that does not exist", () => {
    const a = kubeconfig(join(root, "a"), "https://a.example:6443");
    const nope = join(root, "nope");
    expect(load({ KUBECONFIG: [a, nope].join(delimiter) })).toEqual({
      error: `${MISSING}: KUBECONFIG names ${nope}, which does not exist; point KUBECONFIG at a kubeconfig file for the cluster, or unset it in a pod so the function uses its service account`,
    });
  });

  it("names a kubeconfig that cannot be read as one", () => {
    const bad = join(root, "bad");
    writeFileSync(bad, "clusters: [");
    expect(load({ KUBECONFIG: bad }).error).toMatch(new RegExp(`^cannot load the function's kubeconfig ${bad} \\(from KUBECONFIG\\): .+`));
  });

  it("names the missing service account token in a pod, and how to mount it", () => {
    const dir = serviceAccount(["ca.crt"]);
    expect(load({ KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" })).toEqual({
      error:
        `${MISSING}: it runs in a pod (KUBERNETES_SERVICE_HOST is set) but has no service account token in ${dir}; ` +
        "mount the service account token: automountServiceAccountToken must not be false on the function's ServiceAccount or in the DeploymentRuntimeConfig's pod template",
    });
  });

  it("says what is missing outside a cluster without KUBECONFIG, and what to set", () => {
    const dir = join(root, SERVICE_ACCOUNT_DIR);
    const home = join(root, "home", ".kube", "config");
    expect(load({})).toEqual({
      error:
        `${MISSING}: KUBECONFIG is not set, ${home} does not exist, and it does not run in a pod ` +
        `(KUBERNETES_SERVICE_HOST is not set, no service account token or ca.crt in ${dir}); started outside a cluster, set KUBECONFIG to a kubeconfig file for the cluster`,
    });
    serviceAccount(["token", "ca.crt"]);
    expect(load({ KUBECONFIG: "" })).toEqual({
      error: `${MISSING}: KUBECONFIG is not set, ${home} does not exist, and it does not run in a pod (KUBERNETES_SERVICE_HOST is not set); started outside a cluster, set KUBECONFIG to a kubeconfig file for the cluster`,
    });
  });
});
