// RunFunction for RolloutPolicy, in a WatchOperation that watches rotated Secrets: roll the Deployments that read
// the Secret by returning their pod-template annotation as desired state. Crossplane reads (requirements) and
// writes (server-side apply of the desired resources), so this function needs no Kubernetes access at all.
//
// Two calls, as Crossplane's requirement loop makes them:
//  1. The watched Secret arrives. Not rotated yet: a Normal result, nothing else. Rotated: ask for the
//     Deployments in its namespace (and for the Secret again, so it is in the next request however Crossplane
//     treats the WatchOperation's own requirement between calls).
//  2. The Deployments arrive: return a partial Deployment for each consumer whose annotation is not at this
//     version, and the same requirements, which tells Crossplane the loop is done.
import type { Resource, RunFunctionRequest, RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { rolloutAnnotation, rolloutValue, secretsOf } from "../shared/consumers.ts";
import { fatalResponse, result } from "../shared/results.ts";
import { cachedSafeParse } from "../shared/input-cache.ts";
import { ROTATED_BY, ROTATION_VERSION } from "../shared/rotation-contract.ts";
import { describeIssues } from "../shared/zod-errors.ts";
import { RolloutPolicy } from "./policy.ts";
import { WATCHED_RESOURCE, byLabels, byName, desired, operationResponse, required } from "./respond.ts";

const parseRolloutPolicy = cachedSafeParse(RolloutPolicy);

export const DEPLOYMENTS = "deployments";

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {});
const str = (v: unknown): string => (typeof v === "string" ? v : "");

/** The version in a pod-template annotation value such as `v3`; undefined when it is something else. */
function versionOf(value: string | undefined): number | undefined {
  const m = /^v([1-9][0-9]*)$/.exec(value ?? "");
  return m === null ? undefined : Number(m[1]);
}

export function runRollout(req: RunFunctionRequest): RunFunctionResponse {
  const parsed = parseRolloutPolicy(req.input);
  if (!parsed.success) return fatalResponse(req, "InvalidPolicy", `the WatchOperation's RolloutPolicy input is invalid: ${describeIssues("", parsed.error)}`);
  const policy = parsed.data;

  const watched = required(req, WATCHED_RESOURCE);
  if (watched === undefined) {
    return fatalResponse(
      req,
      "NoWatchedResource",
      `RolloutPolicy runs in a WatchOperation that watches v1 Secrets; this request has no watched resource (${WATCHED_RESOURCE}). Use it in a WatchOperation's pipeline, not in a CronOperation or a plain Operation`,
    );
  }
  const secret = watched[0];
  if (secret === undefined) {
    // Deleted between the event and this run: nothing reads it any more through this version.
    return operationResponse(req, { results: [result("Normal", "SecretGone", "the watched Secret no longer exists; nothing to roll")], output: { rolled: [] } });
  }
  const meta = obj(secret.metadata);
  const name = str(meta.name);
  const namespace = str(meta.namespace);
  if (secret.apiVersion !== "v1" || secret.kind !== "Secret" || name === "" || namespace === "") {
    return fatalResponse(
      req,
      "NotASecret",
      `the WatchOperation watches ${str(secret.apiVersion)} ${str(secret.kind)} ${namespace}/${name}; RolloutPolicy rolls the consumers of Secrets: set spec.watch to apiVersion v1, kind Secret`,
    );
  }
  const ref = `${namespace}/${name}`;
  const annotations = obj(meta.annotations);
  const versionText = str(annotations[ROTATION_VERSION]);
  const version = /^[1-9][0-9]*$/.test(versionText) ? Number(versionText) : undefined;
  if (version === undefined) {
    return operationResponse(req, {
      results: [result("Normal", "NotRotated", `Secret ${ref} has no rotation version (annotation ${ROTATION_VERSION}): no SecretRotation has promoted a value to it yet, so there is nothing to roll`)],
      output: { secret: ref, rolled: [] },
    });
  }

  const requirements = {
    [WATCHED_RESOURCE]: byName("v1", "Secret", name, namespace),
    [DEPLOYMENTS]: byLabels("apps/v1", "Deployment", policy.selector?.matchLabels ?? {}, namespace),
  };
  const deployments = required(req, DEPLOYMENTS);
  if (deployments === undefined) return operationResponse(req, { requirements, results: [] });

  const key = rolloutAnnotation(name);
  const value = rolloutValue(version);
  const resources: Record<string, Resource> = {};
  const rolled: string[] = [];
  const upToDate: string[] = [];
  for (const d of deployments) {
    const dm = obj(d.metadata);
    const dName = str(dm.name);
    // Crossplane asked in this namespace; anything else, or a Deployment on its way out, is not ours to roll.
    if (dName === "" || str(dm.namespace) !== namespace || dm.deletionTimestamp !== undefined) continue;
    const template = obj(obj(d.spec).template);
    if (policy.selector === undefined && !secretsOf(template.spec).includes(name)) continue;
    const current = versionOf(str(obj(obj(template.metadata).annotations)[key]));
    // At this version, or already past it (this run saw an older Secret than a later run did): leave it.
    if (current !== undefined && current >= version) {
      upToDate.push(dName);
      continue;
    }
    rolled.push(dName);
    // Only the one annotation: Crossplane applies it under the Operation's own field manager, so nothing else in
    // the Deployment changes hands. Returning only Deployments that differ keeps every apply a real change: each
    // Operation is a new field manager, and re-applying an equal value would still add its managedFields entry.
    resources[`deployment-${dName}`] = desired({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: dName, namespace },
      spec: { template: { metadata: { annotations: { [key]: value } } } },
    });
  }
  rolled.sort();
  upToDate.sort();

  const which = policy.selector === undefined ? `reads Secret ${name}` : `matches the selector ${Object.entries(policy.selector.matchLabels).map(([k, v]) => `${k}=${v}`).join(",")}`;
  const message =
    rolled.length > 0
      ? `rolling ${rolled.length} Deployment(s) in ${namespace} to version ${version} of Secret ${name}: ${rolled.join(", ")}`
      : upToDate.length > 0
        ? `every Deployment in ${namespace} that ${which} already runs version ${version}: ${upToDate.join(", ")}`
        : `no Deployment in ${namespace} ${which}; nothing to roll`;
  return operationResponse(req, {
    resources,
    requirements,
    results: [result("Normal", rolled.length > 0 ? "Rolling" : "UpToDate", message)],
    output: {
      secret: ref,
      version,
      ...(typeof annotations[ROTATED_BY] === "string" ? { rotatedBy: annotations[ROTATED_BY] } : {}),
      annotation: key,
      rolled,
      upToDate,
    },
  });
}
