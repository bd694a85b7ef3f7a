// The shipped Database Composition as the cluster tier uses it: with an action group for each namespace it composes
// in (the shipped file routes only the example's team-payments), as a DBA team would add one when onboarding a team,
// and variants of it for a test's own Databases.
import type { Kube, Obj } from "./kube.ts";

const COMPOSITION_API = { apiVersion: "apiextensions.crossplane.io/v1", kind: "Composition" };

/** Routes the namespace's alerts to an action group beside the example's, in the policy `input` (changed in place). */
export function routeAlertsTo(input: Obj, namespace: string): void {
  const example = Object.values(input.alerts.actionGroups as Record<string, string>)[0] ?? "";
  input.alerts.actionGroups[namespace] = example.replace(/[^/]+$/, `ag-${namespace}`);
}

/**
 * The shipped Composition, as installed in the cluster, under another name: with `policy`'s fields over its DBA
 * policy, and the alerts of `namespace` routed. A test's Database selects it by spec.crossplane.compositionRef.
 */
export async function compositionVariant(kube: Kube, name: string, namespace: string, policy: Obj): Promise<Obj> {
  const shipped = await kube.get({ ...COMPOSITION_API, name: "database-postgres" });
  const input = { ...structuredClone(shipped.spec.pipeline[0].input), ...policy };
  routeAlertsTo(input, namespace);
  return { ...COMPOSITION_API, metadata: { name }, spec: { ...shipped.spec, pipeline: [{ ...shipped.spec.pipeline[0], input }] } };
}
