// RunFunction for DueRotationsPolicy, in a CronOperation: find SecretRotations whose rotation (or retry) is due
// and wake their reconcile by returning each as a partial desired resource with one annotation, the due time.
//
// The annotation only wakes Crossplane: the SecretRotation function ignores it and decides from the XR's status
// and its durable state, so a nudge can never cause a rotation that was not due, nor a second one. The value is
// the due time, so nudging the same XR again for the same due time changes nothing and is not returned at all.
import type { Resource, Result, RunFunctionRequest, RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { z } from "zod";
import { fatalResponse, result } from "../shared/results.ts";
import { cachedSafeParse } from "../shared/input-cache.ts";
import { describeIssues } from "../shared/zod-errors.ts";
import { DueRotationsPolicy } from "./policy.ts";
import { byLabels, desired, operationResponse, required } from "./respond.ts";

const parseDueRotationsPolicy = cachedSafeParse(DueRotationsPolicy);

export const SECRET_ROTATION_API_VERSION = "azplatform.io/v1alpha1";
export const DUE_AT_ANNOTATION = "rotation.azplatform.io/due-at";
const PAUSED_ANNOTATION = "crossplane.io/paused";

export interface DueRotationsDeps {
  now: () => Date;
}

/** The parts of a SecretRotation this function reads; anything else about it may be invalid without harm. */
const Observed = z.object({
  apiVersion: z.string(),
  kind: z.literal("SecretRotation"),
  metadata: z.object({
    name: z.string().min(1),
    namespace: z.string().min(1),
    annotations: z.record(z.string(), z.string()).default({}),
    deletionTimestamp: z.string().optional(),
  }),
  status: z.object({ phase: z.string().optional(), nextRotationAt: z.string().optional(), retryAt: z.string().optional() }).default({}),
});
type Observed = z.infer<typeof Observed>;

/** When this SecretRotation next needs its function to run, from its status; undefined when nothing is scheduled. */
function dueAtOf(xr: Observed): string | undefined {
  const { phase, nextRotationAt, retryAt } = xr.status;
  // A failed rotation retries at retryAt; an idle one rotates at nextRotationAt. Waiting (for a hand-over) is
  // polled by the XR's own 30 s TTL, and an XR without status has not been reconciled for the first time yet.
  if (phase === "Failed") return retryAt;
  if (phase === "Idle" || phase === undefined) return nextRotationAt;
  return undefined;
}

function requirementKey(namespace: string | undefined): string {
  return namespace === undefined ? "secretrotations" : `secretrotations-${namespace}`;
}

export function runDueRotations(req: RunFunctionRequest, deps: DueRotationsDeps): RunFunctionResponse {
  const parsed = parseDueRotationsPolicy(req.input);
  if (!parsed.success) return fatalResponse(req, "InvalidPolicy", `the CronOperation's DueRotationsPolicy input is invalid: ${describeIssues("", parsed.error)}`);
  const policy = parsed.data;

  // One requirement across all namespaces, or one per listed namespace.
  const scopes = policy.namespaces.length === 0 ? [undefined] : [...new Set(policy.namespaces)].sort();
  const requirements = Object.fromEntries(scopes.map((ns) => [requirementKey(ns), byLabels(SECRET_ROTATION_API_VERSION, "SecretRotation", {}, ns)]));
  const fetched = scopes.map((ns) => required(req, requirementKey(ns)));
  if (fetched.some((f) => f === undefined)) return operationResponse(req, { requirements, results: [] });

  const now = deps.now();
  const seen = new Set<string>();
  const due: { ref: string; xr: Observed; dueAt: string; at: number }[] = [];
  const awaiting: string[] = [];
  const paused: string[] = [];
  let unreadable = 0;
  for (const raw of fetched.flat()) {
    const p = Observed.safeParse(raw);
    if (!p.success) {
      unreadable++;
      continue;
    }
    const xr = p.data;
    const ref = `${xr.metadata.namespace}/${xr.metadata.name}`;
    if (seen.has(ref) || xr.metadata.deletionTimestamp !== undefined) continue;
    seen.add(ref);
    const dueAt = dueAtOf(xr);
    const at = dueAt === undefined ? NaN : Date.parse(dueAt);
    if (dueAt === undefined || Number.isNaN(at) || at > now.getTime()) continue;
    if (xr.metadata.annotations[PAUSED_ANNOTATION] === "true") paused.push(ref);
    else if (xr.metadata.annotations[DUE_AT_ANNOTATION] === dueAt) awaiting.push(ref);
    else due.push({ ref, xr, dueAt, at });
  }
  // Oldest due time first, so a backlog drains in order and no XR waits behind newer ones for ever.
  due.sort((a, b) => a.at - b.at || a.ref.localeCompare(b.ref));
  const nudge = due.slice(0, policy.maxPerRun);
  const deferred = due.slice(policy.maxPerRun).map((d) => d.ref);
  awaiting.sort();
  paused.sort();

  const resources: Record<string, Resource> = {};
  for (const { xr, dueAt } of nudge) {
    resources[`secretrotation-${xr.metadata.namespace}-${xr.metadata.name}`] = desired({
      apiVersion: xr.apiVersion,
      kind: "SecretRotation",
      metadata: { name: xr.metadata.name, namespace: xr.metadata.namespace, annotations: { [DUE_AT_ANNOTATION]: dueAt } },
    });
  }

  const results: Result[] = [];
  const where = policy.namespaces.length === 0 ? "in any namespace" : `in ${scopes.join(", ")}`;
  if (nudge.length === 0) results.push(result("Normal", "NothingDue", `no SecretRotation ${where} needs a nudge (checked ${seen.size})`));
  else results.push(result("Normal", "Nudged", `nudging ${nudge.length} due SecretRotation(s) to reconcile: ${nudge.map((d) => d.ref).join(", ")}`));
  if (deferred.length > 0) {
    results.push(result("Warning", "Deferred", `${deferred.length} more due SecretRotation(s) wait for the next run (maxPerRun is ${policy.maxPerRun}); raise maxPerRun or run more often if this persists`));
  }
  if (awaiting.length > 0) {
    results.push(result("Normal", "AwaitingReconcile", `${awaiting.length} SecretRotation(s) were already nudged for their due time and wait for Crossplane to reconcile them: ${cap(awaiting, policy.maxPerRun).join(", ")}`));
  }
  if (paused.length > 0) results.push(result("Normal", "Paused", `${paused.length} due SecretRotation(s) are paused (crossplane.io/paused) and were left alone: ${cap(paused, policy.maxPerRun).join(", ")}`));
  if (unreadable > 0) results.push(result("Warning", "Unreadable", `${unreadable} SecretRotation(s) have no name, namespace or kind this function can read and were skipped`));

  return operationResponse(req, {
    resources,
    requirements,
    results,
    // Bounded like the nudges: the Operation's status must stay small however many XRs are due.
    output: {
      now: now.toISOString(),
      checked: seen.size,
      nudged: nudge.map((d) => ({ secretRotation: d.ref, dueAt: d.dueAt })),
      deferredCount: deferred.length,
      deferred: cap(deferred, policy.maxPerRun),
      awaitingReconcile: cap(awaiting, policy.maxPerRun),
      paused: cap(paused, policy.maxPerRun),
    },
  });
}

function cap(list: string[], n: number): string[] {
  return list.length <= n ? list : [...list.slice(0, n), `… and ${list.length - n} more`];
}
