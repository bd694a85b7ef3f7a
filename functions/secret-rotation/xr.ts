// The SecretRotation XR: what a team writes to have one secret rotated on schedule and on demand.
import { z } from "zod";
import { DNS_LABEL } from "../shared/patterns.ts";

const secretName = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be a valid Secret name (lowercase DNS subdomain)");
const localRef = z.strictObject({ name: secretName });

export const ROTATE_NOW_ANNOTATION = "azplatform.io/rotate-now";

export const RotationSpec = z
  .object({
    team: z.string().max(63).regex(DNS_LABEL, "must be a lowercase DNS label (letters, digits, hyphens)").describe("Owning team."),
    secretRef: z
      .strictObject({
        name: secretName,
        key: z
          .string()
          .max(253)
          .regex(/^[-._a-zA-Z0-9]+$/, "must be a valid Secret key"),
      })
      .describe("The Secret (in this namespace) and key that apps read. It is created if it does not exist."),
    rotateEvery: z.string().describe("Go-style duration between rotations, e.g. 720h. Set this or schedule.").optional(),
    schedule: z.string().describe("Cron expression (5 fields, UTC) for rotations. Set this or rotateEvery.").optional(),
    generator: z
      .strictObject({
        length: z.number().int().min(8).max(256).optional(),
        symbols: z.boolean().default(true),
      })
      .default({ symbols: true })
      .describe("How new values are generated (within the policy's length limits)."),
    targets: z
      .strictObject({
        postgresRole: z
          .strictObject({
            name: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lowercase PostgreSQL role name"),
            strategy: z.enum(["single", "alternating"]).default("single"),
            databaseRef: localRef.optional().describe("A Database of this namespace: the role is on its server, changed by its admin."),
            adminSecretRef: localRef.optional().describe("A Secret of this namespace with the admin connection (host, port, username, password, database)."),
          })
          .refine((r) => r.databaseRef === undefined || r.adminSecretRef === undefined, { message: "set databaseRef or adminSecretRef, not both" })
          .optional()
          .describe(
            "ALTER ROLE via SQL. alternating keeps two login roles (<name> and <name>_clone) so the old credential stays valid until pods roll. Without databaseRef or adminSecretRef the policy's shared admin is used, for the roles the policy grants this namespace.",
          ),
        flexibleServerAdmin: z
          .strictObject({ databaseRef: localRef.describe("A Database of this namespace: its server's administrator password is rotated.") })
          .optional()
          .describe("The administrator password of a Database's Flexible Server, set through Azure Resource Manager."),
        keyVault: z
          .strictObject({
            vaultName: z.string().regex(/^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/, "must be a Key Vault name (3-24 letters, digits, hyphens)"),
            secretName: z.string().regex(/^[0-9a-zA-Z-]{1,127}$/, "must be a Key Vault secret name (letters, digits, hyphens)"),
          })
          .optional()
          .describe("A Key Vault secret that receives each new value as a new version."),
      })
      .refine((t) => t.postgresRole !== undefined || t.flexibleServerAdmin !== undefined || t.keyVault !== undefined, {
        message: "set at least one of postgresRole, flexibleServerAdmin, keyVault",
      }),
    consumers: z
      .union([
        z.literal("auto"),
        z.literal("none"),
        z.strictObject({ selector: z.strictObject({ matchLabels: z.record(z.string(), z.string()) }) }),
      ])
      .default("auto")
      .describe("Workloads (Deployments, StatefulSets, DaemonSets) to roll after a rotation: auto (those in this namespace that reference the Secret), none, or {selector: {matchLabels}}."),
  })
  .refine((s) => (s.rotateEvery === undefined) !== (s.schedule === undefined), {
    message: "set exactly one of rotateEvery or schedule",
    path: ["rotateEvery"],
  });

export const RotationXR = z.object({
  apiVersion: z.string(),
  kind: z.literal("SecretRotation"),
  metadata: z.object({
    name: z.string().regex(DNS_LABEL, "must be a lowercase DNS label").max(63),
    namespace: z.string().min(1, "is required: SecretRotation is a namespaced resource"),
    uid: z.string().optional(),
    annotations: z.record(z.string(), z.string()).default({}),
    creationTimestamp: z.string().optional(),
  }),
  spec: RotationSpec,
  status: z
    .object({
      phase: z.string().optional(),
      currentVersion: z.number().optional(),
      lastRotatedAt: z.string().optional(),
      nextRotationAt: z.string().optional(),
      nextCheckAt: z.string().optional(),
      handledTrigger: z.string().optional(),
      retryAt: z.string().optional(),
      schedule: z.string().optional(),
      lastError: z.string().optional(),
    })
    .default({}),
});

export type RotationXR = z.infer<typeof RotationXR>;
export type RotationSpec = z.infer<typeof RotationSpec>;
