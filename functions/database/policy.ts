// The DBA team's policy: the DatabasePolicy input of the Composition's function step. Engineers never set it.
import { z } from "zod";
import { AlertsPolicy } from "./alerts.ts";
import { ApplicationRolePolicy } from "./app-role.ts";
import { EntraPolicy } from "./entra.ts";
import { ExtensionsPolicy } from "./extensions.ts";
import { AdoptPolicy, SubscriptionId } from "./restore.ts";
import { NAMESPACE_TAG } from "../shared/rotation-contract.ts";
import {
  DELEGATED_SUBNET_ID,
  PRIVATE_DNS_ZONE_ID,
  PROVIDER_VERSIONS,
  RESOURCE_GROUP_NAME,
  SKU_PATTERN,
  STORAGE_GB,
  TAG_LIMITS,
  isBurstable,
  loginProblem,
} from "./azure.ts";

export const POLICY_API_VERSION = "fn.azplatform.io/v1alpha1";
export const POLICY_KIND = "DatabasePolicy";
export const SIZES = ["small", "medium", "large"] as const;

const storageGB = z
  .number()
  .int()
  .refine((n) => STORAGE_GB.includes(n), { message: `must be one of ${STORAGE_GB.join(", ")}` })
  .meta({ enum: STORAGE_GB });

const tagKey = z
  .string()
  .min(1)
  .max(TAG_LIMITS.maxKey)
  .refine((k) => !TAG_LIMITS.forbiddenKeyChars.test(k), { message: "must not contain < > % & \\ ? /" })
  .refine((k) => k.toLowerCase() !== NAMESPACE_TAG, {
    message: `is reserved: the function tags every resource with ${NAMESPACE_TAG}, the Database's namespace, which a SecretRotation checks before it changes a server`,
  });

const sizeEntry = z.strictObject({
  skuName: z.string().regex(SKU_PATTERN, "is not a Flexible Server SKU the provider accepts (e.g. GP_Standard_D2ds_v5)"),
  storageGB,
});

const metadataTag = z
  .strictObject({
    key: tagKey,
    label: z.string().min(1).optional(),
    annotation: z.string().min(1).optional(),
    required: z.boolean().default(true),
  })
  .refine((t) => (t.label === undefined) !== (t.annotation === undefined), {
    message: "set exactly one of label or annotation",
  });

