// What a SecretRotation call tells the metrics: read from the request's XR and the response's desired status,
// so every replica that handles the XR reports the same figures. Pure; no secret value is ever looked at.
import type { RunFunctionRequest, RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { cronTimes, parseDuration } from "./schedule.ts";

export interface RotationObservation {
  namespace: string;
  name: string;
  team: string;
  /** The rotation is failing and waits for its retry. */
  failing: boolean;
  lastSuccessMs?: number;
  nextDueMs?: number;
  /** The longest gap between rotations its schedule allows. */
  maxAgeSeconds?: number;
  /** Set when this call rotated, or tried to and failed. */
  attempt?: "succeeded" | "failed";
  /** When Crossplane calls again at the latest (the response TTL). */
  ttlSeconds: number;
}

const maxGapCache = new Map<string, number | undefined>();

/** Longest interval of a `rotateEvery` duration or a cron expression (over its next 50 runs), cached by text. */
export function longestInterval(schedule: string, now: Date): number | undefined {
  if (maxGapCache.has(schedule)) return maxGapCache.get(schedule);
  let ms = parseDuration(schedule);
  if (ms === undefined) {
    try {
      const times = cronTimes(schedule, now, 50);
      ms = 0;
      for (let i = 1; i < times.length; i++) ms = Math.max(ms, (times[i]?.getTime() ?? 0) - (times[i - 1]?.getTime() ?? 0));
    } catch {
      ms = undefined;
    }
  }
  if (maxGapCache.size >= 1000) maxGapCache.clear();
  maxGapCache.set(schedule, ms);
  return ms;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const time = (v: unknown): number | undefined => {
  const t = Date.parse(str(v) ?? "");
  return Number.isNaN(t) ? undefined : t;
};

export function observeRotation(req: RunFunctionRequest, rsp: RunFunctionResponse, now: Date): RotationObservation | undefined {
  const xr = req.observed?.composite?.resource as { metadata?: Record<string, unknown>; spec?: Record<string, unknown> } | undefined;
  const namespace = str(xr?.metadata?.namespace);
  const name = str(xr?.metadata?.name);
  const status = (rsp.desired?.composite?.resource as { status?: Record<string, unknown> } | undefined)?.status;
  // A Fatal response (invalid spec, refused by policy) leaves no status to report from.
  if (namespace === undefined || name === undefined || status === undefined) return undefined;
  const schedule = str(status.schedule);
  const reasons = new Set(rsp.results.map((r) => r.reason));
  const o: RotationObservation = {
    namespace,
    name,
    team: str(xr?.spec?.team) ?? "",
    failing: status.phase === "Failed",
    ttlSeconds: rsp.meta?.ttl?.seconds ?? 60,
  };
  const last = time(status.lastRotatedAt);
  if (last !== undefined) o.lastSuccessMs = last;
  const next = time(status.nextRotationAt);
  if (next !== undefined) o.nextDueMs = next;
  const maxAge = schedule === undefined ? undefined : longestInterval(schedule, now);
  if (maxAge !== undefined) o.maxAgeSeconds = maxAge / 1000;
  if (reasons.has("Rotated")) o.attempt = "succeeded";
  else if (reasons.has("RotationFailed")) o.attempt = "failed";
  return o;
}
