// The Azure fake driven by the REAL Azure SDK clients (@azure/identity, @azure/keyvault-secrets,
// @azure/arm-postgresql-flexible): if the fake broke a protocol, these clients would fail here.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as http from "node:http";
import * as https from "node:https";
import { promisify } from "node:util";
import { PostgreSQLManagementFlexibleServerClient, type ServerForPatch } from "@azure/arm-postgresql-flexible";
import { ClientSecretCredential } from "@azure/identity";
import { SecretClient, type SecretClientOptions } from "@azure/keyvault-secrets";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { type TestPostgres, startPostgres } from "../support/postgres.ts";
import { type AzureCall, type AzureFake, type Fault, startAzureFake, trustCaInThisProcess } from "./azure/index.ts";

// What the SDKs send: asserted exactly, so an SDK upgrade that changes them shows up here.
const KV_API = "2026-04-01";
const ARM_API = "2025-08-01";
const SUB = randomUUID();
const RG = "rg-payments";
const SERVER_PATH = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.DBforPostgreSQL/flexibleServers`;
const OPERATION = expect.stringMatching(
  new RegExp(`^/subscriptions/${SUB}/providers/Microsoft\\.DBforPostgreSQL/locations/westeurope/azureAsyncOperation/[0-9a-f-]{36}$`),
);

let fake: AzureFake;
let untrust: () => void;

beforeAll(async () => {
  // retryAfterSeconds 0: the poller then waits its own updateIntervalInMs, which the tests set to 10 ms.
  fake = await startAzureFake({ vaults: ["kv-payments", "kv-orders"], retryAfterSeconds: 0 });
  untrust = trustCaInThisProcess(fake.caPem);
});
afterAll(async () => {
  untrust();
  await fake.close();
});
beforeEach(() => fake.resetCalls());

const credential = (): ClientSecretCredential =>
  new ClientSecretCredential(fake.tenantId, fake.clientId, fake.clientSecret, { authorityHost: fake.authorityHost, disableInstanceDiscovery: true });
const secretClient = (vault = "kv-payments", cred = credential(), options: SecretClientOptions = {}): SecretClient =>
  new SecretClient(fake.vaultUrl(vault), cred, { disableChallengeResourceVerification: true, ...options });
const armClient = (cred = credential(), options: { retryOptions?: { maxRetries: number } } = {}): PostgreSQLManagementFlexibleServerClient =>
  new PostgreSQLManagementFlexibleServerClient(cred, SUB, { endpoint: fake.armEndpoint, ...options });

const discovery = (): AzureCall => ({
  service: "token",
  method: "GET",
  path: `/${fake.tenantId}/v2.0/.well-known/openid-configuration`,
  apiVersion: undefined,
  status: 200,
});
const tokenCall = (): AzureCall => ({ service: "token", method: "POST", path: `/${fake.tenantId}/oauth2/v2.0/token`, apiVersion: undefined, status: 200 });
const kvCall = (method: string, path: string, status?: number, vault = "kv-payments"): AzureCall => ({
  service: "keyvault",
  method,
  path,
  apiVersion: KV_API,
  vault,
  ...(status === undefined ? {} : { status }),
});
const armCall = (method: string, path: string, status?: number): AzureCall => ({
  service: "arm",
  method,
  path,
  apiVersion: ARM_API,
  ...(status === undefined ? {} : { status }),
});

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

/** A plain HTTPS request, bypassing the SDKs, to look at the wire format itself. */
function raw(url: string, { method = "GET", headers = {}, body }: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca: fake.caPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text === "" ? undefined : JSON.parse(text) });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Settles within `ms` or reports "pending". */
function within<T>(promise: Promise<T>, ms: number): Promise<{ ok: T } | { error: unknown } | "pending"> {
  return Promise.race([
    promise.then(
      (ok) => ({ ok }),
      (error: unknown) => ({ error }),
    ),
    new Promise<"pending">((resolve) => setTimeout(() => resolve("pending"), ms)),
  ]);
}

describe("Entra ID token endpoint, as MSAL's client-credentials flow uses it", () => {
  it("discovers the OpenID configuration, issues a token, and MSAL serves the second request from its cache", async () => {
    const cred = credential();
    const first = await cred.getToken("https://vault.azure.net/.default");
    const second = await cred.getToken("https://vault.azure.net/.default");

    expect(second.token).toBe(first.token);
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fake.calls()).toEqual([discovery(), tokenCall()]);
    expect(fake.tokensIssued().at(-1)).toEqual({ scope: "https://vault.azure.net/.default", audience: "keyvault", expiresOn: expect.any(Date) });
  });

  /** What a failed getToken tells the caller: identity's error, and MSAL's ServerError behind it (its `cause`). */
  const failure = (e: unknown): object => {
    const err = e as Error & { cause?: { errorCode?: string; errorNo?: number; status?: number } };
    return { name: err.name, message: err.message, errorCode: err.cause?.errorCode, errorNo: err.cause?.errorNo, status: err.cause?.status };
  };
  const failures: { name: string; tenant?: string; clientId?: string; secret?: string; scope?: string; expected: object }[] = [
    {
      name: "a wrong client secret: 401 invalid_client AADSTS7000215 (identity wraps it in AuthenticationRequiredError)",
      secret: "not-the-secret",
      expected: { name: "AuthenticationRequiredError", message: expect.stringContaining("AADSTS7000215: Invalid client secret provided."), errorCode: "invalid_client", errorNo: 7000215, status: 401 },
    },
    {
      name: "an unknown client id: 400 unauthorized_client AADSTS700016",
      clientId: randomUUID(),
      expected: { name: "AuthenticationRequiredError", message: expect.stringContaining("AADSTS700016: Application with identifier"), errorCode: "unauthorized_client", errorNo: 700016, status: 400 },
    },
    {
      name: "an unknown resource: 400 invalid_resource AADSTS500011",
      scope: "https://graph.example.com/.default",
      expected: { name: "AuthenticationRequiredError", message: expect.stringContaining("AADSTS500011: The resource principal named https://graph.example.com was not found"), errorCode: "invalid_resource", errorNo: 500011, status: 400 },
    },
    {
      name: "an unknown tenant: OIDC discovery answers 400 AADSTS90002, which MSAL reports as endpoints_resolution_error",
      tenant: randomUUID(),
      expected: { name: "CredentialUnavailableError", message: expect.stringContaining("endpoints_resolution_error"), errorCode: undefined, errorNo: undefined, status: undefined },
    },
  ];
  it.each(failures)("rejects $name", async ({ tenant, clientId, secret, scope, expected }) => {
    const cred = new ClientSecretCredential(tenant ?? fake.tenantId, clientId ?? fake.clientId, secret ?? fake.clientSecret, {
      authorityHost: fake.authorityHost,
      disableInstanceDiscovery: true,
    });
    const error = await cred.getToken(scope ?? "https://vault.azure.net/.default").then(() => undefined, (e: unknown) => e);
    expect(failure(error)).toEqual(expected);
  });

  it("answers a wrong secret with Entra's error JSON", async () => {
    const res = await raw(`${fake.authorityHost}/${fake.tenantId}/oauth2/v2.0/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "client-request-id": "corr-1" },
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: fake.clientId, client_secret: "nope", scope: "https://vault.azure.net/.default" }).toString(),
    });
    expect(res).toMatchObject({ status: 401, headers: { "content-type": "application/json; charset=utf-8" } });
    expect(res.body).toEqual({
      error: "invalid_client",
      error_description: expect.stringMatching(
        new RegExp(`^AADSTS7000215: Invalid client secret provided\\. .* for a secret added to app '${fake.clientId}'\\. Trace ID: [0-9a-f-]{36} Correlation ID: corr-1 Timestamp: \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ$`),
      ),
      error_codes: [7000215],
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/),
      trace_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      correlation_id: "corr-1",
      error_uri: `${fake.authorityHost}/error?code=7000215`,
    });
  });
});

