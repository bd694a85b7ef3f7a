// PostgreSQL extensions a Database asks for (spec.extensions): the DBA policy's allow-list, the two server parameters
// Azure needs (azure.extensions, and shared_preload_libraries for extensions with a library to preload), and one
// provider-sql Extension per extension and database, applied over SQL with the admin connection.
import { z } from "zod";
import type { Refusal } from "./fn.ts";
import { metadata, type ServerPlan } from "./resources.ts";

export const SQL_API = "postgresql.sql.m.crossplane.io/v1alpha1";

/** An extension name as CREATE EXTENSION takes it and Azure lists it in azure.extensions. */
export const EXTENSION_NAME = /^[a-z][a-z0-9_]{0,62}$/;

/**
 * Extensions whose library must be in shared_preload_libraries before CREATE EXTENSION works on Azure (Azure's
 * "extensions considerations" and each extension's own documentation). A library missing here can be listed in the
 * policy's serverParameters.shared_preload_libraries, which every server then loads.
 */
export const PRELOADED: Readonly<Record<string, string>> = {
  age: "age",
  auto_explain: "auto_explain",
  pg_cron: "pg_cron",
  pg_failover_slots: "pg_failover_slots",
  pg_hint_plan: "pg_hint_plan",
  pg_partman: "pg_partman_bgw",
  pg_prewarm: "pg_prewarm",
  pg_squeeze: "pg_squeeze",
  pg_stat_statements: "pg_stat_statements",
  pgaudit: "pgaudit",
  pglogical: "pglogical",
  timescaledb: "timescaledb",
};

export const ExtensionsPolicy = z
  .strictObject({
    allowed: z
      .array(z.string().regex(EXTENSION_NAME, "is not an extension name (lowercase letters, digits, _)"))
      .min(1)
      .describe("Extensions engineers may list in spec.extensions, e.g. vector, postgis, pg_stat_statements, pg_trgm."),
  })
  .describe("PostgreSQL extensions engineers may ask for. Unset: spec.extensions is refused.");

export type ExtensionsPolicy = z.infer<typeof ExtensionsPolicy>;

/** A spec.extensions entry the policy does not allow, named with what it does allow. */
export function extensionRefusals(policy: ExtensionsPolicy | undefined, requested: readonly string[]): Refusal[] {
  const allowed = policy?.allowed ?? [];
  const refused = requested.filter((e) => !allowed.includes(e));
  if (refused.length === 0) return [];
  const list = refused.map((e) => `"${e}"`).join(", ");
  const choose = allowed.length > 0 ? `the DBA policy allows ${[...allowed].sort().join(", ")}` : "the DBA policy allows none (extensions.allowed)";
  return [{ reason: "ExtensionNotAllowed", message: `spec.extensions: ${list} ${refused.length > 1 ? "are" : "is"} not allowed; ${choose}` }];
}

const splitList = (value: string | undefined): string[] =>
  (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");

export interface ExtensionParameters {
  /** Server parameters to compose, by name: the policy's, with azure.extensions and shared_preload_libraries merged. */
  parameters: Record<string, string>;
  /** shared_preload_libraries changes on a server that exists: a static parameter, so the server restarts. */
  restart: { from: string; to: string } | undefined;
}

/**
 * The policy's server parameters with what the extensions need added. Neither list ever shrinks below what this
 * function set before (`emitted`): an extension taken out of spec.extensions stays installed in its databases
 * (nothing drops it), so it stays allowed and loaded.
 */
export function extensionParameters(o: {
  serverParameters: Record<string, string>;
  extensions: readonly string[];
  emitted: { azureExtensions: string | undefined; sharedPreloadLibraries: string | undefined };
  serverExists: boolean;
}): ExtensionParameters {
  const parameters = { ...o.serverParameters };
  // Azure lists azure.extensions in capitals (VECTOR,POSTGIS); one spelling, so the provider sees no difference.
  const allowListed = new Set([...splitList(parameters["azure.extensions"]), ...splitList(o.emitted.azureExtensions), ...o.extensions].map((e) => e.toUpperCase()));
  if (allowListed.size > 0) parameters["azure.extensions"] = [...allowListed].sort().join(",");

  const needed = o.extensions.map((e) => PRELOADED[e]).filter((l): l is string => l !== undefined);
  const preload = new Set([...splitList(parameters["shared_preload_libraries"]), ...splitList(o.emitted.sharedPreloadLibraries), ...needed]);
  if (preload.size === 0) return { parameters, restart: undefined };
  const value = [...preload].sort().join(",");
  parameters["shared_preload_libraries"] = value;
  const was = o.emitted.sharedPreloadLibraries;
  return { parameters, restart: o.serverExists && was !== value ? { from: was ?? "Azure's default", to: value } : undefined };
}

/**
 * The provider-sql ProviderConfig the Extensions and the application role connect with: the server's admin, from the
 * Secret that holds it (the connection Secret, or the admin Secret when apps connect as an application role).
 */
export function sqlProviderConfig(plan: ServerPlan, name: string, adminSecretName = plan.secretName) {
  return {
    apiVersion: SQL_API,
    kind: "ProviderConfig",
    metadata: { name, ...metadata(plan) },
    spec: {
      credentials: {
        source: "PostgreSQLConnectionSecret",
        connectionSecretRef: { name: adminSecretName },
        // The connection Secret names the host `host`, as apps read it.
        secretKeyMapping: { endpoint: "host", password: "password", port: "port", username: "username" },
      },
      defaultDatabase: "postgres",
      // The admin connection checks the server's certificate and name; Azure's are signed by public roots.
      sslMode: "verify-full",
    },
  };
}

/** One extension in one database. Never deleted: taking it out of spec.extensions must not drop it (and its data). */
export function sqlExtension(plan: ServerPlan, providerConfigName: string, extension: string, database: string) {
  return {
    apiVersion: SQL_API,
    kind: "Extension",
    metadata: metadata(plan),
    spec: {
      managementPolicies: ["Observe", "Create", "Update"],
      providerConfigRef: { kind: "ProviderConfig", name: providerConfigName },
      forProvider: { database, extension },
    },
  };
}
