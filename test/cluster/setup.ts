// globalSetup of the cluster tier: one real control plane and one Crossplane core for the whole run, with this
// project's server registered as the function. Test files reach them through inject("cluster").
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TestProject } from "vitest/node";
import { readDocs } from "../../cli/yaml.ts";
import { makeTestPki } from "../support/certs.ts";
import { REPO_ROOT } from "../support/proto-client.ts";
import { type RunningServer, startServer } from "../support/server-process.ts";
import { type ControlPlane, realSystemsFromEnv, startControlPlane } from "./cluster.ts";
import { CROSSPLANE_NAMESPACE, FUNCTION_NAME, crdsEstablished, installCrossplaneCrds, registerFunction, startCrossplane } from "./crossplane.ts";
import { routeAlertsTo } from "./composition.ts";
import type { ClusterInfo } from "./context.ts";
import type { Obj } from "./kube.ts";
import { waitFor } from "./processes.ts";

declare module "vitest" {
  export interface ProvidedContext {
    cluster: ClusterInfo;
  }
}

const REFERENCE = resolve(REPO_ROOT, "../shared/reference");

/** The namespaces whose Databases the tests compose, besides the example's team-payments. */
const TEST_NAMESPACES = ["team-adopt", "team-ledger", "team-ops", "team-growth", "rotation-protocol"];

/** The shipped Database Composition, with an action group for each test namespace; written beside the logs. */
async function databaseCompositionFor(dir: string, namespaces: string[]): Promise<string> {
  const [composition] = readDocs(join(REPO_ROOT, "compositions/database-postgres.yaml")) as Obj[];
  const input = composition?.spec.pipeline[0].input;
  for (const ns of namespaces) routeAlertsTo(input, ns);
  // JSON: kubectl reads YAML 1.1, where a plain `on` (require_secure_transport) would turn into a boolean.
  const file = join(dir, "database-postgres.json");
  await writeFile(file, JSON.stringify(composition));
  return file;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const systems = realSystemsFromEnv();
  const dir = await mkdtemp(join(tmpdir(), "fap-cluster-"));
  const started = Date.now();
  let cp: ControlPlane | undefined;
  let fn: RunningServer | undefined;
  const teardown = async () => {
    await fn?.stop();
    if (fn !== undefined) await writeFile(join(dir, "logs", "function.log"), `${fn.logs().join("\n")}\n`).catch(() => undefined);
    await cp?.stop();
    if (process.env.KEEP_CLUSTER_DIR === undefined) await rm(dir, { recursive: true, force: true });
    else process.stderr.write(`cluster tier: logs and state kept in ${dir}\n`);
  };
  try {
    cp = await startControlPlane(systems, dir);
    await installCrossplaneCrds(cp, systems);
    // The provider's CRDs, as its package installs them; no provider runs: the tests play it.
    for (const d of ["provider-azure/crds", "provider-sql/crds"]) await cp.kubectl("apply", "--server-side", "--field-manager=provider-install", "-f", join(REFERENCE, d));
    await crdsEstablished(cp);

    // The function's identity: a ServiceAccount bound by exactly the shipped RBAC, with a token from TokenRequest.
    await cp.admin.apply({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: FUNCTION_NAME, namespace: CROSSPLANE_NAMESPACE } }, { fieldManager: "test-cluster" });
    // rbac.yaml opts the examples' namespace in.
    await cp.admin.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "team-payments" } }, { fieldManager: "platform-install" });
    await cp.kubectl("apply", "--server-side", "--field-manager=platform-install", "-f", join(REPO_ROOT, "examples/install/rbac.yaml"));
    const token = (await cp.kubectl("create", "token", FUNCTION_NAME, "-n", CROSSPLANE_NAMESPACE, "--duration=4h")).trim();
    const functionKubeconfig = await cp.kubeconfigFor(FUNCTION_NAME, token);

    const pki = await makeTestPki();
    fn = await startServer({ pki, env: { KUBECONFIG: functionKubeconfig, METRICS_ADDRESS: "off" }, readyTimeoutMs: 60_000 });
    await startCrossplane(cp, systems, pki);
    await registerFunction(cp, fn.address);

    // The platform's API: the XRDs (core makes their CRDs) and the Compositions.
    for (const f of ["xrds/database.yaml", "xrds/secretrotation.yaml", "compositions/secret-rotation.yaml"]) {
      await cp.kubectl("apply", "--server-side", "--field-manager=platform-install", "-f", join(REPO_ROOT, f));
    }
    await cp.kubectl("apply", "--server-side", "--field-manager=platform-install", "-f", await databaseCompositionFor(dir, TEST_NAMESPACES));
    const admin = cp.admin;
    for (const xrd of ["databases.azplatform.io", "secretrotations.azplatform.io"]) {
      await waitFor(
        `XRD ${xrd} Established and Offered`,
        async () => {
          const o = await admin.get({ apiVersion: "apiextensions.crossplane.io/v2", kind: "CompositeResourceDefinition", name: xrd });
          return (o.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === "Established" && c.status === "True") ? true : undefined;
        },
        60_000,
        cp.procs,
      );
    }
    process.stderr.write(`cluster tier: real control plane and Crossplane up in ${((Date.now() - started) / 1000).toFixed(1)} s (${dir})\n`);
    project.provide("cluster", {
      dir,
      server: cp.server,
      caPem: cp.caPem,
      adminToken: admin.token,
      functionToken: token,
      functionKubeconfig,
      functionAddress: fn.address,
      pki: { ca: pki.ca.certPem, server: pki.server.certPem, serverKey: pki.server.keyPem, client: pki.client.certPem, clientKey: pki.client.keyPem },
      kubectl: join(systems.assets, "kubectl"),
      kubeconfig: cp.kubeconfig,
      cli: systems.cli,
      core: systems.core,
    });
    return teardown;
  } catch (e) {
    process.env.KEEP_CLUSTER_DIR ??= "1";
    await teardown();
    throw e;
  }
}
