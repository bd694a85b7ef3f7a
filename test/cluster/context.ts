// What the cluster tier's globalSetup hands to test files, and the clients a test builds from it.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { inject } from "vitest";
import type { TestPki } from "../support/certs.ts";
import { type RunningServer, startServer } from "../support/server-process.ts";
import { ROTATION_IDENTITY, ROTATION_ROLE } from "../../functions/secret-rotation/identity.ts";
import { FUNCTION_NAME } from "./crossplane.ts";
import { Kube, type Obj, type Ref } from "./kube.ts";
import { waitFor } from "./processes.ts";

export interface ClusterInfo {
  dir: string;
  server: string;
  caPem: string;
  adminToken: string;
  /** The function's ServiceAccount token (bound by examples/install/rbac.yaml only). */
  functionToken: string;
  /** A kubeconfig file with that token, for another instance of the function server. */
  functionKubeconfig: string;
  functionAddress: string;
  /** The PKI core trusts: a function server with this server certificate is one core can call. */
  pki: { ca: string; server: string; serverKey: string; client: string; clientKey: string };
  kubectl: string;
  kubeconfig: string;
  cli: string;
  core: string;
}

export function cluster(): { info: ClusterInfo; admin: Kube } {
  const info = inject("cluster");
  return { info, admin: new Kube(info.server, info.caPem, info.adminToken) };
}

export type Condition = { type: string; status: string; reason?: string; message?: string };

export function conditionOf(o: Obj | undefined, type: string): Condition | undefined {
  return ((o?.status?.conditions ?? []) as Condition[]).find((c) => c.type === type);
}

/** Waits until the object exists and `test` holds for it; returns it. */
export async function eventually(kube: Kube, ref: Ref, what: string, test: (o: Obj) => boolean, timeoutMs = 60_000): Promise<Obj> {
  return waitFor(`${ref.kind} ${ref.namespace ?? ""}/${ref.name}: ${what}`, async () => {
    const o = await kube.find(ref);
    return o !== undefined && test(o) ? o : undefined;
  }, timeoutMs);
}

const pem = (certPem: string, keyPem = "") => ({ certPem, keyPem, cert: Buffer.from(certPem), key: Buffer.from(keyPem) });

/**
 * Starts another instance of this project's server with `env` (e.g. the Azure stand-in's proxy) and makes it the
 * endpoint core calls; `restore` points core back at the shared one. Core dials the new endpoint on its next call.
 */
export async function useFunctionServer(env: Record<string, string>): Promise<{ server: RunningServer; restore(): Promise<void> }> {
  const { info, admin } = cluster();
  const p = info.pki;
  const pki: TestPki = { ca: pem(p.ca), server: pem(p.server, p.serverKey), client: pem(p.client, p.clientKey), rogueCa: pem(p.ca), rogueClient: pem(p.client, p.clientKey) };
  const server = await startServer({ pki, env: { METRICS_ADDRESS: "off", ...env }, readyTimeoutMs: 60_000 });
  const revision = { apiVersion: "pkg.crossplane.io/v1", kind: "FunctionRevision", name: `${FUNCTION_NAME}-local` };
  await admin.mergePatch(revision, { status: { endpoint: server.address } }, "status");
  return {
    server,
    restore: async () => {
      await admin.mergePatch(revision, { status: { endpoint: info.functionAddress } }, "status");
      await server.stop();
      await writeFile(join(info.dir, "logs", `function-${server.port}.log`), `${server.logs().join("\n")}\n`).catch(() => undefined);
    },
  };
}

/** The RoleBinding that opts a namespace in to SecretRotation, as examples/install/rbac.yaml shows for team-payments. */
export function optIn(namespace: string): Obj {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: ROTATION_ROLE, namespace },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: ROTATION_ROLE },
    subjects: [{ kind: "ServiceAccount", name: ROTATION_IDENTITY, namespace }],
  };
}
