// The contract between the Database and SecretRotation functions on a Secret both write: once a SecretRotation
// marks the Secret, it alone writes the keys it lists, so the Database never applies an old password back.
export const ROTATED_BY = "rotation.azplatform.io/rotated-by";
export const OWNED_KEYS = "rotation.azplatform.io/owned-keys";

export function ownedKeysOf(annotations: Record<string, unknown>): string[] {
  const v = annotations[OWNED_KEYS];
  return typeof v === "string" ? v.split(",").filter((k) => k !== "") : [];
}
