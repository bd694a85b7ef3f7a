// Key Vault secrets data plane, as @azure/keyvault-secrets 4.12 calls it (api-version 2026-04-01):
//
//   PUT   /secrets/{name}                  set: a new version each time (value, contentType, attributes, tags)
//   GET   /secrets/{name}/                 latest version (the SDK sends the empty version, hence the slash)
//   GET   /secrets/{name}/{version}        that version
//   PATCH /secrets/{name}/{version}        update properties (enabled, nbf, exp, contentType, tags) of a version
//   GET   /secrets/{name}/versions         list versions, paged: `nextLink` with `$skiptoken` (25 per page, as the
//                                          service; `maxresults` 1..25)
//   GET   /secrets                         list secrets (latest version's properties), paged the same way
//
// Authentication follows Key Vault's challenge protocol: a request without a bearer token gets 401 and
// `WWW-Authenticate: Bearer authorization="<authority>/<tenant>", resource="https://vault.azure.net"`. The SDK
// sends its first request of a client without body and token, expecting exactly that challenge.
// Errors use `{"error":{"code","message"}}`; times are Unix seconds, as the service sends them.

import { randomBytes } from "node:crypto";
import { type Exchange, azureError, bearerToken, isRecord, jsonBody, notImplemented } from "./http.ts";
import type { TokenCheck, TokenService } from "./token.ts";

export const KEY_VAULT_RESOURCE = "https://vault.azure.net";

export interface SecretVersion {
  version: string;
  value: string;
  contentType: string | undefined;
  tags: Record<string, string> | undefined;
  enabled: boolean;
  notBefore: Date | undefined;
  expires: Date | undefined;
  created: Date;
  updated: Date;
}

export interface FakeVault {
  readonly name: string;
  /** Every version of a secret, oldest first (copies); empty when the secret does not exist. */
  versions(secretName: string): SecretVersion[];
  /** Adds a version directly, without going through HTTP. */
  seed(secretName: string, value: string, tags?: Record<string, string>): SecretVersion;
  /**
   * With `true`, the caller holds only a reading role (Key Vault Secrets User): a new version or a properties
   * update is refused with 403 ForbiddenByRbac, as Azure RBAC does; reads still succeed.
   */
  readOnly(on: boolean): void;
}

export interface KeyVaultService {
  /** The vault named `name`, created empty on first use. */
  vault(name: string): FakeVault;
  handle(x: Exchange, vaultName: string): Promise<void>;
}

export interface KeyVaultConfig {
  tokens: TokenService;
  /** The challenge's `authorization` value for a request (authority host + tenant). */
  authorizationUri(x: Exchange): string;
  /** Items per list page when the request has no `maxresults`. */
  pageSize: number;
}

interface StoredVersion {
  version: string;
  value: string;
  contentType: string | undefined;
  tags: Record<string, string> | undefined;
  enabled: boolean;
  nbf: number | undefined;
  exp: number | undefined;
  created: number;
  updated: number;
}

interface Secret {
  name: string;
  versions: StoredVersion[];
}

const NAME = /^[0-9a-zA-Z-]{1,127}$/;
const MAX_PAGE = 25;
const MAX_TAGS = 15;

const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const toDate = (seconds: number | undefined): Date | undefined => (seconds === undefined ? undefined : new Date(seconds * 1000));

function publicVersion(v: StoredVersion): SecretVersion {
  return {
    version: v.version,
    value: v.value,
    contentType: v.contentType,
    tags: v.tags === undefined ? undefined : { ...v.tags },
    enabled: v.enabled,
    notBefore: toDate(v.nbf),
    expires: toDate(v.exp),
    created: new Date(v.created * 1000),
    updated: new Date(v.updated * 1000),
  };
}

function attributes(v: StoredVersion): Record<string, unknown> {
  return {
    enabled: v.enabled,
    ...(v.nbf === undefined ? {} : { nbf: v.nbf }),
    ...(v.exp === undefined ? {} : { exp: v.exp }),
    created: v.created,
    updated: v.updated,
    recoverableDays: 90,
    recoveryLevel: "Recoverable+Purgeable",
  };
}

/** A SecretItem, as lists answer it: id, attributes, contentType and tags; never the value. */
function item(id: string, v: StoredVersion): Record<string, unknown> {
  return {
    id,
    attributes: attributes(v),
    ...(v.contentType === undefined ? {} : { contentType: v.contentType }),
    ...(v.tags === undefined ? {} : { tags: v.tags }),
  };
}