export const DatabasePolicy = z
  .strictObject({
    apiVersion: z.literal(POLICY_API_VERSION),
    kind: z.literal(POLICY_KIND),
    metadata: z.object({ name: z.string().optional() }).optional(),
    environment: z
      .string()
      .describe("Environment this Composition serves; used in names ({environment}) and the environment tag.")
      .regex(/^[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?$/, "must be 1-16 lowercase letters, digits or hyphens"),
    location: z.string().describe("Azure region of every server, e.g. westeurope. Fixed once a server exists.").regex(/^[a-z0-9]+$/, "must be an Azure region name such as westeurope"),
    subscriptionId: SubscriptionId.optional(),
    resourceGroupName: z.string().describe("Resource group the servers live in. Fixed once a server exists.").regex(RESOURCE_GROUP_NAME, "is not a valid resource group name"),
    providerConfigRef: z
      .strictObject({
        kind: z.enum(["ClusterProviderConfig", "ProviderConfig"]).default("ClusterProviderConfig"),
        name: z.string().min(1),
      })
      .default({ kind: "ClusterProviderConfig", name: "default" }),
    naming: z
      .strictObject({
        // Tokens: {team} {name} {namespace} {environment} {location} {hash}; {hash} is 6 hex of namespace/name.
        serverName: z
          .string()
          .describe("Server name pattern; tokens {team} {name} {namespace} {environment} {location} {hash}. Names are global in Azure, 3-63 characters.")
          .min(1)
          .refine((p) => !/\{(?!(team|name|namespace|environment|location|hash)\})[^}]*\}/.test(p), {
            message: "uses an unknown token; known tokens are {team} {name} {namespace} {environment} {location} {hash}",
          })
          // Server names are global, and spec.team and metadata.name are whatever the engineer writes. {namespace}-{name}
          // is ambiguous (namespace a-b with name c, namespace a with name b-c); {hash} without {name} can be matched
          // by trying names. {name} pins the name, {hash} (of namespace/name) the namespace.
          .refine((p) => p.includes("{hash}") && p.includes("{name}"), {
            message: "must contain {name} and {hash}, so a Database of one namespace can never name the server of another",
          }),
      })
      .default({ serverName: "pg-{team}-{name}-{environment}-{hash}" }),
    administratorLogin: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lowercase PostgreSQL identifier of at most 63 characters")
      .superRefine((login, ctx) => {
        const problem = loginProblem(login);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      })
      .default("pgadmin"),
    passwordLength: z.number().describe("Length of generated admin passwords.").int().min(16).max(128).default(32),
    network: z.strictObject({
      // Private access only: VNet integration through a delegated subnet and a private DNS zone.
      delegatedSubnetId: z
        .string()
        .regex(DELEGATED_SUBNET_ID, "must be the ARM id of a subnet (/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>)"),
      privateDnsZoneId: z
        .string()
        .regex(PRIVATE_DNS_ZONE_ID, "must be the ARM id of a private DNS zone whose name ends in .postgres.database.azure.com"),
    }),
    backup: z
      .strictObject({
        retentionDays: z.number().int().min(7).max(35).default(7),
        geoRedundant: z.boolean().default(false),
      })
      .default({ retentionDays: 7, geoRedundant: false }),
    versions: z
      .strictObject({
        allowed: z.array(z.enum(PROVIDER_VERSIONS)).min(1),
        default: z.enum(PROVIDER_VERSIONS),
      })
      .refine((v) => v.allowed.includes(v.default), { message: "default must be one of allowed", path: ["default"] }),
    sizes: z
      .partialRecord(z.enum(SIZES), sizeEntry)
      .describe("The sizes engineers may ask for (small, medium, large), each mapped to a SKU and default storage. A size left out is refused.")
      .refine((s) => Object.keys(s).length > 0, { message: "must define at least one size" }),
    storage: z
      .strictObject({
        autoGrow: z.boolean().default(true),
        maxGB: storageGB.optional(),
      })
      .default({ autoGrow: true }),
    highAvailability: z
      .strictObject({
        mode: z.enum(["ZoneRedundant", "SameZone"]).default("ZoneRedundant"),
        allowedSizes: z.array(z.enum(SIZES)).default([]),
      })
      .default({ mode: "ZoneRedundant", allowedSizes: [] }),
    zone: z.enum(["1", "2", "3"]).optional(),
    maintenanceWindow: z
      .strictObject({
        dayOfWeek: z.number().int().min(0).max(6),
        startHour: z.number().int().min(0).max(23),
        startMinute: z.number().int().min(0).max(59),
      })
      .optional(),
    serverParameters: z
      .record(z.string().regex(/^[a-z_][a-z0-9_.]*$/, "is not a server parameter name"), z.string())
      .default({}),
    tags: z
      .strictObject({
        teamKey: tagKey.default("team"),
        environmentKey: tagKey.default("environment"),
        static: z
          .record(z.string(), z.string().max(TAG_LIMITS.maxValue))
          .superRefine((record, ctx) => {
            // Checked here rather than as the record's key schema, whose refusals zod reports only as "Invalid key".
            for (const key of Object.keys(record)) {
              for (const issue of tagKey.safeParse(key).error?.issues ?? []) ctx.addIssue({ code: "custom", path: [key], message: issue.message });
            }
          })
          .default({}),
        fromMetadata: z.array(metadataTag).default([]),
      })
      .default({ teamKey: "team", environmentKey: "environment", static: {}, fromMetadata: [] }),
    authentication: EntraPolicy.default({ mode: "Password", groups: {} }).describe(
      "How people and apps sign in to the servers: passwords, Microsoft Entra ID (an Entra group per namespace as the server's Entra admin), or both.",
    ),
    extensions: ExtensionsPolicy.optional(),
    applicationRole: ApplicationRolePolicy,
    adopt: AdoptPolicy,
    alerts: AlertsPolicy.optional().describe(
      "Azure Monitor alerts on every server, routed to the action group of the Database's namespace, and its logs to a Log Analytics workspace. Unset: none.",
    ),
    protectFromDeletion: z
      .boolean()
      .default(false)
      .describe("Leave servers, databases and parameters in Azure when a Database is deleted (no Delete management policy)."),
    allowDatabaseDeletion: z
      .boolean()
      .default(false)
      .describe("Let a Database drop a logical database that was removed from spec.databases. Off: removed databases are kept."),
  })
  .superRefine((p, ctx) => {
    for (const size of p.highAvailability.allowedSizes) {
      const entry = p.sizes[size];
      if (entry === undefined) {
        ctx.addIssue({ code: "custom", path: ["highAvailability", "allowedSizes"], message: `size ${size} is not defined in sizes` });
      } else if (isBurstable(entry.skuName)) {
        ctx.addIssue({
          code: "custom",
          path: ["highAvailability", "allowedSizes"],
          message: `size ${size} uses Burstable SKU ${entry.skuName}, which cannot run high availability`,
        });
      }
    }
    if (p.storage.maxGB !== undefined) {
      for (const [size, entry] of Object.entries(p.sizes)) {
        if (entry.storageGB > p.storage.maxGB) {
          ctx.addIssue({
            code: "custom",
            path: ["sizes", size, "storageGB"],
            message: `${entry.storageGB} exceeds storage.maxGB ${p.storage.maxGB}`,
          });
        }
      }
    }
  });

export type DatabasePolicy = z.infer<typeof DatabasePolicy>;
