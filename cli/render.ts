// `render`: runs a Composition's pipeline for an XR and prints what `crossplane render` prints since CLI v2.3, where
// Crossplane's own XR reconciler runs the pipeline (cli/reconciler.ts): the XR with its resourceRefs and the status
// and conditions the reconcile set, each composed resource under the name Crossplane gives it, then (with -r) the
// reconciler's events as results.
// Steps of this package run in-process (no Docker, no cluster); function-auto-ready is emulated; a step whose
// Function is declared with the Development runtime is called over gRPC; any other step is skipped with a notice.
import { isDeepStrictEqual } from "node:util";
import * as grpc from "@grpc/grpc-js";
import {
  Capability,
  FunctionRunnerServiceService,
  Ready,
  Requirements,
  Resource,
  RunFunctionRequest,
  Severity,
  type ResourceSelector,
  type RunFunctionResponse,
  type State,
} from "@crossplane-org/function-sdk-typescript";
import { runSecretRotation } from "../functions/secret-rotation/fn.ts";
import { ROTATION_POLICY_KIND } from "../functions/secret-rotation/policy.ts";
import { route } from "../functions/router.ts";
import { mergeOver, observedComposite, reconcile, RESOURCE_NAME, type PipelineOutcome, type Rendered } from "./reconciler.ts";
import {
  asSecret,
  compositionShape,
  credentialShape,
  functionShape,
  given,
  observedShape,
  RenderError,
  requiredShape,
  xrShape,
  type ShapeCheck,
} from "./render-inputs.ts";
import { Store } from "./store.ts";

export { RESOURCE_NAME } from "./reconciler.ts";
export { RenderError } from "./render-inputs.ts";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- YAML documents

export const RUNTIME = "render.crossplane.io/runtime";
export const TARGET = "render.crossplane.io/runtime-development-target";
export const OUR_INPUT_GROUP = "fn.azplatform.io/";
/** What Crossplane v2.3 tells functions it supports (xfn.SupportedCapabilities). */
const CAPABILITIES = [
  Capability.CAPABILITY_CAPABILITIES,
  Capability.CAPABILITY_REQUIRED_RESOURCES,
  Capability.CAPABILITY_CREDENTIALS,
  Capability.CAPABILITY_CONDITIONS,
  Capability.CAPABILITY_REQUIRED_SCHEMAS,
];
/** xfn.MaxRequirementsIterations: a step is called at most this many times more while its requirements change. */
const MAX_REQUIREMENTS_ITERATIONS = 5;

/** A pipeline step input this package serves (any kind of ours; the router names the unknown ones). */
export function isOurInput(input: unknown): input is Obj {
  const apiVersion = (input as Obj | undefined)?.apiVersion;
  return typeof apiVersion === "string" && apiVersion.startsWith(OUR_INPUT_GROUP);
}

export interface RenderOptions {
  xr: Obj;
  composition: Obj;
  /** Function packages (pkg.crossplane.io Function); a Development-runtime one is called at its target over gRPC. */
  functions?: Obj[];
  observed?: Obj[];
  /** Objects a step may ask for by its requirements (crossplane render -e). */
  required?: Obj[];
  /** Secrets the steps' credentials name (crossplane render --function-credentials); without them, placeholders. */
  credentials?: Obj[];
  /** Overrides Function annotations, e.g. the Development target. */
  annotations?: Record<string, string>;
  includeResults?: boolean;
  /** The input XR with the rendered one merged over it (crossplane render -x). */
  includeFullXr?: boolean;
  /** Call this package's steps over gRPC at this address instead of in-process. */
  ourTarget?: string;
  /** Told of every step that is emulated or skipped, and of placeholder credentials. */
  notice?: (message: string) => void;
}

/** Raised when a step returns a Fatal result, as crossplane render does. */
export class FatalResultError extends Error {}

class NoClusterError extends Error {}

type Call = (req: RunFunctionRequest) => Promise<RunFunctionResponse>;

function grpcCall(target: string): Call {
  return (req) => {
    const Client = grpc.makeGenericClientConstructor(FunctionRunnerServiceService, "FunctionRunnerService");
    const client = new Client(target, grpc.credentials.createInsecure()) as unknown as {
      runFunction(r: RunFunctionRequest, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: RunFunctionResponse) => void): void;
      close(): void;
    };
    return new Promise((resolve, reject) => {
      client.runFunction(req, { deadline: Date.now() + 60_000 }, (e, r) => {
        client.close();
        if (e) reject(new RenderError(`cannot call the function at ${target}: ${e.details || e.message}`));
        else resolve(r);
      });
    });
  };
}

/** Our functions with no I/O. A SecretRotation that is due would reach Kubernetes, Azure and PostgreSQL: render stops there. */
export async function offlineRoute(req: RunFunctionRequest): Promise<RunFunctionResponse> {
  if ((req.input as Obj | undefined)?.kind === ROTATION_POLICY_KIND) {
    const due = "the rotation is due: it runs in the cluster, against Kubernetes, Azure and PostgreSQL, which render does not reach";
    return runSecretRotation(req, { now: () => new Date(), connect: () => Promise.reject(new NoClusterError(due)) });
  }
  return route(req);
}