describe("resource endpoints check bearer tokens", () => {
  let vaultToken: string;
  let armToken: string;
  beforeAll(async () => {
    const cred = credential();
    vaultToken = (await cred.getToken("https://vault.azure.net/.default")).token;
    armToken = (await cred.getToken(`${fake.armEndpoint}/.default`)).token;
  });

  const kvChallenge = (): string => `Bearer authorization="${fake.authorityHost}/${fake.tenantId}", resource="https://vault.azure.net"`;
  const rows: { name: string; url: () => string; token: () => string | undefined; status: number; header: () => string; body: () => object }[] = [
    {
      name: "Key Vault without a token: the challenge",
      url: () => `${fake.vaultUrl("kv-payments")}/secrets/x?api-version=${KV_API}`,
      token: () => undefined,
      status: 401,
      header: kvChallenge,
      body: () => ({ error: { code: "Unauthorized", message: "AKV10000: Request is missing a Bearer or PoP token." } }),
    },
    {
      name: "Key Vault with a token it never issued",
      url: () => `${fake.vaultUrl("kv-payments")}/secrets/x?api-version=${KV_API}`,
      token: () => "forged",
      status: 401,
      header: kvChallenge,
      body: () => ({ error: { code: "Unauthorized", message: "Unauthorized: the access token is not one the fake issued." } }),
    },
    {
      name: "Key Vault with an ARM token",
      url: () => `${fake.vaultUrl("kv-payments")}/secrets/x?api-version=${KV_API}`,
      token: () => armToken,
      status: 401,
      header: kvChallenge,
      body: () => ({ error: { code: "Unauthorized", message: `AKV10022: Invalid audience. Expected https://vault.azure.net, found: ${fake.armEndpoint}.` } }),
    },
    {
      name: "ARM without a token",
      url: () => `${fake.armEndpoint}${SERVER_PATH}/pg?api-version=${ARM_API}`,
      token: () => undefined,
      status: 401,
      header: () => `Bearer authorization_uri="${fake.authorityHost}/", error="invalid_token", error_description="The authentication failed because of missing 'Authorization' header."`,
      body: () => ({ error: { code: "AuthenticationFailed", message: "Authentication failed. The 'Authorization' header is missing." } }),
    },
    {
      name: "ARM with a Key Vault token",
      url: () => `${fake.armEndpoint}${SERVER_PATH}/pg?api-version=${ARM_API}`,
      token: () => vaultToken,
      status: 401,
      header: () => expect.stringContaining('error="invalid_token"'),
      body: () => ({
        error: {
          code: "InvalidAuthenticationTokenAudience",
          message: expect.stringMatching(/^The access token has been obtained for wrong audience or resource 'https:\/\/vault\.azure\.net'\./),
        },
      }),
    },
  ];
  it.each(rows)("$name -> 401", async ({ url, token, status, header, body }) => {
    const t = token();
    const res = await raw(url(), { headers: t === undefined ? {} : { authorization: `Bearer ${t}` } });
    expect(res.status).toBe(status);
    expect(res.headers["www-authenticate"]).toEqual(header());
    expect(res.body).toEqual(body());
  });
});

