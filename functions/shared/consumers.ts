// Which Deployments read a Secret, and the pod-template annotation that rolls them. Pure: shared by the
// SecretRotation engine (which patches Deployments itself) and the rollout Operation (where Crossplane applies).
import { createHash } from "node:crypto";

type Json = Record<string, unknown>;

const obj = (v: unknown): Json => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/**
 * Secret names a pod spec reads: env valueFrom.secretKeyRef, envFrom secretRef, secret volumes and projected
 * secret sources, in init, regular and ephemeral containers. Sorted, without duplicates. Takes the pod spec as
 * the Kubernetes client types it or as plain JSON from the API server; anything malformed is skipped.
 */
export function secretsOf(podSpec: unknown): string[] {
  const spec = obj(podSpec);
  const names = new Set<string>();
  const add = (v: unknown) => {
    const s = str(v);
    if (s !== undefined) names.add(s);
  };
  for (const v of arr(spec.volumes)) {
    add(obj(obj(v).secret).secretName);
    for (const p of arr(obj(obj(v).projected).sources)) add(obj(obj(p).secret).name);
  }
  for (const c of [...arr(spec.initContainers), ...arr(spec.containers), ...arr(spec.ephemeralContainers)]) {
    for (const e of arr(obj(c).env)) add(obj(obj(obj(e).valueFrom).secretKeyRef).name);
    for (const e of arr(obj(c).envFrom)) add(obj(obj(e).secretRef).name);
  }
  return [...names].sort();
}

/** The pod-template annotation key that rolls a Secret's consumers: `rotation.azplatform.io/<secret name>`. */
export function rolloutAnnotation(secretName: string): string {
  // An annotation name (after the prefix) is at most 63 characters; a Secret name can be 253.
  const namePart = secretName.length <= 63 ? secretName : `${secretName.slice(0, 54)}-${createHash("sha256").update(secretName).digest("hex").slice(0, 8)}`;
  return `rotation.azplatform.io/${namePart}`;
}

/**
 * The annotation's value for a rotation version. Derived from the version, so applying it again is a no-op (as
 * with `kubectl rollout restart` or Reloader) and two writers that agree on the version never roll twice.
 */
export function rolloutValue(version: number): string {
  return `v${version}`;
}
