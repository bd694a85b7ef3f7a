// Schema validation: validates Kubernetes manifests against CRD (and our own XRD) schemas the way the API server
// would, but stricter where the API server is silently lenient. Used by `validate` and by the tests.
//
// - Structural schema checks run through ajv on a transformed copy of each schema: every object schema that does not
//   preserve unknown fields rejects unknown fields (the API server would prune them without a word; that is the bug
//   class we want to catch, e.g. spec.deletionPolicy on a namespaced managed resource).
// - Defaults are applied before validation, as the API server does (so CEL rules see defaulted values).
// - metadata gets a light ObjectMeta check (the CRD schemas only say `type: object`).
// - x-kubernetes-validations (CEL) rules run through @bufbuild/cel; transition rules (those that use oldSelf) only
//   run in validateUpdate().
import fs from "node:fs";
import path from "node:path";
import { Ajv } from "ajv";
import type { ErrorObject, ValidateFunction } from "ajv";
import { celEnv, isCelError, parse, plan } from "@bufbuild/cel";
import type { CelInput, CelResult } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import { parseAllDocuments } from "yaml";


/** One validation finding. `path` is dotted (`spec.forProvider.skuName`, `spec.pipeline[0].step`,
 * `metadata.labels["app.kubernetes.io/name"]`); "" is the document itself. */
export interface Problem {
  path: string;
  message: string;
}

export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: string;
}

/** The subset of a Kubernetes structural schema (OpenAPI v3) this library reads. Other keywords pass through to ajv. */
export interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  nullable?: boolean;
  format?: string;
  anyOf?: Schema[];
  allOf?: Schema[];
  oneOf?: Schema[];
  not?: Schema;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-embedded-resource"?: boolean;
  "x-kubernetes-validations"?: ValidationRule[];
  "x-kubernetes-list-type"?: string;
  "x-kubernetes-list-map-keys"?: string[];
  [keyword: string]: unknown;
}

/** How metadata.name is checked: most kinds use a DNS-1123 subdomain, a few (Namespace) a DNS-1123 label. */
export type NameRule = "subdomain" | "label";

export interface SchemaEntry {
  apiVersion: string;
  kind: string;
  schema: Schema;
  /** Where the schema came from, e.g. `/path/file.yaml#0 (CustomResourceDefinition flexibleservers...)`. */
  source: string;
  nameRule: NameRule;
}

type Segment = string | number;

// ---------------------------------------------------------------------------------------------------------------
// small helpers

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isSchema(v: unknown): v is Schema {
  return isRecord(v);
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function jsonType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

/** Formats path segments as `a.b[0]["x.y/z"]`. */
export function formatPath(segments: readonly Segment[]): string {
  let out = "";
  for (const s of segments) {
    if (typeof s === "number") out += `[${s}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(s)) out += out === "" ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/** Prefixes every problem's path, e.g. to report an embedded object's problems at `spec.pipeline[0].input`. */
export function prefixProblems(prefix: string, problems: readonly Problem[]): Problem[] {
  return problems.map((p) => {
    if (prefix === "") return p;
    if (p.path === "") return { path: prefix, message: p.message };
    return { path: p.path.startsWith("[") ? `${prefix}${p.path}` : `${prefix}.${p.path}`, message: p.message };
  });
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function childSchema(schema: Schema, key: string): Schema | undefined {
  const p = schema.properties?.[key];
  if (p !== undefined) return p;
  return isSchema(schema.additionalProperties) ? schema.additionalProperties : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// YAML

/** Every non-empty document of a multi-document YAML file, with its position in the file (empty documents keep
 * their slot, so `index` always names the n-th `---` section). Throws on YAML errors (duplicate keys included). */
export function loadYamlDocuments(file: string): { doc: unknown; index: number }[] {
  const text = fs.readFileSync(file, "utf8");
  const out: { doc: unknown; index: number }[] = [];
  parseAllDocuments(text).forEach((d, index) => {
    const err = d.errors[0];
    if (err !== undefined) throw new Error(`${file}#${index}: ${err.message}`);
    const doc: unknown = d.toJS();
    if (doc === null || doc === undefined) return;
    out.push({ doc, index });
  });
  return out;
}

const yamlCache = new Map<string, { doc: unknown; index: number }[]>();
function cachedYaml(file: string): { doc: unknown; index: number }[] {
  let docs = yamlCache.get(file);
  if (docs === undefined) {
    docs = loadYamlDocuments(file);
    yamlCache.set(file, docs);
  }
  return docs;
}

function yamlFilesIn(p: string): string[] {
  if (!fs.statSync(p).isDirectory()) return [p];
  return fs
    .readdirSync(p, { recursive: true, encoding: "utf8" })
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(p, f));
}

// ---------------------------------------------------------------------------------------------------------------
// ajv: transformed schemas

