// A local stand-in for the Azure services the functions use, speaking their real REST protocols so the REAL
// Azure SDK clients can be tested against it (no emulator exists; nothing in the SDKs is stubbed):
//
//   - Microsoft Entra ID token endpoint (MSAL client credentials)          ./token.ts
//   - Key Vault secrets data plane, with its 401 challenge                 ./keyvault.ts
//   - ARM for PostgreSQL Flexible Server: GET, PATCH + async operation,    ./arm.ts
//     one operation at a time per server (409 ServerBusy)
//
// Two ways to reach it:
//
//   Direct: `authorityHost`, `armEndpoint` (both `url`) and `vaultUrl(name)` (a port per vault, because the Key
//   Vault SDK takes the vault from the URL's origin and rejects ids with extra path segments). Needs
//   `disableInstanceDiscovery: true` on the credential and `disableChallengeResourceVerification: true` on
//   SecretClient: the SDK only accepts a challenge whose resource host is a parent domain of the vault's host,
//   which no value can be for `127.0.0.1`/`localhost`.
//
//   Proxy: with `proxyOptions: fake.proxy.options` on each client (or `HTTPS_PROXY=fake.proxy.url` in a child's
//   env) the clients keep Azure's real endpoints (login.microsoftonline.com, management.azure.com,
//   https://{vault}.vault.azure.net); the fake answers CONNECT for those hosts itself, with a certificate for those
//   names. No client option differs from production.
//
// Either way the clients must trust `caPem`: `trustCaInThisProcess(fake.caPem)` in the test process, and
// `NODE_EXTRA_CA_CERTS=<fake.caFile>` for a child process.

import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import * as http from "node:http";
import * as https from "node:https";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTestPki, type TestPki } from "../../support/certs.ts";
import { type FlexibleServerSpec, type ServerUpdate, createArmService } from "./arm.ts";
import { type AzureCall, type Exchange, type Service, azureError, createExchange, defaultErrorCode } from "./http.ts";
import { type FakeVault, type SecretVersion, createKeyVaultService } from "./keyvault.ts";
import { AZURE_PUBLIC_CLOUD, issueServingCert, trustCaInThisProcess } from "./tls.ts";
import { type Audience, type IssuedToken, createTokenService } from "./token.ts";

export type { AzureCall, FakeVault, FlexibleServerSpec, IssuedToken, SecretVersion, ServerUpdate, Service };
export { AZURE_PUBLIC_CLOUD, trustCaInThisProcess };

export interface AzureFakeOptions {
  /** The CA that issues the fake's serving certificate; default: a fresh `makeTestPki()`. */
  pki?: TestPki;
  /** InProgress answers an ARM async operation gives before its outcome; default 1. */
  asyncPolls?: number;
  /**
   * Retry-After (seconds) on ARM 202 and InProgress answers; default 1. The SDK's poller ignores 0 and then waits
   * its own `updateIntervalInMs` (default 2000 ms), so tests that want speed pass 0 plus `updateIntervalInMs`.
   */
  retryAfterSeconds?: number;
  /** Vaults to give a direct URL (a port each) at start; more with `addVault`. */
  vaults?: string[];
  /** Key Vault list page size when the request has no `maxresults`; default 25, as the service. */
  pageSize?: number;
  /** Lifetime of issued tokens; default 3599 s. */
  tokenLifetimeSeconds?: number;
  /**
   * Consulted for every Key Vault and ARM request (a fault harness's hook; none by default): the request can be handled
   * late (its change lands late), or handled and then its connection closed instead of answered (the reply is lost).
   */
  interfere?: (call: AzureCall) => Interference | undefined;
}

export interface Interference {
  /** Handle the request only after this long (its body is read first, so it lands even if the client is gone). */
  delayMs?: number;
  /** Apply the request, then close the connection instead of answering. */
  loseReply?: boolean;
}

/** A one-off failure, answered instead of the service's own response (before authentication). */
export interface Fault {
  service?: Service;
  method?: string;
  pathIncludes?: string;
  /** Key Vault only: the vault name. */
  vault?: string;
  /** Required unless `hang`. */
  status?: number;
  /** Error code in the service's error JSON; default derived from `status`. */
  code?: string;
  message?: string;
  /** How many matching requests fail; default 1. */
  times?: number;
  /** Never answer (the connection stays open until the client gives up or the fake closes). */
  hang?: boolean;
  /** Retry-After header in seconds; sent by default (0) on 429 and 503. */
  retryAfterSeconds?: number;
}

