// Builds the real ports for one call. The SDKs load on the first rotation that needs them, not at start-up, so an
// idle SecretRotation (the common case) costs neither start-up time nor memory.
import { createHash } from "node:crypto";
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
    // KUBECONFIG or ~/.kube/config when set (local runs, tests), else the pod's service account.
    kc.loadFromDefault();
    kubeConfig = kc;
  }
  const noAzure = (): never => notConfigured("an Azure credential");
  let keyVault: KeyVaultPort = { latest: noAzure, setSecret: noAzure, checkWritable: noAzure };
  let flexibleServer: FlexibleServerPort = { setAdminPassword: noAzure };
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
