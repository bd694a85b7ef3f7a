// The objects crossplane render holds in place of a cluster (its in-memory client): the XR, the observed resources,
// the required resources (-e) and the credential Secrets (--function-credentials). A step's requirements and its
// credentials are looked up here, as Crossplane looks them up in the API server.
import { Resource, type ResourceSelector, type Resources, type RunFunctionRequest } from "@crossplane-org/function-sdk-typescript";
import { groupVersion } from "./reconciler.ts";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- YAML documents

export class Store {
  private readonly objects: Obj[];

  constructor(objects: Obj[]) {
    this.objects = objects;
  }

  get(apiVersion: string, kind: string, namespace: string, name: string): Obj | undefined {
    return this.objects.find((o) => o.apiVersion === apiVersion && o.kind === kind && (o.metadata?.namespace ?? "") === namespace && o.metadata?.name === name);
  }

  /** xfn.ExistingRequiredResourcesFetcher: by name (none when missing), or a list by labels sorted by namespace/name. */
  fetch(selector: ResourceSelector): Resources {
    if (selector.matchName !== undefined) {
      const found = this.get(selector.apiVersion, selector.kind, selector.namespace ?? "", selector.matchName);
      return { items: found === undefined ? [] : [Resource.fromPartial({ resource: found })] };
    }
    const [group, version] = groupVersion(selector.apiVersion);
    const labels = Object.entries(selector.matchLabels?.labels ?? {});
    const key = (o: Obj) => `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;
    const items = this.objects
      .filter((o) => {
        const [g, v] = groupVersion(o.apiVersion);
        if (g !== group || o.kind !== selector.kind || (version && v && v !== version)) return false;
        if (selector.namespace && o.metadata?.namespace !== selector.namespace) return false;
        return labels.every(([k, value]) => o.metadata?.labels?.[k] === value);
      })
      .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    return { items: items.map((o) => Resource.fromPartial({ resource: o })) };
  }

  /**
   * A step's credentials, from the Secrets its `credentials` name, or why one cannot be had. The step and the Secrets
   * are of the shapes render checked (cli/render-inputs.ts): a list of credentials; data of base64 strings or null.
   */
  credentials(step: Obj): RunFunctionRequest["credentials"] | string {
    const out: RunFunctionRequest["credentials"] = {};
    for (const c of (step.credentials ?? []) as Obj[]) {
      // As Crossplane: only a Secret source with a secretRef is loaded.
      if (c.source !== "Secret" || c.secretRef == null) continue;
      const secret = this.get("v1", "Secret", c.secretRef.namespace, c.secretRef.name);
      if (secret === undefined) {
        return `cannot get Composition pipeline step "${step.step}" credential "${c.name}" from Secret: Secret "${c.secretRef.name}" not found`;
      }
      // A Secret's data only, as Crossplane reads it: stringData is for writing. A null value is an empty one.
      const data = Object.fromEntries(Object.entries((secret.data ?? {}) as Record<string, string | null>).map(([k, v]) => [k, Buffer.from(v ?? "", "base64")]));
      out[c.name as string] = { credentialData: { data } };
    }
    return out;
  }
}
