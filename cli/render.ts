// `render`: runs a Composition's pipeline for an XR and prints what `crossplane render` prints: the XR with the
// status and conditions the pipeline set, then each composed resource, then (with -r) the results.
// Steps of this package run in-process (no Docker, no cluster); function-auto-ready is emulated; a step whose
// Function is declared with the Development runtime is called over gRPC; any other step is skipped with a notice.
import * as grpc from "@grpc/grpc-js";
import {
  FunctionRunnerServiceService,
  Ready,
  RunFunctionRequest,
  Severity,
  type Resource,
  type RunFunctionResponse,
  type State,
} from "@crossplane-org/function-sdk-typescript";
import { runSecretRotation } from "../functions/secret-rotation/fn.ts";
import { ROTATION_POLICY_KIND } from "../functions/secret-rotation/policy.ts";
import { route } from "../functions/router.ts";
import { sortKeys } from "../functions/shared/sort-keys.ts";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- YAML documents

export const RUNTIME = "render.crossplane.io/runtime";
export const TARGET = "render.crossplane.io/runtime-development-target";
export const RESOURCE_NAME = "crossplane.io/composition-resource-name";
export const OUR_INPUT_GROUP = "fn.azplatform.io/";

/** A pipeline step input this package serves (any kind of ours; the router names the unknown ones). */
export function isOurInput(input: unknown): input is Obj {
  const apiVersion = (input as Obj | undefined)?.apiVersion;
  return typeof apiVersion === "string" && apiVersion.startsWith(OUR_INPUT_GROUP);
}
/** crossplane render stamps every condition with this time, so outputs diff cleanly. */
const RENDER_TIME = "2024-01-01T00:00:00Z";

export interface RenderOptions {
  xr: Obj;
  composition: Obj;
  /** Function packages (pkg.crossplane.io Function); a Development-runtime one is called at its target over gRPC. */
  functions?: Obj[];
  observed?: Obj[];
  /** Overrides Function annotations, e.g. the Development target. */
  annotations?: Record<string, string>;
  includeResults?: boolean;
  /** Call this package's steps over gRPC at this address instead of in-process. */
  ourTarget?: string;
  /** Told of every step that is emulated or skipped. */
  notice?: (message: string) => void;
}

/** Raised when a step returns a Fatal result, as crossplane render does; carries the results so far. */
export class FatalResultError extends Error {
  readonly results: Obj[];
  constructor(message: string, results: Obj[]) {
    super(message);
    this.results = results;
  }
}

class NoClusterError extends Error {}

function call(target: string, req: RunFunctionRequest): Promise<RunFunctionResponse> {
  const Client = grpc.makeGenericClientConstructor(FunctionRunnerServiceService, "FunctionRunnerService");
  const client = new Client(target, grpc.credentials.createInsecure()) as unknown as {
    runFunction(r: RunFunctionRequest, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: RunFunctionResponse) => void): void;
    close(): void;
  };
  return new Promise((resolve, reject) => {
    client.runFunction(req, { deadline: Date.now() + 60_000 }, (e, r) => {
      client.close();
      if (e) reject(new Error(`cannot call the function at ${target}: ${e.details || e.message}`));
      else resolve(r);
    });
  });
}

/** Our functions with no I/O. A SecretRotation that is due would reach Kubernetes, Azure and PostgreSQL: render stops there. */
export async function offlineRoute(req: RunFunctionRequest): Promise<RunFunctionResponse> {
  if ((req.input as Obj | undefined)?.kind === ROTATION_POLICY_KIND) {
    return runSecretRotation(req, {
      now: () => new Date(),
      connect: () => Promise.reject(new NoClusterError("the rotation is due: it runs in the cluster, against Kubernetes, Azure and PostgreSQL, which render does not reach")),
    });
  }
  return route(req);
}

/** Placeholder data for every credential a step declares: real credentials live in the cluster, never in a render. */
export function placeholderCredentials(step: Obj): RunFunctionRequest["credentials"] {
  const keys = ["clientId", "clientSecret", "tenantId", "host", "port", "username", "password"];
  const data = Object.fromEntries(keys.map((k) => [k, Buffer.from(k === "port" ? "5432" : "placeholder")]));
  return Object.fromEntries(((step.credentials ?? []) as Obj[]).filter((c) => typeof c.name === "string").map((c) => [c.name as string, { credentialData: { data } }]));
}

function isAutoReady(step: Obj, fn: Obj | undefined): boolean {
  const names = [step.functionRef?.name, fn?.spec?.package].filter((v): v is string => typeof v === "string");
  return names.some((n) => /function-auto-ready/.test(n));
}

/** function-auto-ready's rule: a composed resource is ready when its observed Ready condition is True. */
function observedReady(r: Resource | undefined): boolean {
  const conditions = ((r?.resource as Obj | undefined)?.status?.conditions ?? []) as Obj[];
  return conditions.some((c) => c.type === "Ready" && c.status === "True");
}

