// Crossplane core outside the cluster, and this project's server registered as the function it calls.
//
// Core calls functions at the `status.endpoint` of the active FunctionRevision labelled with the Function's name,
// always over TLS with the client certificate in TLS_CLIENT_CERTS_DIR. With `--package-runtime=Function=External`
// it runs no Deployment, so the revision is made here and its status says where our server listens. Maintainers
// declined a supported remote endpoint (crossplane/crossplane#5444): if core stops honouring this, the tier says so.
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestPki } from "../support/certs.ts";
import { freePort } from "../support/server-process.ts";
import type { ControlPlane, RealSystems } from "./cluster.ts";
import { type Proc, startProcess, waitFor } from "./processes.ts";

export const FUNCTION_NAME = "function-azure-platform";
export const CROSSPLANE_NAMESPACE = "crossplane-system";

/**
 * Waits until every CRD is Established. kubectl wait fails at once on a CRD the API server has not given a status
 * yet ("status.conditions accessor error"), so it is asked again until it succeeds.
 */
export async function crdsEstablished(cp: ControlPlane): Promise<void> {
  const established = () => cp.kubectl("wait", "--for=condition=Established", "--timeout=30s", "crd", "--all").then(() => true, () => undefined);
  await waitFor("every CRD Established", established, 60_000);
}

/** Installs core's CRDs (server-side apply, as the Helm chart's) and the namespace core runs packages in. */
export async function installCrossplaneCrds(cp: ControlPlane, systems: RealSystems): Promise<void> {
  await cp.kubectl("apply", "--server-side", "--field-manager=crossplane-install", "-f", systems.coreCrds);
  await crdsEstablished(cp);
  await cp.admin.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: CROSSPLANE_NAMESPACE } }, { fieldManager: "crossplane-install" });
}

export async function startCrossplane(cp: ControlPlane, systems: RealSystems, pki: TestPki, args: string[] = []): Promise<Proc> {
  const certs = join(cp.dir, "crossplane-client-tls");
  await mkdir(certs, { recursive: true });
  await writeFile(join(certs, "ca.crt"), pki.ca.certPem);
  await writeFile(join(certs, "tls.crt"), pki.client.certPem);
  await writeFile(join(certs, "tls.key"), pki.client.keyPem, { mode: 0o600 });
  const [metrics, health] = await Promise.all([freePort(), freePort()]);
  const core = startProcess(
    "crossplane-core",
    systems.core,
    [
      "core",
      "start",
      "--enable-webhooks=false",
      "--package-runtime=Function=External",
      `--metrics-port=${metrics}`,
      `--health-probe-port=${health}`,
      `--cache-dir=${join(cp.dir, "xpkg-cache")}`,
      // Poll often: no provider runs, and tests change composed resources' status as one would.
      "--poll-interval=5s",
      // Core counts every change of an XR's composed resources against the XR's circuit breaker (100 events,
      // refilled at 1/s; internal/circuit) and, once open, drops its watch events for 5 minutes. The tests play
      // the provider and write an XR's ~20 managed resources within seconds, where Azure spreads them over
      // minutes: with the default burst the breaker opened during a test and the next change waited a minute.
      "--circuit-breaker-burst=1000",
      // Operations (WatchOperation, CronOperation) are alpha.
      "--enable-operations",
      "--debug",
      ...args,
    ],
    join(cp.dir, "logs"),
    { KUBECONFIG: cp.kubeconfig, TLS_CLIENT_CERTS_DIR: certs, POD_NAMESPACE: CROSSPLANE_NAMESPACE },
  );
  cp.procs.push(core);
  await waitFor("Crossplane core /readyz", async () => ((await fetch(`http://127.0.0.1:${health}/readyz`)).ok ? true : undefined), 120_000, [core]);
  return core;
}

/** Registers the server at `endpoint` as the active revision of the Function the Compositions name. */
export async function registerFunction(cp: ControlPlane, endpoint: string): Promise<void> {
  const ref = { apiVersion: "pkg.crossplane.io/v1", kind: "FunctionRevision", name: `${FUNCTION_NAME}-local` };
  await cp.admin.apply(
    {
      apiVersion: ref.apiVersion,
      kind: ref.kind,
      metadata: { name: ref.name, labels: { "pkg.crossplane.io/package": FUNCTION_NAME } },
      spec: { image: "xpkg.invalid/function-azure-platform:local", desiredState: "Active", revision: 1, ignoreCrossplaneConstraints: true, skipDependencyResolution: true },
    },
    { fieldManager: "test-cluster" },
  );
  // The package manager reports it cannot fetch the made-up image; the endpoint and capabilities must survive that.
  await cp.admin.mergePatch(ref, { status: { endpoint, capabilities: ["composition", "operation"] } }, "status");
}

export async function crdFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith(".yaml")).map((f) => join(dir, f));
}