/** Placeholder data for every credential a step declares: real credentials live in the cluster, never in a render. */
export function placeholderCredentials(step: Obj): RunFunctionRequest["credentials"] {
  const keys = ["clientId", "clientSecret", "tenantId", "host", "port", "username", "password"];
  const data = Object.fromEntries(keys.map((k) => [k, Buffer.from(k === "port" ? "5432" : "placeholder")]));
  const credentials: unknown[] = Array.isArray(step.credentials) ? step.credentials : [];
  const named = credentials.filter((c): c is Obj => typeof (c as Obj | null)?.name === "string");
  return Object.fromEntries(named.map((c) => [c.name as string, { credentialData: { data } }]));
}

/** proto.Equal on the requirements: an absent message equals only an absent one. */
function sameRequirements(a: Requirements | undefined, b: Requirements | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return isDeepStrictEqual(Requirements.toJSON(a), Requirements.toJSON(b));
}

/**
 * xfn.FetchingFunctionRunner: call the step; while its requirements change (and no result is Fatal), fetch what
 * they name and call again with it.
 */
async function runStep(call: Call, first: RunFunctionRequest, store: Store): Promise<RunFunctionResponse> {
  const fetchAll = (selectors: Record<string, ResourceSelector> = {}) => Object.fromEntries(Object.entries(selectors).map(([name, s]) => [name, store.fetch(s)]));
  let req = first;
  let previous: Requirements | undefined;
  for (let i = 0; i <= MAX_REQUIREMENTS_ITERATIONS; i++) {
    const rsp = await call(req);
    if (rsp.results.some((r) => r.severity === Severity.SEVERITY_FATAL)) return rsp;
    if (sameRequirements(rsp.requirements, previous)) return rsp;
    previous = rsp.requirements;
    req = { ...req, extraResources: fetchAll(previous?.extraResources), requiredResources: fetchAll(previous?.resources), context: rsp.context };
  }
  throw new RenderError(`requirements didn't stabilize after the maximum number of iterations (${MAX_REQUIREMENTS_ITERATIONS})`);
}

function isAutoReady(step: Obj, fn: Obj | undefined): boolean {
  const names = [step.functionRef?.name, fn?.spec?.package].filter((v): v is string => typeof v === "string");
  return names.some((n) => /function-auto-ready/.test(n));
}

/** function-auto-ready's rule: a composed resource is ready when its observed Ready condition is True. */
function observedReady(r: Obj | undefined): boolean {
  const conditions = (r?.status?.conditions ?? []) as Obj[];
  return conditions.some((c) => c.type === "Ready" && c.status === "True");
}

/**
 * The shapes render relies on, in every document it is given (the CLI has checked each as it read it, naming its
 * file); a document handed to render() directly is named by its option, as in `observed[1]`.
 */
function checkShapes(o: RenderOptions): void {
  xrShape(o.xr, given("xr", o.xr));
  compositionShape(o.composition, given("composition", o.composition));
  const each = (label: string, docs: Obj[] | undefined, check: ShapeCheck) => (docs ?? []).forEach((d, i) => check(d, given(`${label}[${i}]`, d)));
  each("functions", o.functions, functionShape);
  each("observed", o.observed, observedShape);
  each("required", o.required, requiredShape);
  each("credentials", o.credentials, credentialShape);
}

function checkComposition(xr: Obj, composition: Obj): void {
  const ref = composition.spec.compositeTypeRef;
  if (ref.apiVersion !== xr.apiVersion || ref.kind !== xr.kind) {
    throw new RenderError(`the Composition ${composition.metadata?.name ?? ""} composes ${ref.apiVersion} ${ref.kind}, not ${xr.apiVersion} ${xr.kind}`);
  }
}

/** The observed resources by composition resource name, refused where CheckObservedResources refuses them. */
function observedByName(xr: Obj, observed: Obj[]): Record<string, Obj> {
  const byName: Record<string, Obj> = {};
  for (const r of observed) {
    const name = r.metadata.annotations[RESOURCE_NAME] as string;
    const controller = ((r.metadata.ownerReferences ?? []) as Obj[]).find((o) => o.controller === true);
    if (controller !== undefined && controller.uid !== xr.metadata.uid) {
      throw new RenderError(`observed resource ${r.metadata?.name} has a controller ref but is not controlled by the XR`);
    }
    if (xr.metadata.namespace && r.metadata?.namespace !== xr.metadata.namespace) {
      throw new RenderError(`observed resource ${r.metadata?.name} is not in the same namespace as the XR`);
    }
    byName[name] = r;
  }
  return byName;
}

