// RunFunction for SecretRotation: validate, decide from the request alone whether anything is due (then touch
// nothing), otherwise run the rotation protocol through the ports and report status, conditions and TTL.
import { Ready, type RunFunctionRequest, type RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { generatePassword } from "../shared/password.ts";
import { condition, fatalResponse, result } from "../shared/results.ts";
import { cachedSafeParse } from "../shared/input-cache.ts";
import { describeIssues } from "../shared/zod-errors.ts";
import { runRotation, type Drift, type Outcome } from "./engine.ts";
import { lastTrigger } from "./state.ts";
import { RotationPolicy } from "./policy.ts";
import type { PostgresConnection, Ports } from "./ports.ts";
import { cronProblem, formatDuration, parseDuration, shortestInterval, type Schedule } from "./schedule.ts";
import { databaseRequirements, resolveTargets, rotationLookedUp, rotationRequirement } from "./targets.ts";
import { ROTATE_NOW_ANNOTATION, RotationXR } from "./xr.ts";

const parseRotationPolicy = cachedSafeParse(RotationPolicy);

export interface AzureCredential {
  kind: "clientSecret" | "workloadIdentity";
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
}

export interface ConnectArgs {
  namespace: string;
  policy: RotationPolicy;
  azure: AzureCredential | undefined;
}

export interface RotationDeps {
  now: () => Date;
  /** Fires when Crossplane gives up on the call: the rotation step in flight stops. */
  signal?: AbortSignal;
  /** Builds the ports for one call, scoped to the XR's namespace. Not called when nothing is due. */
  connect: (args: ConnectArgs) => Promise<Ports>;
}

const RETRY_WHILE_WAITING_S = 30;
/** A Secret another existing SecretRotation rotates: nothing changes until a person deletes one of the two. */
const RETRY_WHILE_CLAIMED_S = 60;
/** Azure refuses a longer administrator password. */
const AZURE_ADMIN_PASSWORD_MAX = 128;
const MIN_TTL_S = 1;
const MAX_TTL_S = 24 * 3600;

type Credentials = RunFunctionRequest["credentials"];

/** The decoded data of a step credential with the keys it needs, or a message that says what is missing. */
function stepCredential(credentials: Credentials, name: string, policyField: string, required: string[]): Record<string, string> | string {
  const raw = credentials[name]?.credentialData?.data;
  if (raw === undefined) return `the pipeline step has no credential "${name}" (policy credentials.${policyField}); add it to the step's credentials`;
  const d = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Buffer.from(v).toString("utf8")]));
  const missing = required.filter((k) => !d[k]);
  return missing.length > 0 ? `the credential "${name}" has no ${missing.join(", ")}` : d;
}

