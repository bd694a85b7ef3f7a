// Microsoft Entra ID, as much as MSAL's client-credentials flow needs (what @azure/identity's
// ClientSecretCredential drives):
//
//   GET  /{tenant}/v2.0/.well-known/openid-configuration   OIDC discovery (only for a non-Microsoft authority host;
//                                                          for login.microsoftonline.com MSAL has it hard-coded)
//   POST /{tenant}/oauth2/v2.0/token                       grant_type=client_credentials, client_id, client_secret,
//                                                          scope=<resource>/.default (form-encoded)
//
// Errors use Entra's JSON (`error`, `error_description` starting with the AADSTS code, `error_codes`, trace and
// correlation ids). Access tokens are opaque random strings that the fake remembers with their resource.

import { randomBytes, randomUUID } from "node:crypto";
import { type Exchange, notImplemented } from "./http.ts";

export type Audience = "keyvault" | "arm";

export interface IssuedToken {
  scope: string;
  audience: Audience;
  expiresOn: Date;
}

export type TokenCheck = { ok: true } | { ok: false; reason: "missing" | "unknown" | "expired" | "audience"; resource?: string };

export interface TokenServiceConfig {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  lifetimeSeconds: number;
  /** Which resource service a token for `resource` (the scope without `/.default`) is for; undefined: unknown resource. */
  audienceOf(resource: string): Audience | undefined;
}

export interface TokenService {
  handle(x: Exchange): Promise<void>;
  /** Validates a bearer token presented to a resource service expecting `audience`. */
  check(token: string | undefined, audience: Audience): TokenCheck;
  issued(): IssuedToken[];
}

interface Remembered extends IssuedToken {
  resource: string;
}

const OIDC_SCOPES = new Set(["openid", "profile", "offline_access"]);

export function createTokenService(config: TokenServiceConfig): TokenService {
  const tokens = new Map<string, Remembered>();

  function aadError(x: Exchange, status: number, error: string, code: number, description: string): void {
    const traceId = randomUUID();
    const correlationId = headerValue(x, "client-request-id") ?? randomUUID();
    const timestamp = new Date().toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
    x.reply(status, {
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `${x.origin}/error?code=${code}`,
    });
  }

  function tenantNotFound(x: Exchange, tenant: string): void {
    aadError(
      x,
      400,
      "invalid_request",
      90002,
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
    );
  }

  function openIdConfiguration(x: Exchange, tenant: string): void {
    const base = `${x.origin}/${tenant}`;
    x.reply(200, {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
      jwks_uri: `${x.origin}/${tenant}/discovery/v2.0/keys`,
      response_modes_supported: ["query", "fragment", "form_post"],
      subject_types_supported: ["pairwise"],
      id_token_signing_alg_values_supported: ["RS256"],
      response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
      scopes_supported: ["openid", "profile", "email", "offline_access"],
      // MSAL (msal-common 16) rejects a discovery document whose issuer origin differs from the authority's.
      issuer: `${base}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: "https://graph.microsoft.com/oidc/userinfo",
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
      kerberos_endpoint: `${base}/kerberos`,
      tenant_region_scope: "EU",
      cloud_instance_name: "microsoftonline.com",
      cloud_graph_host_name: "graph.windows.net",
      msgraph_host: "graph.microsoft.com",
      rbac_url: "https://pas.windows.net",
    });
  }

  async function token(x: Exchange, tenant: string): Promise<void> {
    const form = new URLSearchParams(await x.text());
    const grantType = form.get("grant_type") ?? "";
    const clientId = form.get("client_id") ?? "";
    const secret = form.get("client_secret");
    const scopes = (form.get("scope") ?? "").split(" ").filter((s) => s !== "" && !OIDC_SCOPES.has(s));

    if (grantType !== "client_credentials") {
      return aadError(x, 400, "unsupported_grant_type", 70003, `The app requested an unsupported grant type '${grantType}'.`);
    }
    if (clientId.toLowerCase() !== config.clientId.toLowerCase()) {
      return aadError(
        x,
        400,
        "unauthorized_client",
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );
    }
    if (secret === null) {
      return aadError(x, 401, "invalid_client", 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.");
    }
    if (secret !== config.clientSecret) {
      return aadError(
        x,
        401,
        "invalid_client",
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${config.clientId}'.`,
      );
    }
    const [scope] = scopes;
    if (scopes.length !== 1 || scope === undefined || !scope.endsWith("/.default")) {
      return aadError(
        x,
        400,
        "invalid_scope",
        1002012,
        `The provided value for scope ${scopes.join(" ")} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      );
    }
    const resource = scope.slice(0, -"/.default".length);
    const audience = config.audienceOf(resource);
    if (audience === undefined) {
      return aadError(
        x,
        400,
        "invalid_resource",
        500011,
        `The resource principal named ${resource} was not found in the tenant named ${tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
      );
    }
    const accessToken = randomBytes(32).toString("base64url");
    tokens.set(accessToken, { scope, resource, audience, expiresOn: new Date(Date.now() + config.lifetimeSeconds * 1000) });
    x.reply(
      200,
      { token_type: "Bearer", expires_in: config.lifetimeSeconds, ext_expires_in: config.lifetimeSeconds, access_token: accessToken },
      { "cache-control": "no-store, no-cache", pragma: "no-cache" },
    );
  }

  return {
    async handle(x) {
      const [, tenant = "", ...rest] = x.url.pathname.split("/");
      const route = `${x.req.method} /${rest.join("/")}`;
      if (route === "GET /v2.0/.well-known/openid-configuration" || route === "POST /oauth2/v2.0/token") {
        if (tenant.toLowerCase() !== config.tenantId.toLowerCase()) return tenantNotFound(x, tenant);
        return route.startsWith("GET") ? openIdConfiguration(x, tenant) : token(x, tenant);
      }
      notImplemented(x);
    },

    check(token, audience) {
      if (token === undefined) return { ok: false, reason: "missing" };
      const known = tokens.get(token);
      if (known === undefined) return { ok: false, reason: "unknown" };
      if (known.expiresOn.getTime() <= Date.now()) return { ok: false, reason: "expired" };
      if (known.audience !== audience) return { ok: false, reason: "audience", resource: known.resource };
      return { ok: true };
    },

    issued() {
      return [...tokens.values()].map(({ scope, audience, expiresOn }) => ({ scope, audience, expiresOn }));
    },
  };
}

function headerValue(x: Exchange, name: string): string | undefined {
  const value = x.req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
