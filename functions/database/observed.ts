// Reading what Crossplane observed: the composed resources this function emitted on earlier calls.
import type { RunFunctionRequest } from "@crossplane-org/function-sdk-typescript";

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : {};
}
function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}
function num(v: unknown): number | undefined {
  return typeof v === "number" ? v : undefined;
}

export interface ObservedCondition {
  status: string;
  reason: string;
  message: string;
}

export interface Observed {
  exists: boolean;
  resource: Obj;
  annotations: Obj;
  forProvider: Obj;
  atProvider: Obj;
  ready: ObservedCondition | undefined;
  synced: ObservedCondition | undefined;
}

export function observed(req: RunFunctionRequest, key: string): Observed {
  return observedFrom(req.observed?.resources?.[key]?.resource);
}

export function observedFrom(raw: unknown): Observed {
  const resource = obj(raw);
  const meta = obj(resource.metadata);
  const spec = obj(resource.spec);
  const status = obj(resource.status);
  const conditions = Array.isArray(status.conditions) ? status.conditions.map(obj) : [];
  const cond = (type: string): ObservedCondition | undefined => {
    const c = conditions.find((x) => x.type === type);
    return c ? { status: str(c.status) ?? "Unknown", reason: str(c.reason) ?? "", message: str(c.message) ?? "" } : undefined;
  };
  return {
    exists: Object.keys(resource).length > 0,
    resource,
    annotations: obj(meta.annotations),
    forProvider: obj(spec.forProvider),
    atProvider: obj(status.atProvider),
    ready: cond("Ready"),
    synced: cond("Synced"),
  };
}

function bool(v: unknown): boolean | undefined {
  return typeof v === "boolean" ? v : undefined;
}

export const read = { str, num, obj, bool };

/** The server exists in Azure (or may, while a create is in flight) once the provider recorded an id or a create. */
export function existsInAzure(server: Observed): boolean {
  return (
    str(server.atProvider.id) !== undefined ||
    str(server.annotations["crossplane.io/external-create-succeeded"]) !== undefined ||
    str(server.annotations["crossplane.io/external-create-pending"]) !== undefined
  );
}

export function secretValue(secret: Observed, key: string): string | undefined {
  const data = obj(secret.resource.data);
  const b64 = str(data[key]);
  return b64 === undefined || b64 === "" ? undefined : Buffer.from(b64, "base64").toString("utf8");
}

export function isReady(o: Observed): boolean {
  return o.ready?.status === "True";
}
