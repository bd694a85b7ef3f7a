// `validate`: checks an engineer's YAML (Database and SecretRotation XRs) against our XRDs' schemas and then against
// the DBA policy in the Compositions, by running this package's functions in-process on each XR exactly as the
// cluster would, minus any I/O. Compositions get their step inputs checked against our input CRDs, and, when asked,
// Compositions and XRDs are checked against Crossplane's own CRDs. Offline and fast: no cluster, no network.
import { join } from "node:path";
import { Ready, RunFunctionRequest, Severity, type RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { KEY, policyRefusals, runDatabase } from "../functions/database/fn.ts";
import { observed } from "../functions/database/observed.ts";
import { DatabasePolicy, POLICY_KIND } from "../functions/database/policy.ts";
import { DatabaseXR } from "../functions/database/xr.ts";
import { runSecretRotation } from "../functions/secret-rotation/fn.ts";
import { DUE_ROTATIONS_POLICY_KIND, DueRotationsPolicy, ROLLOUT_POLICY_KIND, RolloutPolicy } from "../functions/operations/policy.ts";
import { ROTATION_POLICY_KIND, RotationPolicy } from "../functions/secret-rotation/policy.ts";
import { fieldProblems } from "../functions/shared/zod-errors.ts";
import type { z } from "zod";
import { handlers } from "../functions/router.ts";
import { fatalResponse, result } from "../functions/shared/results.ts";
import { kustomizeNamespace } from "./namespace.ts";
import { packageRoot } from "./package-root.ts";
import { isOurInput, placeholderCredentials } from "./render.ts";
import { isSchemaDocument, loadCrds, SchemaRegistry, type Problem } from "./schema.ts";
import { readDocsWithPositions, readYaml, yamlFiles, type PositionedDoc } from "./yaml.ts";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- YAML documents

export const XR_GROUP = "azplatform.io";

export interface Finding {
  severity: "error" | "warning";
  file: string;
  /** The document's position in its file, from 0. */
  index: number;
  line: number;
  /** `Database team-payments/orders`, `Composition database-postgres`, … */
  object: string;
  /** Dotted field path, "" for the whole document. */
  path: string;
  message: string;
}

export interface ValidateOptions {
  /** Where Compositions are (files or folders); default: this package's compositions/, plus any in the inputs. */
  compositions?: string[];
  /** Where the XRDs are; default: this package's xrds/, plus any in the inputs. */
  xrds?: string[];
  /** Crossplane's CRDs (a folder): Compositions, XRDs, Functions and Operations are checked against them. */
  crossplaneCrds?: string[];
  /**
   * Use only the Compositions given (or this package's) as the policy: a Composition in the checked paths is an
   * error, so a PR cannot bring the policy it is judged by.
   */
  onlyTrustedCompositions?: boolean;
  /** The namespace of XRs whose file and kustomization name none (what ArgoCD's destination or `kubectl -n` gives). */
  namespace?: string;
  now?: Date;
}

export interface Report {
  findings: Finding[];
  /** Documents checked, by kind. */
  checked: Record<string, number>;
  /** Documents that are none of ours (a Deployment in the same PR, say): not checked. */
  skipped: number;
}

const OUR_KINDS = ["Database", "SecretRotation"];

function describe(d: Obj): string {
  const m = d.metadata ?? {};
  const name = m.namespace ? `${m.namespace}/${m.name ?? "?"}` : (m.name ?? "(no name)");
  return `${d.kind ?? "(no kind)"} ${name}`;
}

/** The field a function's message starts with (`spec.size "xl" is not allowed` → `spec.size`). */
export function fieldOf(message: string): string {
  return /^((?:spec|metadata)(?:\.[A-Za-z0-9_-]+|\[\d+\])*)/.exec(message)?.[1] ?? "";
}

class Offline extends Error {}

/** Runs one of our steps on the XR with no I/O; undefined when the step is not ours. */
async function runStep(xr: Obj, step: Obj, now: Date): Promise<RunFunctionResponse | undefined> {
  const input = step.input as Obj | undefined;
  if (!isOurInput(input)) return undefined;
  const req = RunFunctionRequest.fromPartial({
    meta: { tag: "validate", capabilities: [] },
    observed: { composite: { resource: xr, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }, resources: {} },
    desired: { composite: { resource: { apiVersion: xr.apiVersion, kind: xr.kind, metadata: xr.metadata }, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }, resources: {} },
    input,
    credentials: placeholderCredentials(step),
  });
  if (input.kind === POLICY_KIND) return eachRefusalApart(req, runDatabase(req));
  if (input.kind === ROTATION_POLICY_KIND) {
    // Reaching connect means every policy check passed; nothing further is the PR's to get right.
    try {
      return await runSecretRotation(req, { now: () => now, connect: () => Promise.reject(new Offline()) });
    } catch (e) {
      if (e instanceof Offline) return undefined;
      throw e;
    }
  }
  if (handlers.has(`${input.apiVersion}/${input.kind}`)) return undefined;
  return fatalResponse(req, "UnknownInput", `step ${step.step} has input ${input.apiVersion} ${input.kind}, which this package does not serve`);
}

/** The namespace the XR will have in the cluster: a kustomization's wins, then the file's, then --namespace. */
function namespaceOf(d: PositionedDoc, fallback: string | undefined): string | undefined {
  const own = d.doc.metadata?.namespace;
  return kustomizeNamespace(d.file) ?? (typeof own === "string" && own !== "" ? own : undefined) ?? fallback;
}

/** What each step input is held to: its function's own schema and words (a CRD can say only "must match pattern"). */
const POLICY_SCHEMAS: Record<string, z.ZodType> = {
  [POLICY_KIND]: DatabasePolicy,
  [ROTATION_POLICY_KIND]: RotationPolicy,
  [ROLLOUT_POLICY_KIND]: RolloutPolicy,
  [DUE_ROTATIONS_POLICY_KIND]: DueRotationsPolicy,
};

/** Every problem of a step input on its own, at its field, as the function would refuse it on any XR. */
function policyProblems(input: Obj): Problem[] {
  const parsed = POLICY_SCHEMAS[String(input.kind)]?.safeParse(input);
  return parsed === undefined || parsed.success ? [] : fieldProblems("", parsed.error);
}

/**
 * The function joins every policy refusal into its one Fatal result (Crossplane shows one); a PR check puts each on
 * its own field's line instead.
 */
function eachRefusalApart(req: RunFunctionRequest, rsp: RunFunctionResponse): RunFunctionResponse {
  const policy = DatabasePolicy.safeParse(req.input);
  const xr = DatabaseXR.safeParse(req.observed?.composite?.resource);
  if (!policy.success || !xr.success) return rsp;
  const refusals = policyRefusals(policy.data, xr.data, observed(req, KEY.server));
  if (refusals.length === 0) return rsp;
  return { ...rsp, results: refusals.map((r) => result("Fatal", r.reason, r.message)) };
}

/** The Compositions that would compose this XR: the one it names, else the XRD's default, else every candidate. */
function compositionsFor(xr: Obj, compositions: Obj[], xrds: Obj[]): Obj[] {
  const candidates = compositions.filter((c) => c.spec?.compositeTypeRef?.apiVersion === xr.apiVersion && c.spec?.compositeTypeRef?.kind === xr.kind);
  const cp = xr.spec?.crossplane ?? xr.spec ?? {};
  const named = cp.compositionRef?.name as string | undefined;
  if (named !== undefined) return candidates.filter((c) => c.metadata?.name === named);
  const labels = cp.compositionSelector?.matchLabels as Record<string, string> | undefined;
  if (labels !== undefined) return candidates.filter((c) => Object.entries(labels).every(([k, v]) => c.metadata?.labels?.[k] === v));
  const xrd = xrds.find((d) => d.spec?.names?.kind === xr.kind && d.spec?.group === String(xr.apiVersion).split("/")[0]);
  const dflt = xrd?.spec?.defaultCompositionRef?.name as string | undefined;
  const byDefault = candidates.filter((c) => c.metadata?.name === dflt);
  return byDefault.length > 0 ? byDefault : candidates;
}

export async function validate(paths: string[], opts: ValidateOptions = {}): Promise<Report> {
  const now = opts.now ?? new Date();
  const findings: Finding[] = [];
  // A file that is not valid YAML is a finding like any other; the rest of the PR is still checked.
  // A document that is not valid YAML is a finding like any other; the file's other documents and the rest of the
  // PR are still checked.
  const docs: PositionedDoc[] = yamlFiles(paths).flatMap((f) => {
    const { docs: read, problems } = readYaml(f);
    for (const p of problems) findings.push({ severity: "error", file: p.file, index: p.index, line: p.line, object: "", path: "", message: p.reason });
    return read;
  });
  const root = packageRoot();
  const extra = (ps: string[] | undefined, dflt: string): PositionedDoc[] => yamlFiles(ps ?? [join(root, dflt)]).flatMap((f) => readDocsWithPositions(f));

  const isKind = (d: Obj, kind: string) => d.kind === kind && typeof d.apiVersion === "string" && d.apiVersion.startsWith("apiextensions.crossplane.io/");
  const xrdDocs = [...docs.filter((d) => isKind(d.doc, "CompositeResourceDefinition")), ...extra(opts.xrds, "xrds")].map((d) => d.doc);
  const prCompositions = docs.filter((d) => isKind(d.doc, "Composition")).map((d) => d.doc);
  // A Composition in the PR is the change under review: it replaces the one of the same name it was copied from.
  // With onlyTrustedCompositions (an application team's CI), the PR's own are never used as policy.
  const given = extra(opts.compositions, "compositions").map((d) => d.doc);
  const replaced = (c: Obj) => prCompositions.some((p) => p.metadata?.name === c.metadata?.name);
  const compositions = opts.onlyTrustedCompositions ? given : [...prCompositions, ...given.filter((c) => !replaced(c))];
  const inThisPr = new Set(prCompositions);
  // An XRD in the PR wins over the one this package ships for the same kind.
  const xrSchemas = new SchemaRegistry();
  for (const x of xrdDocs) {
    try {
      xrSchemas.add(x, `XRD ${x.metadata?.name ?? ""}`);
    } catch {
      // already defined by an XRD earlier in the list
    }
  }
  const inputSchemas = loadCrds([join(root, "package/input")]);
  const crossplane = opts.crossplaneCrds !== undefined ? loadCrds(opts.crossplaneCrds) : undefined;

  const checked: Record<string, number> = {};
  let skipped = 0;
  for (const d of docs) {
    const doc = d.doc;
    const add = (severity: Finding["severity"], problems: Problem[], prefix = "") => {
      for (const p of problems) {
        const path = prefix === "" ? p.path : p.path === "" ? prefix : `${prefix}.${p.path}`;
        findings.push({ severity, file: d.file, index: d.index, line: d.lineOf(path), object: describe(doc), path, message: p.message });
      }
    };
    const group = typeof doc.apiVersion === "string" ? doc.apiVersion.split("/")[0] : undefined;
    // Not a Kubernetes object (a Helm values file, a kustomize patch): not ours to check.
    if (typeof doc.apiVersion !== "string" || typeof doc.kind !== "string") {
      skipped++;
      continue;
    }
    if (group !== XR_GROUP && OUR_KINDS.includes(doc.kind) && /^azpl/i.test(group ?? "")) {
      add("error", [{ path: "apiVersion", message: `unknown group in apiVersion ${doc.apiVersion}; a ${doc.kind} is ${XR_GROUP}/v1alpha1` }]);
      continue;
    }
    if (group === XR_GROUP) {
      checked[doc.kind] = (checked[doc.kind] ?? 0) + 1;
      const ns = namespaceOf(d, opts.namespace);
      if (ns === undefined) {
        add("error", [{ path: "metadata.namespace", message: `not set: a ${doc.kind} is namespaced; set it here, in a kustomization.yaml above this file (namespace:), or pass --namespace as your deployment does` }]);
        continue;
      }
      doc.metadata = { ...doc.metadata, namespace: ns };
      if (!xrSchemas.has(doc.apiVersion, doc.kind)) {
        const known = OUR_KINDS.filter((k) => xrSchemas.kinds().some((x) => x.endsWith(` ${k}`)));
        add("error", [{ path: "kind", message: `unknown kind ${doc.apiVersion} ${doc.kind}; this package defines ${known.map((k) => `${XR_GROUP}/v1alpha1 ${k}`).join(" and ")}` }]);
        continue;
      }
      const problems = xrSchemas.validate(doc);
      if (problems.length > 0) {
        add("error", problems);
        continue;
      }
      const comps = compositionsFor(doc, compositions, xrdDocs);
      if (comps.length === 0) {
        add("error", [{ path: "", message: `no Composition composes ${doc.apiVersion} ${doc.kind}${doc.spec?.crossplane?.compositionRef?.name ? ` under the name ${doc.spec.crossplane.compositionRef.name}` : ""}; pass --compositions with the DBA team's Compositions` }]);
        continue;
      }
      for (const c of comps) {
        const via = comps.length > 1 ? ` (Composition ${c.metadata?.name})` : "";
        for (const step of (c.spec?.pipeline ?? []) as Obj[]) {
          // A policy of this PR that is itself invalid is reported once, at the Composition's line, not on every XR.
          if (inThisPr.has(c) && isOurInput(step.input as Obj | undefined) && policyProblems(step.input as Obj).length > 0) continue;
          const rsp = await runStep(doc, step, now);
          for (const r of rsp?.results ?? []) {
            const severity = r.severity === Severity.SEVERITY_FATAL ? "error" : r.severity === Severity.SEVERITY_WARNING ? "warning" : undefined;
            if (severity !== undefined) add(severity, [{ path: fieldOf(r.message), message: `${r.message}${via}` }]);
          }
        }
      }
      continue;
    }
    if (isKind(doc, "Composition")) {
      checked.Composition = (checked.Composition ?? 0) + 1;
      if (opts.onlyTrustedCompositions) {
        add("error", [{ path: "", message: "a Composition in this PR is not used as policy (--only-trusted-compositions): the platform's Compositions are the policy; propose this change in their repository" }]);
        continue;
      }
      if (crossplane) add("error", crossplane.validate(doc));
      ((doc.spec?.pipeline ?? []) as Obj[]).forEach((step, i) => {
        const input = step.input as Obj | undefined;
        if (!isOurInput(input)) return;
        const at = `spec.pipeline[${i}].input`;
        if (!inputSchemas.has(input.apiVersion, input.kind)) {
          add("error", [{ path: `${at}.kind`, message: `this package serves no input ${input.apiVersion} ${input.kind}` }]);
          return;
        }
        add("error", policyProblems(input), at);
        if (input.kind === ROTATION_POLICY_KIND) {
          // The function would report a missing credential only at run time, on every SecretRotation: catch it here.
          const declared = new Set(((step.credentials ?? []) as Obj[]).map((c) => c.name as string));
          for (const [field, name] of Object.entries((input.credentials ?? {}) as Record<string, unknown>)) {
            if (typeof name === "string" && !declared.has(name)) {
              add("error", [{ path: `${at}.credentials.${field}`, message: `names the credential "${name}", which step ${step.step ?? i} does not declare (declared: ${[...declared].join(", ") || "none"})` }]);
            }
          }
        }
      });
      continue;
    }
    if (isKind(doc, "CompositeResourceDefinition") || (crossplane && isSchemaDocument(doc) === false && crossplane.has(doc.apiVersion, doc.kind))) {
      checked[doc.kind] = (checked[doc.kind] ?? 0) + 1;
      if (crossplane) add("error", crossplane.validate(doc));
      continue;
    }
    skipped++;
  }
  findings.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.index - b.index || a.line - b.line));
  return { findings, checked, skipped };
}

export function formatFindings(report: Report, format: "text" | "github"): string {
  const lines = report.findings.map((f) => {
    const where = `${f.file}:${f.line}`;
    const field = f.path === "" || f.message.startsWith(f.path) ? "" : `${f.path}: `;
    if (format === "github") {
      const esc = (s: string) => s.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
      return `::${f.severity} file=${f.file},line=${f.line},title=${esc(f.object || "YAML")}::${esc(`document ${f.index}: ${field}${f.message}`)}`;
    }
    return `${where}: ${f.severity}: document ${f.index}${f.object ? ` (${f.object})` : ""}: ${field}${f.message}`;
  });
  const errors = report.findings.filter((f) => f.severity === "error").length;
  const warnings = report.findings.length - errors;
  const kinds = Object.entries(report.checked)
    .sort()
    .map(([k, n]) => `${n} ${k}`)
    .join(", ");
  lines.push(`checked ${kinds || "no documents of ours"}${report.skipped ? ` (${report.skipped} other document(s) not ours)` : ""}: ${errors} error(s), ${warnings} warning(s)`);
  return `${lines.join("\n")}\n`;
}
