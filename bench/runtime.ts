// How the cluster runs the server, read from examples/install/function.yaml (the DeploymentRuntimeConfig a platform
// engineer applies): the NODE_OPTIONS its container sets and its memory limit. The benchmark runs the server that
// way, so the peak RSS it reports is the one to hold against the limit.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

export const INSTALL_MANIFEST = "examples/install/function.yaml";

interface Container {
  name?: string;
  env?: { name?: string; value?: string }[];
  resources?: { limits?: { memory?: string } };
}

/** A Kubernetes quantity of memory in MiB: 256Mi, 1Gi, 300M, 268435456. */
export function mebibytes(quantity: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G)?$/.exec(quantity);
  if (m === null) throw new Error(`${INSTALL_MANIFEST}: memory limit "${quantity}" is not a quantity this benchmark reads`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ""] ?? 1;
  return (Number(m[1]) * unit) / 2 ** 20;
}

export function clusterRuntime(file = INSTALL_MANIFEST): { nodeOptions: string; memoryLimitMiB: number } {
  const docs = parseAllDocuments(readFileSync(file, "utf8")).map((d) => d.toJS() as Record<string, unknown>);
  const runtime = docs.find((d) => d.kind === "DeploymentRuntimeConfig") as { spec?: { deploymentTemplate?: { spec?: { template?: { spec?: { containers?: Container[] } } } } } } | undefined;
  const container = runtime?.spec?.deploymentTemplate?.spec?.template?.spec?.containers?.find((c) => c.name === "package-runtime");
  const limit = container?.resources?.limits?.memory;
  if (container === undefined || limit === undefined) throw new Error(`${file}: no package-runtime container with a memory limit in the DeploymentRuntimeConfig`);
  return { nodeOptions: container.env?.find((e) => e.name === "NODE_OPTIONS")?.value ?? "", memoryLimitMiB: mebibytes(String(limit)) };
}