function notFound(x: Exchange, nameOrId: string): void {
  x.reply(
    404,
    azureError(
      "SecretNotFound",
      `A secret with (name/id) ${nameOrId} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
    ),
  );
}

function badParameter(x: Exchange, message: string): void {
  x.reply(400, azureError("BadParameter", message));
}

/** Validates `tags`: undefined when absent, an error message when malformed. */
function parseTags(value: unknown): Record<string, string> | undefined | string {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) return "Tags must be an object of string values.";
  const entries = Object.entries(value);
  if (entries.length > MAX_TAGS) return `A maximum of ${MAX_TAGS} tags is allowed.`;
  if (entries.some(([, v]) => typeof v !== "string")) return "Tag values must be strings.";
  return Object.fromEntries(entries) as Record<string, string>;
}

export function createKeyVaultService(config: KeyVaultConfig): KeyVaultService {
  const vaults = new Map<string, Map<string, Secret>>();
  const readOnlyVaults = new Set<string>();

  function secretsOf(vaultName: string): Map<string, Secret> {
    const key = vaultName.toLowerCase();
    let secrets = vaults.get(key);
    if (secrets === undefined) {
      secrets = new Map();
      vaults.set(key, secrets);
    }
    return secrets;
  }

  function addVersion(
    secrets: Map<string, Secret>,
    name: string,
    fields: Omit<StoredVersion, "version" | "created" | "updated">,
  ): { secret: Secret; stored: StoredVersion } {
    const key = name.toLowerCase(); // Key Vault names are case-insensitive
    let secret = secrets.get(key);
    if (secret === undefined) {
      secret = { name, versions: [] };
      secrets.set(key, secret);
    }
    const now = nowSeconds();
    const stored: StoredVersion = { ...fields, version: randomBytes(16).toString("hex"), created: now, updated: now };
    secret.versions.push(stored);
    return { secret, stored };
  }

  /** A SecretBundle: a SecretItem with the value (PATCH answers without it). */
  function bundle(x: Exchange, secret: Secret, v: StoredVersion, withValue: boolean): Record<string, unknown> {
    return { ...(withValue ? { value: v.value } : {}), ...item(`${x.origin}/secrets/${secret.name}/${v.version}`, v) };
  }

  function unauthorized(x: Exchange, check: Exclude<TokenCheck, { ok: true }>): void {
    const message =
      check.reason === "missing"
        ? "AKV10000: Request is missing a Bearer or PoP token."
        : check.reason === "audience"
          ? `AKV10022: Invalid audience. Expected ${KEY_VAULT_RESOURCE}, found: ${check.resource ?? ""}.`
          : `Unauthorized: the access token is ${check.reason === "expired" ? "expired" : "not one the fake issued"}.`;
    x.reply(401, azureError("Unauthorized", message), {
      "www-authenticate": `Bearer authorization="${config.authorizationUri(x)}", resource="${KEY_VAULT_RESOURCE}"`,
    });
  }

  /** One page of `items` with Key Vault's `nextLink`/`$skiptoken` paging; undefined after answering a bad request. */
  function page<T>(x: Exchange, items: T[]): { value: T[]; nextLink: string | null } | undefined {
    const maxText = x.url.searchParams.get("maxresults");
    const max = maxText === null ? config.pageSize : Number(maxText);
    if (!Number.isInteger(max) || max < 1 || max > MAX_PAGE) {
      badParameter(x, `The value of maxresults must be an integer between 1 and ${MAX_PAGE}.`);
      return undefined;
    }
    const token = x.url.searchParams.get("$skiptoken");
    let offset = 0;
    if (token !== null) {
      let decoded: unknown;
      try {
        decoded = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
      } catch {
        decoded = undefined;
      }
      if (!isRecord(decoded) || typeof decoded.offset !== "number") {
        badParameter(x, "The $skiptoken is not valid.");
        return undefined;
      }
      offset = decoded.offset;
    }
    const end = offset + max;
    let nextLink: string | null = null;
    if (end < items.length) {
      const next = new URL(`${x.origin}${x.url.pathname}`);
      next.searchParams.set("api-version", x.url.searchParams.get("api-version") ?? "");
      next.searchParams.set("$skiptoken", Buffer.from(JSON.stringify({ offset: end })).toString("base64url"));
      if (maxText !== null) next.searchParams.set("maxresults", maxText);
      nextLink = next.toString();
    }
    return { value: items.slice(offset, end), nextLink };
  }

  async function setSecret(x: Exchange, secrets: Map<string, Secret>, name: string): Promise<void> {
    if (!NAME.test(name)) return badParameter(x, `The request URI contains an invalid name: ${name}`);
    const body = await jsonBody(x);
    if (!isRecord(body) || typeof body.value !== "string") return badParameter(x, "Property 'value' is required and must be a string.");
    const tags = parseTags(body.tags);
    if (typeof tags === "string") return badParameter(x, tags);
    const attrs = isRecord(body.attributes) ? body.attributes : {};
    const { secret, stored } = addVersion(secrets, name, {
      value: body.value,
      contentType: typeof body.contentType === "string" ? body.contentType : undefined,
      tags,
      enabled: typeof attrs.enabled === "boolean" ? attrs.enabled : true,
      nbf: typeof attrs.nbf === "number" ? attrs.nbf : undefined,
      exp: typeof attrs.exp === "number" ? attrs.exp : undefined,
    });
    x.reply(200, bundle(x, secret, stored, true));
  }

  function findVersion(secret: Secret | undefined, version: string): StoredVersion | undefined {
    if (secret === undefined) return undefined;
    if (version === "") return secret.versions.at(-1);
    return secret.versions.find((v) => v.version === version.toLowerCase());
  }

  function getSecret(x: Exchange, secret: Secret | undefined, name: string, version: string): void {
    const found = findVersion(secret, version);
    if (secret === undefined || found === undefined) return notFound(x, version === "" ? name : `${name}/${version}`);
    if (!found.enabled) {
      return x.reply(403, azureError("Forbidden", "Operation get is not allowed on a disabled secret.", { innererror: { code: "SecretDisabled" } }));
    }
    x.reply(200, bundle(x, secret, found, true));
  }

  async function updateSecret(x: Exchange, secret: Secret | undefined, name: string, version: string): Promise<void> {
    const found = findVersion(secret, version);
    if (secret === undefined || found === undefined) return notFound(x, version === "" ? name : `${name}/${version}`);
    const body = await jsonBody(x);
    if (!isRecord(body)) return badParameter(x, "The request body must be a JSON object.");
    const tags = parseTags(body.tags);
    if (typeof tags === "string") return badParameter(x, tags);
    const attrs = isRecord(body.attributes) ? body.attributes : {};
    if (typeof attrs.enabled === "boolean") found.enabled = attrs.enabled;
    if (typeof attrs.nbf === "number") found.nbf = attrs.nbf;
    if (typeof attrs.exp === "number") found.exp = attrs.exp;
    if (typeof body.contentType === "string") found.contentType = body.contentType;
    if (tags !== undefined) found.tags = tags; // tags given replace the whole set, as the service does
    found.updated = nowSeconds();
    x.reply(200, bundle(x, secret, found, false));
  }

  /** What Azure RBAC answers a caller whose role lacks the data action (the message as the service sends it). */
  function forbiddenByRbac(x: Exchange, vaultName: string, action: string): void {
    const message =
      "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n" +
      `Action: 'Microsoft.KeyVault/vaults/secrets/${action}/action'\r\nAssignment: (not found)\r\nDecisionReason: 'DeniedWithNoValidRBAC' \r\nVault: ${vaultName};location=westeurope\r\n`;
    x.reply(403, azureError("Forbidden", message, { innererror: { code: "ForbiddenByRbac" } }));
  }

  function listVersions(x: Exchange, secret: Secret | undefined): void {
    // Listing the versions of a secret that does not exist answers an empty list, not 404.
    const items = secret === undefined ? [] : secret.versions.map((v) => item(`${x.origin}/secrets/${secret.name}/${v.version}`, v));
    const result = page(x, items);
    if (result !== undefined) x.reply(200, result);
  }

  function listSecrets(x: Exchange, secrets: Map<string, Secret>): void {
    const items = [...secrets.values()].flatMap((secret) => {
      const latest = secret.versions.at(-1);
      return latest === undefined ? [] : [item(`${x.origin}/secrets/${secret.name}`, latest)];
    });
    const result = page(x, items);
    if (result !== undefined) x.reply(200, result);
  }

  return {
    vault(name) {
      const secrets = secretsOf(name);
      return {
        name,
        readOnly: (on) => void (on ? readOnlyVaults.add(name.toLowerCase()) : readOnlyVaults.delete(name.toLowerCase())),
        versions: (secretName) => (secrets.get(secretName.toLowerCase())?.versions ?? []).map(publicVersion),
        seed: (secretName, value, tags) =>
          publicVersion(addVersion(secrets, secretName, { value, contentType: undefined, tags, enabled: true, nbf: undefined, exp: undefined }).stored),
      };
    },

    async handle(x, vaultName) {
      // Authentication comes first: the SDK's first request carries neither token nor body.
      const check = config.tokens.check(bearerToken(x), "keyvault");
      if (!check.ok) return unauthorized(x, check);
      if (!x.url.searchParams.get("api-version")) return badParameter(x, "The api-version query parameter is required.");

      const secrets = secretsOf(vaultName);
      const path = x.url.pathname;
      const segments = path.split("/").slice(1).map(decodeURIComponent); // "/secrets/a/" -> ["secrets", "a", ""]
      const [collection, name, version, ...extra] = segments;
      const method = x.req.method ?? "";
      if (collection !== "secrets" || extra.length > 0) return notImplemented(x);
      if (name === undefined || name === "") return method === "GET" ? listSecrets(x, secrets) : notImplemented(x);
      const secret = secrets.get(name.toLowerCase());
      if (version === "versions") return method === "GET" ? listVersions(x, secret) : notImplemented(x);
      const v = version ?? "";
      if (readOnlyVaults.has(vaultName.toLowerCase()) && (method === "PUT" || method === "PATCH")) return forbiddenByRbac(x, vaultName, method === "PUT" ? "setSecret" : "update");
      switch (method) {
        case "PUT":
          return v === "" ? setSecret(x, secrets, name) : notImplemented(x);
        case "GET":
          return getSecret(x, secret, name, v);
        case "PATCH":
          return updateSecret(x, secret, name, v);
        default:
          return notImplemented(x);
      }
    },
  };
}