const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const UUID = /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/;
const IPV4 = /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Formats we check. Any other `format` is dropped from the schema (ignored), as the API server ignores unknown ones. */
const FORMATS = {
  "date-time": { type: "string", validate: (s: string) => DATE_TIME.test(s) },
  date: { type: "string", validate: (s: string) => /^\d{4}-\d{2}-\d{2}$/.test(s) },
  byte: { type: "string", validate: (s: string) => BASE64.test(s) },
  uuid: { type: "string", validate: (s: string) => UUID.test(s) },
  ipv4: { type: "string", validate: (s: string) => IPV4.test(s) },
  int32: { type: "number", validate: (n: number) => !Number.isInteger(n) || (n >= -(2 ** 31) && n <= 2 ** 31 - 1) },
  int64: { type: "number", validate: (n: number) => !Number.isInteger(n) || (n >= -(2 ** 63) && n <= 2 ** 63) },
} as const;

/** Value keywords copied verbatim into the ajv schema. */
const PASS_THROUGH = [
  "enum",
  "const",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "multipleOf",
  "minLength",
  "maxLength",
  "pattern",
  "minItems",
  "maxItems",
  "uniqueItems",
  "minProperties",
  "maxProperties",
  "required",
  "propertyNames",
] as const;

const PRESERVE = "x-kubernetes-preserve-unknown-fields";

function preservesUnknown(s: Schema): boolean {
  return s[PRESERVE] === true;
}

function isObjectSchema(s: Schema): boolean {
  return s.type === "object" || (s.type === undefined && (s.properties !== undefined || s.additionalProperties !== undefined));
}

/**
 * A copy of a structural schema that ajv checks the way we want:
 * - objects that neither preserve unknown fields nor declare additionalProperties reject unknown fields
 *   (including `type: object` without properties, whose content the API server would prune entirely);
 * - the root metadata and an embedded resource's metadata become free objects (checked by checkObjectMeta);
 * - int-or-string, nullable and list-type: set become plain JSON Schema; unknown formats are dropped.
 */
function toAjvSchema(s: Schema, where: "root" | "node"): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (s.type !== undefined) out["type"] = s.type;
  for (const k of PASS_THROUGH) if (s[k] !== undefined) out[k] = s[k];
  if (s.format !== undefined && s.format in FORMATS) out["format"] = s.format;

  const embedded = s["x-kubernetes-embedded-resource"] === true;
  if (s.properties !== undefined || embedded) {
    const props: Record<string, unknown> = {};
    for (const [k, child] of Object.entries(s.properties ?? {})) props[k] = toAjvSchema(child, "node");
    if (where === "root" || embedded) {
      props["metadata"] = { type: "object" };
      props["apiVersion"] ??= { type: "string" };
      props["kind"] ??= { type: "string" };
    }
    out["properties"] = props;
  }
  if (embedded) out["required"] = [...new Set([...(s.required ?? []), "apiVersion", "kind"])];
  if (isSchema(s.items)) out["items"] = toAjvSchema(s.items, "node");
  if (isSchema(s.additionalProperties)) out["additionalProperties"] = toAjvSchema(s.additionalProperties, "node");
  else if (typeof s.additionalProperties === "boolean") out["additionalProperties"] = s.additionalProperties;
  else if (isObjectSchema(s) && !preservesUnknown(s)) out["additionalProperties"] = false;
  for (const k of ["anyOf", "allOf", "oneOf"] as const) {
    const list = s[k];
    if (Array.isArray(list)) out[k] = list.map((c) => toAjvSchema(c, "node"));
  }
  if (isSchema(s.not)) out["not"] = toAjvSchema(s.not, "node");

  if (s["x-kubernetes-int-or-string"] === true) {
    out["type"] = ["integer", "string"];
    // the usual anyOf [{type: integer}, {type: string}] is now redundant; drop it for one clear error
    if (Array.isArray(out["anyOf"]) && s.anyOf?.every((b) => Object.keys(b).every((k) => k === "type"))) delete out["anyOf"];
  }
  if (s["x-kubernetes-list-type"] === "set") out["uniqueItems"] = true;
  if (s.nullable === true) {
    const t = out["type"];
    if (typeof t === "string") out["type"] = [t, "null"];
    else if (Array.isArray(t)) out["type"] = [...t, "null"];
    if (Array.isArray(out["enum"])) out["enum"] = [...out["enum"], null];
  }
  return out;
}

function pointerToSegments(pointer: string, data: unknown): Segment[] {
  if (pointer === "") return [];
  const segs: Segment[] = [];
  let cur: unknown = data;
  for (const raw of pointer.split("/").slice(1)) {
    const p = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(cur)) {
      const i = Number(p);
      segs.push(i);
      cur = cur[i];
    } else {
      segs.push(p);
      cur = isRecord(cur) ? cur[p] : undefined;
    }
  }
  return segs;
}

