// A small Kubernetes REST client for the cluster tier: JSON over HTTPS with a bearer token, paths found through
// the API server's own discovery. The tests act as the cluster admin, an engineer, or the provider with it.
import { request } from "node:https";

export type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- Kubernetes objects

export interface Ref {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name?: string;
}

export class KubeError extends Error {
  readonly status: number;
  readonly body: Obj;
  constructor(method: string, path: string, status: number, body: Obj) {
    super(`${method} ${path}: ${status} ${body.reason ?? ""} ${body.message ?? JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
  }
}

interface ApplyOptions {
  fieldManager: string;
  force?: boolean;
  dryRun?: boolean;
  subresource?: "status";
}

export class Kube {
  private readonly discovered = new Map<string, { name: string; namespaced: boolean; kind: string }[]>();

  readonly server: string;
  readonly caPem: string;
  readonly token: string;
  /** A user this client impersonates (the Impersonate-User header), as the function does in a namespace. */
  readonly impersonating?: string;
  /** Groups of that user (Impersonate-Group headers). */
  readonly groups: readonly string[];

  constructor(server: string, caPem: string, token: string, impersonating?: string, groups: readonly string[] = []) {
    this.server = server;
    this.caPem = caPem;
    this.token = token;
    this.impersonating = impersonating;
    this.groups = groups;
  }

  /** The same API server as another identity. */
  as(token: string): Kube {
    return new Kube(this.server, this.caPem, token);
  }

  /** This identity impersonating `user`. */
  impersonate(user: string): Kube {
    return new Kube(this.server, this.caPem, this.token, user);
  }

  /** A user of the cluster's identity provider, with its groups, as the platform's RBAC binds teams. */
  impersonateAs(user: string, groups: readonly string[]): Kube {
    return new Kube(this.server, this.caPem, this.token, user, groups);
  }

  async request(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<Obj> {
    const url = new URL(path, this.server);
    const payload = body === undefined ? undefined : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          ca: this.caPem,
          // The API server is reached by IP address: no SNI (an IP address is not a server name).
          servername: "",
          headers: {
            authorization: `Bearer ${this.token}`,
            ...(this.impersonating ? { "impersonate-user": this.impersonating } : {}),
            // One Impersonate-Group header per group (Node sends an array as repeated headers).
            ...(this.groups.length > 0 ? { "impersonate-group": [...this.groups] } : {}),
            accept: "application/json",
            ...(payload ? { "content-type": contentType, "content-length": payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
    let parsed: Obj;
    try {
      parsed = text === "" ? {} : (JSON.parse(text) as Obj);
    } catch {
      parsed = { message: text };
    }
    if (status >= 400) throw new KubeError(method, path, status, parsed);
    return parsed;
  }

  /** The REST path of a kind (a collection without a name), from discovery; refreshed when a CRD is new. */
  async path(ref: Ref): Promise<string> {
    const groupVersion = ref.apiVersion;
    const base = groupVersion.includes("/") ? `/apis/${groupVersion}` : `/api/${groupVersion}`;
    let resources = this.discovered.get(groupVersion);
    let found = resources?.find((r) => r.kind === ref.kind && !r.name.includes("/"));
    if (found === undefined) {
      resources = ((await this.request("GET", base)).resources ?? []) as { name: string; namespaced: boolean; kind: string }[];
      this.discovered.set(groupVersion, resources);
      found = resources.find((r) => r.kind === ref.kind && !r.name.includes("/"));
    }
    if (found === undefined) throw new Error(`the API server serves no ${ref.kind} in ${groupVersion}`);
    const ns = found.namespaced ? `/namespaces/${ref.namespace ?? "default"}` : "";
    return `${base}${ns}/${found.name}${ref.name ? `/${ref.name}` : ""}`;
  }

  async get(ref: Ref): Promise<Obj> {
    return this.request("GET", await this.path(ref));
  }

  /** The object, or undefined when it does not exist. */
  async find(ref: Ref): Promise<Obj | undefined> {
    try {
      return await this.get(ref);
    } catch (e) {
      if (e instanceof KubeError && e.status === 404) return undefined;
      throw e;
    }
  }

  async list(ref: Ref, labelSelector?: string): Promise<Obj[]> {
    const q = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : "";
    const items = ((await this.request("GET", `${await this.path(ref)}${q}`)).items ?? []) as Obj[];
    // Items of a list of built-in kinds carry no apiVersion and kind.
    return items.map((o) => ({ apiVersion: ref.apiVersion, kind: ref.kind, ...o }));
  }

  /** Server-side apply, as Crossplane, ArgoCD and kubectl --server-side do. */
  async apply(obj: Obj, opts: ApplyOptions): Promise<Obj> {
    const ref = { apiVersion: obj.apiVersion, kind: obj.kind, namespace: obj.metadata?.namespace, name: obj.metadata?.name };
    const q = new URLSearchParams({ fieldManager: opts.fieldManager });
    if (opts.force) q.set("force", "true");
    if (opts.dryRun) q.set("dryRun", "All");
    const sub = opts.subresource ? `/${opts.subresource}` : "";
    return this.request("PATCH", `${await this.path(ref)}${sub}?${q}`, obj, "application/apply-patch+yaml");
  }

  async mergePatch(ref: Ref, patch: Obj, subresource?: "status", fieldManager = "test-cluster"): Promise<Obj> {
    const path = `${await this.path(ref)}${subresource ? `/${subresource}` : ""}?fieldManager=${encodeURIComponent(fieldManager)}`;
    return this.request("PATCH", path, patch, "application/merge-patch+json");
  }

  /** A create (POST), as `kubectl create` does: an Update entry in managedFields owning every field it set. */
  async create(obj: Obj, fieldManager = "kubectl-create"): Promise<Obj> {
    const ref = { apiVersion: obj.apiVersion, kind: obj.kind, namespace: obj.metadata?.namespace };
    return this.request("POST", `${await this.path(ref)}?fieldManager=${encodeURIComponent(fieldManager)}`, obj);
  }

  async delete(ref: Ref): Promise<void> {
    try {
      await this.request("DELETE", await this.path(ref), { propagationPolicy: "Background" });
    } catch (e) {
      if (!(e instanceof KubeError && e.status === 404)) throw e;
    }
  }

  /** What the authorizer says this identity may do (SelfSubjectAccessReview). */
  async can(verb: string, resource: { group?: string; resource: string; namespace?: string; name?: string; subresource?: string }): Promise<boolean> {
    const review = await this.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SelfSubjectAccessReview",
      spec: { resourceAttributes: { verb, group: resource.group ?? "", resource: resource.resource, subresource: resource.subresource, namespace: resource.namespace, name: resource.name } },
    });
    return review.status?.allowed === true;
  }
}

/** Which data keys of a Secret each field manager owns (from managedFields). */
export function keyOwners(secret: Obj): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const entry of secret.metadata.managedFields ?? []) {
    const keys = Object.keys(entry.fieldsV1?.["f:data"] ?? {}).filter((k) => k.startsWith("f:")).map((k) => k.slice(2));
    if (keys.length > 0) out[entry.manager] = keys.sort();
  }
  return out;
}
