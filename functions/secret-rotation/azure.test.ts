// The Flexible Server adapter with the real ARM client against the local ARM stand-in, which refuses a PATCH
// while another operation on the server runs (409 ServerBusy), as Azure does.
import { randomUUID } from "node:crypto";
import { PostgreSQLManagementFlexibleServerClient } from "@azure/arm-postgresql-flexible";
import { ClientSecretCredential } from "@azure/identity";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { type AzureFake, startAzureFake, trustCaInThisProcess } from "../../test/servers/azure/index.ts";
import { flexibleServerPort, keyVaultPort } from "./azure.ts";
import { RotationPolicy } from "./policy.ts";

const SUB = randomUUID();
const RG = "rg-data-prod";
const SERVER_PATH = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.DBforPostgreSQL/flexibleServers`;
const BUSY = "HTTP 409 ServerBusy Server 'pg-busy' is busy with another operation. Please try again later.";

let fake: AzureFake;
let untrust: () => void;
let credential: ClientSecretCredential;
let policy: RotationPolicy;
let client: PostgreSQLManagementFlexibleServerClient;

beforeAll(async () => {
  fake = await startAzureFake({ retryAfterSeconds: 0 });
  untrust = trustCaInThisProcess(fake.caPem);
  credential = new ClientSecretCredential(fake.tenantId, fake.clientId, fake.clientSecret, { authorityHost: fake.authorityHost, disableInstanceDiscovery: true });
  policy = RotationPolicy.parse({
    apiVersion: "fn.azplatform.io/v1alpha1",
    kind: "SecretRotationPolicy",
    subscriptionId: SUB,
    cloud: { resourceManagerEndpoint: fake.armEndpoint, authorityHost: fake.authorityHost },
  });
  client = new PostgreSQLManagementFlexibleServerClient(credential, SUB, { endpoint: fake.armEndpoint });
});
afterAll(async () => {
  untrust();
  await fake.close();
});

/** A server whose scales take as long as the test holds them. */
let releaseScale = (): void => undefined;
const passwords: string[] = [];
beforeEach(() => {
  passwords.length = 0;
  const held = new Promise<void>((resolve) => (releaseScale = resolve));
  fake.addServer({
    subscriptionId: SUB,
    resourceGroup: RG,
    name: "pg-busy",
    onAdminPasswordChange: (password) => void passwords.push(password),
    onUpdate: ({ sku }) => (sku === undefined ? undefined : held),
  });
  fake.resetCalls();
});

/** A scale someone else started (Crossplane resizing the Database, say), polled once and then left running. */
const startScale = () => client.servers.beginUpdate(RG, "pg-busy", { sku: { name: "Standard_D4ds_v5", tier: "GeneralPurpose" } }, { updateIntervalInMs: 10 });
const patchStatuses = () => fake.calls().filter((c) => c.method === "PATCH" && c.path === `${SERVER_PATH}/pg-busy`).map((c) => c.status);

describe("flexibleServerPort.setAdminPassword", () => {
  it("waits out a server busy with another operation, then sets the password with the same value", async () => {
    const scale = await startScale();
    const port = flexibleServerPort(credential, policy, { busyRetryDelaysMs: [100, 200, 400, 800], updateIntervalInMs: 10 });
    const password = `Pw-${randomUUID()}`;

    const setting = port.setAdminPassword(RG, "pg-busy", password);
    await vi.waitFor(() => expect(patchStatuses()).toContain(409), { timeout: 5_000, interval: 20 });
    releaseScale();
    await scale.pollUntilDone();
    await setting;

    expect(passwords).toEqual([password]);
    const statuses = patchStatuses();
    expect(statuses[0]).toBe(202); // the scale
    expect(statuses.at(-1)).toBe(202); // the password, once the scale had ended
    expect(statuses.slice(1, -1).every((s) => s === 409)).toBe(true);
  });

  it("fails when the server is still busy after the last wait, naming the server and never the password", async () => {
    await startScale();
    const port = flexibleServerPort(credential, policy, { busyRetryDelaysMs: [10, 20], updateIntervalInMs: 10 });
    const password = `Pw-${randomUUID()}`;

    const error = await port.setAdminPassword(RG, "pg-busy", password).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(error).toEqual(new Error(`Azure Resource Manager: cannot set the admin password of ${RG}/pg-busy, which was still busy with another operation after 0.03 s: ${BUSY}`));
    expect(error).not.toHaveProperty("cause"); // a RestError's request carries the password
    expect(patchStatuses()).toEqual([202, 409, 409, 409]);
    expect(passwords).toEqual([]);
    releaseScale();
  });

  it("does not wait on other errors", async () => {
    const port = flexibleServerPort(credential, policy, { busyRetryDelaysMs: [10_000], updateIntervalInMs: 10 });
    await expect(port.setAdminPassword(RG, "pg-nope", "Never-Passw0rd")).rejects.toEqual(
      new Error(
        `Azure Resource Manager: cannot set the admin password of ${RG}/pg-nope: HTTP 404 ResourceNotFound The Resource 'Microsoft.DBforPostgreSQL/flexibleServers/pg-nope' under resource group '${RG}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
      ),
    );
    expect(fake.calls().filter((c) => c.method === "PATCH").map((c) => c.status)).toEqual([404]);
  });
});