/** How a step is run: over gRPC, in-process, emulated (function-auto-ready) or not at all. */
function callFor(step: Obj, o: RenderOptions): Call | "auto-ready" | "skip" {
  const fn = (o.functions ?? []).find((f) => f.metadata?.name === step.functionRef?.name);
  const annotations = { ...fn?.metadata?.annotations, ...o.annotations };
  const ours = isOurInput(step.input);
  if (ours && o.ourTarget !== undefined) return grpcCall(o.ourTarget);
  if (fn !== undefined && annotations[RUNTIME] === "Development") return grpcCall(annotations[TARGET] ?? "localhost:9443");
  if (ours) return offlineRoute;
  return isAutoReady(step, fn) ? "auto-ready" : "skip";
}

/** The step's credentials from the Secrets given; without any given, placeholders (crossplane render would fail). */
function credentialsFor(step: Obj, store: Store, o: RenderOptions): RunFunctionRequest["credentials"] {
  const credentials = store.credentials(step);
  if (typeof credentials !== "string") return credentials;
  if (o.credentials !== undefined) throw new RenderError(credentials);
  o.notice?.(`step ${step.step}: its credentials are placeholders; pass --function-credentials to use real ones`);
  return placeholderCredentials(step);
}

interface Pipeline {
  /** The XR as functions see it (observedComposite). */
  xr: Obj;
  observed: Record<string, Obj>;
  store: Store;
}

/** Crossplane's function pipeline: each step gets the XR, the observed resources and the state the last step desired. */
async function runPipeline(p: Pipeline, o: RenderOptions): Promise<PipelineOutcome> {
  const notice = o.notice ?? (() => undefined);
  const observed = Object.fromEntries(Object.entries(p.observed).map(([name, r]) => [name, Resource.fromPartial({ resource: r })]));
  // The pipeline starts with empty desired state and an empty context, as in Crossplane.
  let desired: State = { composite: undefined, resources: {} };
  let context: Obj = {};
  const said: Pick<PipelineOutcome, "conditions" | "results"> = { conditions: [], results: [] };
  for (const step of (o.composition.spec?.pipeline ?? []) as Obj[]) {
    const call = callFor(step, o);
    if (call === "auto-ready") {
      notice(`step ${step.step} (${step.functionRef?.name}): emulated: a composed resource is ready when its observed Ready condition is True`);
      for (const [name, r] of Object.entries(desired.resources)) if (observedReady(p.observed[name])) r.ready = Ready.READY_TRUE;
      continue;
    }
    if (call === "skip") {
      notice(`step ${step.step} (${step.functionRef?.name ?? "no functionRef"}): skipped: it is not a function of this package; run crossplane render to include it`);
      continue;
    }
    const req = RunFunctionRequest.fromPartial({
      meta: { tag: `render-${step.step}`, capabilities: CAPABILITIES },
      observed: { composite: { resource: p.xr, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }, resources: observed },
      desired,
      input: step.input,
      context,
      credentials: credentialsFor(step, p.store, o),
    });
    let rsp: RunFunctionResponse;
    try {
      rsp = await runStep(call, req, p.store);
    } catch (e) {
      if (!(e instanceof NoClusterError)) throw e;
      notice(`step ${step.step}: ${e.message}; the output shows the XR's status as the cluster last reported it`);
      // What the step answers when it cannot rotate now: the status it observed, and the XR not ready.
      const { conditions: _, ...status } = (o.xr.status ?? {}) as Obj;
      desired = { ...desired, composite: { resource: { ...desired.composite?.resource, status }, connectionDetails: {}, ready: Ready.READY_FALSE } };
      continue;
    }
    said.results.push(...rsp.results.map((result) => ({ step: step.step as string, result })));
    said.conditions.push(...rsp.conditions);
    const fatal = rsp.results.find((r) => r.severity === Severity.SEVERITY_FATAL);
    if (fatal !== undefined) throw new FatalResultError(`pipeline step "${step.step}" returned a fatal result: ${fatal.message}`);
    desired = rsp.desired ?? { composite: undefined, resources: {} };
    context = rsp.context ?? {};
  }
  return { ...said, composite: desired.composite, resources: desired.resources };
}

export async function render(o: RenderOptions): Promise<Obj[]> {
  checkShapes(o);
  checkComposition(o.xr, o.composition);
  const xr = observedComposite(o.xr, o.composition.metadata?.name ?? "", o.observed ?? []);
  const observed = observedByName(xr, o.observed ?? []);
  const store = new Store([xr, ...(o.observed ?? []), ...(o.required ?? []), ...(o.credentials ?? []).map(asSecret)]);
  const outcome = await runPipeline({ xr, observed, store }, o);
  let out: Rendered;
  try {
    out = reconcile(xr, o.xr, o.composition, observed, outcome);
  } catch (e) {
    throw new RenderError(e instanceof Error ? e.message : String(e));
  }
  const results = out.results.map((r) => ({ apiVersion: "render.crossplane.io/v1beta1", kind: "Result", ...r }));
  return [o.includeFullXr ? mergeOver(o.xr, out.xr) : out.xr, ...out.composed, ...(o.includeResults ? results : [])];
}
