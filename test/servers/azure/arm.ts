// Azure Resource Manager for Azure Database for PostgreSQL Flexible Server, as @azure/arm-postgresql-flexible 9
// calls it (api-version 2025-08-01):
//
//   GET   /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{name}
//   PATCH (same path)   -> 202 Accepted, no body, with
//         Azure-AsyncOperation: {arm}/subscriptions/{sub}/providers/Microsoft.DBforPostgreSQL/locations/{loc}/azureAsyncOperation/{id}?api-version=...
//         Location:             {arm}/subscriptions/{sub}/providers/Microsoft.DBforPostgreSQL/locations/{loc}/operationResults/{id}?api-version=...
//         Retry-After:          seconds
//   GET   .../azureAsyncOperation/{id}  -> {"name","status":"InProgress"|"Succeeded"|"Failed","startTime",...}
//   GET   .../operationResults/{id}     -> 202 while running, then 200 with the server
//
// The SDK polls Azure-AsyncOperation (resourceLocationConfig "azure-async-operation") and, PATCH being a PATCH,
// finishes with a GET of the server. A PATCH carrying properties.administratorLoginPassword runs the server's
// `onAdminPasswordChange` and the operation reports Succeeded only after it settled (Failed if it threw).
// The password is never stored in the resource nor echoed in any response.
//
// One operation at a time per server, as Azure: a PATCH while the server's last operation has not ended is refused,
// nothing of it applied, with
//   409 {"error":{"code":"ServerBusy","message":"Server '{name}' is busy with another operation. Please try again later."}}
// That code and message are what Azure answers for a Flexible Server busy with another operation (reported for
// server-level operations in Azure/azure-cli#30459, and for configuration writes in
// hashicorp/terraform-provider-azurerm#28298, Azure/bicep-registry-modules#4289 and #4451). Reports from 2026 show a
// second wording for configuration writes, code ServerIsBusy, "Cannot complete operation while server '{name}' is
// busy processing another operation. Try again later." (Azure/azure-postgresql#134, Altinn/dialogporten#3663).
// None of these reports shows the HTTP status; 409 Conflict is ARM's status for a request that conflicts with the
// resource's state.
//
// How long an operation runs: until its change has settled and it has answered InProgress `asyncPolls` times, so a
// client that polls sees exactly that many. Azure ends an operation whether or not anyone polls it (its client may
// have crashed), so one nobody polls to its end ends once its change has settled and a client honouring Retry-After
// would have polled it through: `asyncPolls` x Retry-After seconds after it started (Retry-After 0 counts as the
// SDK's own 2 s interval). To keep a server busy for as long as a test needs, hold `onAdminPasswordChange` or
// `onUpdate` open.

import { randomUUID } from "node:crypto";
import { type Exchange, azureError, bearerToken, isRecord, jsonBody, notImplemented } from "./http.ts";
import type { TokenCheck, TokenService } from "./token.ts";

const PROVIDER = "Microsoft.DBforPostgreSQL";
const TYPE = `${PROVIDER}/flexibleServers`;

export interface FlexibleServerSpec {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  /** Default `westeurope`. */
  location?: string;
  /** Default `pgadmin`. */
  administratorLogin?: string;
  /** PostgreSQL major version, default `16`. */
  version?: string;
  /** Default `{name}.postgres.database.azure.com`. */
  fullyQualifiedDomainName?: string;
  tags?: Record<string, string>;
  /** InProgress answers for this server's operations; default: the fake's `asyncPolls`. */
  asyncPolls?: number;
  /**
   * Awaited when a PATCH carries `properties.administratorLoginPassword`, before the async operation reports
   * Succeeded; if it throws, the operation reports Failed. Tests run `ALTER ROLE` here. The server is busy (every
   * other PATCH gets 409 ServerBusy) until it has settled.
   */
  onAdminPasswordChange?: (password: string) => void | Promise<void>;
  /**
   * Awaited for every PATCH (after `onAdminPasswordChange`), with what it changes but the password; like that hook,
   * the server stays busy until it has settled, and a throw fails the operation. Tests hold a scale open with it.
   */
  onUpdate?: (update: ServerUpdate) => void | Promise<void>;
}

