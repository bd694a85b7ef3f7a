// The Kubernetes port over @kubernetes/client-node, bound to one namespace at construction: every path it builds
// carries that namespace, so a SecretRotation cannot read, rotate or roll anything in another.
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1ManagedFieldsEntry,
  type V1PodTemplateSpec,
  type V1Secret,
} from "@kubernetes/client-node";
import { secretsOf } from "../shared/consumers.ts";
import { grantHint } from "./identity.ts";
import { ConflictError, type KubernetesPort, type OwnerRef, type SecretView, type WorkloadKind, type WorkloadView } from "./ports.ts";

export const FIELD_MANAGER = "azplatform.io-secret-rotation";

const b64 = (v: string) => Buffer.from(v, "utf8").toString("base64");
const unb64 = (v: string) => Buffer.from(v, "base64").toString("utf8");

function otherManagers(fields: V1ManagedFieldsEntry[] | undefined, operations: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of fields ?? []) {
    if (!operations.includes(f.operation ?? "") || f.manager === FIELD_MANAGER || f.manager === undefined) continue;
    const data = (f.fieldsV1 as Record<string, Record<string, unknown>> | undefined)?.["f:data"] ?? {};
    for (const k of Object.keys(data)) {
      if (!k.startsWith("f:")) continue;
      (out[k.slice(2)] ??= []).push(f.manager);
    }
  }
  return out;
}

function toView(s: V1Secret): SecretView {
  return {
    data: Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, unb64(v)])),
    annotations: { ...s.metadata?.annotations },
    labels: { ...s.metadata?.labels },
    resourceVersion: s.metadata?.resourceVersion ?? "",
    otherOwners: otherManagers(s.metadata?.managedFields, ["Apply"]),
    otherWriters: otherManagers(s.metadata?.managedFields, ["Apply", "Update"]),
  };
}

interface Workload {
  metadata?: { name?: string };
  spec?: { template?: V1PodTemplateSpec };
}

function workloadView(kind: WorkloadKind, w: Workload): WorkloadView {
  return { kind, name: w.metadata?.name ?? "", secrets: secretsOf(w.spec?.template?.spec), podTemplateAnnotations: { ...w.spec?.template?.metadata?.annotations } };
}

export function kubernetesPort(kc: KubeConfig, namespace: string): KubernetesPort {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const fail = (what: string, e: unknown): never => {
    if (e instanceof ApiException) {
      const body = (typeof e.body === "string" ? safeJson(e.body) : e.body) as { message?: string } | undefined;
      const detail = body?.message ?? `HTTP ${e.code}`;
      if (e.code === 409) throw new ConflictError(`${what}: ${detail}`);
      const hint = e.code === 401 || e.code === 403 ? `; ${grantHint(namespace, detail)}` : "";
      throw new Error(`Kubernetes refused to ${what} in namespace ${namespace} (${e.code}): ${detail}${hint}`);
    }
    // fetch says only "fetch failed"; the cause says why (ECONNREFUSED, a TLS error, a DNS failure).
    const c = e instanceof Error && e.cause instanceof Error ? (e.cause as Error & { code?: string; errors?: Error[] }) : undefined;
    const why = c === undefined ? "" : c.message || c.errors?.map((x) => x.message).join("; ") || c.code || "";
    const cause = why === "" ? "" : ` (${why})`;
    throw new Error(`cannot reach the Kubernetes API to ${what}: ${e instanceof Error ? e.message : String(e)}${cause}`);
  };
  const body = (
    name: string,
    data: Record<string, string>,
    annotations: Record<string, string>,
    labels: Record<string, string>,
    owner: OwnerRef | undefined,
    resourceVersion?: string,
  ): V1Secret => ({
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name,
      namespace,
      annotations,
      labels,
      ...(owner !== undefined ? { ownerReferences: [{ ...owner, blockOwnerDeletion: false, controller: false }] } : {}),
      ...(resourceVersion !== undefined ? { resourceVersion } : {}),
    },
    type: "Opaque",
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  });
  return {
    async getSecret(name) {
      try {
        return toView(await core.readNamespacedSecret({ name, namespace }));
      } catch (e) {
        if (e instanceof ApiException && e.code === 404) return undefined;
        return fail(`read Secret ${name}`, e);
      }
    },
    async createSecret(name, data, annotations, labels, owner) {
      try {
        return toView(await core.createNamespacedSecret({ namespace, body: body(name, data, annotations, labels, owner), fieldManager: FIELD_MANAGER }));
      } catch (e) {
        return fail(`create Secret ${name}`, e);
      }
    },
    async replaceSecret(name, resourceVersion, data, annotations, labels, owner) {
      try {
        return toView(await core.replaceNamespacedSecret({ name, namespace, body: body(name, data, annotations, labels, owner, resourceVersion), fieldManager: FIELD_MANAGER }));
      } catch (e) {
        return fail(`update Secret ${name}`, e);
      }
    },
    async applySecret(name, data, annotations, labels, resourceVersion) {
      // A resourceVersion in an applied object is a precondition: the API server answers 409 if the Secret moved on.
      const metadata = { name, namespace, annotations, labels, ...(resourceVersion !== undefined ? { resourceVersion } : {}) };
      const patch = { apiVersion: "v1", kind: "Secret", metadata, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) };
      try {
        return toView(
          await core.patchNamespacedSecret({ name, namespace, body: patch, fieldManager: FIELD_MANAGER, force: true }, setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply)),
        );
      } catch (e) {
        return fail(`apply Secret ${name}`, e);
      }
    },
    async listWorkloads(matchLabels) {
      const labelSelector = matchLabels === undefined ? undefined : Object.entries(matchLabels).map(([k, v]) => `${k}=${v}`).join(",");
      const query = { namespace, ...(labelSelector !== undefined ? { labelSelector } : {}) };
      try {
        const [deployments, statefulSets, daemonSets] = await Promise.all([
          apps.listNamespacedDeployment(query),
          apps.listNamespacedStatefulSet(query),
          apps.listNamespacedDaemonSet(query),
        ]);
        return [
          ...deployments.items.map((w) => workloadView("Deployment", w)),
          ...statefulSets.items.map((w) => workloadView("StatefulSet", w)),
          ...daemonSets.items.map((w) => workloadView("DaemonSet", w)),
        ];
      } catch (e) {
        return fail("list Deployments, StatefulSets and DaemonSets", e);
      }
    },
    async setPodTemplateAnnotation(workload, key, value) {
      const patch = { spec: { template: { metadata: { annotations: { [key]: value } } } } };
      const args = { name: workload.name, namespace, body: patch, fieldManager: FIELD_MANAGER };
      const strategic = setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch);
      try {
        if (workload.kind === "Deployment") await apps.patchNamespacedDeployment(args, strategic);
        else if (workload.kind === "StatefulSet") await apps.patchNamespacedStatefulSet(args, strategic);
        else await apps.patchNamespacedDaemonSet(args, strategic);
      } catch (e) {
        fail(`roll ${workload.kind} ${workload.name}`, e);
      }
    },
  };
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}