export interface ProxySettings {
  /** Scheme and host, as the Azure SDKs' `proxyOptions.host` wants it: `http://127.0.0.1`. */
  host: string;
  port: number;
}

export interface AzureFake {
  /** `https://127.0.0.1:<port>`: Entra ID and ARM (direct). */
  url: string;
  authorityHost: string;
  armEndpoint: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** The CA the clients must trust (PEM). */
  caPem: string;
  /** `caPem` written to a file, for `NODE_EXTRA_CA_CERTS` of a child process. Removed by `close()`. */
  caFile: string;
  proxy: {
    /** `http://127.0.0.1:<port>`, for `HTTPS_PROXY`. */
    url: string;
    /** For the SDK clients' `proxyOptions`. */
    options: ProxySettings;
    /** `https://{name}.vault.azure.net`: the vault's real URL, served through the proxy. */
    vaultUrl(name: string): string;
  };
  /** The vault's direct URL `https://127.0.0.1:<port>`; the vault needs `vaults` at start or `addVault`. */
  vaultUrl(name: string): string;
  /** Gives a vault its own port (direct URL) and returns that URL; idempotent. */
  addVault(name: string): Promise<string>;
  /** The vault's contents, for seeding and inspection (created empty on first use). */
  vault(name: string): FakeVault;
  /** Registers a PostgreSQL flexible server; returns its ARM id. */
  addServer(spec: FlexibleServerSpec): string;
  /** Requests received since start or `resetCalls()`, in arrival order. */
  calls(): AzureCall[];
  resetCalls(): void;
  /** Every response body the fake sent since start or `resetCalls()` (to check nothing echoes a secret). */
  responseBodies(): string[];
  /** Tokens issued so far (scope, audience, expiry). */
  tokensIssued(): IssuedToken[];
  failNext(fault: Fault): void;
  /** Closes the connections of requests held by `hang` faults (their clients see a reset); returns how many. */
  dropHung(): number;
  close(): Promise<void>;
}

interface ArmedFault {
  fault: Fault;
  remaining: number;
}

const ARM_AUDIENCES = ["https://management.azure.com", "https://management.core.windows.net"];
const KEY_VAULT_AUDIENCE = "https://vault.azure.net";

function listen(server: http.Server | https.Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => {
      server.off("error", reject);
      const address = server.address();
      if (address === null || typeof address === "string") reject(new Error("no TCP address"));
      else resolve(address.port);
    });
  });
}