describe("Key Vault secrets through SecretClient", () => {
  it("challenges the first request once, then sends bearer tokens without further challenges", async () => {
    const client = secretClient();
    await client.setSecret("challenge-once", "v1");
    await client.getSecret("challenge-once");
    await client.setSecret("challenge-once", "v2");

    expect(fake.calls()).toEqual([
      kvCall("PUT", "/secrets/challenge-once", 401), // body withheld by the SDK until the challenge is validated
      discovery(),
      tokenCall(),
      kvCall("PUT", "/secrets/challenge-once", 200),
      kvCall("GET", "/secrets/challenge-once/", 200), // latest: the SDK sends an empty version
      kvCall("PUT", "/secrets/challenge-once", 200),
    ]);
  });

  it("creates a version per set, with tags and content type; gets the latest or a given version; lists versions", async () => {
    const client = secretClient();
    const v1 = await client.setSecret("db-password", "first", { tags: { rotation: "1" }, contentType: "text/plain" });
    const v2 = await client.setSecret("db-password", "second", { tags: { rotation: "2" } });
    const vaultUrl = fake.vaultUrl("kv-payments");

    expect(v1).toEqual({
      value: "first",
      name: "db-password",
      properties: {
        id: `${vaultUrl}/secrets/db-password/${v1.properties.version ?? ""}`,
        vaultUrl,
        name: "db-password",
        version: expect.stringMatching(/^[0-9a-f]{32}$/),
        enabled: true,
        createdOn: expect.any(Date),
        updatedOn: expect.any(Date),
        notBefore: undefined,
        expiresOn: undefined,
        recoverableDays: 90,
        recoveryLevel: "Recoverable+Purgeable",
        contentType: "text/plain",
        tags: { rotation: "1" },
        managed: undefined,
        previousVersion: undefined,
        certificateKeyId: undefined,
      },
    });
    expect((await client.getSecret("db-password")).value).toBe("second");
    expect((await client.getSecret("db-password", { version: v1.properties.version ?? "" })).value).toBe("first");

    const listed = [];
    for await (const p of client.listPropertiesOfSecretVersions("db-password")) listed.push({ version: p.version, tags: p.tags, contentType: p.contentType });
    expect(listed).toEqual([
      { version: v1.properties.version, tags: { rotation: "1" }, contentType: "text/plain" },
      { version: v2.properties.version, tags: { rotation: "2" }, contentType: undefined },
    ]);
    expect(fake.vault("kv-payments").versions("db-password")).toEqual([
      { version: v1.properties.version, value: "first", contentType: "text/plain", tags: { rotation: "1" }, enabled: true, notBefore: undefined, expires: undefined, created: expect.any(Date), updated: expect.any(Date) },
      { version: v2.properties.version, value: "second", contentType: undefined, tags: { rotation: "2" }, enabled: true, notBefore: undefined, expires: undefined, created: expect.any(Date), updated: expect.any(Date) },
    ]);
  });

  it("updates a version's properties: tags replace the set, a disabled version answers 403 SecretDisabled", async () => {
    const seeded = fake.vault("kv-payments").seed("api-key", "k1", { stage: "pending" });
    const client = secretClient();

    const updated = await client.updateSecretProperties("api-key", seeded.version, { tags: { stage: "current" } });
    expect(updated.tags).toEqual({ stage: "current" });
    await client.updateSecretProperties("api-key", seeded.version, { enabled: false });

    expect(fake.vault("kv-payments").versions("api-key")).toEqual([{ ...seeded, tags: { stage: "current" }, enabled: false, updated: expect.any(Date) }]);
    await expect(client.getSecret("api-key")).rejects.toMatchObject({
      name: "RestError",
      statusCode: 403,
      code: "Forbidden",
      details: { error: { code: "Forbidden", message: "Operation get is not allowed on a disabled secret.", innerError: { code: "SecretDisabled" } } },
    });
  });

  it("pages version lists with nextLink ($skiptoken), 25 per page by default and maxresults when the caller sets a page size", async () => {
    const vault = fake.vault("kv-payments");
    const seeded = Array.from({ length: 30 }, (_, i) => vault.seed("many-versions", `value-${i}`).version);
    const client = secretClient();

    const all = [];
    for await (const p of client.listPropertiesOfSecretVersions("many-versions")) all.push(p.version);
    const pages = [];
    for await (const page of client.listPropertiesOfSecretVersions("many-versions").byPage({ maxPageSize: 12 })) pages.push(page.map((p) => p.version));

    expect(all).toEqual(seeded);
    expect(pages).toEqual([seeded.slice(0, 12), seeded.slice(12, 24), seeded.slice(24)]);
    const listCalls = fake.calls().filter((c) => c.path === "/secrets/many-versions/versions");
    const page = kvCall("GET", "/secrets/many-versions/versions", 200);
    expect(listCalls).toEqual([kvCall("GET", "/secrets/many-versions/versions", 401), page, page, page, page, page]); // 30 = 25 + 5, then 12 + 12 + 6
  });

  const notFound: { name: string; run: (c: SecretClient) => Promise<unknown>; message: string }[] = [
    { name: "get of an unknown secret", run: (c) => c.getSecret("no-such-secret"), message: "A secret with (name/id) no-such-secret was not found in this key vault." },
    {
      name: "get of an unknown version",
      run: async (c) => {
        await c.setSecret("known", "v");
        return c.getSecret("known", { version: "0123456789abcdef0123456789abcdef" });
      },
      message: "A secret with (name/id) known/0123456789abcdef0123456789abcdef was not found in this key vault.",
    },
    {
      name: "update of an unknown secret",
      run: (c) => c.updateSecretProperties("no-such-secret", "0123456789abcdef0123456789abcdef", { tags: {} }),
      message: "A secret with (name/id) no-such-secret/0123456789abcdef0123456789abcdef was not found in this key vault.",
    },
  ];
  it.each(notFound)("$name -> RestError 404 SecretNotFound", async ({ run, message }) => {
    await expect(run(secretClient())).rejects.toMatchObject({
      name: "RestError",
      statusCode: 404,
      code: "SecretNotFound",
      message: expect.stringContaining(message),
      details: { error: { code: "SecretNotFound", message: expect.stringContaining(message) } },
    });
  });

  it("keeps vaults apart: each has its own URL and contents", async () => {
    await secretClient("kv-payments").setSecret("only-in-payments", "p");
    await expect(secretClient("kv-orders").getSecret("only-in-payments")).rejects.toMatchObject({ statusCode: 404, code: "SecretNotFound" });
    expect(fake.vaultUrl("kv-orders")).not.toBe(fake.vaultUrl("kv-payments"));
    expect(fake.vault("kv-orders").versions("only-in-payments")).toEqual([]);
    expect(() => fake.vaultUrl("kv-unknown")).toThrow(/has no direct URL/);
  });

  it("needs disableChallengeResourceVerification on a direct URL: the SDK wants the vault host under the challenge's resource host", async () => {
    const client = new SecretClient(fake.vaultUrl("kv-payments"), credential());
    await expect(client.getSecret("x")).rejects.toThrow(/The challenge resource 'vault\.azure\.net' does not match the requested domain/);
  });
});

