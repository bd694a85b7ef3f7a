// The response of an operation function: desired resources that Crossplane applies with server-side apply once
// the pipeline has run, the requirements Crossplane fetches before calling again, results (emitted as events on
// the Operation) and the output (recorded in the Operation's status.pipeline[].output).
import {
  Ready,
  type Requirements,
  type Resource,
  type ResourceSelector,
  type Result,
  type RunFunctionRequest,
  type RunFunctionResponse,
} from "@crossplane-org/function-sdk-typescript";

/** The requirement under which a WatchOperation passes the resource that changed. */
export const WATCHED_RESOURCE = "ops.crossplane.io/watched-resource";

type Json = Record<string, unknown>;

/** A partial object for Crossplane to apply: only the fields this operation owns. */
export function desired(resource: Json): Resource {
  return { resource, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED };
}

/** Every object with these labels (an empty map selects all), in one namespace or, without one, in all. */
export function byLabels(apiVersion: string, kind: string, labels: Record<string, string>, namespace?: string): ResourceSelector {
  return { apiVersion, kind, matchLabels: { labels }, ...(namespace !== undefined ? { namespace } : {}) };
}

export function byName(apiVersion: string, kind: string, name: string, namespace: string): ResourceSelector {
  return { apiVersion, kind, matchName: name, namespace };
}

/** The objects Crossplane fetched for a requirement; undefined when it has not been asked for yet. */
export function required(req: RunFunctionRequest, key: string): Json[] | undefined {
  const got = req.requiredResources?.[key];
  if (got === undefined) return undefined;
  return got.items.map((i) => i.resource).filter((r): r is Json => r !== undefined);
}

export function operationResponse(
  req: RunFunctionRequest,
  o: { resources?: Record<string, Resource>; requirements?: Record<string, ResourceSelector>; results: Result[]; output?: Json },
): RunFunctionResponse {
  const requirements: Requirements | undefined = o.requirements === undefined ? undefined : { extraResources: {}, resources: o.requirements, schemas: {} };
  return {
    // An Operation runs once and is never requeued; a TTL of 0 also keeps a response cache from replaying an
    // answer that depends on the time of the call.
    meta: { tag: req.meta?.tag ?? "", ttl: { seconds: 0, nanos: 0 } },
    // Earlier steps' desired resources pass through untouched.
    desired: { composite: req.desired?.composite, resources: { ...req.desired?.resources, ...o.resources } },
    results: o.results,
    conditions: [],
    requirements,
    context: req.context,
    ...(o.output !== undefined ? { output: o.output } : {}),
  };
}