/** What a PATCH changes, the password left out. */
export interface ServerUpdate {
  properties: Record<string, unknown>;
  sku?: Record<string, unknown>;
  tags?: Record<string, string>;
}

export interface ArmConfig {
  tokens: TokenService;
  /** The Entra authority origin to name in 401 challenges for a request. */
  authorityOrigin(x: Exchange): string;
  /** InProgress answers before an operation reports its outcome. */
  asyncPolls: number;
  /** Retry-After (seconds) on 202 and InProgress answers. */
  retryAfterSeconds: number;
}

export interface ArmService {
  /** Registers a server; returns its ARM resource id. */
  addServer(spec: FlexibleServerSpec): string;
  handle(x: Exchange): Promise<void>;
}

interface ServerState {
  spec: FlexibleServerSpec;
  id: string;
  location: string;
  tags: Record<string, string>;
  sku: Record<string, unknown>;
  properties: Record<string, unknown>;
  /** The server's latest operation; the server is busy until it has ended. */
  operation?: Operation;
}

interface Operation {
  id: string;
  subscriptionId: string;
  server: ServerState;
  startTime: string;
  polls: number;
  /** Settles with the error message (password redacted) when the change failed, undefined when it succeeded. */
  outcome: Promise<string | undefined>;
  /** The change has settled (`outcome` is resolved). */
  settled: boolean;
  endTime?: string;
}

/** The SDK poller's own interval (its `updateIntervalInMs` default), which it uses when Retry-After is 0. */
const SDK_POLL_INTERVAL_SECONDS = 2;

const SERVER_PATH = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.DBforPostgreSQL\/flexibleServers\/([^/]+)$/i;
const OPERATION_PATH = /^\/subscriptions\/([^/]+)\/providers\/Microsoft\.DBforPostgreSQL\/locations\/([^/]+)\/(azureAsyncOperation|operationResults)\/([^/]+)$/i;

const lower = (s: string | undefined): string => (s ?? "").toLowerCase();

function unauthorized(x: Exchange, check: Exclude<TokenCheck, { ok: true }>, authorityOrigin: string): void {
  const errors: Record<typeof check.reason, [code: string, message: string]> = {
    missing: ["AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."],
    unknown: ["InvalidAuthenticationToken", "The access token is invalid."],
    expired: ["ExpiredAuthenticationToken", "The access token has expired."],
    audience: [
      "InvalidAuthenticationTokenAudience",
      `The access token has been obtained for wrong audience or resource '${check.resource ?? ""}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'.`,
    ],
  };
  const [code, message] = errors[check.reason];
  const description = check.reason === "missing" ? "The authentication failed because of missing 'Authorization' header." : message;
  x.reply(401, azureError(code, message), {
    "www-authenticate": `Bearer authorization_uri="${authorityOrigin}/", error="invalid_token", error_description="${description}"`,
  });
}

