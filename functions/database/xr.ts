// The Database XR: the small API application engineers write in a PR.
import { z } from "zod";
import { RESERVED_DATABASES, STORAGE_GB } from "./azure.ts";
import { EXTENSION_NAME } from "./extensions.ts";
import { SIZES } from "./policy.ts";
import { RestoreFrom } from "./restore.ts";
import { DNS_LABEL } from "../shared/patterns.ts";


export const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const databaseName = z
  .string()
  .regex(DATABASE_NAME, "must start with a lowercase letter or _ and hold only lowercase letters, digits and _ (at most 63)")
  .refine((n) => !RESERVED_DATABASES.includes(n), { message: `is reserved on every server (${RESERVED_DATABASES.join(", ")})` });

export const DatabaseSpec = z.object({
  team: z
    .string()
    .describe("Owning team; becomes a label and an Azure tag on everything this Database creates.")
    .max(63).regex(DNS_LABEL, "must be a lowercase DNS label (letters, digits, hyphens)"),
  size: z.enum(SIZES).describe("small, medium or large; the DBA policy maps each to a SKU and default storage."),
  version: z
    .string()
    .regex(/^[0-9]{2}$/, "must be a PostgreSQL major version such as \"16\"")
    .describe("PostgreSQL major version; must be in the policy's allowlist. Default: the policy's default.").optional(),
  storageGB: z
    .number()
    .describe("Storage in GB; can only grow. Default: the size's storage in the policy.")
    .int()
    .refine((n) => STORAGE_GB.includes(n), { message: `must be one of ${STORAGE_GB.join(", ")}` })
    .meta({ enum: STORAGE_GB })
    .optional(),
  highAvailability: z.boolean().describe("Zone-redundant standby; only for sizes the policy allows.").default(false),
  databases: z
    .array(databaseName)
    .describe("Logical databases to create. Default: [<metadata.name> with - as _].")
    .min(1)
    .max(32)
    .refine((d) => new Set(d).size === d.length, { message: "must not repeat a name" })
    .optional(),
  extensions: z
    .array(z.string().regex(EXTENSION_NAME, "must be an extension name: lowercase letters, digits and _"))
    .describe("PostgreSQL extensions to create in every database, e.g. [vector, pg_trgm]; each must be in the DBA policy's allow-list. Removing one never drops it.")
    .max(32)
    .refine((e) => new Set(e).size === e.length, { message: "must not repeat a name" })
    .optional(),
  restoreFrom: RestoreFrom.optional(),
  connectionSecretName: z
    .string()
    .describe("Secret (in this namespace) with host, port, username, password, database, sslmode and uri. Default: <metadata.name>-db.")
    .max(253)
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be a valid Secret name (lowercase DNS subdomain)")
    .optional(),
});

export const DatabaseXR = z.object({
  apiVersion: z.string(),
  kind: z.literal("Database"),
  metadata: z.object({
    name: z.string().regex(DNS_LABEL, "must be a lowercase DNS label").max(63),
    namespace: z.string().min(1, "is required: Database is a namespaced resource"),
    uid: z.string().optional(),
    labels: z.record(z.string(), z.string()).default({}),
    annotations: z.record(z.string(), z.string()).default({}),
  }),
  spec: DatabaseSpec,
});

export type DatabaseXR = z.infer<typeof DatabaseXR>;

/** The default logical database is the XR's name in PostgreSQL's identifier style. */
export function defaultDatabaseName(xrName: string): string {
  return xrName.replaceAll("-", "_").replace(/^([0-9])/, "_$1");
}