export async function render(o: RenderOptions): Promise<Obj[]> {
  const { xr, composition } = o;
  const notice = o.notice ?? (() => undefined);
  if (composition.kind !== "Composition") throw new Error(`expected a Composition, got ${composition.kind ?? "a document without kind"}`);
  if (composition.spec?.mode !== undefined && composition.spec.mode !== "Pipeline") throw new Error("only Compositions in mode Pipeline can be rendered");
  const ref = composition.spec?.compositeTypeRef ?? {};
  if (ref.apiVersion !== xr.apiVersion || ref.kind !== xr.kind) {
    throw new Error(`the Composition ${composition.metadata?.name ?? ""} composes ${ref.apiVersion} ${ref.kind}, not ${xr.apiVersion} ${xr.kind}`);
  }
  const observed: Record<string, Resource> = {};
  for (const r of o.observed ?? []) {
    const name = r.metadata?.annotations?.[RESOURCE_NAME];
    if (!name) throw new Error(`observed ${r.kind} ${r.metadata?.name ?? ""} has no ${RESOURCE_NAME} annotation`);
    observed[name] = { resource: r, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED };
  }
  let desired: State = { composite: { resource: { apiVersion: xr.apiVersion, kind: xr.kind, metadata: xr.metadata }, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }, resources: {} };
  let context: Obj | undefined;
  const results: Obj[] = [];
  const conditions: Obj[] = [];
  let skippedDue = false;
  for (const step of (composition.spec?.pipeline ?? []) as Obj[]) {
    const fn = (o.functions ?? []).find((f) => f.metadata?.name === step.functionRef?.name);
    const annotations = { ...fn?.metadata?.annotations, ...o.annotations };
    const ours = isOurInput(step.input);
    const req = RunFunctionRequest.fromPartial({
      meta: { tag: `render-${step.step}`, capabilities: [] },
      observed: { composite: { resource: xr, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }, resources: observed },
      desired,
      input: step.input,
      context,
      credentials: placeholderCredentials(step),
    });
    let rsp: RunFunctionResponse;
    if (ours && o.ourTarget !== undefined) {
      rsp = await call(o.ourTarget, req);
    } else if (fn !== undefined && annotations[RUNTIME] === "Development") {
      rsp = await call(annotations[TARGET] ?? "localhost:9443", req);
    } else if (ours) {
      try {
        rsp = await offlineRoute(req);
      } catch (e) {
        if (!(e instanceof NoClusterError)) throw e;
        notice(`step ${step.step}: ${e.message}; the output shows the XR's status as the cluster last reported it`);
        skippedDue = true;
        continue;
      }
    } else if (isAutoReady(step, fn)) {
      notice(`step ${step.step} (${step.functionRef?.name}): emulated: a composed resource is ready when its observed Ready condition is True`);
      for (const [name, r] of Object.entries(desired.resources)) if (observedReady(observed[name])) r.ready = Ready.READY_TRUE;
      continue;
    } else {
      notice(`step ${step.step} (${step.functionRef?.name ?? "no functionRef"}): skipped: it is not a function of this package; run crossplane render to include it`);
      continue;
    }
    for (const r of rsp.results) results.push({ step: step.step, severity: Severity[r.severity], ...(r.reason ? { reason: r.reason } : {}), message: r.message });
    for (const c of rsp.conditions) conditions.push(c);
    const fatal = rsp.results.find((r) => r.severity === Severity.SEVERITY_FATAL);
    if (fatal !== undefined) throw new FatalResultError(`pipeline step "${step.step}" returned a fatal result: ${fatal.message}`, results);
    desired = rsp.desired ?? desired;
    context = rsp.context;
  }

  const meta = xr.metadata ?? {};
  const status = { ...(skippedDue ? (xr.status ?? {}) : {}), ...(desired.composite?.resource?.status ?? {}) };
  delete status.conditions;
  // As crossplane render: the XR is Available when every composed resource is marked ready, else Creating.
  const unready = Object.entries(desired.resources)
    .filter(([, r]) => r.ready !== Ready.READY_TRUE)
    .map(([name]) => name)
    .sort();
  // The function's own verdict on the XR wins, as in Crossplane's reconciler.
  const ready =
    desired.composite?.ready === Ready.READY_FALSE || skippedDue
      ? { type: "Ready", status: "False", reason: "Creating", ...(unready.length > 0 ? { message: `Unready resources: ${unready.join(", ")}` } : {}) }
      : unready.length > 0
      ? { type: "Ready", status: "False", reason: "Creating", message: `Unready resources: ${unready.join(", ")}` }
      : { type: "Ready", status: "True", reason: "Available" };
  const out: Obj[] = [
    {
      apiVersion: xr.apiVersion,
      kind: xr.kind,
      metadata: { name: meta.name, ...(meta.namespace ? { namespace: meta.namespace } : {}) },
      status: { ...status, conditions: [ready, ...conditionsFor(conditions)].map((c) => ({ lastTransitionTime: RENDER_TIME, ...c })) },
    },
  ];
  for (const [name, r] of Object.entries(sortKeys(desired.resources))) {
    const res = (r.resource ?? {}) as Obj;
    const m = res.metadata ?? {};
    out.push({
      ...res,
      metadata: {
        ...m,
        ...(m.name ? {} : { generateName: `${meta.name}-` }),
        ...(meta.namespace && !m.namespace ? { namespace: meta.namespace } : {}),
        annotations: { ...m.annotations, [RESOURCE_NAME]: name },
        labels: { ...m.labels, "crossplane.io/composite": meta.name },
        ownerReferences: [{ apiVersion: xr.apiVersion, kind: xr.kind, name: meta.name, uid: meta.uid ?? "", controller: true, blockOwnerDeletion: true }],
      },
    });
  }
  if (o.includeResults) {
    for (const r of results) out.push({ apiVersion: "render.crossplane.io/v1beta1", kind: "Result", ...r });
  }
  return out;
}

function conditionsFor(conditions: Obj[]): Obj[] {
  const status = ["Unspecified", "Unknown", "True", "False"];
  return conditions.map((c) => ({ type: c.type, status: status[c.status] ?? "Unknown", reason: c.reason, ...(c.message ? { message: c.message } : {}) }));
}
