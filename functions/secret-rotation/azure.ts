// The Azure ports over the official SDKs: Key Vault secrets and the Flexible Server admin password through ARM.
import { PostgreSQLManagementFlexibleServerClient } from "@azure/arm-postgresql-flexible";
import type { TokenCredential } from "@azure/core-auth";
import { ClientSecretCredential, WorkloadIdentityCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import type { AzureCredential } from "./fn.ts";
import type { RotationPolicy } from "./policy.ts";
import type { FlexibleServerPort, KeyVaultPort } from "./ports.ts";

export function tokenCredential(c: AzureCredential, policy: RotationPolicy): TokenCredential {
  const authorityHost = policy.cloud.authorityHost;
  if (c.kind === "workloadIdentity") return new WorkloadIdentityCredential({ authorityHost });
  return new ClientSecretCredential(c.tenantId ?? "", c.clientId ?? "", c.clientSecret ?? "", { authorityHost });
}

// Errors are rethrown without `cause`: an SDK RestError carries the request, whose body holds the new value.
function describe(e: unknown): string {
  const err = e as { statusCode?: number; code?: string; message?: string; name?: string };
  const first = (err.message ?? String(e)).split("\n")[0] ?? "";
  return [err.statusCode ? `HTTP ${err.statusCode}` : "", err.code ?? err.name ?? "", first].filter((p) => p !== "").join(" ");
}

export function keyVaultPort(credential: TokenCredential, policy: RotationPolicy): KeyVaultPort {
  const clients = new Map<string, SecretClient>();
  const clientFor = (vault: string) => {
    let c = clients.get(vault);
    if (c === undefined) {
      c = new SecretClient(policy.cloud.keyVaultUrl.replace("{vault}", vault), credential);
      clients.set(vault, c);
    }
    return c;
  };
  return {
    async latestTags(vault, name) {
      try {
        const s = await clientFor(vault).getSecret(name);
        return s.properties.tags ?? {};
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode === 404) return undefined;
        // eslint-disable-next-line preserve-caught-error -- see describe()
        throw new Error(`Key Vault ${vault}: cannot read secret ${name}: ${describe(e)}`);
      }
    },
    async setSecret(vault, name, value, tags) {
      try {
        await clientFor(vault).setSecret(name, value, { tags, contentType: "password" });
      } catch (e) {
        // eslint-disable-next-line preserve-caught-error -- see describe()
        throw new Error(`Key Vault ${vault}: cannot set secret ${name}: ${describe(e)}`);
      }
    },
  };
}

export function flexibleServerPort(credential: TokenCredential, policy: RotationPolicy): FlexibleServerPort {
  const client = new PostgreSQLManagementFlexibleServerClient(credential, policy.subscriptionId ?? "", { endpoint: policy.cloud.resourceManagerEndpoint });
  return {
    async setAdminPassword(resourceGroupName, serverName, password) {
      try {
        await client.servers.beginUpdateAndWait(resourceGroupName, serverName, { administratorLoginPassword: password }, { updateIntervalInMs: 2000 });
      } catch (e) {
        // eslint-disable-next-line preserve-caught-error -- see describe()
        throw new Error(`Azure Resource Manager: cannot set the admin password of ${resourceGroupName}/${serverName}: ${describe(e)}`);
      }
    },
  };
}