describe("ARM: PostgreSQL flexible servers through PostgreSQLManagementFlexibleServerClient", () => {
  const passwordChanges: string[] = [];
  const onAdminPasswordChange = vi.fn(async (password: string) => {
    passwordChanges.push(password);
  });
  beforeAll(() => {
    fake.addServer({ subscriptionId: SUB, resourceGroup: RG, name: "pg-payments", onAdminPasswordChange });
    fake.addServer({ subscriptionId: SUB, resourceGroup: RG, name: "pg-slow", asyncPolls: 3, onAdminPasswordChange });
  });
  beforeEach(() => {
    onAdminPasswordChange.mockClear();
    passwordChanges.length = 0;
  });

  it("GET returns the server as ARM does", async () => {
    const server = await armClient().servers.get(RG, "pg-payments");
    expect(server).toEqual({
      id: `${SERVER_PATH}/pg-payments`,
      name: "pg-payments",
      type: "Microsoft.DBforPostgreSQL/flexibleServers",
      location: "westeurope",
      tags: {},
      sku: { name: "Standard_D2ds_v5", tier: "GeneralPurpose" },
      administratorLogin: "pgadmin",
      version: "16",
      state: "Ready",
      fullyQualifiedDomainName: "pg-payments.postgres.database.azure.com",
      storage: { storageSizeGB: 128, autoGrow: "Disabled", tier: "P10", type: "Premium_LRS" },
      authConfig: { activeDirectoryAuth: "Disabled", passwordAuth: "Enabled", tenantId: "" }, // "" defaults added by the SDK's mapper
      network: { publicNetworkAccess: "Enabled" },
      highAvailability: { mode: "Disabled", state: "NotEnabled", standbyAvailabilityZone: "" },
      availabilityZone: "",
      replicationRole: "Primary",
    });
  });

  it("PATCH of the admin password: 202, Azure-AsyncOperation polls, the change runs once before Succeeded, the password is never echoed", async () => {
    const password = `Pw-${randomUUID()}`;
    const client = armClient();
    await client.servers.get(RG, "pg-slow"); // token acquired up front, so the calls below are the operation alone
    fake.resetCalls();

    const result = await client.servers.beginUpdateAndWait(RG, "pg-slow", { administratorLoginPassword: password }, { updateIntervalInMs: 10 });

    expect(result).toMatchObject({ name: "pg-slow", state: "Ready" });
    expect(result).not.toHaveProperty("administratorLoginPassword");
    expect(passwordChanges).toEqual([password]);
    expect(fake.calls()).toEqual([
      armCall("PATCH", `${SERVER_PATH}/pg-slow`, 202),
      armCall("GET", OPERATION, 200), // InProgress (1 of asyncPolls 3)
      armCall("GET", OPERATION, 200), // InProgress
      armCall("GET", OPERATION, 200), // InProgress
      armCall("GET", OPERATION, 200), // Succeeded
      armCall("GET", `${SERVER_PATH}/pg-slow`, 200), // PATCH LROs end with a GET of the resource
    ]);
    const bodies = fake.responseBodies();
    expect(bodies.map((b) => (b === "" ? "" : (JSON.parse(b) as { status?: string }).status))).toEqual(["", "InProgress", "InProgress", "InProgress", "Succeeded", undefined]);
    expect(bodies.filter((b) => b.includes(password))).toEqual([]);
  });

  it("reports Succeeded only after onAdminPasswordChange has settled", async () => {
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    fake.addServer({ subscriptionId: SUB, resourceGroup: RG, name: "pg-gated", onAdminPasswordChange: () => gate });
    const done = armClient().servers.beginUpdateAndWait(RG, "pg-gated", { administratorLoginPassword: "Gated-Passw0rd" }, { updateIntervalInMs: 10 });

    expect(await within(done, 500)).toBe("pending");
    expect(fake.calls().filter((c) => c.service === "arm")).toEqual([
      armCall("PATCH", `${SERVER_PATH}/pg-gated`, 202),
      armCall("GET", OPERATION, 200), // InProgress
      armCall("GET", OPERATION), // held until the change settles
    ]);
    release();
    await expect(done).resolves.toMatchObject({ name: "pg-gated", state: "Ready" });
  });

  it("fails the operation when onAdminPasswordChange throws, without leaking the password", async () => {
    const password = "Leaky-Passw0rd";
    fake.addServer({
      subscriptionId: SUB,
      resourceGroup: RG,
      name: "pg-broken",
      onAdminPasswordChange: (pw) => {
        throw new Error(`ALTER ROLE failed for password ${pw}`);
      },
    });
    await expect(armClient().servers.beginUpdateAndWait(RG, "pg-broken", { administratorLoginPassword: password }, { updateIntervalInMs: 10 })).rejects.toThrow(
      "The long-running operation has failed. InternalServerError. An unexpected error occurred while processing the request: ALTER ROLE failed for password ***",
    );
    expect(fake.responseBodies().filter((b) => b.includes(password))).toEqual([]);
  });

  it("refuses a PATCH while another operation on the server runs: 409 ServerBusy, nothing of it applied; once that ends, the same PATCH succeeds", async () => {
    const changed = vi.fn();
    fake.addServer({ subscriptionId: SUB, resourceGroup: RG, name: "pg-busy", asyncPolls: 3, onAdminPasswordChange: changed });
    const client = armClient();
    await client.servers.get(RG, "pg-busy");
    fake.resetCalls();
    const scale: ServerForPatch = { sku: { name: "Standard_D4ds_v5", tier: "GeneralPurpose" } };
    const password = `Pw-${randomUUID()}`;
    const second: ServerForPatch = { administratorLoginPassword: password, tags: { owner: "team-payments" } };

    const scaling = await client.servers.beginUpdate(RG, "pg-busy", scale, { updateIntervalInMs: 10 }); // polled once: InProgress
    const refused = await client.servers.beginUpdateAndWait(RG, "pg-busy", second, { updateIntervalInMs: 10 }).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(refused).toMatchObject({
      name: "RestError",
      statusCode: 409,
      code: "ServerBusy",
      message: "Server 'pg-busy' is busy with another operation. Please try again later.",
      details: { error: { code: "ServerBusy", message: "Server 'pg-busy' is busy with another operation. Please try again later." } },
    });
    expect(await client.servers.get(RG, "pg-busy")).toMatchObject({ state: "Updating", sku: scale.sku, tags: {} });
    expect(changed).not.toHaveBeenCalled();

    await scaling.pollUntilDone();
    const result = await client.servers.beginUpdateAndWait(RG, "pg-busy", second, { updateIntervalInMs: 10 });
    expect(result).toMatchObject({ state: "Ready", sku: scale.sku, tags: { owner: "team-payments" } });
    expect(changed.mock.calls).toEqual([[password]]);
    // The SDK does not retry a 409: one refused PATCH between the two accepted ones.
    expect(fake.calls().filter((c) => c.method === "PATCH")).toEqual([
      armCall("PATCH", `${SERVER_PATH}/pg-busy`, 202),
      armCall("PATCH", `${SERVER_PATH}/pg-busy`, 409),
      armCall("PATCH", `${SERVER_PATH}/pg-busy`, 202),
    ]);
    expect(fake.responseBodies().filter((b) => b.includes(password))).toEqual([]);
  });

  it("keeps the server busy while a change is held open, past its InProgress answers", async () => {
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    fake.addServer({ subscriptionId: SUB, resourceGroup: RG, name: "pg-held", onUpdate: ({ sku }) => (sku === undefined ? undefined : held) });
    const client = armClient();
    const scaling = client.servers.beginUpdateAndWait(RG, "pg-held", { sku: { name: "Standard_D8ds_v5", tier: "GeneralPurpose" } }, { updateIntervalInMs: 10 });

    expect(await within(scaling, 300)).toBe("pending");
    await expect(client.servers.beginUpdateAndWait(RG, "pg-held", { tags: { a: "b" } }, { updateIntervalInMs: 10 })).rejects.toMatchObject({ statusCode: 409, code: "ServerBusy" });
    release();
    await expect(scaling).resolves.toMatchObject({ state: "Ready", sku: { name: "Standard_D8ds_v5" }, tags: {} });
    await expect(client.servers.beginUpdateAndWait(RG, "pg-held", { tags: { a: "b" } }, { updateIntervalInMs: 10 })).resolves.toMatchObject({ tags: { a: "b" } });
  });

  it("ends an operation nobody polls (its client gave up or died) once a client honouring Retry-After would have seen it end", async () => {
    fake.addServer({ subscriptionId: SUB, resourceGroup: RG, name: "pg-abandoned" });
    const client = armClient();
    await client.servers.beginUpdate(RG, "pg-abandoned", { tags: { first: "1" } }, { updateIntervalInMs: 10 }); // never polled again
    await expect(client.servers.beginUpdateAndWait(RG, "pg-abandoned", { tags: { second: "2" } }, { updateIntervalInMs: 10 })).rejects.toMatchObject({ statusCode: 409, code: "ServerBusy" });

    // asyncPolls 1 x the SDK's 2 s (Retry-After is 0 here): the server is Ready again without another poll.
    await vi.waitFor(async () => expect(await client.servers.get(RG, "pg-abandoned")).toMatchObject({ state: "Ready" }), { timeout: 5_000, interval: 200 });
    await expect(client.servers.beginUpdateAndWait(RG, "pg-abandoned", { tags: { second: "2" } }, { updateIntervalInMs: 10 })).resolves.toMatchObject({ tags: { second: "2" } });
  });

  it("PATCH without a password updates the resource and runs no password change", async () => {
    const patch: ServerForPatch = { tags: { owner: "team-payments" } };
    const result = await armClient().servers.beginUpdateAndWait(RG, "pg-payments", patch, { updateIntervalInMs: 10 });
    expect(result.tags).toEqual({ owner: "team-payments" });
    expect(onAdminPasswordChange).not.toHaveBeenCalled();
  });

  const missing: { name: string; rg: string; server: string; code: string; message: string }[] = [
    {
      name: "an unknown server",
      rg: RG,
      server: "pg-nope",
      code: "ResourceNotFound",
      message: `The Resource 'Microsoft.DBforPostgreSQL/flexibleServers/pg-nope' under resource group '${RG}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    },
    { name: "an unknown resource group", rg: "rg-nope", server: "pg-payments", code: "ResourceGroupNotFound", message: "Resource group 'rg-nope' could not be found." },
  ];
  it.each(missing)("$name -> RestError 404 $code", async ({ rg, server, code, message }) => {
    await expect(armClient().servers.get(rg, server)).rejects.toMatchObject({ name: "RestError", statusCode: 404, code, message });
  });

  it("an unknown subscription -> RestError 404 SubscriptionNotFound", async () => {
    const other = randomUUID();
    const client = new PostgreSQLManagementFlexibleServerClient(credential(), other, { endpoint: fake.armEndpoint });
    await expect(client.servers.get(RG, "pg-payments")).rejects.toMatchObject({
      statusCode: 404,
      code: "SubscriptionNotFound",
      message: `The subscription '${other}' could not be found.`,
    });
  });

  it("honours Retry-After between polls (the SDK's own interval applies only when Retry-After is 0)", async () => {
    const slow = await startAzureFake({ retryAfterSeconds: 1, asyncPolls: 2 });
    const untrustSlow = trustCaInThisProcess(slow.caPem);
    try {
      slow.addServer({ subscriptionId: SUB, resourceGroup: RG, name: "pg" });
      const cred = new ClientSecretCredential(slow.tenantId, slow.clientId, slow.clientSecret, { authorityHost: slow.authorityHost, disableInstanceDiscovery: true });
      const client = new PostgreSQLManagementFlexibleServerClient(cred, SUB, { endpoint: slow.armEndpoint });
      await client.servers.get(RG, "pg");
      const started = Date.now();
      await client.servers.beginUpdateAndWait(RG, "pg", { administratorLoginPassword: "Slow-Passw0rd" }, { updateIntervalInMs: 10 });
      const elapsed = Date.now() - started;
      // Polls 1 and 2 go back to back (beginUpdate polls once, pollUntilDone polls before its first delay); the
      // Retry-After of poll 2 then delays poll 3, which reports Succeeded.
      expect(elapsed).toBeGreaterThanOrEqual(950);
      expect(elapsed).toBeLessThan(5_000);
    } finally {
      untrustSlow();
      await slow.close();
    }
  });
});

describe("injected faults surface as SDK errors", () => {
  let kvClient: SecretClient;
  let kvNoRetry: SecretClient;
  let arm: PostgreSQLManagementFlexibleServerClient;
  let armNoRetry: PostgreSQLManagementFlexibleServerClient;
  beforeAll(async () => {
    const cred = credential();
    kvClient = secretClient("kv-payments", cred);
    kvNoRetry = secretClient("kv-payments", cred, { retryOptions: { maxRetries: 0 } });
    arm = armClient(cred);
    armNoRetry = armClient(cred, { retryOptions: { maxRetries: 0 } });
    fake.addServer({ subscriptionId: SUB, resourceGroup: RG, name: "pg-faults" });
    await kvClient.setSecret("faulty", "value");
    await kvNoRetry.getSecret("faulty");
    await arm.servers.get(RG, "pg-faults");
  });

  const rows: { name: string; fault: Fault; run: () => Promise<unknown>; outcome: object; statuses: (number | undefined)[] }[] = [
    {
      name: "Key Vault 500 (no retries) -> RestError 500",
      fault: { service: "keyvault", status: 500 },
      run: () => kvNoRetry.getSecret("faulty"),
      outcome: { rejects: { name: "RestError", statusCode: 500, code: "InternalServerError", message: "Injected fault: 500 InternalServerError." } },
      statuses: [500],
    },
    {
      name: "Key Vault 429 once -> the SDK honours Retry-After and succeeds",
      fault: { service: "keyvault", status: 429 },
      run: () => kvClient.getSecret("faulty"),
      outcome: { resolves: { value: "value" } },
      statuses: [429, 200],
    },
    {
      name: "Key Vault 429 four times -> RestError 429 after the SDK's 3 retries",
      fault: { service: "keyvault", status: 429, code: "Throttled", times: 4 },
      run: () => kvClient.getSecret("faulty"),
      outcome: { rejects: { name: "RestError", statusCode: 429, code: "Throttled" } },
      statuses: [429, 429, 429, 429],
    },
    {
      name: "ARM 500 (no retries) -> RestError 500",
      fault: { service: "arm", method: "GET", status: 500, message: "Something broke." },
      run: () => armNoRetry.servers.get(RG, "pg-faults"),
      outcome: { rejects: { name: "RestError", statusCode: 500, code: "InternalServerError", message: "Something broke." } },
      statuses: [500],
    },
    {
      name: "ARM 503 on the PATCH once -> retried, then the operation completes",
      fault: { service: "arm", method: "PATCH", status: 503 },
      run: () => arm.servers.beginUpdateAndWait(RG, "pg-faults", { tags: { a: "b" } }, { updateIntervalInMs: 10 }),
      outcome: { resolves: { name: "pg-faults", tags: { a: "b" } } },
      statuses: [503, 202, 200, 200, 200],
    },
    {
      name: "ARM 500 on the operation status (no retries) -> the poller rejects",
      fault: { service: "arm", pathIncludes: "/azureAsyncOperation/", status: 500 },
      run: () => armNoRetry.servers.beginUpdateAndWait(RG, "pg-faults", { tags: { c: "d" } }, { updateIntervalInMs: 10 }),
      outcome: { rejects: { name: "RestError", statusCode: 500 } },
      statuses: [202, 500],
    },
  ];
  it.each(rows)("$name", async ({ fault, run, outcome, statuses }) => {
    fake.resetCalls();
    fake.failNext(fault);
    if ("rejects" in outcome) await expect(run()).rejects.toMatchObject(outcome.rejects as object);
    else await expect(run()).resolves.toMatchObject((outcome as { resolves: object }).resolves);
    expect(fake.calls().map((c) => c.status)).toEqual(statuses);
  });

  const hangs: { name: string; fault: Fault; run: () => Promise<unknown> }[] = [
    { name: "Key Vault, with an abortSignal", fault: { service: "keyvault", hang: true }, run: () => kvClient.getSecret("faulty", { abortSignal: AbortSignal.timeout(200) }) },
    { name: "ARM, with requestOptions.timeout", fault: { service: "arm", hang: true }, run: () => arm.servers.get(RG, "pg-faults", { requestOptions: { timeout: 200 } }) },
  ];
  it.each(hangs)("a request that never gets an answer: $name -> AbortError within the deadline", async ({ fault, run }) => {
    fake.failNext(fault);
    const started = Date.now();
    await expect(run()).rejects.toMatchObject({ name: "AbortError" });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(fake.calls().at(-1)).not.toHaveProperty("status");
    expect(fake.dropHung()).toBe(1);
    await expect(kvClient.getSecret("faulty")).resolves.toMatchObject({ value: "value" }); // the fault was one-off
  });

  it("a hung token endpoint is NOT interrupted by the caller's abortSignal (identity does not pass it to MSAL): callers need their own deadline", async () => {
    fake.failNext({ service: "token", method: "POST", hang: true });
    const client = secretClient("kv-payments", credential()); // fresh credential: nothing cached
    const pending = client.getSecret("faulty", { abortSignal: AbortSignal.timeout(100) });

    expect(await within(pending, 1_000)).toBe("pending"); // 10x past the abort deadline
    expect(fake.calls().at(-1)).toEqual({ ...tokenCall(), status: undefined });
    // Once the connection drops, identity retries and gets its token; only then does the (long expired) signal
    // stop the Key Vault request.
    expect(fake.dropHung()).toBe(1);
    await expect(pending).rejects.toMatchObject({ name: "AbortError", message: "The operation was aborted. Request has already been canceled." });
    expect(fake.calls()).toEqual([
      kvCall("GET", "/secrets/faulty/", 401),
      discovery(),
      { ...tokenCall(), status: undefined }, // held, then reset
      tokenCall(), // identity's retry
      // no Key Vault request: the aborted signal stops it before it is sent
    ]);
  });
});

describe("proxy mode: Azure's real host names, no client option that production would not have", () => {
  it("ClientSecretCredential, SecretClient and the ARM client with only proxyOptions: no instance/OIDC discovery, challenge verification on", async () => {
    const proxyOptions = fake.proxy.options;
    const cred = new ClientSecretCredential(fake.tenantId, fake.clientId, fake.clientSecret, { proxyOptions });
    const kv = new SecretClient(fake.proxy.vaultUrl("kv-proxied"), cred, { proxyOptions });
    const armc = new PostgreSQLManagementFlexibleServerClient(cred, SUB, { proxyOptions });
    fake.addServer({ subscriptionId: SUB, resourceGroup: RG, name: "pg-proxied" });

    const set = await kv.setSecret("s", "proxied-value");
    const server = await armc.servers.get(RG, "pg-proxied");

    expect(set.properties).toMatchObject({ vaultUrl: "https://kv-proxied.vault.azure.net", id: expect.stringMatching(/^https:\/\/kv-proxied\.vault\.azure\.net\/secrets\/s\/[0-9a-f]{32}$/) });
    expect(server.id).toBe(`${SERVER_PATH}/pg-proxied`);
    expect(fake.vault("kv-proxied").versions("s").map((v) => v.value)).toEqual(["proxied-value"]);
    expect(fake.calls()).toEqual([
      kvCall("PUT", "/secrets/s", 401, "kv-proxied"),
      tokenCall(), // MSAL knows login.microsoftonline.com's endpoints: no discovery request
      kvCall("PUT", "/secrets/s", 200, "kv-proxied"),
      tokenCall(),
      armCall("GET", `${SERVER_PATH}/pg-proxied`, 200),
    ]);
    expect(fake.tokensIssued().slice(-2).map((t) => t.scope)).toEqual(["https://vault.azure.net/.default", "https://management.azure.com/.default"]);
  });

  it("refuses to tunnel anywhere but Azure's public-cloud hosts", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port: fake.proxy.options.port, method: "CONNECT", path: "example.com:443" });
      req.on("connect", (res: http.IncomingMessage, socket) => {
        socket.destroy();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(502);
  });
});

describe("trust from a child process: NODE_EXTRA_CA_CERTS, and HTTPS_PROXY for the real host names", () => {
  const exec = promisify(execFile);
  const script = `
    import { ClientSecretCredential } from "@azure/identity";
    import { SecretClient } from "@azure/keyvault-secrets";
    const { AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET } = process.env;
    const client = new SecretClient("https://kv-child.vault.azure.net", new ClientSecretCredential(AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET), { retryOptions: { maxRetries: 0 } });
    try { console.log((await client.getSecret("from-parent")).value); } catch (e) { console.log("failed:", e.code); }
  `;
  const rows: { name: string; trust: boolean; expected: string }[] = [
    { name: "with NODE_EXTRA_CA_CERTS=caFile, production code reads the secret", trust: true, expected: "seeded-by-parent" },
    { name: "without it, TLS refuses the fake", trust: false, expected: "failed: UNABLE_TO_VERIFY_LEAF_SIGNATURE" },
  ];
  it.each(rows)("$name", async ({ trust, expected }) => {
    fake.vault("kv-child").seed("from-parent", "seeded-by-parent");
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      AZURE_TENANT_ID: fake.tenantId,
      AZURE_CLIENT_ID: fake.clientId,
      AZURE_CLIENT_SECRET: fake.clientSecret,
      HTTPS_PROXY: fake.proxy.url,
      NODE_EXTRA_CA_CERTS: fake.caFile,
    };
    if (!trust) delete env.NODE_EXTRA_CA_CERTS;
    const { stdout } = await exec(process.execPath, ["--input-type=module", "-e", script], { env, timeout: 20_000 });
    expect(stdout.trim()).toBe(expected);
  });
});

describe("with a real PostgreSQL: onAdminPasswordChange really changes the admin password", () => {
  let postgres: TestPostgres;
  beforeAll(async () => {
    postgres = await startPostgres();
    await postgres.query(`CREATE ROLE pgadmin LOGIN PASSWORD ${pg.escapeLiteral("Initial-Passw0rd")}`);
  });
  afterAll(async () => {
    await postgres.stop();
  });

  it("after beginUpdateAndWait the new password logs in and the old one no longer does", async () => {
    fake.addServer({
      subscriptionId: SUB,
      resourceGroup: RG,
      name: "pg-real",
      onAdminPasswordChange: async (password) => {
        await postgres.query(`ALTER ROLE pgadmin PASSWORD ${pg.escapeLiteral(password)}`);
      },
    });
    const password = `Rotated-${randomUUID()}`;
    await armClient().servers.beginUpdateAndWait(RG, "pg-real", { administratorLoginPassword: password }, { updateIntervalInMs: 10 });

    expect({ next: await postgres.canLogin("pgadmin", password), previous: await postgres.canLogin("pgadmin", "Initial-Passw0rd") }).toEqual({ next: true, previous: false });
  });
});
