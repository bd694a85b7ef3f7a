// Builds the real ports for one call. The SDKs load on the first rotation that needs them, not at start-up, so an
// idle SecretRotation (the common case) costs neither start-up time nor memory.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import type { TokenCredential } from "@azure/core-auth";
import type { KubeConfig } from "@kubernetes/client-node";
import type { AzureCredential, ConnectArgs } from "./fn.ts";
import { identityIn } from "./identity.ts";
import type { FlexibleServerPort, KeyVaultPort, Ports } from "./ports.ts";

let kubeConfig: KubeConfig | undefined;
const namespaced = new Map<string, KubeConfig>();

/** A copy of the function's own configuration whose every request impersonates the namespace's identity. */
function configFor(base: KubeConfig, make: () => KubeConfig, namespace: string): KubeConfig {
  let kc = namespaced.get(namespace);
  if (kc === undefined) {
    const user = base.getCurrentUser();
    const cluster = base.getCurrentCluster();
    if (user === null || cluster === null) throw new Error("the function's Kubernetes configuration has no current user or cluster");
    kc = make();
    kc.loadFromOptions({
      clusters: [cluster],
      users: [{ ...user, impersonateUser: identityIn(namespace) }],
      contexts: [{ name: "rotation", cluster: cluster.name, user: user.name, namespace }],
      currentContext: "rotation",
    });
    namespaced.set(namespace, kc);
  }
  return kc;
}

/** Where a pod's service account credentials are mounted (the Kubernetes client reads them from here). */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface KubeConfigSources {
  home: string;
  /** Prefixed to SERVICE_ACCOUNT_DIR, as the Kubernetes client's loadFromCluster does (tests). */
  root?: string;
}

/**
 * Loads the function's own Kubernetes configuration as the client's loadFromDefault does (KUBECONFIG, then
 * ~/.kube/config, then the pod's service account), but fails naming what is missing and how to fix it, where
 * loadFromDefault falls back to http://localhost:8080 and every call then fails with ECONNREFUSED.
 */
export function loadKubeConfig(kc: KubeConfig, make: () => KubeConfig, from: KubeConfigSources): void {
  const env = process.env;
  const files = (env.KUBECONFIG ?? "").split(delimiter).filter((f) => f !== "");
  if (files.length > 0) {
    const missing = files.filter((f) => !existsSync(f));
    if (missing.length > 0) {
      throw new Error(
        `the function's Kubernetes configuration is missing: KUBECONFIG names ${missing.join(", ")}, which ${missing.length > 1 ? "do" : "does"} not exist; ` +
          "point KUBECONFIG at a kubeconfig file for the cluster, or unset it in a pod so the function uses its service account",
      );
    }
    loadFiles(kc, make, files, "KUBECONFIG");
    return;
  }
  const homeConfig = join(from.home, ".kube", "config");
  if (existsSync(homeConfig)) {
    loadFiles(kc, make, [homeConfig], "the home directory");
    return;
  }
  const dir = `${from.root ?? ""}${SERVICE_ACCOUNT_DIR}`;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  const absent = ["token", "ca.crt"].filter((f) => !existsSync(join(dir, f)));
  if (host && port && absent.length === 0) {
    kc.loadFromCluster(from.root);
    return;
  }
  if (host) {
    const what = absent.length > 0 ? `no service account ${absent.join(" or ")} in ${dir}` : "KUBERNETES_SERVICE_PORT is not set";
    throw new Error(
      `the function's Kubernetes configuration is missing: it runs in a pod (KUBERNETES_SERVICE_HOST is set) but has ${what}; ` +
        "mount the service account token: automountServiceAccountToken must not be false on the function's ServiceAccount or in the DeploymentRuntimeConfig's pod template",
    );
  }
  const noPod = absent.length === 0 ? "KUBERNETES_SERVICE_HOST is not set" : `KUBERNETES_SERVICE_HOST is not set, no service account ${absent.join(" or ")} in ${dir}`;
  throw new Error(
    `the function's Kubernetes configuration is missing: KUBECONFIG is not set, ${homeConfig} does not exist, and it does not run in a pod (${noPod}); ` +
      "started outside a cluster, set KUBECONFIG to a kubeconfig file for the cluster",
  );
}

function loadFiles(kc: KubeConfig, make: () => KubeConfig, files: string[], source: string): void {
  for (const [i, file] of files.entries()) {
    try {
      if (i === 0) kc.loadFromFile(file);
      else {
        // As loadFromDefault merges several KUBECONFIG files.
        const more = make();
        more.loadFromFile(file);
        kc.mergeConfig(more);
      }
    } catch (e) {
      throw new Error(`cannot load the function's kubeconfig ${file} (from ${source}): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }
}

// A cache of credential objects so their tokens are reused; correctness never depends on it.
const credentials = new Map<string, TokenCredential>();

function notConfigured(what: string): never {
  throw new Error(`${what} is not configured in the SecretRotationPolicy`);
}

export async function connect({ namespace, policy, azure }: ConnectArgs): Promise<Ports> {
  const [{ KubeConfig }, { kubernetesPort }, { postgresPort }] = await Promise.all([
    import("@kubernetes/client-node"),
    import("./kubernetes.ts"),
    import("./postgres.ts"),
  ]);
  if (kubeConfig === undefined) {
    const kc = new KubeConfig();
    // KUBECONFIG or ~/.kube/config when set (local runs, tests), else the pod's service account. Kept only once
    // loaded: a token mounted later is picked up by the next call.
    loadKubeConfig(kc, () => new KubeConfig(), { home: homedir() });
    kubeConfig = kc;
  }
  const noAzure = (): never => notConfigured("an Azure credential");
  let keyVault: KeyVaultPort = { latest: noAzure, setSecret: noAzure, checkWritable: noAzure };
  let flexibleServer: FlexibleServerPort = { serverTags: noAzure, setAdminPassword: noAzure };
  if (azure !== undefined) {
    const { tokenCredential, keyVaultPort, flexibleServerPort } = await import("./azure.ts");
    const credential = cachedCredential(azure, () => tokenCredential(azure, policy), policy.cloud.authorityHost);
    keyVault = keyVaultPort(credential, policy);
    flexibleServer = flexibleServerPort(credential, policy);
  }
  const kubernetes = kubernetesPort(configFor(kubeConfig, () => new KubeConfig(), namespace), namespace);
  return { kubernetes, postgres: postgresPort(), keyVault, flexibleServer };
}

function cachedCredential(c: AzureCredential, make: () => TokenCredential, authority: string): TokenCredential {
  const key = createHash("sha256").update([c.kind, authority, c.tenantId, c.clientId, c.clientSecret].join("\n")).digest("hex");
  let cred = credentials.get(key);
  if (cred === undefined) {
    cred = make();
    credentials.set(key, cred);
  }
  return cred;
}