function ajvProblem(e: ErrorObject, data: unknown): Problem {
  const segs = pointerToSegments(e.instancePath, data);
  const params: Record<string, unknown> = e.params;
  switch (e.keyword) {
    case "additionalProperties": {
      const field = String(params["additionalProperty"]);
      return { path: formatPath([...segs, field]), message: `unknown field "${field}"` };
    }
    case "required":
      return { path: formatPath([...segs, String(params["missingProperty"])]), message: "Required value" };
    case "type": {
      const want = String(params["type"]).split(",").join(" or ");
      return { path: formatPath(segs), message: `must be ${want}, got ${jsonType(e.data)}` };
    }
    case "enum": {
      const allowed = Array.isArray(params["allowedValues"]) ? params["allowedValues"] : [];
      return {
        path: formatPath(segs),
        message: `unsupported value ${JSON.stringify(e.data)}: supported values: ${allowed.map((v) => JSON.stringify(v)).join(", ")}`,
      };
    }
    default:
      return { path: formatPath(segs), message: e.message ?? e.keyword };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// defaults

/** Applies schema defaults in place, as the API server does before validating (absent fields only). */
function applyDefaults(schema: Schema, value: unknown): void {
  if (Array.isArray(value)) {
    if (isSchema(schema.items)) for (const item of value) applyDefaults(schema.items, item);
    return;
  }
  if (!isRecord(value)) return;
  for (const [k, s] of Object.entries(schema.properties ?? {})) {
    if (value[k] === undefined && s.default !== undefined) value[k] = structuredClone(s.default);
  }
  for (const [k, v] of Object.entries(value)) {
    const child = childSchema(schema, k);
    if (child !== undefined) applyDefaults(child, v);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// ObjectMeta

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const LABEL_MSG = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_MSG = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

function dnsName(value: string, rule: NameRule): string[] {
  const [max, re, msg] = rule === "label" ? [63, DNS1123_LABEL, LABEL_MSG] : [253, DNS1123_SUBDOMAIN, SUBDOMAIN_MSG];
  const out: string[] = [];
  if (value.length > max) out.push(`must be no more than ${max} characters`);
  if (!re.test(value)) out.push(msg);
  return out;
}

/** Kubernetes IsQualifiedName: `[prefix/]name`, prefix a DNS subdomain, name at most 63 characters. */
function qualifiedName(key: string): string[] {
  const parts = key.split("/");
  let name = key;
  const out: string[] = [];
  if (parts.length === 2) {
    const prefix = parts[0] ?? "";
    name = parts[1] ?? "";
    if (prefix.length === 0) out.push("prefix part must be non-empty");
    else out.push(...dnsName(prefix, "subdomain").map((m) => `prefix part ${m}`));
  } else if (parts.length > 2) {
    return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an optional DNS subdomain prefix and '/'"];
  }
  if (name.length === 0) out.push("name part must be non-empty");
  else {
    if (name.length > 63) out.push("name part must be no more than 63 characters");
    if (!QUALIFIED_NAME.test(name)) out.push(QUALIFIED_MSG);
  }
  return out;
}

const META_STRING_FIELDS = ["generateName", "selfLink", "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp"];
/** `creationTimestamp: null` is what `kubectl create --dry-run=client -o yaml` writes; the API server accepts it. */
const META_NULLABLE_FIELDS = ["creationTimestamp", "deletionTimestamp"];
const META_INTEGER_FIELDS = ["generation", "deletionGracePeriodSeconds"];
const META_FIELDS = new Set([
  "name",
  "namespace",
  "labels",
  "annotations",
  "finalizers",
  "ownerReferences",
  "managedFields",
  ...META_STRING_FIELDS,
  ...META_INTEGER_FIELDS,
]);

/** A light ObjectMeta check: known fields only, names, label and annotation keys and values. */
function checkObjectMeta(meta: unknown, at: Segment[], nameRule: NameRule): Problem[] {
  if (meta === undefined) return [];
  const here = (...more: Segment[]): string => formatPath([...at, ...more]);
  if (!isRecord(meta)) return [{ path: here(), message: `must be object, got ${jsonType(meta)}` }];
  const out: Problem[] = [];
  for (const [k, v] of Object.entries(meta)) {
    if (!META_FIELDS.has(k)) out.push({ path: here(k), message: `unknown field "${k}"` });
    else if (META_STRING_FIELDS.includes(k) && typeof v !== "string" && !(v === null && META_NULLABLE_FIELDS.includes(k))) {
      out.push({ path: here(k), message: `must be string, got ${jsonType(v)}` });
    }
    else if (META_INTEGER_FIELDS.includes(k) && !Number.isInteger(v)) out.push({ path: here(k), message: `must be integer, got ${jsonType(v)}` });
  }
  const { name, namespace, labels, annotations, finalizers, ownerReferences, managedFields } = meta;
  if (name !== undefined) {
    if (typeof name !== "string") out.push({ path: here("name"), message: `must be string, got ${jsonType(name)}` });
    else for (const m of dnsName(name, nameRule)) out.push({ path: here("name"), message: m });
  }
  if (namespace !== undefined) {
    if (typeof namespace !== "string") out.push({ path: here("namespace"), message: `must be string, got ${jsonType(namespace)}` });
    else for (const m of dnsName(namespace, "label")) out.push({ path: here("namespace"), message: m });
  }
  for (const [field, map] of [
    ["labels", labels],
    ["annotations", annotations],
  ] as const) {
    if (map === undefined) continue;
    if (!isRecord(map)) {
      out.push({ path: here(field), message: `must be object, got ${jsonType(map)}` });
      continue;
    }
    let size = 0;
    for (const [k, v] of Object.entries(map)) {
      for (const m of qualifiedName(k)) out.push({ path: here(field, k), message: `invalid key ${JSON.stringify(k)}: ${m}` });
      if (typeof v !== "string") {
        out.push({ path: here(field, k), message: `must be string, got ${jsonType(v)}` });
        continue;
      }
      size += k.length + v.length;
      if (field === "labels") {
        if (v.length > 63) out.push({ path: here(field, k), message: "must be no more than 63 characters" });
        if (!LABEL_VALUE.test(v)) out.push({ path: here(field, k), message: LABEL_VALUE_MSG });
      }
    }
    if (field === "annotations" && size > 256 * 1024) out.push({ path: here(field), message: "may not be more than 262144 bytes" });
  }
  if (finalizers !== undefined) {
    if (!Array.isArray(finalizers)) out.push({ path: here("finalizers"), message: `must be array, got ${jsonType(finalizers)}` });
    else
      finalizers.forEach((f: unknown, i) => {
        if (typeof f !== "string") out.push({ path: here("finalizers", i), message: `must be string, got ${jsonType(f)}` });
      });
  }
  if (ownerReferences !== undefined) {
    if (!Array.isArray(ownerReferences)) out.push({ path: here("ownerReferences"), message: `must be array, got ${jsonType(ownerReferences)}` });
    else
      ownerReferences.forEach((r: unknown, i) => {
        if (!isRecord(r)) out.push({ path: here("ownerReferences", i), message: `must be object, got ${jsonType(r)}` });
        else
          for (const k of ["apiVersion", "kind", "name", "uid"])
            if (typeof r[k] !== "string") out.push({ path: here("ownerReferences", i, k), message: "Required value" });
      });
  }
  if (managedFields !== undefined && !Array.isArray(managedFields)) {
    out.push({ path: here("managedFields"), message: `must be array, got ${jsonType(managedFields)}` });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// schema walk (list-map keys, embedded resources, CEL)

interface OldValue {
  value: unknown;
}

type Visit = (schema: Schema, value: unknown, at: Segment[], old: OldValue | undefined) => void;

function mapKey(item: unknown, keys: readonly string[]): string | undefined {
  if (!isRecord(item)) return undefined;
  return JSON.stringify(keys.map((k) => item[k] ?? null));
}

/** Visits every schema node that has a value, pre-order, pairing it with the correlated old value (objects by field
 * name, maps by key, list-type=map lists by their keys; other list items do not correlate, as in Kubernetes). */
function walk(schema: Schema, value: unknown, at: Segment[], old: OldValue | undefined, visit: Visit): void {
  if (value === undefined) return;
  visit(schema, value, at, old);
  if (Array.isArray(value)) {
    const items = schema.items;
    if (!isSchema(items)) return;
    const keys = schema["x-kubernetes-list-type"] === "map" ? (schema["x-kubernetes-list-map-keys"] ?? []) : undefined;
    const oldByKey = new Map<string, unknown>();
    if (keys !== undefined && Array.isArray(old?.value)) {
      for (const o of old.value) {
        const k = mapKey(o, keys);
        if (k !== undefined) oldByKey.set(k, o);
      }
    }
    value.forEach((item: unknown, i) => {
      const k = keys === undefined ? undefined : mapKey(item, keys);
      const o = k !== undefined && oldByKey.has(k) ? { value: oldByKey.get(k) } : undefined;
      walk(items, item, [...at, i], o, visit);
    });
    return;
  }
  if (!isRecord(value)) return;
  for (const [k, v] of Object.entries(value)) {
    const child = childSchema(schema, k);
    if (child === undefined) continue;
    const o = isRecord(old?.value) && old.value[k] !== undefined ? { value: old.value[k] } : undefined;
    walk(child, v, [...at, k], o, visit);
  }
}

function structuralProblems(schema: Schema, value: unknown, nameRule: NameRule): Problem[] {
  const out: Problem[] = [];
  if (isRecord(value)) out.push(...checkObjectMeta(value["metadata"], ["metadata"], nameRule));
  walk(schema, value, [], undefined, (s, v, at) => {
    if (s["x-kubernetes-embedded-resource"] === true && at.length > 0 && isRecord(v)) {
      out.push(...checkObjectMeta(v["metadata"], [...at, "metadata"], "subdomain"));
    }
    const keys = s["x-kubernetes-list-map-keys"];
    if (s["x-kubernetes-list-type"] === "map" && keys !== undefined && Array.isArray(v)) {
      const seen = new Set<string>();
      v.forEach((item: unknown, i) => {
        const k = mapKey(item, keys);
        if (k === undefined) return;
        if (seen.has(k) && isRecord(item)) {
          const shown = Object.fromEntries(keys.map((key) => [key, item[key]]));
          out.push({ path: formatPath([...at, i]), message: `Duplicate value: ${JSON.stringify(shown)}` });
        }
        seen.add(k);
      });
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// CEL

const cel = celEnv({ funcs: strings });
type Program = (bindings: Record<string, CelInput>) => CelResult;
const programs = new Map<string, Program | Error>();

function program(expr: string): Program | Error {
  let p = programs.get(expr);
  if (p === undefined) {
    try {
      p = plan(cel, parse(expr));
    } catch (e) {
      p = e instanceof Error ? e : new Error(String(e));
    }
    programs.set(expr, p);
  }
  return p;
}

/** Converts a JSON value to its CEL form, typed by the schema as Kubernetes does: integer → int, number → double,
 * objects → maps. Values without schema (preserved unknown fields): whole numbers → int. */
function toCel(schema: Schema | undefined, value: unknown): CelInput {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    const t = schema?.type;
    const isDouble = t === "number" || (Array.isArray(t) && t.includes("number"));
    return !isDouble && Number.isInteger(value) ? BigInt(value) : value;
  }
  if (Array.isArray(value)) {
    const items = schema !== undefined && isSchema(schema.items) ? schema.items : undefined;
    return value.map((v: unknown) => toCel(items, v));
  }
  if (isRecord(value)) {
    const m = new Map<string, CelInput>();
    for (const [k, v] of Object.entries(value)) m.set(k, toCel(schema === undefined ? undefined : childSchema(schema, k), v));
    return m;
  }
  throw new Error(`cannot convert ${typeof value} to CEL`);
}

const TRANSITION = /\boldSelf\b/;

export function isTransitionRule(rule: ValidationRule): boolean {
  return TRANSITION.test(rule.rule);
}

function evalRule(rule: ValidationRule, bindings: Record<string, CelInput>, at: Segment[]): Problem | undefined {
  const where = formatPath(at);
  const prog = program(rule.rule);
  if (prog instanceof Error) return { path: where, message: `invalid rule ${JSON.stringify(rule.rule)}: ${prog.message}` };
  let result: CelResult;
  try {
    result = prog(bindings);
  } catch (e) {
    return { path: where, message: `rule ${JSON.stringify(rule.rule)} could not be evaluated: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (result === true) return undefined;
  if (isCelError(result)) return { path: where, message: `rule ${JSON.stringify(rule.rule)} could not be evaluated: ${result.message}` };
  if (typeof result !== "boolean") return { path: where, message: `rule ${JSON.stringify(rule.rule)} did not evaluate to a bool` };

  let message = rule.message ?? `failed rule: ${rule.rule}`;
  if (rule.messageExpression !== undefined) {
    const mp = program(rule.messageExpression);
    let m: CelResult | undefined;
    try {
      m = mp instanceof Error ? undefined : mp(bindings);
    } catch {
      m = undefined; // as in Kubernetes, a failing messageExpression falls back to message
    }
    if (typeof m === "string" && m !== "") message = m;
  }
  const fp = rule.fieldPath ?? "";
  let path = where;
  if (fp !== "") {
    if (where === "") path = fp.replace(/^\./, "");
    else path = fp.startsWith(".") || fp.startsWith("[") ? `${where}${fp}` : `${where}.${fp}`;
  }
  return { path, message };
}

/** Whether a value has the schema's type. CEL rules are not run on null, nor on values that already fail the type check. */
function typeMatches(s: Schema, v: unknown): boolean {
  if (v === null) return false;
  if (s["x-kubernetes-int-or-string"] === true) return typeof v === "string" || Number.isInteger(v);
  switch (s.type) {
    case "object":
      return isRecord(v);
    case "array":
      return Array.isArray(v);
    case "string":
      return typeof v === "string";
    case "boolean":
      return typeof v === "boolean";
    case "integer":
      return Number.isInteger(v);
    case "number":
      return typeof v === "number";
    default:
      return true;
  }
}

function celProblems(schema: Schema, value: unknown, old: OldValue | undefined): Problem[] {
  const out: Problem[] = [];
  walk(schema, value, [], old, (s, v, at, o) => {
    const rules = s["x-kubernetes-validations"];
    if (rules === undefined || rules.length === 0 || !typeMatches(s, v)) return;
    let self: CelInput | undefined;
    let oldSelf: CelInput | undefined;
    for (const rule of rules) {
      const transition = isTransitionRule(rule);
      if (transition && o === undefined) continue; // create (validate), or no correlated old value
      self ??= toCel(s, v);
      const bindings: Record<string, CelInput> = { self };
      if (transition && o !== undefined) bindings["oldSelf"] = oldSelf ??= toCel(s, o.value);
      const p = evalRule(rule, bindings, at);
      if (p !== undefined) out.push(p);
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// XRD → XR schema

const FREE_OBJECT: Schema = { type: "object", [PRESERVE]: true };

const CONDITIONS: Schema = {
  type: "array",
  "x-kubernetes-list-type": "map",
  "x-kubernetes-list-map-keys": ["type"],
  items: {
    type: "object",
    required: ["lastTransitionTime", "reason", "status", "type"],
    properties: {
      lastTransitionTime: { type: "string", format: "date-time" },
      message: { type: "string" },
      observedGeneration: { type: "integer", format: "int64" },
      reason: { type: "string" },
      status: { type: "string" },
      type: { type: "string" },
    },
  },
};

const COMPOSITION_REFS: Record<string, Schema> = {
  compositionRef: FREE_OBJECT,
  compositionSelector: FREE_OBJECT,
  compositionRevisionRef: FREE_OBJECT,
  compositionRevisionSelector: FREE_OBJECT,
  compositionUpdatePolicy: { type: "string", enum: ["Automatic", "Manual"] },
};

/** Fields Crossplane adds to the spec and status of an XR (or claim) CRD it generates from an XRD. The nested ones are
 * kept loose (preserve unknown fields): we validate our own fields strictly, not Crossplane's. */
function crossplaneFields(flavour: "xr" | "legacy-xr" | "claim"): { spec: Record<string, Schema>; status: Record<string, Schema> } {
  if (flavour === "xr") return { spec: { crossplane: FREE_OBJECT }, status: { conditions: CONDITIONS } };
  const legacyStatus: Record<string, Schema> = {
    conditions: CONDITIONS,
    connectionDetails: FREE_OBJECT,
    claimConditionTypes: { type: "array", items: { type: "string" } },
  };
  const connection = { writeConnectionSecretToRef: FREE_OBJECT, publishConnectionDetailsTo: FREE_OBJECT };
  if (flavour === "legacy-xr") {
    return {
      spec: {
        ...COMPOSITION_REFS,
        ...connection,
        claimRef: FREE_OBJECT,
        resourceRefs: { type: "array", items: FREE_OBJECT },
        environmentConfigRefs: { type: "array", items: FREE_OBJECT },
      },
      status: legacyStatus,
    };
  }
  return {
    spec: {
      ...COMPOSITION_REFS,
      ...connection,
      resourceRef: FREE_OBJECT,
      compositeDeletePolicy: { type: "string", enum: ["Background", "Foreground"] },
    },
    status: legacyStatus,
  };
}

function withProperties(base: Schema | undefined, extra: Record<string, Schema>): Schema {
  const s: Schema = { ...(base ?? {}) };
  s.type ??= "object";
  s.properties = { ...(s.properties ?? {}), ...extra };
  return s;
}

function xrSchema(user: Schema | undefined, flavour: "xr" | "legacy-xr" | "claim"): Schema {
  const extra = crossplaneFields(flavour);
  const props = user?.properties ?? {};
  const root: Schema = {
    type: "object",
    required: [...new Set([...(user?.required ?? []), "spec"])],
    properties: {
      ...props,
      apiVersion: { type: "string" },
      kind: { type: "string" },
      metadata: { type: "object" },
      spec: withProperties(props["spec"], extra.spec),
      status: withProperties(props["status"], extra.status),
    },
  };
  const rules = user?.["x-kubernetes-validations"];
  if (rules !== undefined) root["x-kubernetes-validations"] = rules;
  return root;
}

// ---------------------------------------------------------------------------------------------------------------
// registry

interface Compiled {
  validate: ValidateFunction;
}

function describeDoc(doc: unknown): string {
  if (!isRecord(doc)) return "";
  const meta = doc["metadata"];
  const name = isRecord(meta) ? str(meta["name"]) : undefined;
  return `${str(doc["kind"]) ?? "?"} ${name ?? "?"}`;
}

/** True when the document is something SchemaRegistry.add() accepts: a v1 CRD or a Crossplane XRD. */
export function isSchemaDocument(doc: unknown): boolean {
  if (!isRecord(doc)) return false;
  const av = doc["apiVersion"];
  const kind = doc["kind"];
  return (
    (av === "apiextensions.k8s.io/v1" && kind === "CustomResourceDefinition") ||
    ((av === "apiextensions.crossplane.io/v1" || av === "apiextensions.crossplane.io/v2") && kind === "CompositeResourceDefinition")
  );
}

/** Schemas indexed by `apiVersion` (group/version) + `kind`. */
export class SchemaRegistry {
  readonly #entries = new Map<string, SchemaEntry>();
  readonly #compiled = new Map<string, Compiled>();
  readonly #ajv = new Ajv({ strict: false, allErrors: true, verbose: true, unicodeRegExp: false, formats: FORMATS });

  static key(apiVersion: string, kind: string): string {
    return `${apiVersion} ${kind}`;
  }

  /** Registers one schema under apiVersion + kind. Throws if that pair is already registered. */
  addSchema(apiVersion: string, kind: string, schema: Schema, source: string, nameRule: NameRule = "subdomain"): string {
    const key = SchemaRegistry.key(apiVersion, kind);
    const existing = this.#entries.get(key);
    if (existing !== undefined) throw new Error(`${source}: ${key} is already defined by ${existing.source}`);
    this.#entries.set(key, { apiVersion, kind, schema, source, nameRule });
    return key;
  }

  /** Registers every served version of a CRD (apiextensions.k8s.io/v1) or of a Crossplane XRD (v1 or v2; the XR's
   * schema gets the fields Crossplane adds, and a v1 XRD's claim kind is registered too). Returns the keys added. */
  add(doc: unknown, source = "<inline>"): string[] {
    if (!isSchemaDocument(doc) || !isRecord(doc)) throw new Error(`${source}: not a CustomResourceDefinition or CompositeResourceDefinition`);
    const where = `${source} (${describeDoc(doc)})`;
    const spec = doc["spec"];
    if (!isRecord(spec)) throw new Error(`${where}: spec is missing`);
    const group = str(spec["group"]);
    const names = spec["names"];
    const kind = isRecord(names) ? str(names["kind"]) : undefined;
    const versions = spec["versions"];
    if (group === undefined || kind === undefined || !Array.isArray(versions)) {
      throw new Error(`${where}: spec.group, spec.names.kind and spec.versions are required`);
    }
    const isXrd = doc["kind"] === "CompositeResourceDefinition";
    const legacy = isXrd && (doc["apiVersion"] === "apiextensions.crossplane.io/v1" || spec["scope"] === "LegacyCluster");
    const claimNames = spec["claimNames"];
    const claimKind = isXrd && isRecord(claimNames) ? str(claimNames["kind"]) : undefined;
    const keys: string[] = [];
    for (const v of versions as unknown[]) {
      if (!isRecord(v)) throw new Error(`${where}: spec.versions holds a non-object`);
      const name = str(v["name"]);
      if (name === undefined) throw new Error(`${where}: a version has no name`);
      if (v["served"] !== true) continue;
      const schemaHolder = v["schema"];
      const raw = isRecord(schemaHolder) ? schemaHolder["openAPIV3Schema"] : undefined;
      const apiVersion = `${group}/${name}`;
      if (isXrd) {
        const user = isSchema(raw) ? raw : undefined;
        keys.push(this.addSchema(apiVersion, kind, xrSchema(user, legacy ? "legacy-xr" : "xr"), where));
        if (claimKind !== undefined) keys.push(this.addSchema(apiVersion, claimKind, xrSchema(user, "claim"), where));
      } else {
        if (!isSchema(raw)) throw new Error(`${where}: version ${name} has no schema.openAPIV3Schema`);
        keys.push(this.addSchema(apiVersion, kind, raw, where));
      }
    }
    return keys;
  }

  has(apiVersion: string, kind: string): boolean {
    return this.#entries.has(SchemaRegistry.key(apiVersion, kind));
  }

  get(apiVersion: string, kind: string): SchemaEntry | undefined {
    return this.#entries.get(SchemaRegistry.key(apiVersion, kind));
  }

  /** Registered `apiVersion kind` keys, sorted. */
  kinds(): string[] {
    return [...this.#entries.keys()].sort();
  }

  /** Compiles a schema now (normally done on first use); throws if ajv rejects it. */
  compile(apiVersion: string, kind: string): void {
    const key = SchemaRegistry.key(apiVersion, kind);
    const entry = this.#entries.get(key);
    if (entry === undefined) throw new Error(`no schema for ${key}`);
    this.#compile(key, entry);
  }

  #compile(key: string, entry: SchemaEntry): Compiled {
    let c = this.#compiled.get(key);
    if (c === undefined) {
      c = { validate: this.#ajv.compile(toAjvSchema(entry.schema, "root")) };
      this.#compiled.set(key, c);
    }
    return c;
  }

  /** All problems of a document for create (transition rules skipped). [] when valid. */
  validate(doc: unknown): Problem[] {
    return this.#check(doc, undefined);
  }

  /** All problems of `newDoc` as an update of `oldDoc`: what validate(newDoc) finds, plus transition rules (those that
   * use oldSelf), evaluated where the old document has a correlated value. */
  validateUpdate(oldDoc: unknown, newDoc: unknown): Problem[] {
    const head = (d: unknown): string => (isRecord(d) ? `${str(d["apiVersion"])} ${str(d["kind"])}` : "");
    if (head(oldDoc) !== head(newDoc)) {
      return [{ path: "", message: `cannot update ${head(oldDoc)} to ${head(newDoc)}: apiVersion and kind must match` }];
    }
    return this.#check(newDoc, { value: oldDoc });
  }

  #check(doc: unknown, old: OldValue | undefined): Problem[] {
    if (!isRecord(doc)) return [{ path: "", message: `must be an object with apiVersion and kind, got ${jsonType(doc)}` }];
    const apiVersion = doc["apiVersion"];
    const kind = doc["kind"];
    if (typeof apiVersion !== "string" || typeof kind !== "string") {
      return [{ path: "", message: "apiVersion and kind must be strings" }];
    }
    const key = SchemaRegistry.key(apiVersion, kind);
    const entry = this.#entries.get(key);
    if (entry === undefined) return [{ path: "", message: `no schema for ${key}` }];

    const data = structuredClone(doc);
    applyDefaults(entry.schema, data);
    let oldData: OldValue | undefined;
    if (old !== undefined) {
      oldData = { value: structuredClone(old.value) };
      applyDefaults(entry.schema, oldData.value);
    }
    let validate: ValidateFunction;
    try {
      validate = this.#compile(key, entry).validate;
    } catch (e) {
      return [{ path: "", message: `the schema of ${key} (${entry.source}) does not compile: ${e instanceof Error ? e.message : String(e)}` }];
    }
    const problems: Problem[] = [];
    if (!validate(data)) for (const e of validate.errors ?? []) problems.push(ajvProblem(e, data));
    problems.push(...structuralProblems(entry.schema, data, entry.nameRule));
    problems.push(...celProblems(entry.schema, data, oldData));
    return dedupe(problems);
  }
}

/** A registry of every served version of the CRDs and XRDs in the given files or directories (*.yaml, recursive).
 * Throws on a document that is neither. */
export function loadCrds(paths: string[]): SchemaRegistry {
  const registry = new SchemaRegistry();
  for (const p of paths) {
    for (const file of yamlFilesIn(p)) {
      for (const { doc, index } of cachedYaml(file)) registry.add(doc, `${file}#${index}`);
    }
  }
  return registry;
}

const CORE_ROOT: Record<string, Schema> = { apiVersion: { type: "string" }, kind: { type: "string" }, metadata: { type: "object" } };
const CONFIG_KEYS: Schema = { pattern: "^[-._a-zA-Z0-9]+$", maxLength: 253 };

/** Light structural schemas for the core kinds our manifests may carry: v1 Secret, ConfigMap and Namespace. */
export function coreValidator(): SchemaRegistry {
  const r = new SchemaRegistry();
  const map = (values: Schema): Schema => ({ type: "object", propertyNames: CONFIG_KEYS, additionalProperties: values });
  r.addSchema(
    "v1",
    "Secret",
    {
      type: "object",
      properties: {
        ...CORE_ROOT,
        type: { type: "string" },
        immutable: { type: "boolean" },
        data: map({ type: "string", format: "byte" }),
        stringData: map({ type: "string" }),
      },
    },
    "builtin v1 Secret",
  );
  r.addSchema(
    "v1",
    "ConfigMap",
    {
      type: "object",
      properties: {
        ...CORE_ROOT,
        immutable: { type: "boolean" },
        data: map({ type: "string" }),
        binaryData: map({ type: "string", format: "byte" }),
      },
    },
    "builtin v1 ConfigMap",
  );
  r.addSchema(
    "v1",
    "Namespace",
    {
      type: "object",
      properties: {
        ...CORE_ROOT,
        spec: { type: "object", properties: { finalizers: { type: "array", items: { type: "string" } } } },
        status: { type: "object", [PRESERVE]: true },
      },
    },
    "builtin v1 Namespace",
    "label",
  );
  const strings = { type: "array", items: { type: "string" } };
  r.addSchema(
    "rbac.authorization.k8s.io/v1",
    "ClusterRole",
    {
      type: "object",
      properties: {
        ...CORE_ROOT,
        rules: {
          type: "array",
          items: {
            type: "object",
            required: ["verbs"],
            properties: { apiGroups: strings, resources: strings, resourceNames: strings, nonResourceURLs: strings, verbs: strings },
          },
        },
      },
    },
    "builtin rbac.authorization.k8s.io/v1 ClusterRole",
  );
  const binding: Schema = {
    type: "object",
    required: ["roleRef"],
    properties: {
      ...CORE_ROOT,
      roleRef: { type: "object", required: ["apiGroup", "kind", "name"], properties: { apiGroup: { type: "string" }, kind: { type: "string" }, name: { type: "string" } } },
      subjects: {
        type: "array",
        items: { type: "object", required: ["kind", "name"], properties: { kind: { type: "string" }, name: { type: "string" }, namespace: { type: "string" }, apiGroup: { type: "string" } } },
      },
    },
  };
  for (const kind of ["ClusterRoleBinding", "RoleBinding"]) r.addSchema("rbac.authorization.k8s.io/v1", kind, binding, `builtin rbac.authorization.k8s.io/v1 ${kind}`);
  return r;
}
