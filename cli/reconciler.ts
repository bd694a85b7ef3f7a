// What Crossplane's XR reconciler makes of a pipeline's answer, as `crossplane render` prints it. Since CLI v2.3 the
// CLI runs core's own reconciler (`crossplane internal render`) against an in-memory client; the rules here are read
// from core v2.3.4 (internal/controller/apiextensions/composite, internal/render/composite, internal/names): the uid
// it gives the XR, the names it gives composed resources, the XR's resourceRefs, the conditions it sets and the
// events it records, which the CLI prints as results.
import { createHash } from "node:crypto";
import {
  Ready,
  Severity,
  type Condition as FnCondition,
  type Resource,
  type Result as FnResult,
} from "@crossplane-org/function-sdk-typescript";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- YAML documents

export const RESOURCE_NAME = "crossplane.io/composition-resource-name";
/** The prefix Crossplane names composed resources with: the XR's own name unless the XR sets the label. */
const COMPOSITE_LABEL = "crossplane.io/composite";
const CLAIM_LABELS = ["crossplane.io/claim-name", "crossplane.io/claim-namespace"] as const;
/** crossplane render stamps every condition with this time, so outputs diff cleanly. */
export const RENDER_TIME = "2024-01-01T00:00:00Z";
/** The resourceVersion render gives the XR it reconciles. */
const RENDER_RESOURCE_VERSION = "999";
/** resource.DefaultFirstN: how many unready resources the Ready condition names. */
const FIRST_N = 3;
const MAX_NAME_LENGTH = 63;
const SYSTEM_CONDITIONS = new Set(["Ready", "Synced", "Healthy", "UpToDate", "Responsive"]);
/** fn.proto's Status, by number: UNSPECIFIED, UNKNOWN, TRUE, FALSE. */
const STATUS: readonly string[] = ["Unknown", "Unknown", "True", "False"];

/** An event the reconciler records; the CLI prints each as a `kind: Result`. */
export interface RenderEvent {
  severity: "Normal" | "Warning";
  reason: string;
  message: string;
}

/** What the pipeline left: the desired state after the last step, and what every step said. */
export interface PipelineOutcome {
  composite: Resource | undefined;
  resources: Record<string, Resource>;
  conditions: FnCondition[];
  results: Array<{ step: string; result: FnResult }>;
}

export interface Rendered {
  xr: Obj;
  composed: Obj[];
  results: RenderEvent[];
}

/** An apiVersion's group ("" for the core group) and version. */
export function groupVersion(apiVersion: unknown): [string, string] {
  const s = String(apiVersion ?? "");
  const i = s.indexOf("/");
  return i < 0 ? ["", s] : [s.slice(0, i), s.slice(i + 1)];
}

