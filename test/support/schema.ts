// The schema library lives in cli/schema.ts (the validate command uses it); tests add the upstream reference CRDs.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadCrds, type SchemaRegistry } from "../../cli/schema.ts";

export * from "../../cli/schema.ts";

export const repoRoot: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const referenceDir: string = path.resolve(repoRoot, "../shared/reference");

/** Crossplane's CRDs (Composition, XRD, Function, Operation, …) and the package metadata kinds (meta.pkg.crossplane.io). */
export function crossplaneValidator(): SchemaRegistry {
  return loadCrds([path.join(referenceDir, "crossplane/crds"), path.join(referenceDir, "crossplane/meta")]);
}

/** Every kind the Database function composes but Secrets: the Azure provider's and provider-sql's namespaced CRDs. */
export function providerValidator(): SchemaRegistry {
  return loadCrds([path.join(referenceDir, "provider-azure/crds"), path.join(referenceDir, "provider-sql/crds")]);
}

/** The Azure provider's CRDs: the namespaced (*.m.upbound.io) kinds and the legacy cluster-scoped FlexibleServer. */
export function azureValidator(): SchemaRegistry {
  return loadCrds([path.join(referenceDir, "provider-azure/crds")]);
}