describe("flexibleServerPort.serverTags", () => {
  it("reads the server's tags from Azure Resource Manager, as the Database function set them", async () => {
    const tags = { team: "payments", "azplatform-namespace": "team-payments" };
    fake.addServer({ subscriptionId: SUB, resourceGroup: RG, name: "pg-tagged", tags });
    const port = flexibleServerPort(credential, policy);
    expect(await port.serverTags(RG, "pg-tagged")).toEqual(tags);
    expect(await port.serverTags(RG, "pg-busy")).toEqual({});
  });

  it("names the server it cannot read", async () => {
    const port = flexibleServerPort(credential, policy);
    await expect(port.serverTags(RG, "pg-nope")).rejects.toEqual(
      new Error(
        `Azure Resource Manager: cannot read Flexible Server ${RG}/pg-nope: HTTP 404 ResourceNotFound The Resource 'Microsoft.DBforPostgreSQL/flexibleServers/pg-nope' under resource group '${RG}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
      ),
    );
  });
});

// Through the stand-in's proxy: the port's SecretClient keeps Azure's real vault host names, as in production.
describe("keyVaultPort.checkWritable", () => {
  const kv = () => {
    vi.stubEnv("HTTPS_PROXY", fake.proxy.url);
    const proxied = new ClientSecretCredential(fake.tenantId, fake.clientId, fake.clientSecret);
    return keyVaultPort(proxied, RotationPolicy.parse({ apiVersion: "fn.azplatform.io/v1alpha1", kind: "SecretRotationPolicy" }));
  };
  afterAll(() => void vi.unstubAllEnvs());
  const tags = { "rotated-by": "team-payments/orders-pw", "rotation-version": "3" };

  it("proves a write without a new version or any change a reader sees", async () => {
    const vault = fake.vault("kv-writable");
    vault.seed("orders-pw", "current-Passw0rd", tags);
    await kv().checkWritable("kv-writable", "orders-pw");
    expect(vault.versions("orders-pw").map((v) => ({ value: v.value, tags: v.tags }))).toEqual([{ value: "current-Passw0rd", tags }]);
    expect(fake.calls().filter((c) => c.service === "keyvault" && c.method === "PATCH").map((c) => c.status)).toEqual([200]);
  });

  it("leaves a secret that does not exist yet alone", async () => {
    await kv().checkWritable("kv-writable", "never-written");
    expect(fake.vault("kv-writable").versions("never-written")).toEqual([]);
  });

  it("refuses, naming the vault, the secret and Azure's answer, where the identity may only read", async () => {
    const vault = fake.vault("kv-readonly");
    vault.seed("orders-pw", "current-Passw0rd", tags);
    vault.readOnly(true);
    const error = await kv().checkWritable("kv-readonly", "orders-pw").then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toBe(
      "Key Vault kv-readonly: this identity may not write secret orders-pw, so a rotation would leave its readers behind: HTTP 403 Forbidden Caller is not authorized to perform action on resource.",
    );
    expect(vault.versions("orders-pw").map((v) => v.tags)).toEqual([tags]);
  });
});