/** An XR without uid gets a SHA-1 UUID (uuid.NewSHA1) of its GVK, namespace and name. */
export function renderUid(xr: Obj): string {
  const [group, version] = groupVersion(xr.apiVersion);
  const name = `${group}/${version}, Kind=${xr.kind ?? ""}\0${xr.metadata?.namespace ?? ""}\0${xr.metadata?.name ?? ""}`;
  const bytes = createHash("sha1").update(Buffer.alloc(16)).update(name).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const h = bytes.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** names.ChildName: the generateName, then 12 hex digits of sha256(owner uid + resource name); at most 63 characters. */
export function childName(prefix: string, ownerUid: string, resourceName: string): string {
  const suffix = createHash("sha256").update(ownerUid + resourceName).digest("hex").slice(0, 12);
  const parent = prefix !== "" && !prefix.endsWith("-") ? `${prefix}-` : prefix;
  if (parent.length + suffix.length <= MAX_NAME_LENGTH) return parent + suffix;
  const cut = parent.slice(0, MAX_NAME_LENGTH - suffix.length);
  return (cut.endsWith("-") ? cut : `${cut.slice(0, -1)}-`) + suffix;
}

/** ConditionedStatus.SetConditions: a condition replaces the one of its type where it stands, else is appended. */
function setConditions(conditions: Obj[], ...updates: Obj[]): Obj[] {
  const out = [...conditions];
  for (const c of updates) {
    const i = out.findIndex((o) => o.type === c.type);
    if (i >= 0) out[i] = c;
    else out.push(c);
  }
  return out;
}

/** A condition as Crossplane's Condition type marshals it, with the CLI's fixed timestamp. */
function condition(c: Obj): Obj {
  return {
    type: c.type ?? "",
    status: c.status ?? "",
    lastTransitionTime: RENDER_TIME,
    reason: c.reason ?? "",
    ...(c.message ? { message: c.message } : {}),
    ...(c.observedGeneration ? { observedGeneration: c.observedGeneration } : {}),
  };
}

function resourceRef(r: Obj, withNamespace: boolean): Obj {
  const namespace = withNamespace && r.metadata?.namespace ? { namespace: r.metadata.namespace } : {};
  return { apiVersion: r.apiVersion, kind: r.kind, name: r.metadata?.name, ...namespace };
}

/**
 * The XR as the pipeline's functions see it under crossplane render: its uid (or one derived), the composite label,
 * the Composition it was given, refs to the observed resources and a Responsive condition.
 */
export function observedComposite(xr: Obj, composition: string, observed: Obj[]): Obj {
  const meta = xr.metadata ?? {};
  const crossplane = { ...xr.spec?.crossplane, compositionRef: { name: composition } };
  // Only a cluster-scoped XR names a namespace in its refs.
  if (observed.length > 0) crossplane.resourceRefs = observed.map((o) => resourceRef(o, !meta.namespace));
  const responsive = condition({ type: "Responsive", status: "True", reason: "WatchCircuitClosed", observedGeneration: meta.generation });
  return {
    ...xr,
    metadata: {
      ...meta,
      uid: meta.uid || renderUid(xr),
      resourceVersion: RENDER_RESOURCE_VERSION,
      labels: { ...meta.labels, [COMPOSITE_LABEL]: meta.labels?.[COMPOSITE_LABEL] || meta.name },
    },
    spec: { ...xr.spec, crossplane },
    status: { ...xr.status, conditions: setConditions((xr.status?.conditions ?? []) as Obj[], responsive) },
  };
}

/** The controller reference to the XR, added as meta.AddControllerReference does. */
function ownedBy(xr: Obj, name: string, owners: Obj[]): Obj[] {
  const owner = { apiVersion: xr.apiVersion, kind: xr.kind, name: xr.metadata.name, uid: xr.metadata.uid, controller: true, blockOwnerDeletion: true };
  const controller = owners.find((o) => o.controller === true);
  if (controller !== undefined && controller.uid !== owner.uid) {
    throw new Error(`composed resource "${name}" is already controlled by ${controller.kind} ${controller.name} (UID ${controller.uid})`);
  }
  const mine = owners.findIndex((o) => o.uid === owner.uid);
  return mine >= 0 ? owners.map((o, i) => (i === mine ? owner : o)) : [...owners, owner];
}

/** A composed resource as the reconciler applies it: RenderComposedResourceMetadata, then the name generator. */
function composed(xr: Obj, name: string, desired: Obj, observed: Obj | undefined): { resource: Obj; events: RenderEvent[] } {
  const xrMeta = xr.metadata;
  const events: RenderEvent[] = [];
  let meta: Obj = { ...desired.metadata };
  if (observed !== undefined) {
    // An existing resource keeps its namespace and name (and its generateName, or none).
    const { namespace: _namespace, name: _name, generateName: _generateName, ...rest } = meta;
    const { namespace, name: observedName, generateName } = (observed.metadata ?? {}) as Obj;
    meta = { ...rest, ...(namespace ? { namespace } : {}), ...(observedName ? { name: observedName } : {}), ...(generateName ? { generateName } : {}) };
  }
  if (xrMeta.namespace && meta.namespace && meta.namespace !== xrMeta.namespace) {
    const message = `cannot create composed resource "${name}" in namespace "${meta.namespace}", using XR namespace "${xrMeta.namespace}" instead`;
    events.push({ severity: "Warning", reason: "NamespaceOverridden", message });
  }
  const prefix = xrMeta.labels[COMPOSITE_LABEL] as string;
  if (!meta.name && !meta.generateName) meta.generateName = `${prefix}-`;
  if (xrMeta.namespace) meta.namespace = xrMeta.namespace;
  meta.annotations = { ...meta.annotations, [RESOURCE_NAME]: name };
  const claim = CLAIM_LABELS.every((l) => xrMeta.labels[l]) ? Object.fromEntries(CLAIM_LABELS.map((l) => [l, xrMeta.labels[l]])) : {};
  meta.labels = { ...meta.labels, [COMPOSITE_LABEL]: prefix, ...claim };
  meta.ownerReferences = ownedBy(xr, name, (meta.ownerReferences ?? []) as Obj[]);
  if (!meta.name && meta.generateName) meta.name = childName(meta.generateName, xrMeta.uid, name);
  const resource: Obj = { ...desired, metadata: meta };
  if (Array.isArray(resource.status?.conditions)) {
    resource.status = { ...resource.status, conditions: (resource.status.conditions as Obj[]).map(condition) };
  }
  return { resource, events };
}

/** UpdateResourceRefs: sorted by apiVersion, kind, name and namespace run together. */
function resourceRefs(xr: Obj, composedResources: Obj[]): Obj[] {
  const key = (r: Obj) => `${r.apiVersion}${r.kind}${r.name}${r.namespace ?? ""}`;
  return composedResources.map((d) => resourceRef(d, !xr.metadata.namespace)).sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

function resultEvent(step: string, r: FnResult): RenderEvent {
  const reason = r.reason || "ComposeResources";
  if (r.severity === Severity.SEVERITY_NORMAL) return { severity: "Normal", reason, message: `Pipeline step "${step}": ${r.message}` };
  if (r.severity === Severity.SEVERITY_WARNING) return { severity: "Warning", reason, message: `Pipeline step "${step}": ${r.message}` };
  return { severity: "Warning", reason, message: `Pipeline step "${step}" returned a result of unknown severity (assuming warning): ${r.message}` };
}

/** "a, b, c, and 2 more" (resource.StableNAndSomeMore): sorted, the first three named. */
function firstNAndSomeMore(names: string[]): string {
  const sorted = [...names].sort();
  if (sorted.length > FIRST_N) return `${sorted.slice(0, FIRST_N).join(", ")}, and ${sorted.length - FIRST_N} more`;
  if (sorted.length === FIRST_N) return `${sorted.slice(0, -1).join(", ")}, and ${sorted.at(-1)}`;
  return sorted.join(", ");
}

/** The function's verdict on the XR wins, with no message; else the XR is ready when every composed resource is. */
function readyCondition(composite: Resource | undefined, unready: string[]): Obj {
  if (composite?.ready === Ready.READY_TRUE) return condition({ type: "Ready", status: "True", reason: "Available" });
  if (composite?.ready === Ready.READY_FALSE) return condition({ type: "Ready", status: "False", reason: "Creating" });
  if (unready.length === 0) return condition({ type: "Ready", status: "True", reason: "Available" });
  return condition({ type: "Ready", status: "False", reason: "Creating", message: `Unready resources: ${firstNAndSomeMore(unready)}` });
}

/**
 * The XR's conditions: those the pipeline desired, then the XR's own (Responsive among them), then the functions'
 * (never a system type), then Synced and Ready; each replaces one of its type where it stands.
 */
function xrConditions(xr: Obj, desiredStatus: Obj, outcome: PipelineOutcome, ready: Obj): Obj[] {
  const desired = ((desiredStatus.conditions ?? []) as Obj[]).map(condition);
  let conditions = setConditions(desired, ...((xr.status?.conditions ?? []) as Obj[]).map(condition));
  for (const c of outcome.conditions) {
    if (SYSTEM_CONDITIONS.has(c.type)) continue;
    conditions = setConditions(conditions, condition({ type: c.type, status: STATUS[c.status] ?? "Unknown", reason: c.reason, message: c.message }));
  }
  return setConditions(conditions, condition({ type: "Synced", status: "True", reason: "ReconcileSuccess" }), ready);
}

/**
 * One reconcile of `xr` (as observedComposite returned it; `given` is the XR as the user wrote it) with the
 * pipeline's outcome: the XR as the CLI prints it (name, namespace, resourceRefs and status), the composed resources
 * sorted by composition resource name, and the events in the order the reconciler records them.
 * Not followed: when the reconcile leaves the XR's status exactly as given and the XR has no crossplane.io/composite
 * label, the real one writes no status and prints the XR as it stood before the pipeline ran (spec, labels, uid,
 * compositionRef, its resourceRefs in the order of -o). Only a hand-made XR carrying a status copied from a render
 * gets there (a live XR has the label), and ours prints the usual shape for it.
 */
export function reconcile(xr: Obj, given: Obj, composition: Obj, observed: Record<string, Obj>, outcome: PipelineOutcome): Rendered {
  const events: RenderEvent[] = [];
  const ref = given.spec?.crossplane?.compositionRef as Obj | undefined;
  if (!(ref !== undefined && Object.keys(ref).length === 1 && ref.name === composition.metadata?.name)) {
    events.push({ severity: "Normal", reason: "SelectComposition", message: `Successfully selected composition: ${composition.metadata?.name}` });
  }
  for (const { step, result } of outcome.results) events.push(resultEvent(step, result));

  const names = Object.keys(outcome.resources).sort();
  const docs = names.map((name) => {
    const c = composed(xr, name, (outcome.resources[name]?.resource ?? {}) as Obj, observed[name]);
    events.push(...c.events);
    return c.resource;
  });

  // The reconciler records these in the order it ranges over a Go map, which varies from run to run; ours is by name.
  const unready = names.filter((n) => outcome.resources[n]?.ready !== Ready.READY_TRUE);
  for (const n of unready) events.push({ severity: "Normal", reason: "ComposeResources", message: `Composed resource "${n}" is not yet ready` });

  // The status is what the pipeline desired; the XR's own status fields are gone unless a function kept them.
  const desiredStatus = ((outcome.composite?.resource as Obj | undefined)?.status ?? {}) as Obj;
  const conditions = xrConditions(xr, desiredStatus, outcome, readyCondition(outcome.composite, unready));
  const namespace = xr.metadata.namespace ? { namespace: xr.metadata.namespace } : {};
  return {
    xr: {
      apiVersion: xr.apiVersion,
      kind: xr.kind,
      metadata: { name: xr.metadata.name, ...namespace },
      spec: { crossplane: { resourceRefs: resourceRefs(xr, docs) } },
      status: { ...desiredStatus, conditions },
    },
    composed: docs,
    results: events,
  };
}

/**
 * `-x`: the XR as the user wrote it with the rendered one merged over it, as the CLI does with mergo.WithOverride:
 * mappings merge key by key, anything else (a list too, even an empty one) is replaced.
 */
export function mergeOver(base: Obj, over: Obj): Obj {
  const isMap = (x: unknown): x is Obj => x !== null && typeof x === "object" && !Array.isArray(x);
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isMap(v) && isMap(out[k]) ? mergeOver(out[k] as Obj, v) : v;
  return out;
}