function closeServer(server: http.Server | https.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function hostnameOf(hostHeader: string | undefined): string {
  return (hostHeader ?? "").replace(/:\d+$/, "").toLowerCase();
}

function isAzureHost(hostname: string): boolean {
  return (
    hostname === AZURE_PUBLIC_CLOUD.loginHost ||
    hostname === AZURE_PUBLIC_CLOUD.armHost ||
    (hostname.endsWith(AZURE_PUBLIC_CLOUD.vaultHostSuffix) && /^[0-9a-z-]+$/.test(hostname.slice(0, -AZURE_PUBLIC_CLOUD.vaultHostSuffix.length)))
  );
}

export async function startAzureFake(opts: AzureFakeOptions = {}): Promise<AzureFake> {
  const pki = opts.pki ?? (await makeTestPki());
  const serving = await issueServingCert(pki.ca);
  const tlsOptions: https.ServerOptions = { cert: serving.certPem, key: serving.keyPem };
  const caDir = await mkdtemp(join(tmpdir(), "azure-fake-"));
  const caFile = join(caDir, "ca.crt");
  await writeFile(caFile, pki.ca.certPem);

  const tenantId = randomUUID();
  const clientId = randomUUID();
  const clientSecret = randomBytes(30).toString("base64url");

  const calls: AzureCall[] = [];
  const bodies: string[] = [];
  const faults: ArmedFault[] = [];
  const hung = new Set<http.ServerResponse>();
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };

  const main = https.createServer(tlsOptions, (req, res) => void dispatch(req, res, undefined));
  main.on("connection", track);
  const url = `https://127.0.0.1:${await listen(main, "127.0.0.1")}`;
  const armOrigins = new Set([...ARM_AUDIENCES, url, url.replace("127.0.0.1", "localhost")]);

  /** Entra origin for a request: the real one when the client came through the proxy with Azure's host names. */
  const authorityOrigin = (x: Exchange): string => (isAzureHost(hostnameOf(x.req.headers.host)) ? AZURE_PUBLIC_CLOUD.authorityHost : url);

  const tokens = createTokenService({
    tenantId,
    clientId,
    clientSecret,
    lifetimeSeconds: opts.tokenLifetimeSeconds ?? 3599,
    audienceOf(resource): Audience | undefined {
      const r = resource.replace(/\/+$/, "").toLowerCase();
      if (r === KEY_VAULT_AUDIENCE) return "keyvault";
      return armOrigins.has(r) ? "arm" : undefined;
    },
  });
  const keyVault = createKeyVaultService({
    tokens,
    authorizationUri: (x) => `${authorityOrigin(x)}/${tenantId}`,
    pageSize: opts.pageSize ?? 25,
  });
  const arm = createArmService({
    tokens,
    authorityOrigin,
    asyncPolls: opts.asyncPolls ?? 1,
    retryAfterSeconds: opts.retryAfterSeconds ?? 1,
  });

  function route(req: http.IncomingMessage, portVault: string | undefined): { service: Service; vault?: string } {
    if (portVault !== undefined) return { service: "keyvault", vault: portVault };
    const hostname = hostnameOf(req.headers.host);
    if (hostname === AZURE_PUBLIC_CLOUD.loginHost) return { service: "token" };
    if (hostname === AZURE_PUBLIC_CLOUD.armHost) return { service: "arm" };
    if (isAzureHost(hostname)) return { service: "keyvault", vault: hostname.slice(0, -AZURE_PUBLIC_CLOUD.vaultHostSuffix.length) };
    // Direct, on the main port: ARM paths start with /subscriptions or /providers, everything else is Entra ID.
    return /^\/(subscriptions|providers)(\/|$)/i.test(req.url ?? "") ? { service: "arm" } : { service: "token" };
  }

  function takeFault(call: AzureCall): Fault | undefined {
    const index = faults.findIndex(({ fault: f }) => {
      return (
        (f.service === undefined || f.service === call.service) &&
        (f.method === undefined || f.method.toUpperCase() === call.method) &&
        (f.pathIncludes === undefined || call.path.includes(f.pathIncludes)) &&
        (f.vault === undefined || f.vault.toLowerCase() === call.vault?.toLowerCase())
      );
    });
    const armed = faults[index];
    if (armed === undefined) return undefined;
    armed.remaining -= 1;
    if (armed.remaining <= 0) faults.splice(index, 1);
    return armed.fault;
  }

  function answerFault(x: Exchange, res: http.ServerResponse, fault: Fault): void {
    if (fault.hang) {
      hung.add(res); // left unanswered on purpose
      res.once("close", () => hung.delete(res));
      return;
    }
    const status = fault.status ?? 500;
    const code = fault.code ?? defaultErrorCode(status);
    const message = fault.message ?? `Injected fault: ${status} ${code}.`;
    const retryAfter = fault.retryAfterSeconds ?? (status === 429 || status === 503 ? 0 : undefined);
    const headers: Record<string, string> = retryAfter === undefined ? {} : { "retry-after": String(retryAfter) };
    const body =
      x.call.service === "token"
        ? { error: fault.code ?? (status >= 500 ? "temporarily_unavailable" : "invalid_request"), error_description: message, error_codes: [], trace_id: randomUUID(), correlation_id: randomUUID() }
        : azureError(code, message);
    x.reply(status, body, headers);
  }

  async function dispatch(req: http.IncomingMessage, res: http.ServerResponse, portVault: string | undefined): Promise<void> {
    const target = route(req, portVault);
    const parsed = new URL(req.url ?? "/", "https://fake.invalid");
    const call: AzureCall = {
      service: target.service,
      method: req.method ?? "",
      path: parsed.pathname,
      apiVersion: parsed.searchParams.get("api-version") ?? undefined,
      ...(target.vault === undefined ? {} : { vault: target.vault }),
    };
    calls.push(call);
    const interference = target.service === "token" ? undefined : opts.interfere?.(call);
    const x = createExchange(req, res, call, (body) => bodies.push(body), interference?.loseReply === true);
    const fault = takeFault(call);
    if (fault !== undefined) return answerFault(x, res, fault);
    if (interference?.delayMs !== undefined) {
      // A client gone before its body arrived sends nothing to apply; the handler then answers its dead socket.
      await x.text().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, interference.delayMs));
    }
    try {
      if (target.service === "token") await tokens.handle(x);
      else if (target.service === "arm") await arm.handle(x);
      else await keyVault.handle(x, target.vault ?? "");
    } catch (error) {
      x.reply(500, azureError("InternalServerError", `Azure fake failed: ${error instanceof Error ? error.message : String(error)}`));
    }
  }

  // Vaults reached directly get a port each: the SDK takes the vault from the URL origin.
  const vaultServers = new Map<string, { server: https.Server; url: string }>();
  async function addVault(name: string): Promise<string> {
    const key = name.toLowerCase();
    const existing = vaultServers.get(key);
    if (existing !== undefined) return existing.url;
    const server = https.createServer(tlsOptions, (req, res) => void dispatch(req, res, name));
    server.on("connection", track);
    const vaultUrl = `https://127.0.0.1:${await listen(server, "127.0.0.1")}`;
    vaultServers.set(key, { server, url: vaultUrl });
    keyVault.vault(name);
    return vaultUrl;
  }
  for (const name of opts.vaults ?? []) await addVault(name);

  // CONNECT proxy: tunnels the Azure public-cloud host names into the main server (TLS ends there, with a
  // certificate for those names); any other destination is refused so tests cannot reach the real Internet.
  const proxyServer = http.createServer((_req, res) => {
    res.writeHead(405, { "content-type": "text/plain" }).end("Only CONNECT to Azure public-cloud hosts is supported.\n");
  });
  proxyServer.on("connection", track);
  proxyServer.on("connect", (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    const match = /^([^:]+):(\d+)$/.exec(req.url ?? "");
    const hostname = (match?.[1] ?? "").toLowerCase();
    if (match?.[2] !== "443" || !isAzureHost(hostname)) {
      socket.end("HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\n\r\nThe Azure fake only tunnels to Azure public-cloud hosts.\n");
      return;
    }
    socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    if (head.length > 0) socket.unshift(head);
    main.emit("connection", socket);
  });
  const proxyPort = await listen(proxyServer, "127.0.0.1");

  return {
    url,
    authorityHost: url,
    armEndpoint: url,
    tenantId,
    clientId,
    clientSecret,
    caPem: pki.ca.certPem,
    caFile,
    proxy: {
      url: `http://127.0.0.1:${proxyPort}`,
      options: { host: "http://127.0.0.1", port: proxyPort },
      vaultUrl: (name) => `https://${name}${AZURE_PUBLIC_CLOUD.vaultHostSuffix}`,
    },
    vaultUrl(name) {
      const entry = vaultServers.get(name.toLowerCase());
      if (entry === undefined) throw new Error(`Azure fake: vault '${name}' has no direct URL; pass it in startAzureFake({ vaults }) or await addVault('${name}').`);
      return entry.url;
    },
    addVault,
    vault: (name) => keyVault.vault(name),
    addServer: (spec) => arm.addServer(spec),
    calls: () => calls.map((c) => ({ ...c })),
    resetCalls() {
      calls.length = 0;
      bodies.length = 0;
    },
    responseBodies: () => [...bodies],
    tokensIssued: () => tokens.issued(),
    failNext(fault) {
      if (!fault.hang && fault.status === undefined) throw new Error("Azure fake: failNext needs a status (or hang: true).");
      faults.push({ fault, remaining: fault.times ?? 1 });
    },
    dropHung() {
      const count = hung.size;
      for (const res of hung) res.socket?.destroy();
      hung.clear();
      return count;
    },
    async close() {
      const servers = [main, proxyServer, ...[...vaultServers.values()].map((v) => v.server)];
      const closed = Promise.all(servers.map(closeServer));
      for (const socket of sockets) socket.destroy();
      await closed;
      await rm(caDir, { recursive: true, force: true });
    },
  };
}
