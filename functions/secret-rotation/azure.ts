// The Azure ports over the official SDKs: Key Vault secrets and the Flexible Server admin password through ARM.
import { setTimeout as sleep } from "node:timers/promises";
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
  const first = (err.message ?? String(e)).split(/\r?\n/)[0] ?? "";
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
    async latest(vault, name, abortSignal) {
      try {
        const s = await clientFor(vault).getSecret(name, { abortSignal });
        return { value: s.value ?? "", tags: s.properties.tags ?? {} };
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode === 404) return undefined;
        // eslint-disable-next-line preserve-caught-error -- see describe()
        throw new Error(`Key Vault ${vault}: cannot read secret ${name}: ${describe(e)}`);
      }
    },
    async setSecret(vault, name, value, tags, abortSignal) {
      try {
        await clientFor(vault).setSecret(name, value, { tags, contentType: "password", abortSignal });
      } catch (e) {
        // eslint-disable-next-line preserve-caught-error -- see describe()
        throw new Error(`Key Vault ${vault}: cannot set secret ${name}: ${describe(e)}`);
      }
    },
    async checkWritable(vault, name, abortSignal) {
      const client = clientFor(vault);
      const latest = await client.getSecret(name, { abortSignal }).catch((e: unknown) => {
        if ((e as { statusCode?: number }).statusCode === 404) return undefined;
        throw new Error(`Key Vault ${vault}: cannot read secret ${name}: ${describe(e)}`);
      });
      if (latest === undefined) return;
      try {
        await client.updateSecretProperties(name, latest.properties.version ?? "", { tags: latest.properties.tags ?? {}, abortSignal });
      } catch (e) {
        // eslint-disable-next-line preserve-caught-error -- see describe()
        throw new Error(`Key Vault ${vault}: this identity may not write secret ${name}, so a rotation would leave its readers behind: ${describe(e)}`);
      }
    },
  };
}

/**
 * Azure runs one operation at a time on a Flexible Server and refuses a PATCH meanwhile: 409 ServerBusy ("Server
 * '{name}' is busy with another operation. Please try again later."; sources in test/servers/azure/arm.ts). The
 * operation in the way is often this rotation's own earlier PATCH, which has already set the pending value: a call
 * cut off by its deadline, a process that died, a concurrent call for the same SecretRotation. Failing then would
 * leave the apps on a value the server no longer accepts for the whole back-off, and the failure recorded would
 * undo the other call's progress. So a busy server is waited out for a short while, PATCHing the same value again;
 * only a server still busy after that fails the step, which is then retried from its saved phase.
 */
const BUSY_CODES = new Set(["ServerBusy", "ServerIsBusy"]);
/** The SDK's own polling interval, doubling: 4 attempts within 14 s, well inside the step's deadline. */
const BUSY_RETRY_DELAYS_MS: readonly number[] = [2_000, 4_000, 8_000];

export interface FlexibleServerOptions {
  /** Waits before each new PATCH while the server is busy with another operation. */
  busyRetryDelaysMs?: readonly number[];
  /** The poller's interval when Azure sends no Retry-After. */
  updateIntervalInMs?: number;
}

function isBusy(e: unknown): boolean {
  const err = e as { statusCode?: number; code?: string };
  return err.statusCode === 409 && BUSY_CODES.has(err.code ?? "");
}

export function flexibleServerPort(credential: TokenCredential, policy: RotationPolicy, options: FlexibleServerOptions = {}): FlexibleServerPort {
  const client = new PostgreSQLManagementFlexibleServerClient(credential, policy.subscriptionId ?? "", { endpoint: policy.cloud.resourceManagerEndpoint });
  const delays = options.busyRetryDelaysMs ?? BUSY_RETRY_DELAYS_MS;
  const updateIntervalInMs = options.updateIntervalInMs ?? 2000;
  return {
    async serverTags(resourceGroupName, serverName, abortSignal) {
      try {
        const server = await client.servers.get(resourceGroupName, serverName, { abortSignal });
        return server.tags ?? {};
      } catch (e) {
        // eslint-disable-next-line preserve-caught-error -- see describe()
        throw new Error(`Azure Resource Manager: cannot read Flexible Server ${resourceGroupName}/${serverName}: ${describe(e)}`);
      }
    },
    async setAdminPassword(resourceGroupName, serverName, password, abortSignal) {
      for (let attempt = 0; ; attempt++) {
        try {
          await client.servers.beginUpdateAndWait(resourceGroupName, serverName, { administratorLoginPassword: password }, { updateIntervalInMs, abortSignal });
          return;
        } catch (e) {
          const delay = delays[attempt];
          if (isBusy(e) && delay !== undefined && abortSignal?.aborted !== true) {
            // A step cut off by its deadline sends no further PATCH.
            await sleep(delay, undefined, abortSignal === undefined ? undefined : { signal: abortSignal });
            continue;
          }
          const waited = isBusy(e) ? `, which was still busy with another operation after ${delays.reduce((a, b) => a + b, 0) / 1000} s` : "";
          // eslint-disable-next-line preserve-caught-error -- see describe()
          throw new Error(`Azure Resource Manager: cannot set the admin password of ${resourceGroupName}/${serverName}${waited}: ${describe(e)}`);
        }
      }
    },
  };
}