export async function runSecretRotation(req: RunFunctionRequest, deps: RotationDeps): Promise<RunFunctionResponse> {
  const policyParse = parseRotationPolicy(req.input);
  if (!policyParse.success) {
    return fatalResponse(req, "InvalidPolicy", `the Composition's SecretRotationPolicy input is invalid: ${describeIssues("", policyParse.error)}`);
  }
  const policy = policyParse.data;
  const xrParse = RotationXR.safeParse(req.observed?.composite?.resource);
  if (!xrParse.success) return fatalResponse(req, "InvalidSpec", `the SecretRotation is invalid: ${describeIssues("", xrParse.error)}`);
  const xr = xrParse.data;
  const { spec } = xr;
  const now = deps.now();

  // Schedule, within the policy's fastest allowed rate.
  const fastest = parseDuration(policy.fastestSchedule);
  if (fastest === undefined) return fatalResponse(req, "InvalidPolicy", `the Composition's SecretRotationPolicy input is invalid: fastestSchedule "${policy.fastestSchedule}" is not a duration such as 1h`);
  const verifyEveryMs = parseDuration(policy.driftCheckEvery);
  if (verifyEveryMs === undefined || verifyEveryMs <= 0) {
    return fatalResponse(req, "InvalidPolicy", `the Composition's SecretRotationPolicy input is invalid: driftCheckEvery "${policy.driftCheckEvery}" is not a duration such as 10m`);
  }
  let schedule: Schedule;
  if (spec.rotateEvery !== undefined) {
    const every = parseDuration(spec.rotateEvery);
    if (every === undefined || every <= 0) return fatalResponse(req, "InvalidSpec", `spec.rotateEvery "${spec.rotateEvery}" is not a duration such as 720h or 168h30m`);
    schedule = { every };
  } else {
    const cron = spec.schedule ?? "";
    const problem = cronProblem(cron);
    if (problem !== undefined) return fatalResponse(req, "InvalidSpec", `spec.schedule "${cron}" ${problem}`);
    schedule = { cron };
  }
  const interval = shortestInterval(schedule, now);
  const field = spec.rotateEvery !== undefined ? "spec.rotateEvery" : "spec.schedule";
  if (interval < fastest) {
    return fatalResponse(req, "ScheduleTooFast", `${field} rotates every ${formatDuration(interval)}; the policy allows at most one rotation every ${policy.fastestSchedule}`);
  }

  // What the XR may reach: refused or looked up before anything is touched.
  const { targets: wanted } = spec;
  const length = spec.generator.length ?? policy.length.default;
  if (length < policy.length.min || length > policy.length.max) {
    return fatalResponse(req, "InvalidSpec", `spec.generator.length ${length} is outside the policy's ${policy.length.min} to ${policy.length.max}`);
  }
  if (wanted.flexibleServerAdmin !== undefined && length > AZURE_ADMIN_PASSWORD_MAX) {
    return fatalResponse(req, "InvalidSpec", `spec.generator.length ${length} is longer than the ${AZURE_ADMIN_PASSWORD_MAX} characters Azure accepts for an administrator password`);
  }
  const { namespace } = xr.metadata;
  // An app Secret marked by another SecretRotation: an earlier call of this reconcile asked Crossplane whether it exists.
  const claimant = rotationLookedUp(req.requiredResources ?? {});
  const asking = (name: string | undefined) => ({ ...databaseRequirements(spec, namespace), ...(name === undefined ? {} : rotationRequirement(xr.apiVersion, name, namespace)) });
  const requirements = lookups(asking(claimant?.name));
  const resolution = resolveTargets(spec, xr.metadata.namespace, policy, req.requiredResources ?? {});
  if (resolution.kind === "Refused") return fatalResponse(req, resolution.reason, resolution.message);
  // Crossplane calls again until a response repeats the previous one's requirements: every answer asks for them.
  const answer = (r: RunFunctionResponse): RunFunctionResponse => (requirements === undefined ? r : { ...r, requirements });
  if (resolution.kind === "Lookup") return answer(respond(req, { ...xr.status }, RETRY_WHILE_WAITING_S, [], [], false));
  if (resolution.kind === "Waiting") {
    const waiting = [condition("RotationSucceeded", false, "Waiting", resolution.message)];
    return answer(respond(req, { ...xr.status, phase: "Waiting" }, RETRY_WHILE_WAITING_S, waiting, [result("Normal", "Waiting", resolution.message)], false));
  }
  const { targets } = resolution;

  // Credentials named by the policy must be in the step's credentials.
  let azure: AzureCredential | undefined;
  if (targets.server !== undefined || targets.vault !== undefined) {
    if (policy.credentials.azureWorkloadIdentity) azure = { kind: "workloadIdentity" };
    else if (policy.credentials.azure === undefined) {
      return fatalResponse(req, "MissingCredentials", "the policy names no Azure credential (credentials.azure or credentials.azureWorkloadIdentity), which Key Vault and Flexible Server targets need");
    } else {
      const d = stepCredential(req.credentials, policy.credentials.azure, "azure", ["clientId", "clientSecret", "tenantId"]);
      if (typeof d === "string") return fatalResponse(req, "MissingCredentials", d);
      azure = { kind: "clientSecret", tenantId: d.tenantId, clientId: d.clientId, clientSecret: d.clientSecret };
    }
  }
  let postgresAdmin: PostgresConnection | undefined;
  if (targets.role?.admin.kind === "shared" && policy.credentials.postgresAdmin !== undefined) {
    const d = stepCredential(req.credentials, policy.credentials.postgresAdmin, "postgresAdmin", ["host", "username", "password"]);
    if (typeof d === "string") return fatalResponse(req, "MissingCredentials", d);
    postgresAdmin = { host: d.host ?? "", port: Number(d.port ?? 5432), database: d.database || "postgres", user: d.username ?? "", password: d.password ?? "", sslmode: d.sslmode || "require" };
  }

  const trigger = xr.metadata.annotations[ROTATE_NOW_ANNOTATION];
  const scheduleText = spec.rotateEvery ?? spec.schedule ?? "";
  const st = xr.status;

  // Cheap path: the status says nothing is due and no new trigger arrived, so no Azure, Postgres or Kubernetes call.
  const noNewTrigger = trigger === undefined || trigger === "" || trigger === st.handledTrigger;
  const wakeAt = earliest(st.nextRotationAt, st.nextCheckAt);
  const cheap = st.phase === "Idle" && wakeAt !== undefined && now < wakeAt && st.schedule === scheduleText && noNewTrigger;
  // A failed rotation waiting for its retry time is just as cheap: nothing can happen before then.
  const failedWakeAt = earliest(st.retryAt, st.nextCheckAt);
  if (st.phase === "Failed" && st.retryAt !== undefined && failedWakeAt !== undefined && now < failedWakeAt && st.schedule === scheduleText && noNewTrigger) {
    return answer(respond(req, { ...st }, ttlUntil(failedWakeAt, now), [condition("RotationSucceeded", false, "RotationFailed", st.lastError ?? `retrying at ${st.retryAt}`)], [], false));
  }
  if (cheap) {
    return answer(respond(req, { ...st, schedule: scheduleText }, ttlUntil(wakeAt ?? now, now), idleConditions(st.currentVersion ?? 0, st.lastRotatedAt, st.nextRotationAt ?? ""), [], true));
  }

  // Outside the try: a failure to build the ports is not the state being unavailable (and the CLI's offline
  // connect rejects on purpose, to stop where the cluster would take over).
  const ports = await deps.connect({ namespace: xr.metadata.namespace, policy, azure });
  let outcome: Outcome;
  try {
    outcome = await runRotation({
      name: xr.metadata.name,
      namespace: xr.metadata.namespace,
      spec,
      targets,
      clock: { now, schedule, trigger, verifyEveryMs },
      ...(deps.signal !== undefined ? { signal: deps.signal } : {}),
      ports,
      postgresAdmin,
      generate: (avoid) => generatePassword({ length, symbols: spec.generator.symbols, avoid }),
      ...(xr.metadata.uid !== undefined ? { owner: { apiVersion: xr.apiVersion, kind: xr.kind, name: xr.metadata.name, uid: xr.metadata.uid } } : {}),
      ...(claimant?.exists === false ? { takesOverFrom: claimant.name } : {}),
    });
  } catch (e) {
    // The durable state could not be read or written (the Kubernetes API is unreachable or refuses): the observed
    // status stands and the call is repeated soon. The next call resumes from the last saved step; a pending value
    // is kept in the state before any target changes, so nothing is lost, and a promotion whose record failed is
    // simply repeated.
    const message = `cannot rotate now: ${e instanceof Error ? e.message : String(e)}; the rotation resumes from its last saved step, retrying in ${RETRY_WHILE_WAITING_S} s`;
    return answer(respond(req, { ...st }, RETRY_WHILE_WAITING_S, [condition("RotationSucceeded", false, "StateUnavailable", message)], [result("Warning", "StateUnavailable", message)], false));
  }
  if (outcome.kind === "Waiting" && outcome.claimedBy !== undefined && outcome.claimedBy !== claimant?.name) {
    // Crossplane fetches it and calls again within this reconcile; the next call decides.
    const message = `Secret ${spec.secretRef.name} is marked as rotated by SecretRotation ${outcome.claimedBy}; asking Crossplane whether it still exists`;
    const waiting = respond(req, { ...st, phase: "Waiting" }, RETRY_WHILE_WAITING_S, [condition("RotationSucceeded", false, "Waiting", message)], [result("Normal", "Waiting", message)], false);
    return { ...waiting, requirements: lookups(asking(outcome.claimedBy)) };
  }
  return answer(fromOutcome(req, outcome, scheduleText, now));
}

