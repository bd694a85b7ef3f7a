// Inputs of the operation pipeline steps (WatchOperation, CronOperation). Platform engineers set them in the
// Operation templates; scripts/manifests.ts generates their CRDs under package/input/.
import { z } from "zod";
import { POLICY_API_VERSION } from "../database/policy.ts";
import { DNS_LABEL } from "../shared/patterns.ts";

export const ROLLOUT_POLICY_KIND = "RolloutPolicy";
export const DUE_ROTATIONS_POLICY_KIND = "DueRotationsPolicy";

const metadata = z.object({ name: z.string().optional() }).optional();

export const RolloutPolicy = z.strictObject({
  apiVersion: z.literal(POLICY_API_VERSION),
  kind: z.literal(ROLLOUT_POLICY_KIND),
  metadata,
  selector: z
    .strictObject({
      matchLabels: z
        .record(z.string(), z.string())
        .refine((m) => Object.keys(m).length > 0, { message: "must name at least one label; leave selector out to roll the Deployments that read the Secret" }),
    })
    .optional()
    .describe(
      "Roll the Deployments in the Secret's namespace with these labels (as SecretRotation consumers.selector). Without it, roll the Deployments whose pod template reads the Secret (env, envFrom, volumes, projected volumes), as consumers: auto.",
    ),
});
export type RolloutPolicy = z.infer<typeof RolloutPolicy>;

export const DueRotationsPolicy = z.strictObject({
  apiVersion: z.literal(POLICY_API_VERSION),
  kind: z.literal(DUE_ROTATIONS_POLICY_KIND),
  metadata,
  namespaces: z
    .array(z.string().max(63).regex(DNS_LABEL, "must be a namespace name (lowercase DNS label)"))
    .default([])
    .describe("Namespaces whose SecretRotations are checked. Empty: every namespace."),
  maxPerRun: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(100)
    .describe("At most this many due SecretRotations are nudged per run, oldest due time first; the rest wait for the next run and are listed in the Operation's output."),
});
export type DueRotationsPolicy = z.infer<typeof DueRotationsPolicy>;
