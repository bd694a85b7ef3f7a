// The contract between the Database and SecretRotation functions on a Secret both write: once a SecretRotation
// marks the Secret, it alone writes the keys it lists, so the Database never applies an old password back.
export const ROTATED_BY = "rotation.azplatform.io/rotated-by";
export const OWNED_KEYS = "rotation.azplatform.io/owned-keys";
/** On the app Secret: the version of the value it holds (1 after the first rotation). */
export const ROTATION_VERSION = "rotation.azplatform.io/version";
/**
 * Label on every app Secret a SecretRotation manages. A WatchOperation can select only by label, so this is how
 * the rollout Operation (functions/operations/rollout.ts) watches rotated Secrets.
 */
export const MANAGED_LABEL = "rotation.azplatform.io/managed";
export const MANAGED_LABELS: Readonly<Record<string, string>> = { [MANAGED_LABEL]: "true" };

/**
 * The second login of an alternating SecretRotation of `role`: apps read it half of the time, so the Database keeps it
 * when it finds it in the Secret apps read.
 */
export const cloneOf = (role: string): string => `${role}_clone`;

export function ownedKeysOf(annotations: Record<string, unknown>): string[] {
  const v = annotations[OWNED_KEYS];
  return typeof v === "string" ? v.split(",").filter((k) => k !== "") : [];
}

/**
 * Azure tag the Database puts on everything it composes: the Kubernetes namespace of the Database. A SecretRotation
 * changes a Flexible Server's admin password only when the server carries its own namespace here, read from Azure
 * itself: a Database's status (which names the server) can be written by whoever may write Database status.
 */
export const NAMESPACE_TAG = "azplatform-namespace";