function earliest(...times: Array<string | undefined>): Date | undefined {
  const ms = times.map((t) => Date.parse(t ?? "")).filter((t) => !Number.isNaN(t));
  return ms.length === 0 ? undefined : new Date(Math.min(...ms));
}

function lookups(resources: ReturnType<typeof databaseRequirements>): RunFunctionResponse["requirements"] {
  return Object.keys(resources).length === 0 ? undefined : { extraResources: {}, schemas: {}, resources };
}

function fromOutcome(req: RunFunctionRequest, o: Outcome, scheduleText: string, now: Date): RunFunctionResponse {
  const s = o.state;
  const base = {
    currentVersion: s.version,
    ...(s.lastRotatedAt !== undefined ? { lastRotatedAt: s.lastRotatedAt } : {}),
    ...(lastTrigger(s) !== undefined ? { handledTrigger: lastTrigger(s) } : {}),
    schedule: scheduleText,
  };
  if (o.kind === "Idle") {
    const nextAt = o.dueAt.toISOString();
    const results = o.rotated ? [result("Normal", "Rotated", `rotated to version ${s.version}; rolled ${o.rolled.length} workload(s)${o.rolled.length ? `: ${o.rolled.join(", ")}` : ""}`)] : [];
    if (o.drift !== undefined) results.push(result("Warning", "DriftRepaired", driftMessage(o.drift, s.version)));
    const status = { ...base, phase: "Idle", nextRotationAt: nextAt, nextCheckAt: o.nextAt.toISOString() };
    return respond(req, status, ttlUntil(o.nextAt, now), idleConditions(s.version, s.lastRotatedAt, nextAt), results, true);
  }
  if (o.kind === "Waiting" && o.claimedBy !== undefined) {
    // The other SecretRotation exists: a person has to choose; checked again in a while, with no Azure call.
    const retryAt = new Date(now.getTime() + RETRY_WHILE_CLAIMED_S * 1000).toISOString();
    const status = { ...base, phase: "Failed", retryAt, lastError: o.message };
    return respond(req, status, RETRY_WHILE_CLAIMED_S, [condition("RotationSucceeded", false, "SecretClaimed", o.message)], [result("Warning", "SecretClaimed", o.message)], false);
  }
  if (o.kind === "Waiting") {
    return respond(req, { ...base, phase: "Waiting" }, RETRY_WHILE_WAITING_S, [condition("RotationSucceeded", false, "Waiting", o.message)], [result("Normal", "Waiting", o.message)], false);
  }
  const retryAt = s.retryAt ?? new Date(now.getTime() + RETRY_WHILE_WAITING_S * 1000).toISOString();
  const message = `${o.message}; the apps keep version ${s.version}, retrying at ${retryAt} (attempt ${s.failures})`;
  // A drift check due before the retry is made in the meantime.
  const wake = o.nextAt !== undefined && o.nextAt < new Date(retryAt) ? o.nextAt : new Date(retryAt);
  const check = wake < new Date(retryAt) ? { nextCheckAt: wake.toISOString() } : {};
  const status = { ...base, phase: "Failed", retryAt, lastError: message, ...check };
  return respond(req, status, ttlUntil(wake, now), [condition("RotationSucceeded", false, "RotationFailed", message)], [result("Warning", "RotationFailed", message)], false);
}