export function createArmService(config: ArmConfig): ArmService {
  const servers = new Map<string, ServerState>();
  const operations = new Map<string, Operation>();
  const key = (sub: string, rg: string, name: string): string => `${lower(sub)}/${lower(rg)}/${lower(name)}`;

  function serverJson(s: ServerState): Record<string, unknown> {
    const properties = { ...s.properties, state: busy(s) ? "Updating" : "Ready" };
    return { sku: s.sku, properties, location: s.location, tags: s.tags, id: s.id, name: s.spec.name, type: TYPE };
  }

  function operationUrls(x: Exchange, op: Operation): Record<string, string> {
    const base = `${x.origin}/subscriptions/${op.subscriptionId}/providers/${PROVIDER}/locations/${op.server.location.replaceAll(" ", "").toLowerCase()}`;
    const query = `?api-version=${encodeURIComponent(x.url.searchParams.get("api-version") ?? "")}`;
    return {
      "azure-asyncoperation": `${base}/azureAsyncOperation/${op.id}${query}`,
      location: `${base}/operationResults/${op.id}${query}`,
      "retry-after": String(config.retryAfterSeconds),
    };
  }

  async function patchServer(x: Exchange, server: ServerState): Promise<void> {
    const body = await jsonBody(x);
    if (!isRecord(body) || (body.properties !== undefined && !isRecord(body.properties))) {
      return x.reply(400, azureError("InvalidRequestContent", "The request content was invalid and could not be deserialized."));
    }
    const { administratorLoginPassword: password, ...properties } = isRecord(body.properties) ? body.properties : {};
    if (password !== undefined && (typeof password !== "string" || password === "")) {
      return x.reply(400, azureError("InvalidParameterValue", "Invalid value given for parameter administratorLoginPassword."));
    }
    if (busy(server)) {
      return x.reply(409, azureError("ServerBusy", `Server '${server.spec.name}' is busy with another operation. Please try again later.`));
    }
    for (const [name, value] of Object.entries(properties)) {
      const current = server.properties[name];
      server.properties[name] = isRecord(current) && isRecord(value) ? { ...current, ...value } : value;
    }
    const sku = isRecord(body.sku) ? body.sku : undefined;
    const tags = isRecord(body.tags) ? (body.tags as Record<string, string>) : undefined;
    if (tags !== undefined) server.tags = tags;
    if (sku !== undefined) server.sku = sku;

    const change = typeof password === "string" ? server.spec.onAdminPasswordChange : undefined;
    const update: ServerUpdate = { properties, ...(sku === undefined ? {} : { sku }), ...(tags === undefined ? {} : { tags }) };
    const outcome = Promise.resolve()
      .then(() => change?.(password as string))
      .then(() => server.spec.onUpdate?.(update))
      .then(
        () => undefined,
        (error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);
          return typeof password === "string" ? message.replaceAll(password, "***") : message;
        },
      );
    const op: Operation = { id: randomUUID(), subscriptionId: server.spec.subscriptionId, server, startTime: new Date().toISOString(), polls: 0, outcome, settled: false };
    void outcome.then(() => (op.settled = true));
    operations.set(op.id, op);
    server.operation = op;
    x.reply(202, undefined, operationUrls(x, op));
  }

  const asyncPolls = (op: Operation): number => op.server.spec.asyncPolls ?? config.asyncPolls;

  /** Ends an operation nobody polled to its end, once a client honouring Retry-After would have seen it end. */
  function endIfOverdue(op: Operation): void {
    if (op.endTime !== undefined || !op.settled) return;
    const interval = config.retryAfterSeconds > 0 ? config.retryAfterSeconds : SDK_POLL_INTERVAL_SECONDS;
    if (Date.now() - Date.parse(op.startTime) >= asyncPolls(op) * interval * 1000) op.endTime = new Date().toISOString();
  }

  /** Whether the server's latest operation is still running. */
  function busy(server: ServerState): boolean {
    if (server.operation === undefined) return false;
    endIfOverdue(server.operation);
    return server.operation.endTime === undefined;
  }

  /** Counts a poll; undefined while the operation is to report InProgress, else its settled outcome. */
  async function poll(op: Operation): Promise<{ failed: string | undefined } | undefined> {
    op.polls += 1;
    endIfOverdue(op);
    if (op.endTime === undefined && op.polls <= asyncPolls(op)) return undefined;
    const failed = await op.outcome;
    op.endTime ??= new Date().toISOString();
    return { failed };
  }

  async function operationStatus(x: Exchange, op: Operation): Promise<void> {
    const result = await poll(op);
    const base = { name: op.id, startTime: op.startTime };
    if (result === undefined) return x.reply(200, { ...base, status: "InProgress" }, { "retry-after": String(config.retryAfterSeconds) });
    if (result.failed === undefined) return x.reply(200, { ...base, status: "Succeeded", endTime: op.endTime });
    x.reply(200, {
      ...base,
      status: "Failed",
      endTime: op.endTime,
      error: { code: "InternalServerError", message: `An unexpected error occurred while processing the request: ${result.failed}` },
    });
  }

  async function operationResult(x: Exchange, op: Operation): Promise<void> {
    const result = await poll(op);
    if (result === undefined) return x.reply(202, undefined, operationUrls(x, op));
    if (result.failed === undefined) return x.reply(200, serverJson(op.server));
    x.reply(500, azureError("InternalServerError", `An unexpected error occurred while processing the request: ${result.failed}`));
  }

  function subscriptionKnown(sub: string): boolean {
    return [...servers.values()].some((s) => lower(s.spec.subscriptionId) === lower(sub));
  }

  function resourceGroupKnown(sub: string, rg: string): boolean {
    return [...servers.values()].some((s) => lower(s.spec.subscriptionId) === lower(sub) && lower(s.spec.resourceGroup) === lower(rg));
  }

  return {
    addServer(spec) {
      const id = `/subscriptions/${spec.subscriptionId}/resourceGroups/${spec.resourceGroup}/providers/${TYPE}/${spec.name}`;
      servers.set(key(spec.subscriptionId, spec.resourceGroup, spec.name), {
        spec,
        id,
        location: spec.location ?? "westeurope",
        tags: { ...spec.tags },
        sku: { name: "Standard_D2ds_v5", tier: "GeneralPurpose" },
        properties: {
          administratorLogin: spec.administratorLogin ?? "pgadmin",
          version: spec.version ?? "16",
          state: "Ready",
          fullyQualifiedDomainName: spec.fullyQualifiedDomainName ?? `${spec.name}.postgres.database.azure.com`,
          storage: { storageSizeGB: 128, autoGrow: "Disabled", tier: "P10", type: "Premium_LRS" },
          authConfig: { activeDirectoryAuth: "Disabled", passwordAuth: "Enabled" },
          network: { publicNetworkAccess: "Enabled" },
          highAvailability: { mode: "Disabled", state: "NotEnabled" },
          replicationRole: "Primary",
        },
      });
      return id;
    },

    async handle(x) {
      const check = config.tokens.check(bearerToken(x), "arm");
      if (!check.ok) return unauthorized(x, check, config.authorityOrigin(x));
      if (!x.url.searchParams.get("api-version")) {
        return x.reply(400, azureError("MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests."));
      }
      const serverPath = SERVER_PATH.exec(x.url.pathname);
      const operationPath = OPERATION_PATH.exec(x.url.pathname);
      const [sub = "", rg = "", name = ""] = (serverPath ?? operationPath ?? []).slice(1).map(decodeURIComponent);
      if (serverPath === null && operationPath === null) return notImplemented(x);
      if (!subscriptionKnown(sub)) return x.reply(404, azureError("SubscriptionNotFound", `The subscription '${sub}' could not be found.`));

      if (serverPath !== null) {
        if (!resourceGroupKnown(sub, rg)) return x.reply(404, azureError("ResourceGroupNotFound", `Resource group '${rg}' could not be found.`));
        const server = servers.get(key(sub, rg, name));
        if (server === undefined) {
          return x.reply(
            404,
            azureError(
              "ResourceNotFound",
              `The Resource '${TYPE}/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
            ),
          );
        }
        if (x.req.method === "GET") return x.reply(200, serverJson(server));
        if (x.req.method === "PATCH") return patchServer(x, server);
        return notImplemented(x);
      }

      const [, , , kind = "", id = ""] = operationPath ?? [];
      const op = operations.get(id.toLowerCase());
      if (x.req.method !== "GET") return notImplemented(x);
      if (op === undefined || lower(op.subscriptionId) !== lower(sub)) {
        return x.reply(404, azureError("OperationNotFound", `The operation '${id}' could not be found.`));
      }
      return kind.toLowerCase() === "azureasyncoperation" ? operationStatus(x, op) : operationResult(x, op);
    },
  };
}
