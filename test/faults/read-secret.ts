// A Secret as the harness reads it: as the cluster admin, straight from the API server (never through the fault
// proxy), with its data decoded.
import type { Kube } from "../cluster/kube.ts";

export interface SecretRead {
  resourceVersion: string;
  data: Record<string, string>;
  annotations: Record<string, string>;
}

export async function readSecret(admin: Kube, namespace: string, name: string): Promise<SecretRead | undefined> {
  const s = await admin.find({ apiVersion: "v1", kind: "Secret", namespace, name });
  if (s === undefined) return undefined;
  const data = Object.fromEntries(Object.entries((s.data ?? {}) as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
  return { resourceVersion: s.metadata.resourceVersion, data, annotations: s.metadata.annotations ?? {} };
}