/** Says who rewrote the app Secret, so a writer that keeps doing it (a sync loop, an operator) can be found. */
function driftMessage(d: Drift, version: number): string {
  const keys = d.keys.map((k) => `data.${k}`).join(", ");
  const by = d.writers.length > 0 ? `field manager(s) ${d.writers.join(", ")}` : "an unknown writer";
  return `${keys} held another value than version ${version}, last written by ${by}; version ${version} was written back. A writer that keeps applying these keys must stop, or apps will read a value the target rejects between drift checks`;
}

function idleConditions(version: number, lastRotatedAt: string | undefined, nextAt: string) {
  return [
    condition(
      "RotationSucceeded",
      true,
      version > 0 ? "Rotated" : "NotRotatedYet",
      version > 0 ? `version ${version}, rotated at ${lastRotatedAt}; next rotation at ${nextAt}` : `next rotation at ${nextAt}`,
    ),
  ];
}

function ttlUntil(at: Date, now: Date): number {
  return Math.min(MAX_TTL_S, Math.max(MIN_TTL_S, Math.ceil((at.getTime() - now.getTime()) / 1000)));
}

function respond(
  req: RunFunctionRequest,
  status: Record<string, unknown>,
  ttlSeconds: number,
  conditions: RunFunctionResponse["conditions"],
  results: RunFunctionResponse["results"],
  ready: boolean,
): RunFunctionResponse {
  const prior = (req.desired?.composite?.resource ?? {}) as Record<string, unknown>;
  return {
    meta: { tag: req.meta?.tag ?? "", ttl: { seconds: ttlSeconds, nanos: 0 } },
    desired: {
      composite: { resource: { ...prior, status: { ...((prior.status as object | undefined) ?? {}), ...status } }, connectionDetails: {}, ready: ready ? Ready.READY_TRUE : Ready.READY_FALSE },
      resources: req.desired?.resources ?? {},
    },
    results,
    conditions,
    requirements: undefined,
    context: req.context,
  };
}
