// The platform/DBA policy for SecretRotation XRs: what they may touch and how. Engineers never set it.
import { z } from "zod";
import { UUID } from "../shared/patterns.ts";

export const ROTATION_POLICY_KIND = "SecretRotationPolicy";

const globs = new Map<string, RegExp>();

/** A glob with `*` only: `pg-payments-*`. */
export function globMatch(pattern: string, value: string): boolean {
  let re = globs.get(pattern);
  if (re === undefined) {
    re = new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
    // Patterns come from policies, a handful per cluster; the bound only guards against a policy that churns.
    if (globs.size >= 1024) globs.clear();
    globs.set(pattern, re);
  }
  return re.test(value);
}

export const RotationPolicy = z
  .strictObject({
    apiVersion: z.literal("fn.azplatform.io/v1alpha1"),
    kind: z.literal(ROTATION_POLICY_KIND),
    metadata: z.object({ name: z.string().optional() }).optional(),
    subscriptionId: z
      .string()
      .regex(UUID, "must be a subscription id (GUID)")
      .optional()
      .describe("Subscription of the Databases' Flexible Servers, whose admin password flexibleServerAdmin sets."),
    tenants: z
      .array(
        z.strictObject({
          namespaces: z.array(z.string().min(1)).min(1).describe("Namespaces (globs with *) this grant is for."),
          keyVaults: z.array(z.string().min(1)).default([]).describe("Key Vault names (globs with *; {namespace} is the SecretRotation's namespace) its SecretRotations may write to."),
          roles: z
            .array(z.string().min(1))
            .default([])
            .describe("PostgreSQL roles (globs with *; {namespace} allowed) its SecretRotations may change through the shared admin of credentials.postgresAdmin."),
        }),
      )
      .default([])
      .describe(
        "What each namespace may reach beyond its own Databases. A SecretRotation reaches a Flexible Server only through a Database of its own namespace; Key Vaults and the shared admin's roles only through a grant here. spec.team is never looked at.",
      ),
    allowedRoles: z
      .array(z.string().min(1))
      .default(["*"])
      .describe("PostgreSQL roles (globs with *) SecretRotations may change, whatever admin they use. Roles starting with azure_ or pg_ are always refused."),
    length: z
      .strictObject({ min: z.number().int().min(8).default(24), max: z.number().int().max(256).default(128), default: z.number().int().default(32) })
      .default({ min: 24, max: 128, default: 32 })
      .refine((l) => l.min <= l.default && l.default <= l.max, { message: "must satisfy min <= default <= max" }),
    fastestSchedule: z
      .string()
      .default("1h")
      .describe("The shortest interval a schedule may have (Go duration). Manual triggers are not limited."),
    driftCheckEvery: z
      .string()
      .default("10m")
      .describe("How often an idle SecretRotation compares the app Secret and Key Vault with the current value and repairs them (Go duration). Calls in between make no external call."),
    credentials: z
      .strictObject({
        azure: z.string().min(1).optional().describe("Name of the step credential with clientId, clientSecret and tenantId (a service principal)."),
        azureWorkloadIdentity: z.boolean().default(false).describe("Use the pod's Azure workload identity instead of a step credential."),
        postgresAdmin: z
          .string()
          .min(1)
          .optional()
          .describe(
            "Name of the step credential with host, port, username, password and database of a shared server's admin, for postgresRole targets that name neither databaseRef nor adminSecretRef; only the roles tenants grants a namespace.",
          ),
      })
      .default({ azureWorkloadIdentity: false }),
    cloud: z
      .strictObject({
        keyVaultUrl: z.string().default("https://{vault}.vault.azure.net"),
        resourceManagerEndpoint: z.string().default("https://management.azure.com"),
        authorityHost: z.string().default("https://login.microsoftonline.com"),
      })
      .default({ keyVaultUrl: "https://{vault}.vault.azure.net", resourceManagerEndpoint: "https://management.azure.com", authorityHost: "https://login.microsoftonline.com" })
      .describe("Endpoints of the Azure cloud (change for sovereign clouds such as Azure China or US Government)."),
  });

export type RotationPolicy = z.infer<typeof RotationPolicy>;

/** The grants of a namespace: the tenants entries whose namespaces match it, with {namespace} filled in. */
export function grantsFor(policy: RotationPolicy, namespace: string): { keyVaults: string[]; roles: string[] } {
  const fill = (patterns: string[]) => patterns.map((p) => p.split("{namespace}").join(namespace));
  const mine = policy.tenants.filter((t) => t.namespaces.some((n) => globMatch(n, namespace)));
  return { keyVaults: mine.flatMap((t) => fill(t.keyVaults)), roles: mine.flatMap((t) => fill(t.roles)) };
}
