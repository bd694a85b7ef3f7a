// Where a team's XR gets its namespace when its file names none: as the tools that deploy it decide. kustomize sets
// the namespace of every resource a kustomization builds (its `namespace:` field wins over the file's); ArgoCD and
// `kubectl apply -n` fill in one the file leaves out, which `--namespace` stands for.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { readDocs } from "./yaml.ts";

const KUSTOMIZATION_FILES = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/**
 * The namespace kustomize gives the file: kustomizations at or above its folder (not above a repository root) that
 * set one; an outer one applies after the inner ones it builds, so the outermost wins.
 */
export function kustomizeNamespace(file: string): string | undefined {
  let found: string | undefined;
  for (let dir = dirname(resolve(file)); ; dir = dirname(dir)) {
    const path = KUSTOMIZATION_FILES.map((name) => join(dir, name)).find((p) => existsSync(p));
    const ns = path === undefined ? undefined : (readDocs(path)[0] as { namespace?: unknown } | undefined)?.namespace;
    if (typeof ns === "string" && ns !== "") found = ns;
    if (existsSync(join(dir, ".git")) || dirname(dir) === dir) return found;
  }
}
