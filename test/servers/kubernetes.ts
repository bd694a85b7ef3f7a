// A Kubernetes API server fake for tests that drive the REAL @kubernetes/client-node against it: plain HTTP on
// 127.0.0.1, bearer-token authentication, the real REST paths, status codes and `Status` error bodies.
//
//   GET    /api, /apis, /api/v1, /apis/apps/v1         discovery (KubernetesObjectApi resolves kinds through it)
//   GET    /api/v1/namespaces[/{ns}]                    namespaces (implicit: created by the first object in them)
//   *      /api/v1/namespaces/{ns}/secrets[/{name}]     Secrets: GET, LIST, POST, PUT, PATCH, DELETE
//   GET    /api/v1/secrets                              Secrets in all namespaces
//   *      /apis/apps/v1/namespaces/{ns}/deployments[/{name}]   Deployments, the same verbs
//   GET    /apis/apps/v1/deployments                    Deployments in all namespaces
//
// PATCH accepts the four content types the API server accepts for built-in kinds: JSON patch (RFC 6902, incl.
// `test`), JSON merge patch (RFC 7386), strategic merge patch (merge keys for the pod template's lists, the
// `$patch`, `$retainKeys`, `$setElementOrder` and `$deleteFromPrimitiveList` directives) and server-side apply.
//
// Field management follows the API server's fieldmanager/structured-merge-diff code, reduced to what these two
// kinds need (see the comment above `trackApply`):
// - managedFields entries in the real FieldsV1 format (`{"f:data":{".":{},"f:password":{}}}`), sorted as the
//   server sorts them, with `time` set only when the operation changed the object;
// - Update operations (POST, PUT, merge/strategic/JSON patch) take ownership of every field they add or change
//   and never conflict; their manager defaults to the User-Agent up to the first "/";
// - Apply sets the applier's fields to exactly its configuration, prunes fields it applied before and no
//   longer does unless some manager (Apply or Update) still owns them, and conflicts (409) with any other
//   manager owning a field whose value it would change, unless `force=true`, which moves the ownership.
//
// Deliberately as the real server, and worth knowing when reading results:
// - an Apply of `stringData` owns `f:stringData`, not the `data` keys the server derives from it: it never
//   conflicts over `data`, and dropping a key from `stringData` later does not remove it from `data`;
// - Secrets have no `metadata.generation`; a Deployment's generation moves when its spec or its annotations
//   change, never on a no-op write, and a no-op write does not change the resourceVersion either;
// - an Apply without `fieldManager`, or `force` on a non-apply patch, is `422 Invalid` (not 400).

import { randomBytes, randomUUID } from "node:crypto";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";

// ---------------------------------------------------------------------------------------------------------------
// Public API

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

export type FakeKind = "Secret" | "Deployment";

export interface KubeFakeOptions {
  /** The bearer token with access to every namespace (random when absent). */
  token?: string;
  /** More tokens, each with the namespaces it may use ("*": all, including cluster-wide lists). */
  tokens?: Record<string, string[] | "*">;
  /** The clock for creationTimestamp and managedFields times (default: the real one). */
  now?: () => Date;
}

/** One request the fake received. */
export interface KubeCall {
  method: string;
  /** URL path without the query string. */
  path: string;
  /** The raw query string without "?" ("" when none). */
  query: string;
  contentType?: string;
  fieldManager?: string;
  force?: boolean;
  dryRun?: boolean;
  /** The status the fake answered; absent while unanswered (a `hang` failure). */
  status?: number;
}

export interface FailRule {
  /** Only requests with this method (any when absent). */
  method?: string;
  /** Only requests whose path contains this (any when absent). */
  pathIncludes?: string;
  /** The status to answer (default 500). */
  status?: number;
  /** The Status reason (default: the one the API server uses with that code). */
  reason?: string;
  message?: string;
  /** How many matching requests fail (default 1). */
  times?: number;
  /** Accept the request and never answer it (until the client gives up or the fake closes). */
  hang?: boolean;
}

export interface KubeFake {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** The token with access to everything. */
  readonly token: string;
  /** A KubeConfig for the fake (bearer token; `insecure-skip-tls-verify`, which the client needs for http). */
  kubeConfig(opts?: { token?: string; namespace?: string }): KubeConfig;
  /** The same as a kubeconfig file's text, for a child process started with KUBECONFIG=<file>. */
  kubeconfigYaml(opts?: { token?: string; namespace?: string }): string;
  /**
   * Stores an object directly (seeding, no validation): fills uid, resourceVersion, creationTimestamp (and
   * generation 1 and status for a Deployment) when absent, folds `stringData` into `data`, applies the server's
   * defaults, and keeps `managedFields` as given. With `fieldManager`, records the fields as set by that manager's
   * Update, as if it had created the object (defaults included, as for a real create).
   */
  put(obj: object, opts?: { fieldManager?: string }): JsonObject;
  /** A copy of a stored object, as the API would return it. */
  get(namespace: string, kind: FakeKind, name: string): JsonObject | undefined;
  /**
   * The managers (sorted names) owning a field: "data.password", "metadata.labels.app", with brackets for names
   * containing dots: `metadata.annotations["kubectl.kubernetes.io/restartedAt"]`, keyed list items as the API
   * prints them: `spec.template.spec.containers[name="app"].image` (a leading "." is accepted).
   */
  owners(namespace: string, kind: FakeKind, name: string, fieldPath: string): string[];
  calls(): KubeCall[];
  resetCalls(): void;
  /** Makes the next matching request(s) fail, before authentication and any other processing. */
  failNext(rule: FailRule): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------
// JSON helpers

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
const asObject = (v: Json | undefined): JsonObject | undefined => (isObject(v) ? v : undefined);
const asString = (v: Json | undefined): string | undefined => (typeof v === "string" ? v : undefined);
const clone = <T extends Json>(v: T): T => structuredClone(v);
const remove = (o: JsonObject, key: string): void => {
  Reflect.deleteProperty(o, key);
};

function deepEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

function toJson(v: unknown): Json {
  return JSON.parse(JSON.stringify(v)) as Json;
}

// ---------------------------------------------------------------------------------------------------------------
// Status errors

class StatusError extends Error {
  readonly code: number;
  readonly body: JsonObject;
  constructor(code: number, reason: string, message: string, details?: JsonObject) {
    super(message);
    this.code = code;
    this.body = statusBody(code, reason, message, details);
  }
}

function statusBody(code: number, reason: string, message: string, details?: JsonObject): JsonObject {
  const s: JsonObject = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message };
  if (reason !== "") s.reason = reason;
  if (details !== undefined && Object.keys(details).length > 0) s.details = details;
  s.code = code;
  return s;
}

const REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  409: "Conflict",
  410: "Expired",
  415: "UnsupportedMediaType",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

const OPTIMISTIC_LOCK = "the object has been modified; please apply your changes to the latest version and try again";

function resourceDetails(res: Resource, name?: string): JsonObject {
  const d: JsonObject = {};
  if (name !== undefined && name !== "") d.name = name;
  if (res.group !== "") d.group = res.group;
  d.kind = res.resource;
  return d;
}
const qualified = (res: Resource): string => (res.group === "" ? res.resource : `${res.resource}.${res.group}`);

const badRequest = (message: string): StatusError => new StatusError(400, "BadRequest", message);
const notFound = (res: Resource, name: string): StatusError =>
  new StatusError(404, "NotFound", `${qualified(res)} "${name}" not found`, resourceDetails(res, name));
const alreadyExists = (res: Resource, name: string): StatusError =>
  new StatusError(409, "AlreadyExists", `${qualified(res)} "${name}" already exists`, resourceDetails(res, name));
const conflict = (res: Resource, name: string, why = OPTIMISTIC_LOCK): StatusError =>
  new StatusError(409, "Conflict", `Operation cannot be fulfilled on ${qualified(res)} "${name}": ${why}`, resourceDetails(res, name));

interface FieldError {
  type: "Required" | "Invalid" | "Forbidden" | "TooLong" | "NotSupported";
  field: string;
  detail: string;
  value?: Json;
}

function goValue(v: Json | undefined): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (isObject(v) && Object.values(v).every((x) => typeof x === "string")) {
    return `map[string]string{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${JSON.stringify(v[k])}`)
      .join(", ")}}`;
  }
  return JSON.stringify(v ?? null);
}

function fieldErrorBody(e: FieldError): string {
  switch (e.type) {
    case "Required":
      return e.detail === "" ? "Required value" : `Required value: ${e.detail}`;
    case "Invalid":
      return `Invalid value: ${goValue(e.value)}: ${e.detail}`;
    case "Forbidden":
      return `Forbidden: ${e.detail}`;
    case "TooLong":
      return `Too long: ${e.detail}`;
    case "NotSupported":
      return `Unsupported value: ${goValue(e.value)}: ${e.detail}`;
  }
}

const CAUSE_TYPES: Record<FieldError["type"], string> = {
  Required: "FieldValueRequired",
  Invalid: "FieldValueInvalid",
  Forbidden: "FieldValueForbidden",
  TooLong: "FieldValueTooLong",
  NotSupported: "FieldValueNotSupported",
};

/** 422 Invalid, as errors.NewInvalid builds it. */
function invalid(kind: string, group: string, name: string, errs: FieldError[]): StatusError {
  const texts = errs.map((e) => `${e.field}: ${fieldErrorBody(e)}`);
  const aggregate = texts.length === 1 ? texts[0] : `[${texts.join(", ")}]`;
  const gk = group === "" ? kind : `${kind}.${group}`;
  const details: JsonObject = {};
  if (name !== "") details.name = name;
  if (group !== "") details.group = group;
  if (kind !== "") details.kind = kind;
  details.causes = errs.map((e) => ({ reason: CAUSE_TYPES[e.type], message: fieldErrorBody(e), field: e.field }));
  return new StatusError(422, "Invalid", `${gk} ${JSON.stringify(name)} is invalid: ${aggregate}`, details);
}

// ---------------------------------------------------------------------------------------------------------------
// The two kinds, with the bits of their OpenAPI schema that field management and strategic merge need

interface Resource {
  kind: FakeKind;
  apiVersion: string;
  group: string;
  version: string;
  resource: string;
  singular: string;
  listKind: string;
  shortNames: string[];
  /** Server-side apply: associative lists (`listType=map`) by schema path, with their key fields. */
  listKeys: ReadonlyMap<string, readonly string[]>;
  /** Server-side apply: maps owned as a whole (`structType=atomic`). Lists without keys are atomic too. */
  atomic: ReadonlySet<string>;
  /** Strategic merge patch: `patchMergeKey` of lists merged by key. */
  mergeKeys: ReadonlyMap<string, string>;
  /** Strategic merge patch: lists of scalars merged as sets. */
  primitiveMerge: ReadonlySet<string>;
  /** Top-level fields the main resource resets (status) and field management ignores. */
  ignored: readonly string[];
  /** The empty object the server compares a created object with (`new(T)` converted to JSON). */
  empty(): JsonObject;
}

function podTemplateLists(prefix: string): { keys: [string, string[]][]; merge: [string, string][] } {
  const keys: [string, string[]][] = [[`${prefix}.volumes`, ["name"]]];
  const merge: [string, string][] = [
    [`${prefix}.volumes`, "name"],
    [`${prefix}.imagePullSecrets`, "name"],
  ];
  for (const c of ["containers", "initContainers", "ephemeralContainers"]) {
    keys.push(
      [`${prefix}.${c}`, ["name"]],
      [`${prefix}.${c}.env`, ["name"]],
      [`${prefix}.${c}.ports`, ["containerPort", "protocol"]],
      [`${prefix}.${c}.volumeMounts`, ["mountPath"]],
    );
    merge.push(
      [`${prefix}.${c}`, "name"],
      [`${prefix}.${c}.env`, "name"],
      [`${prefix}.${c}.ports`, "containerPort"],
      [`${prefix}.${c}.volumeMounts`, "mountPath"],
    );
  }
  return { keys, merge };
}

const SECRET: Resource = {
  kind: "Secret",
  apiVersion: "v1",
  group: "",
  version: "v1",
  resource: "secrets",
  singular: "secret",
  listKind: "SecretList",
  shortNames: [],
  listKeys: new Map([["metadata.ownerReferences", ["uid"]]]),
  atomic: new Set(),
  mergeKeys: new Map([["metadata.ownerReferences", "uid"]]),
  primitiveMerge: new Set(["metadata.finalizers"]),
  ignored: [],
  empty: () => ({ metadata: {} }),
};

const pod = podTemplateLists("spec.template.spec");
const DEPLOYMENT: Resource = {
  kind: "Deployment",
  apiVersion: "apps/v1",
  group: "apps",
  version: "v1",
  resource: "deployments",
  singular: "deployment",
  listKind: "DeploymentList",
  shortNames: ["deploy"],
  listKeys: new Map([["metadata.ownerReferences", ["uid"]], ["spec.template.metadata.ownerReferences", ["uid"]], ...pod.keys]),
  atomic: new Set(["spec.selector"]),
  mergeKeys: new Map([["metadata.ownerReferences", "uid"], ["spec.template.metadata.ownerReferences", "uid"], ...pod.merge]),
  primitiveMerge: new Set(["metadata.finalizers", "spec.template.metadata.finalizers"]),
  ignored: ["status"],
  empty: () => ({ metadata: {}, spec: { selector: null, template: { metadata: {}, spec: { containers: null } }, strategy: {} }, status: {} }),
};

const RESOURCES: Record<FakeKind, Resource> = { Secret: SECRET, Deployment: DEPLOYMENT };

// ---------------------------------------------------------------------------------------------------------------
// Field paths and sets, as structured-merge-diff has them: a path is a list of elements, "f:<field>" for a field
// or map key and `k:{"name":"app"}` for the item of an associative list.

type Path = readonly string[];
const pathKey = (p: Path): string => JSON.stringify(p);
const schemaPath = (p: Path): string =>
  p
    .filter((e) => e.startsWith("f:"))
    .map((e) => e.slice(2))
    .join(".");

function comparePaths(a: Path, b: Path): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] ?? "";
    const y = b[i] ?? "";
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

class FieldSet {
  #paths = new Map<string, Path>();
  constructor(paths: Iterable<Path> = []) {
    for (const p of paths) this.add(p);
  }
  add(p: Path): void {
    this.#paths.set(pathKey(p), p);
  }
  has(p: Path): boolean {
    return this.#paths.has(pathKey(p));
  }
  get size(): number {
    return this.#paths.size;
  }
  paths(): Path[] {
    return [...this.#paths.values()].sort(comparePaths);
  }
  union(o: FieldSet): FieldSet {
    return new FieldSet([...this.#paths.values(), ...o.#paths.values()]);
  }
  minus(o: FieldSet): FieldSet {
    return new FieldSet([...this.#paths.values()].filter((p) => !o.has(p)));
  }
  intersect(o: FieldSet): FieldSet {
    return new FieldSet([...this.#paths.values()].filter((p) => o.has(p)));
  }
  filter(keep: (p: Path) => boolean): FieldSet {
    return new FieldSet([...this.#paths.values()].filter(keep));
  }
  /** Every proper prefix of a member (the parents that must stay while a member lives). */
  prefixes(): Set<string> {
    const out = new Set<string>();
    for (const p of this.#paths.values()) for (let i = 1; i < p.length; i++) out.add(pathKey(p.slice(0, i)));
    return out;
  }
}

interface SetNode {
  self: boolean;
  children: Map<string, SetNode>;
}

/** The FieldsV1 encoding: a member with children gets ".", children sorted. */
function toFieldsV1(set: FieldSet): JsonObject {
  const root: SetNode = { self: false, children: new Map() };
  for (const p of set.paths()) {
    let node = root;
    for (const e of p) {
      let next = node.children.get(e);
      if (next === undefined) {
        next = { self: false, children: new Map() };
        node.children.set(e, next);
      }
      node = next;
    }
    node.self = true;
  }
  const emit = (node: SetNode): JsonObject => {
    const o: JsonObject = {};
    if (node.self && node.children.size > 0) o["."] = {};
    for (const k of [...node.children.keys()].sort()) {
      const child = node.children.get(k);
      if (child !== undefined) o[k] = emit(child);
    }
    return o;
  };
  return emit(root);
}

function fromFieldsV1(v: Json | undefined, prefix: Path = [], out = new FieldSet()): FieldSet {
  if (!isObject(v)) return out;
  for (const [k, child] of Object.entries(v)) {
    if (k === ".") {
      if (prefix.length > 0) out.add(prefix);
      continue;
    }
    const p = [...prefix, k];
    if (isObject(child) && Object.keys(child).length === 0) out.add(p);
    else fromFieldsV1(child, p, out);
  }
  return out;
}

/** A path as the API server prints it in conflicts: `.data.password`, `.spec...containers[name="app"].image`. */
function printPath(p: Path): string {
  return p
    .map((e) => {
      if (e.startsWith("f:")) return `.${e.slice(2)}`;
      if (e.startsWith("k:")) {
        const key = JSON.parse(e.slice(2)) as JsonObject;
        return `[${Object.entries(key)
          .map(([k, v]) => `${k}=${typeof v === "string" ? JSON.stringify(v) : String(v)}`)
          .join(",")}]`;
      }
      return `[=${e.slice(2)}]`;
    })
    .join("");
}

/** Parses the `owners()` syntax (see there) into a path. */
function parseUserPath(s: string): Path {
  const out: string[] = [];
  let i = s.startsWith(".") ? 1 : 0;
  let name = "";
  const flush = (): void => {
    if (name !== "") out.push(`f:${name}`);
    name = "";
  };
  while (i < s.length) {
    const c = s[i] ?? "";
    if (c === ".") {
      flush();
      i++;
    } else if (c === "[") {
      flush();
      const end = s.indexOf("]", i);
      if (end < 0) throw new Error(`owners(): unbalanced "[" in ${s}`);
      const inner = s.slice(i + 1, end);
      const m = /^([A-Za-z0-9_]+)=(.*)$/.exec(inner);
      if (m !== null && !inner.startsWith('"')) {
        const key: JsonObject = {};
        for (const part of inner.split(",")) {
          const eq = part.indexOf("=");
          const raw = part.slice(eq + 1);
          key[part.slice(0, eq)] = raw.startsWith('"') ? (JSON.parse(raw) as string) : Number(raw);
        }
        out.push(`k:${JSON.stringify(Object.fromEntries(Object.entries(key).sort(([a], [b]) => (a < b ? -1 : 1))))}`);
      } else {
        out.push(`f:${inner.startsWith('"') ? (JSON.parse(inner) as string) : inner}`);
      }
      i = end + 1;
    } else {
      name += c;
      i++;
    }
  }
  flush();
  return out;
}

/** The path element of an associative list's item. */
function itemElement(keys: readonly string[], item: Json): string {
  if (!isObject(item)) return `v:${JSON.stringify(item)}`;
  const key: JsonObject = {};
  for (const k of [...keys].sort()) key[k] = item[k] ?? (k === "protocol" ? "TCP" : null);
  return `k:${JSON.stringify(key)}`;
}

function indexItems(keys: readonly string[], list: Json | undefined): Map<string, Json> {
  const out = new Map<string, Json>();
  if (Array.isArray(list)) for (const item of list) {
    const e = itemElement(keys, item);
    if (!out.has(e)) out.set(e, item);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Typed-value operations (structured-merge-diff, for these schemas)

/** The set of fields an applied configuration specifies (`TypedValue.ToFieldSet`). */
function fieldSetOf(res: Resource, config: JsonObject): FieldSet {
  const out = new FieldSet();
  const walk = (v: Json, path: Path): void => {
    const sp = schemaPath(path);
    if (v === null || typeof v !== "object" || res.atomic.has(sp)) {
      out.add(path);
      return;
    }
    if (Array.isArray(v)) {
      const keys = res.listKeys.get(sp);
      if (keys === undefined) {
        out.add(path);
        return;
      }
      for (const item of v) {
        const p = [...path, itemElement(keys, item)];
        walk(item, p);
        out.add(p);
      }
      return;
    }
    const entries = Object.entries(v);
    if (entries.length === 0) out.add(path);
    for (const [k, c] of entries) walk(c, [...path, `f:${k}`]);
  };
  for (const [k, c] of Object.entries(config)) walk(c, [`f:${k}`]);
  return out;
}

interface Comparison {
  added: FieldSet;
  modified: FieldSet;
  removed: FieldSet;
}

/** `TypedValue.Compare`: leaves added, modified or removed, and maps/list items that appeared or disappeared. */
function compare(res: Resource, lhs: JsonObject, rhs: JsonObject): Comparison {
  const c: Comparison = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() };
  const leaf = (l: Json | undefined, r: Json | undefined, path: Path): void => {
    if (l === undefined) c.added.add(path);
    else if (r === undefined) c.removed.add(path);
    else if (!deepEqual(l, r)) c.modified.add(path);
  };
  const mapLike = (v: Json | undefined): boolean => v === undefined || v === null || isObject(v);
  const listLike = (v: Json | undefined): boolean => v === undefined || v === null || Array.isArray(v);
  const walk = (l: Json | undefined, r: Json | undefined, path: Path): void => {
    if (l === undefined && r === undefined) return;
    const sp = schemaPath(path);
    const keys = res.listKeys.get(sp);
    if (path.length > 0 && res.atomic.has(sp)) return leaf(l, r, path);
    if ((isObject(l) || isObject(r)) && mapLike(l) && mapLike(r)) {
      const lm = isObject(l) ? l : {};
      const rm = isObject(r) ? r : {};
      const names = new Set([...Object.keys(lm), ...Object.keys(rm)]);
      if (names.size === 0) return leaf(l, r, path);
      for (const k of names) walk(lm[k], rm[k], [...path, `f:${k}`]);
    } else if (keys !== undefined && (Array.isArray(l) || Array.isArray(r)) && listLike(l) && listLike(r)) {
      const li = indexItems(keys, l);
      const ri = indexItems(keys, r);
      if (li.size === 0 && ri.size === 0) return leaf(l, r, path);
      for (const e of new Set([...li.keys(), ...ri.keys()])) walk(li.get(e), ri.get(e), [...path, e]);
    } else {
      return leaf(l, r, path);
    }
    if (path.length > 0) {
      if (l === undefined) c.added.add(path);
      else if (r === undefined) c.removed.add(path);
    }
  };
  walk(lhs, rhs, []);
  return c;
}

/** The apply merge: the configuration's values win, maps merge, associative lists merge by key. */
function mergeApplied(res: Resource, live: Json | undefined, config: Json | undefined, path: Path = []): Json | undefined {
  if (config === undefined) return live === undefined ? undefined : clone(live);
  if (live === undefined || live === null) return clone(config);
  const sp = schemaPath(path);
  if (path.length > 0 && res.atomic.has(sp)) return clone(config);
  if (isObject(live) && isObject(config)) {
    const out = clone(live);
    for (const [k, v] of Object.entries(config)) {
      const merged = mergeApplied(res, live[k], v, [...path, `f:${k}`]);
      if (merged !== undefined) out[k] = merged;
    }
    return out;
  }
  const keys = res.listKeys.get(sp);
  if (keys !== undefined && Array.isArray(live) && Array.isArray(config)) {
    const fromConfig = indexItems(keys, config);
    const inLive = indexItems(keys, live);
    const out: Json[] = [];
    for (const [e, item] of inLive) out.push(mergeApplied(res, item, fromConfig.get(e), [...path, e]) ?? null);
    for (const [e, item] of fromConfig) if (!inLive.has(e)) out.push(clone(item));
    return out;
  }
  return clone(config);
}

function removePath(res: Resource, root: JsonObject, path: Path): void {
  let cur: Json | undefined = root;
  for (let i = 0; i < path.length; i++) {
    const e = path[i] ?? "";
    const last = i === path.length - 1;
    if (e.startsWith("f:")) {
      if (!isObject(cur)) return;
      if (last) return remove(cur, e.slice(2));
      cur = cur[e.slice(2)];
    } else {
      const keys = res.listKeys.get(schemaPath(path.slice(0, i)));
      if (!Array.isArray(cur) || keys === undefined) return;
      const idx = cur.findIndex((item) => itemElement(keys, item) === e);
      if (idx < 0) return;
      if (last) {
        cur.splice(idx, 1);
        return;
      }
      cur = cur[idx];
    }
  }
}

// Fields the field manager never tracks (fieldmanager's stripMeta), plus the kind's reset fields (status).
const STRIPPED = new Set(
  [["apiVersion"], ["kind"], ["metadata"], ...["name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation", "managedFields", "resourceVersion"].map((f) => ["metadata", f])].map(
    (p) => pathKey(p.map((f) => `f:${f}`)),
  ),
);

function strip(res: Resource, set: FieldSet): FieldSet {
  return set.filter((p) => !STRIPPED.has(pathKey(p)) && !res.ignored.some((f) => p[0] === `f:${f}`));
}

// ---------------------------------------------------------------------------------------------------------------
// managedFields

interface ManagerEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time?: string;
  set: FieldSet;
}
type Managers = Map<string, ManagerEntry>;

/** fieldmanager's BuildManagerIdentifier: Apply entries do not depend on the API version, Update entries do. */
const managerId = (manager: string, operation: "Apply" | "Update", apiVersion: string): string =>
  JSON.stringify([manager, operation, operation === "Update" ? apiVersion : ""]);

function decodeManaged(entries: Json | undefined): Managers {
  const out: Managers = new Map();
  if (!Array.isArray(entries)) return out;
  for (const e of entries) {
    if (!isObject(e)) continue;
    const manager = asString(e.manager) ?? "";
    const operation = e.operation === "Apply" ? "Apply" : "Update";
    const apiVersion = asString(e.apiVersion) ?? "";
    const t = asString(e.time);
    // RFC 3339 in seconds, as metav1.Time serializes (clients send it back with milliseconds)
    const time = t === undefined || Number.isNaN(Date.parse(t)) ? undefined : new Date(t).toISOString().replace(/\.\d+Z$/, "Z");
    out.set(managerId(manager, operation, apiVersion), { manager, operation, apiVersion, ...(time !== undefined ? { time } : {}), set: fromFieldsV1(e.fieldsV1) });
  }
  return out;
}

/** Encodes the entries sorted as the server sorts them: operation, time (seconds), manager, apiVersion. */
function encodeManaged(managers: Managers): JsonObject[] {
  const seconds = (t: string | undefined): number => (t === undefined ? 0 : Math.floor(Date.parse(t) / 1000));
  return [...managers.values()]
    .filter((e) => e.set.size > 0)
    .sort(
      (a, b) =>
        a.operation.localeCompare(b.operation) ||
        seconds(a.time) - seconds(b.time) ||
        (a.manager < b.manager ? -1 : a.manager > b.manager ? 1 : 0) ||
        (a.apiVersion < b.apiVersion ? -1 : a.apiVersion > b.apiVersion ? 1 : 0),
    )
    .map((e) => ({
      manager: e.manager,
      operation: e.operation,
      apiVersion: e.apiVersion,
      ...(e.time !== undefined ? { time: e.time } : {}),
      fieldsType: "FieldsV1",
      fieldsV1: toFieldsV1(e.set),
    }));
}

function dropEmpty(managers: Managers): void {
  for (const [id, e] of managers) if (e.set.size === 0) managers.delete(id);
}

/**
 * An Update operation (merge.Updater.Update behind fieldmanager's managedFieldsUpdater): the fields it added or
 * changed move to `manager` (taken from whoever owned them, never a conflict), removed fields leave every
 * manager, and the entry's time moves only when the operation changed something.
 */
function trackUpdate(res: Resource, managers: Managers, live: JsonObject, next: JsonObject, manager: string, now: string): void {
  const c = compare(res, live, next);
  const changed = strip(res, c.added.union(c.modified));
  const lost = changed.union(strip(res, c.removed));
  for (const e of managers.values()) e.set = e.set.minus(lost);
  if (changed.size > 0) {
    const id = managerId(manager, "Update", res.apiVersion);
    const prev = managers.get(id)?.set ?? new FieldSet();
    managers.set(id, { manager, operation: "Update", apiVersion: res.apiVersion, time: now, set: prev.union(changed) });
  }
  dropEmpty(managers);
}

interface ConflictEntry {
  entry: ManagerEntry;
  paths: Path[];
}

/** The 409 of an Apply conflict, as fieldmanager's NewConflictError words it. */
function applyConflict(conflicts: ConflictEntry[]): StatusError {
  const who = (e: ManagerEntry): string => (e.operation === "Update" ? `${JSON.stringify(e.manager)} using ${e.apiVersion}` : JSON.stringify(e.manager));
  const flat = conflicts.flatMap((c) => c.paths.map((p) => ({ entry: c.entry, path: p })));
  let message: string;
  const first = flat[0];
  if (flat.length === 1 && first !== undefined) {
    message = `Apply failed with 1 conflict: conflict with ${who(first.entry)}: ${printPath(first.path)}`;
  } else {
    const lines: string[] = [];
    for (const c of [...conflicts].sort((a, b) => (a.entry.manager < b.entry.manager ? -1 : 1))) {
      lines.push(`conflicts with ${who(c.entry)}:`, ...c.paths.map((p) => `- ${printPath(p)}`));
    }
    message = `Apply failed with ${flat.length} conflicts: ${lines.join("\n")}`;
  }
  return new StatusError(409, "Conflict", message, {
    causes: flat.map((f) => ({ reason: "FieldManagerConflict", message: `conflict with ${who(f.entry)}`, field: printPath(f.path) })),
  });
}

/**
 * Server-side apply (merge.Updater.Apply):
 * 1. merge the configuration into the live object;
 * 2. the applier's set becomes exactly the configuration's fields;
 * 3. prune: a field the applier applied last time and omits now is removed, unless some manager (any operation,
 *    the applier's new set included) owns it or something below it;
 * 4. compare live and result: a field another manager owns whose value is added or changed is a conflict (409
 *    unless forced; forced, the other manager loses it); removed fields leave every manager;
 * 5. the applier's time moves only if the object changed.
 * Returns the merged object (before defaulting and conversion) and whether it differs from the live one.
 */
function trackApply(res: Resource, managers: Managers, live: JsonObject, config: JsonObject, manager: string, force: boolean, now: string): { merged: JsonObject; changed: boolean } {
  const id = managerId(manager, "Apply", res.apiVersion);
  const previous = managers.get(id);
  const lastSet = previous?.set;
  const merged = asObject(mergeApplied(res, live, config)) ?? {};
  managers.set(id, { manager, operation: "Apply", apiVersion: res.apiVersion, ...(previous?.time !== undefined ? { time: previous.time } : {}), set: strip(res, fieldSetOf(res, config)) });
  if (lastSet !== undefined && lastSet.size > 0) {
    let owned = new FieldSet();
    for (const e of managers.values()) owned = owned.union(e.set);
    const parents = owned.prefixes();
    for (const p of lastSet.paths().reverse()) if (!owned.has(p) && !parents.has(pathKey(p))) removePath(res, merged, p);
  }
  const c = compare(res, live, merged);
  const changedFields = strip(res, c.added.union(c.modified));
  const removedFields = strip(res, c.removed);
  const conflicts: ConflictEntry[] = [];
  for (const [other, e] of managers) {
    if (other === id) continue;
    const clash = e.set.intersect(changedFields);
    if (clash.size > 0) conflicts.push({ entry: e, paths: clash.paths() });
  }
  if (conflicts.length > 0 && !force) throw applyConflict(conflicts);
  for (const [other, e] of managers) if (other !== id) e.set = e.set.minus(changedFields).minus(removedFields);
  dropEmpty(managers);
  const changed = !deepEqual(live, merged);
  const mine = managers.get(id);
  if (changed && mine !== undefined) mine.time = now;
  return { merged, changed };
}

// ---------------------------------------------------------------------------------------------------------------
// Patches

class PatchError extends Error {}

/** RFC 7386. */
function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) remove(out, k);
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith("$") && x !== null) out[k] = stripDirectives(x);
  return out;
}

/** Strategic merge patch (apimachinery strategicpatch), with the merge keys of `res`. */
function strategicMerge(res: Resource, original: JsonObject | undefined, patch: JsonObject, sp: string): JsonObject | undefined {
  const directive = patch.$patch;
  if (directive === "replace") return asObject(stripDirectives(patch)) ?? {};
  if (directive === "delete") return undefined;
  if (directive !== undefined && directive !== "merge") throw new PatchError(`Unknown patch type: ${String(directive)}`);
  const out: JsonObject = original === undefined ? {} : clone(original);
  const orders = new Map<string, Json[]>();
  for (const [k, v] of Object.entries(patch)) {
    if (k === "$patch" || k === "$retainKeys") continue;
    if (k.startsWith("$setElementOrder/")) {
      if (Array.isArray(v)) orders.set(k.slice("$setElementOrder/".length), v);
      continue;
    }
    if (k.startsWith("$deleteFromPrimitiveList/")) {
      const field = k.slice("$deleteFromPrimitiveList/".length);
      const drop = Array.isArray(v) ? v : [];
      const cur = out[field];
      if (Array.isArray(cur)) out[field] = cur.filter((x) => !drop.some((d) => deepEqual(d, x)));
      continue;
    }
    const childSp = sp === "" ? k : `${sp}.${k}`;
    if (v === null) remove(out, k);
    else if (isObject(v)) {
      const merged = strategicMerge(res, asObject(out[k]), v, childSp);
      if (merged === undefined) remove(out, k);
      else out[k] = merged;
    } else if (Array.isArray(v)) out[k] = strategicList(res, out[k], v, childSp);
    else out[k] = v;
  }
  const retain = patch.$retainKeys;
  if (Array.isArray(retain)) for (const k of Object.keys(out)) if (!retain.includes(k)) remove(out, k);
  for (const [field, order] of orders) {
    const list = out[field];
    const key = res.mergeKeys.get(sp === "" ? field : `${sp}.${field}`);
    if (!Array.isArray(list)) continue;
    const rank = (item: Json): number => {
      const i = order.findIndex((o) => (key !== undefined && isObject(o) && isObject(item) ? deepEqual(o[key], item[key]) : deepEqual(o, item)));
      return i < 0 ? order.length : i;
    };
    out[field] = [...list].sort((a, b) => rank(a) - rank(b));
  }
  return out;
}

function strategicList(res: Resource, original: Json | undefined, patch: Json[], sp: string): Json[] {
  const key = res.mergeKeys.get(sp);
  if (key !== undefined) {
    if (patch.some((i) => isObject(i) && i.$patch === "replace")) return patch.filter((i) => !(isObject(i) && i.$patch === "replace")).map(stripDirectives);
    const out: Json[] = Array.isArray(original) ? clone(original) : [];
    for (const item of patch) {
      if (!isObject(item)) {
        out.push(item);
        continue;
      }
      const idx = out.findIndex((o) => isObject(o) && deepEqual(o[key], item[key]));
      if (item.$patch === "delete") {
        if (idx >= 0) out.splice(idx, 1);
        continue;
      }
      const current = idx >= 0 ? asObject(out[idx]) : undefined;
      const merged = strategicMerge(res, current, item, sp) ?? {};
      if (idx >= 0) out[idx] = merged;
      else out.push(merged);
    }
    return out;
  }
  if (res.primitiveMerge.has(sp)) {
    const out: Json[] = Array.isArray(original) ? clone(original) : [];
    for (const item of patch) if (!out.some((o) => deepEqual(o, item))) out.push(item);
    return out;
  }
  return patch.map(stripDirectives);
}

function pointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw new PatchError(`JSON pointer must start with "/": ${path}`);
  return path
    .slice(1)
    .split("/")
    .map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
}

/** RFC 6902 on a copy of `doc`. */
function jsonPatch(doc: JsonObject, ops: Json[]): JsonObject {
  let root: Json = clone(doc);
  const parentOf = (segs: string[]): { parent: Json; last: string } => {
    let cur: Json = root;
    for (const s of segs.slice(0, -1)) {
      const next: Json | undefined = Array.isArray(cur) ? cur[Number(s)] : isObject(cur) ? cur[s] : undefined;
      if (next === undefined) throw new PatchError(`doc is missing path: ${segs.join("/")}`);
      cur = next;
    }
    return { parent: cur, last: segs[segs.length - 1] ?? "" };
  };
  const getAt = (path: string): Json => {
    let cur: Json = root;
    for (const s of pointer(path)) {
      const next: Json | undefined = Array.isArray(cur) ? cur[Number(s)] : isObject(cur) ? cur[s] : undefined;
      if (next === undefined) throw new PatchError(`doc is missing path: ${path}`);
      cur = next;
    }
    return cur;
  };
  const add = (path: string, value: Json): void => {
    const segs = pointer(path);
    if (segs.length === 0) {
      root = value;
      return;
    }
    const { parent, last } = parentOf(segs);
    if (Array.isArray(parent)) {
      const i = last === "-" ? parent.length : Number(last);
      if (!Number.isInteger(i) || i < 0 || i > parent.length) throw new PatchError(`index out of bounds: ${path}`);
      parent.splice(i, 0, value);
    } else if (isObject(parent)) parent[last] = value;
    else throw new PatchError(`doc is missing path: ${path}`);
  };
  const del = (path: string): void => {
    const { parent, last } = parentOf(pointer(path));
    if (Array.isArray(parent)) {
      const i = Number(last);
      if (!Number.isInteger(i) || i < 0 || i >= parent.length) throw new PatchError(`index out of bounds: ${path}`);
      parent.splice(i, 1);
    } else if (isObject(parent) && Object.hasOwn(parent, last)) remove(parent, last);
    else throw new PatchError(`remove operation does not apply: doc is missing path: ${path}`);
  };
  for (const op of ops) {
    if (!isObject(op)) throw new PatchError("operation is not an object");
    const path = asString(op.path) ?? "";
    switch (op.op) {
      case "add":
        add(path, clone(op.value ?? null));
        break;
      case "remove":
        del(path);
        break;
      case "replace":
        getAt(path);
        del(path);
        add(path, clone(op.value ?? null));
        break;
      case "move": {
        const v = getAt(asString(op.from) ?? "");
        del(asString(op.from) ?? "");
        add(path, v);
        break;
      }
      case "copy":
        add(path, clone(getAt(asString(op.from) ?? "")));
        break;
      case "test":
        if (!deepEqual(getAt(path), op.value ?? null)) throw new PatchError(`testing value ${path} failed`);
        break;
      default:
        throw new PatchError(`Unexpected kind: ${String(op.op)}`);
    }
  }
  if (!isObject(root)) throw new PatchError("patched document is not an object");
  return root;
}

// ---------------------------------------------------------------------------------------------------------------
// Selectors

interface Requirement {
  key: string;
  op: "=" | "!=" | "in" | "notin" | "exists" | "!";
  values: string[];
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

function splitTerms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const c of s) {
    if (c === "(") depth++;
    if (c === ")") depth--;
    if (c === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t !== "");
}

function parseLabelSelector(s: string): Requirement[] {
  const reqs: Requirement[] = [];
  for (const term of splitTerms(s)) {
    let m: RegExpExecArray | null;
    let req: Requirement | undefined;
    if ((m = /^!\s*([^\s=!(),]+)$/.exec(term)) !== null) req = { key: m[1] ?? "", op: "!", values: [] };
    else if ((m = /^([^\s=!(),]+)\s*(==|=|!=)\s*([^\s=!(),]*)$/.exec(term)) !== null)
      req = { key: m[1] ?? "", op: m[2] === "!=" ? "!=" : "=", values: [m[3] ?? ""] };
    else if ((m = /^([^\s=!(),]+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(term)) !== null)
      req = { key: m[1] ?? "", op: m[2] === "in" ? "in" : "notin", values: (m[3] ?? "").split(",").map((v) => v.trim()) };
    else if ((m = /^([^\s=!(),]+)$/.exec(term)) !== null) req = { key: m[1] ?? "", op: "exists", values: [] };
    if (req === undefined) throw badRequest(`unable to parse requirement: found '${term}', expected: in, notin, =, ==, !=, gt, lt`);
    if (!LABEL_KEY.test(req.key)) throw badRequest(`unable to parse requirement: invalid label key "${req.key}"`);
    for (const v of req.values) if (!LABEL_VALUE.test(v)) throw badRequest(`unable to parse requirement: invalid label value: "${v}"`);
    reqs.push(req);
  }
  return reqs;
}

function matchesLabels(reqs: Requirement[], labels: JsonObject): boolean {
  return reqs.every((r) => {
    const v = asString(labels[r.key]);
    switch (r.op) {
      case "=":
      case "in":
        return v !== undefined && r.values.includes(v);
      case "!=":
      case "notin":
        return v === undefined || !r.values.includes(v);
      case "exists":
        return v !== undefined;
      case "!":
        return v === undefined;
    }
  });
}

function parseFieldSelector(res: Resource, s: string): (o: JsonObject) => boolean {
  const tests: ((o: JsonObject) => boolean)[] = [];
  for (const term of splitTerms(s)) {
    const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(term);
    if (m === null) throw badRequest(`invalid selector: '${s}'; can't understand '${term}'`);
    const [, field = "", op, value = ""] = m;
    const get = (o: JsonObject): string | undefined => {
      const meta = asObject(o.metadata) ?? {};
      if (field === "metadata.name") return asString(meta.name);
      if (field === "metadata.namespace") return asString(meta.namespace);
      return asString(o.type);
    };
    if (field !== "metadata.name" && field !== "metadata.namespace" && !(res === SECRET && field === "type")) {
      throw badRequest(`field label not supported: ${field}`);
    }
    tests.push((o) => (op === "!=" ? get(o) !== value : get(o) === value));
  }
  return (o) => tests.every((t) => t(o));
}

// ---------------------------------------------------------------------------------------------------------------
// Defaulting, conversion and validation

/** Go's base64.StdEncoding.DecodeString: the offset of the first corrupt byte, or undefined when valid. */
function base64Error(s: string): number | undefined {
  const text = s.replace(/[\r\n]/g, "");
  const alphabet = /[A-Za-z0-9+/]/;
  let i = 0;
  while (i < text.length) {
    const quantum = text.slice(i, i + 4);
    for (let j = 0; j < quantum.length; j++) {
      const c = quantum[j] ?? "";
      if (c === "=") {
        if (j < 2) return i + j;
        if (j === 2 && quantum[3] !== "=") return quantum.length < 4 ? i : i + 3;
        if (i + 4 < text.length) return i + 4;
        return undefined;
      }
      if (!alphabet.test(c)) return i + j;
    }
    if (quantum.length < 4) return i;
    i += 4;
  }
  return undefined;
}

const toBase64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");

/** The v1 → internal conversion's part that matters: `stringData` overwrites `data` and is never stored. */
function foldStringData(o: JsonObject): void {
  const sd = asObject(o.stringData);
  remove(o, "stringData");
  if (sd === undefined || Object.keys(sd).length === 0) return;
  const data = asObject(o.data) ?? {};
  for (const [k, v] of Object.entries(sd)) data[k] = toBase64(typeof v === "string" ? v : JSON.stringify(v));
  o.data = data;
}

function firstBadBase64(o: JsonObject): number | undefined {
  for (const v of Object.values(asObject(o.data) ?? {})) {
    if (typeof v !== "string") return 0;
    const at = base64Error(v);
    if (at !== undefined) return at;
  }
  return undefined;
}

function setDefault(o: JsonObject, key: string, value: Json): void {
  if (o[key] === undefined || o[key] === null) o[key] = value;
}

function defaultObject(res: Resource, o: JsonObject): void {
  if (res === SECRET) {
    if (o.type === undefined || o.type === "") o.type = "Opaque";
    return;
  }
  const spec = asObject(o.spec);
  if (spec === undefined) return;
  setDefault(spec, "replicas", 1);
  setDefault(spec, "strategy", {});
  const strategy = asObject(spec.strategy) ?? {};
  setDefault(strategy, "type", "RollingUpdate");
  if (strategy.type === "RollingUpdate") {
    setDefault(strategy, "rollingUpdate", {});
    const ru = asObject(strategy.rollingUpdate) ?? {};
    setDefault(ru, "maxUnavailable", "25%");
    setDefault(ru, "maxSurge", "25%");
  }
  setDefault(spec, "revisionHistoryLimit", 10);
  setDefault(spec, "progressDeadlineSeconds", 600);
  const podSpec = asObject(asObject(spec.template)?.spec);
  if (podSpec === undefined) return;
  setDefault(podSpec, "restartPolicy", "Always");
  setDefault(podSpec, "terminationGracePeriodSeconds", 30);
  setDefault(podSpec, "dnsPolicy", "ClusterFirst");
  setDefault(podSpec, "securityContext", {});
  setDefault(podSpec, "schedulerName", "default-scheduler");
  for (const c of ["containers", "initContainers"]) {
    const list = podSpec[c];
    if (!Array.isArray(list)) continue;
    for (const container of list) {
      if (!isObject(container)) continue;
      const image = asString(container.image) ?? "";
      const tag = /:([^:/@]+)$/.exec(image)?.[1];
      setDefault(container, "resources", {});
      setDefault(container, "terminationMessagePath", "/dev/termination-log");
      setDefault(container, "terminationMessagePolicy", "File");
      setDefault(container, "imagePullPolicy", (tag === undefined && !image.includes("@")) || tag === "latest" ? "Always" : "IfNotPresent");
      if (Array.isArray(container.ports)) for (const p of container.ports) if (isObject(p)) setDefault(p, "protocol", "TCP");
    }
  }
  if (Array.isArray(podSpec.volumes)) {
    for (const v of podSpec.volumes) {
      if (!isObject(v)) continue;
      for (const src of ["secret", "configMap"]) {
        const s = asObject(v[src]);
        if (s !== undefined) setDefault(s, "defaultMode", 420);
      }
    }
  }
}

// Go's omitempty: nulls, empty maps of map-typed fields and empty lists are not serialized.
const MAP_FIELDS = new Set(["labels", "annotations", "data", "stringData", "matchLabels", "nodeSelector", "limits", "requests"]);

function normalize(v: Json): Json {
  if (Array.isArray(v)) return v.map(normalize);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === null) continue;
    const n = normalize(x);
    if (Array.isArray(n) && n.length === 0) continue;
    if (isObject(n) && Object.keys(n).length === 0 && MAP_FIELDS.has(k)) continue;
    out[k] = n;
  }
  return out;
}

const META_ORDER = [
  "name",
  "generateName",
  "namespace",
  "selfLink",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "labels",
  "annotations",
  "ownerReferences",
  "finalizers",
  "managedFields",
];

/** Field order of the Go types' JSON encoding (cosmetic: easier to read in failures and dumps). */
function canonical(res: Resource, o: JsonObject): JsonObject {
  const meta = asObject(o.metadata) ?? {};
  const orderedMeta: JsonObject = {};
  for (const k of [...META_ORDER, ...Object.keys(meta)]) if (meta[k] !== undefined && orderedMeta[k] === undefined) orderedMeta[k] = meta[k];
  const out: JsonObject = { kind: res.kind, apiVersion: res.apiVersion, metadata: orderedMeta };
  const rest = res === SECRET ? ["immutable", "data", "stringData", "type"] : ["spec", "status"];
  for (const k of [...rest, ...Object.keys(o)]) if (o[k] !== undefined && out[k] === undefined) out[k] = o[k];
  return out;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

function validateMeta(meta: JsonObject, errs: FieldError[]): void {
  const name = asString(meta.name) ?? "";
  if (name === "") errs.push({ type: "Required", field: "metadata.name", detail: "name or generateName is required" });
  else if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    errs.push({
      type: "Invalid",
      field: "metadata.name",
      value: name,
      detail:
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    });
  }
  for (const [k, v] of Object.entries(asObject(meta.labels) ?? {})) {
    if (!LABEL_KEY.test(k)) errs.push({ type: "Invalid", field: "metadata.labels", value: k, detail: "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character" });
    if (typeof v !== "string" || !LABEL_VALUE.test(v)) {
      errs.push({
        type: "Invalid",
        field: "metadata.labels",
        value: v,
        detail:
          "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
      });
    }
  }
  for (const [k, v] of Object.entries(asObject(meta.annotations) ?? {})) {
    if (!LABEL_KEY.test(k)) errs.push({ type: "Invalid", field: "metadata.annotations", value: k, detail: "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character" });
    if (typeof v !== "string") errs.push({ type: "Invalid", field: `metadata.annotations[${k}]`, value: v, detail: "must be a string" });
  }
}

function selectorMatches(selector: JsonObject, labels: JsonObject): boolean {
  const reqs: Requirement[] = Object.entries(asObject(selector.matchLabels) ?? {}).map(([key, v]) => ({ key, op: "=", values: [String(v)] }));
  for (const e of Array.isArray(selector.matchExpressions) ? selector.matchExpressions : []) {
    if (!isObject(e)) continue;
    const op = e.operator === "In" ? "in" : e.operator === "NotIn" ? "notin" : e.operator === "Exists" ? "exists" : "!";
    reqs.push({ key: asString(e.key) ?? "", op, values: Array.isArray(e.values) ? e.values.map(String) : [] });
  }
  return matchesLabels(reqs, labels);
}

function validate(res: Resource, o: JsonObject, old: JsonObject | undefined): FieldError[] {
  const errs: FieldError[] = [];
  validateMeta(asObject(o.metadata) ?? {}, errs);
  if (res === SECRET) {
    let size = 0;
    for (const [k, v] of Object.entries(asObject(o.data) ?? {})) {
      if (!CONFIG_KEY.test(k) || k === "." || k === "..") {
        errs.push({
          type: "Invalid",
          field: `data[${k}]`,
          value: k,
          detail:
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
        });
      }
      size += k.length + Buffer.from(String(v), "base64").length;
    }
    if (size > 1024 * 1024) errs.push({ type: "TooLong", field: "data", detail: "must have at most 1048576 bytes" });
    if (old !== undefined) {
      if (old.type !== o.type) errs.push({ type: "Invalid", field: "type", value: o.type, detail: "field is immutable" });
      if (old.immutable === true) {
        if (!deepEqual(old.data, o.data)) errs.push({ type: "Forbidden", field: "data", detail: "field is immutable when `immutable` is set" });
        if (o.immutable !== true) errs.push({ type: "Forbidden", field: "immutable", detail: "field is immutable when `immutable` is set" });
      }
    }
    return errs;
  }
  const spec = asObject(o.spec) ?? {};
  const selector = asObject(spec.selector);
  const template = asObject(spec.template) ?? {};
  const templateLabels = asObject(asObject(template.metadata)?.labels) ?? {};
  if (selector === undefined) errs.push({ type: "Required", field: "spec.selector", detail: "" });
  else if (Object.keys(asObject(selector.matchLabels) ?? {}).length === 0 && !(Array.isArray(selector.matchExpressions) && selector.matchExpressions.length > 0)) {
    errs.push({ type: "Invalid", field: "spec.selector", value: selector, detail: "empty selector is invalid for deployment" });
  } else if (!selectorMatches(selector, templateLabels)) {
    errs.push({ type: "Invalid", field: "spec.template.metadata.labels", value: templateLabels, detail: "`selector` does not match template `labels`" });
  }
  const replicas = spec.replicas;
  if (typeof replicas === "number" && replicas < 0) errs.push({ type: "Invalid", field: "spec.replicas", value: replicas, detail: "must be greater than or equal to 0" });
  const podSpec = asObject(template.spec) ?? {};
  const containers = Array.isArray(podSpec.containers) ? podSpec.containers : [];
  if (containers.length === 0) errs.push({ type: "Required", field: "spec.template.spec.containers", detail: "" });
  containers.forEach((c, i) => {
    const container = asObject(c) ?? {};
    if (asString(container.name) === undefined) errs.push({ type: "Required", field: `spec.template.spec.containers[${i}].name`, detail: "" });
    if (asString(container.image) === undefined) errs.push({ type: "Required", field: `spec.template.spec.containers[${i}].image`, detail: "" });
  });
  if (podSpec.restartPolicy !== undefined && podSpec.restartPolicy !== "Always") {
    errs.push({ type: "NotSupported", field: "spec.template.spec.restartPolicy", value: podSpec.restartPolicy, detail: 'supported values: "Always"' });
  }
  if (old !== undefined && !deepEqual(asObject(old.spec)?.selector, spec.selector)) {
    errs.push({ type: "Invalid", field: "spec.selector", value: spec.selector ?? null, detail: "field is immutable" });
  }
  return errs;
}

// ---------------------------------------------------------------------------------------------------------------
// The server

interface TokenInfo {
  user: string;
  namespaces: string[] | "*";
}

interface Route {
  res: Resource;
  /** undefined: all namespaces */
  namespace: string | undefined;
  name: string | undefined;
}

interface Reply {
  code: number;
  body: Json;
}

interface WriteOptions {
  manager: string;
  dryRun: boolean;
}

const APPLY = "application/apply-patch+yaml";
const PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json", APPLY, "application/strategic-merge-patch+json"];
const FIELD_MANAGER_MAX = 128;
const DEFAULT_USER_AGENT_MANAGER = (ua: string | undefined): string =>
  [...(ua ?? "").split("/")[0] ?? ""]
    .filter((ch) => !/\p{C}/u.test(ch))
    .join("")
    .slice(0, FIELD_MANAGER_MAX);

export async function startKubeFake(opts: KubeFakeOptions = {}): Promise<KubeFake> {
  const adminToken = opts.token ?? randomBytes(24).toString("hex");
  const tokens = new Map<string, TokenInfo>([[adminToken, { user: "kube-fake-admin", namespaces: "*" }]]);
  Object.entries(opts.tokens ?? {}).forEach(([t, namespaces], i) => tokens.set(t, { user: `kube-fake-user-${i + 1}`, namespaces }));
  const clock = opts.now ?? (() => new Date());
  const timestamp = (): string => clock().toISOString().replace(/\.\d+Z$/, "Z");

  let resourceVersion = 0;
  const store = new Map<string, JsonObject>();
  const namespaces = new Map<string, JsonObject>();
  const calls: KubeCall[] = [];
  const rules: (FailRule & { left: number })[] = [];
  const hanging = new Set<ServerResponse>();
  const sockets = new Set<Socket>();

  const storeKey = (res: Resource, ns: string, name: string): string => `${res.kind}/${ns}/${name}`;
  const nextVersion = (): string => String(++resourceVersion);

  /** Namespaces are implicit: the first object stored in one creates it, with that object's resourceVersion. */
  function ensureNamespace(ns: string, rv: string): void {
    if (namespaces.has(ns)) return;
    namespaces.set(ns, {
      kind: "Namespace",
      apiVersion: "v1",
      metadata: { name: ns, uid: randomUUID(), resourceVersion: rv, creationTimestamp: timestamp(), labels: { "kubernetes.io/metadata.name": ns } },
      spec: { finalizers: ["kubernetes"] },
      status: { phase: "Active" },
    });
  }

  /** The stored object without managedFields: what field management compares. */
  function liveView(o: JsonObject): JsonObject {
    const c = clone(o);
    const meta = asObject(c.metadata);
    if (meta !== undefined) remove(meta, "managedFields");
    return c;
  }

  /**
   * The server-owned parts of a write: identity, timestamps, status, generation; then normalization, validation,
   * the managedFields, and the store (a write that changes nothing is not written: same resourceVersion).
   */
  function commit(res: Resource, ns: string, name: string, existing: JsonObject | undefined, next: JsonObject, managers: Managers, dryRun: boolean): JsonObject {
    const meta = asObject(next.metadata) ?? {};
    const oldMeta = asObject(existing?.metadata) ?? {};
    meta.name = name;
    meta.namespace = ns;
    meta.uid = asString(oldMeta.uid) ?? randomUUID();
    meta.creationTimestamp = asString(oldMeta.creationTimestamp) ?? timestamp();
    remove(meta, "selfLink");
    if (res === DEPLOYMENT) {
      next.status = existing?.status ?? {};
      const oldGeneration = typeof oldMeta.generation === "number" ? oldMeta.generation : 0;
      const bump =
        existing === undefined || !deepEqual(normalize(existing.spec ?? null), normalize(next.spec ?? null)) || !deepEqual(normalize(oldMeta.annotations ?? {}), normalize(meta.annotations ?? {}));
      meta.generation = existing === undefined ? 1 : oldGeneration + (bump ? 1 : 0);
    } else remove(meta, "generation");
    next.metadata = meta;
    const errs = validate(res, asObject(normalize(next)) ?? {}, existing);
    if (errs.length > 0) throw invalid(res.kind, res.group, name, errs);
    const encoded = encodeManaged(managers);
    if (encoded.length > 0) meta.managedFields = encoded;
    else remove(meta, "managedFields");
    meta.resourceVersion = asString(oldMeta.resourceVersion) ?? "";
    const result = canonical(res, asObject(normalize(next)) ?? {});
    if (existing !== undefined && deepEqual(result, existing)) return clone(existing);
    if (dryRun) {
      const m = asObject(result.metadata) ?? {};
      if (existing === undefined) remove(m, "resourceVersion");
      return result;
    }
    const m = asObject(result.metadata) ?? {};
    m.resourceVersion = nextVersion();
    ensureNamespace(ns, m.resourceVersion);
    store.set(storeKey(res, ns, name), result);
    return clone(result);
  }

  function preconditions(res: Resource, name: string, existing: JsonObject, next: JsonObject): void {
    const meta = asObject(next.metadata) ?? {};
    const oldMeta = asObject(existing.metadata) ?? {};
    const rv = asString(meta.resourceVersion);
    if (rv !== undefined && rv !== "" && rv !== oldMeta.resourceVersion) throw conflict(res, name);
    const uid = asString(meta.uid);
    if (uid !== undefined && uid !== "" && uid !== oldMeta.uid) throw conflict(res, name, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${String(oldMeta.uid)}`);
  }

  /** The managers an Update starts from: the ones in the request if it sets any, else the live object's. */
  function baseManagers(requested: Json | undefined, existing: JsonObject | undefined): Managers {
    if (Array.isArray(requested) && requested.length === 1 && isObject(requested[0]) && Object.keys(requested[0]).length === 0) return new Map();
    if (Array.isArray(requested) && requested.length > 0) return decodeManaged(requested);
    return decodeManaged(asObject(existing?.metadata)?.managedFields);
  }

  /** An Update operation (POST, PUT, and the non-apply patches after patching). */
  function update(res: Resource, ns: string, name: string, existing: JsonObject | undefined, body: JsonObject, o: WriteOptions, badBase64: (at: number, text: Json) => StatusError): JsonObject {
    const next = clone(body);
    const meta = asObject(next.metadata) ?? {};
    next.metadata = meta;
    const requested = meta.managedFields;
    remove(meta, "managedFields");
    if (res === SECRET) {
      const at = firstBadBase64(next);
      if (at !== undefined) throw badBase64(at, body);
      foldStringData(next);
    }
    defaultObject(res, next);
    if (res === DEPLOYMENT) next.status = existing?.status ?? {};
    const managers = baseManagers(requested, existing);
    const normalized = asObject(normalize(next)) ?? {};
    const liveObj = existing === undefined ? res.empty() : liveView(existing);
    trackUpdate(res, managers, liveObj, normalized, o.manager, timestamp());
    return commit(res, ns, name, existing, normalized, managers, o.dryRun);
  }

  function create(route: Route, ns: string, body: JsonObject, o: WriteOptions): Reply {
    const { res } = route;
    const meta = asObject(body.metadata) ?? {};
    let name = asString(meta.name) ?? "";
    const generateName = asString(meta.generateName);
    if (name === "" && generateName !== undefined && generateName !== "") {
      const alphabet = "bcdfghjklmnpqrstvwxz2456789";
      name = generateName + Array.from(randomBytes(5), (b) => alphabet[b % alphabet.length]).join("");
      meta.name = name;
    }
    if (name === "") throw invalid(res.kind, res.group, "", [{ type: "Required", field: "metadata.name", detail: "name or generateName is required" }]);
    if (store.has(storeKey(res, ns, name))) throw alreadyExists(res, name);
    remove(meta, "resourceVersion");
    remove(meta, "uid");
    remove(meta, "creationTimestamp");
    body.metadata = meta;
    const created = update(res, ns, name, undefined, body, o, (at) => badRequest(`${res.kind} in version "${res.version}" cannot be handled as a ${res.kind}: illegal base64 data at input byte ${at}`));
    return { code: 201, body: created };
  }

  function replace(route: Route, ns: string, name: string, body: JsonObject, o: WriteOptions): Reply {
    const { res } = route;
    const existing = store.get(storeKey(res, ns, name));
    if (existing === undefined) throw notFound(res, name);
    preconditions(res, name, existing, body);
    const result = update(res, ns, name, existing, body, o, (at) => badRequest(`${res.kind} in version "${res.version}" cannot be handled as a ${res.kind}: illegal base64 data at input byte ${at}`));
    return { code: 200, body: result };
  }

  function patch(route: Route, ns: string, name: string, contentType: string, text: string, o: WriteOptions & { force: boolean | undefined }): Reply {
    const { res } = route;
    if (contentType === APPLY) return apply(route, ns, name, text, o);
    const existing = store.get(storeKey(res, ns, name));
    let patchBody: Json;
    try {
      patchBody = JSON.parse(text) as Json;
    } catch (e) {
      throw badRequest(contentType === "application/merge-patch+json" ? "Invalid JSON Patch" : `error decoding patch: ${(e as Error).message}`);
    }
    if (existing === undefined) throw notFound(res, name);
    let patched: JsonObject;
    try {
      if (contentType === "application/json-patch+json") {
        if (!Array.isArray(patchBody)) throw badRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
        patched = jsonPatch(existing, patchBody);
      } else if (contentType === "application/merge-patch+json") {
        patched = asObject(mergePatch(existing, patchBody)) ?? {};
      } else {
        if (!isObject(patchBody)) throw badRequest("json: cannot unmarshal array into Go value of type map[string]interface {}");
        patched = strategicMerge(res, existing, patchBody, "") ?? {};
      }
    } catch (e) {
      if (e instanceof PatchError) throw new StatusError(422, "Invalid", "the server rejected our request due to an error in our request");
      throw e;
    }
    const pm = asObject(patched.metadata) ?? {};
    if (pm.name !== name) throw badRequest(`the name of the object (${String(pm.name)}) does not match the name on the URL (${name})`);
    if (pm.namespace !== undefined && pm.namespace !== ns) throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
    preconditions(res, name, existing, patched);
    const result = update(res, ns, name, existing, patched, o, (at, json) =>
      invalid("", "", "", [{ type: "Invalid", field: "patch", value: JSON.stringify(json), detail: `illegal base64 data at input byte ${at}` }]),
    );
    return { code: 200, body: result };
  }

  function apply(route: Route, ns: string, name: string, text: string, o: WriteOptions & { force: boolean | undefined }): Reply {
    const { res } = route;
    let config: unknown;
    try {
      config = parseYaml(text);
    } catch (e) {
      throw badRequest(`error decoding YAML: ${(e as Error).message}`);
    }
    if (!isObject(config)) throw badRequest("error decoding YAML: the applied configuration is not an object");
    if (config.apiVersion !== res.apiVersion) {
      throw badRequest(`Incorrect version specified in apply patch. Specified patch version: ${asString(config.apiVersion) ?? ""}, expected: ${res.apiVersion}`);
    }
    if (config.kind !== res.kind) throw badRequest(`unable to find api field in struct ${res.kind} for the json field "kind" (kind ${String(config.kind)} does not match ${res.kind})`);
    const meta = asObject(config.metadata) ?? {};
    if (meta.name !== name) throw badRequest(`the name of the object (${String(meta.name ?? "")}) does not match the name on the URL (${name})`);
    if (meta.namespace !== undefined && meta.namespace !== ns) throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
    if (meta.managedFields !== undefined && meta.managedFields !== null) throw badRequest("metadata.managedFields must be nil");
    const existing = store.get(storeKey(res, ns, name));
    if (existing !== undefined) preconditions(res, name, existing, config);
    const managers = decodeManaged(asObject(existing?.metadata)?.managedFields);
    let live = existing === undefined ? res.empty() : liveView(existing);
    if (existing !== undefined && managers.size === 0) {
      // fieldmanager's skipNonApplied manager: an object nobody manages yet is first attributed to "before-first-apply"
      trackUpdate(res, managers, res.empty(), live, "before-first-apply", timestamp());
    }
    const { merged } = trackApply(res, managers, live, config, o.manager, o.force === true, timestamp());
    live = merged;
    if (res === SECRET) {
      const at = firstBadBase64(live);
      if (at !== undefined) {
        throw new StatusError(500, "", `failed to convert new object (${ns}/${name}; /v1, Kind=Secret) to proper version: illegal base64 data at input byte ${at}`);
      }
      foldStringData(live);
    }
    defaultObject(res, live);
    const result = commit(res, ns, name, existing, asObject(normalize(live)) ?? {}, managers, o.dryRun);
    return { code: existing === undefined ? 201 : 200, body: result };
  }

  function list(route: Route, url: URL): Reply {
    const { res, namespace } = route;
    const labels = parseLabelSelector(url.searchParams.get("labelSelector") ?? "");
    const fields = parseFieldSelector(res, url.searchParams.get("fieldSelector") ?? "");
    const items = [...store.entries()]
      .filter(([k]) => k.startsWith(`${res.kind}/${namespace === undefined ? "" : `${namespace}/`}`))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => o)
      .filter((o) => matchesLabels(labels, asObject(asObject(o.metadata)?.labels) ?? {}) && fields(o))
      .map((o) => {
        const c = clone(o);
        remove(c, "kind");
        remove(c, "apiVersion");
        return c;
      });
    return { code: 200, body: { kind: res.listKind, apiVersion: res.apiVersion, metadata: { resourceVersion: String(resourceVersion) }, items } };
  }

  function destroy(route: Route, ns: string, name: string, body: Json | undefined, dryRun: boolean): Reply {
    const { res } = route;
    const key = storeKey(res, ns, name);
    const existing = store.get(key);
    if (existing === undefined) throw notFound(res, name);
    const pre = asObject(asObject(body)?.preconditions);
    const meta = asObject(existing.metadata) ?? {};
    if (pre !== undefined) {
      if (typeof pre.uid === "string" && pre.uid !== meta.uid) throw conflict(res, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${String(meta.uid)}`);
      if (typeof pre.resourceVersion === "string" && pre.resourceVersion !== meta.resourceVersion) {
        throw conflict(res, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${String(meta.resourceVersion)}`);
      }
    }
    if (!dryRun) {
      store.delete(key);
      nextVersion();
    }
    const details: JsonObject = { ...resourceDetails(res, name), uid: meta.uid ?? "" };
    return { code: 200, body: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details } };
  }

  function discovery(path: string): Reply | undefined {
    const resourceEntry = (r: Resource): JsonObject => ({
      name: r.resource,
      singularName: r.singular,
      namespaced: true,
      kind: r.kind,
      verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
      ...(r.shortNames.length > 0 ? { shortNames: r.shortNames } : {}),
      storageVersionHash: "",
    });
    switch (path) {
      case "/api":
        return { code: 200, body: { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: "127.0.0.1" }] } };
      case "/apis":
        return {
          code: 200,
          body: {
            kind: "APIGroupList",
            apiVersion: "v1",
            groups: [{ name: "apps", versions: [{ groupVersion: "apps/v1", version: "v1" }], preferredVersion: { groupVersion: "apps/v1", version: "v1" } }],
          },
        };
      case "/api/v1":
        return {
          code: 200,
          body: {
            kind: "APIResourceList",
            groupVersion: "v1",
            resources: [
              { name: "namespaces", singularName: "namespace", namespaced: false, kind: "Namespace", verbs: ["get", "list"], shortNames: ["ns"] },
              resourceEntry(SECRET),
            ],
          },
        };
      case "/apis/apps/v1":
        return { code: 200, body: { kind: "APIResourceList", apiVersion: "v1", groupVersion: "apps/v1", resources: [resourceEntry(DEPLOYMENT)] } };
      default:
        return undefined;
    }
  }

  function route(path: string): Route | "namespaces" | undefined {
    const seg = (s: string | undefined): string | undefined => (s === undefined ? undefined : decodeURIComponent(s));
    let m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/.exec(path);
    if (m !== null) return { res: SECRET, namespace: seg(m[1]), name: seg(m[2]) };
    m = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments(?:\/([^/]+))?$/.exec(path);
    if (m !== null) return { res: DEPLOYMENT, namespace: seg(m[1]), name: seg(m[2]) };
    if (path === "/api/v1/secrets") return { res: SECRET, namespace: undefined, name: undefined };
    if (path === "/apis/apps/v1/deployments") return { res: DEPLOYMENT, namespace: undefined, name: undefined };
    if (/^\/api\/v1\/namespaces(\/[^/]+)?$/.test(path)) return "namespaces";
    return undefined;
  }

  const VERBS: Record<string, [string, string]> = { GET: ["get", "list"], POST: ["create", "create"], PUT: ["update", "update"], PATCH: ["patch", "patch"], DELETE: ["delete", "deletecollection"] };

  function authorize(who: TokenInfo, r: Route, method: string, watch: boolean): void {
    if (who.namespaces === "*") return;
    if (r.namespace !== undefined && who.namespaces.includes(r.namespace)) return;
    const [itemVerb, collectionVerb] = VERBS[method] ?? ["get", "list"];
    const verb = r.name !== undefined ? itemVerb : watch ? "watch" : collectionVerb;
    const subject = r.name !== undefined ? `${qualified(r.res)} ${JSON.stringify(r.name)}` : qualified(r.res);
    const scope = r.namespace === undefined ? "at the cluster scope" : `in the namespace ${JSON.stringify(r.namespace)}`;
    throw new StatusError(
      403,
      "Forbidden",
      `${subject} is forbidden: User ${JSON.stringify(who.user)} cannot ${verb} resource ${JSON.stringify(r.res.resource)} in API group ${JSON.stringify(r.res.group)} ${scope}`,
      resourceDetails(r.res, r.name),
    );
  }

  function parseBool(url: URL, name: string): boolean | undefined {
    const v = url.searchParams.get(name);
    if (v === null) return undefined;
    if (["true", "1", "t", "T", "TRUE", "True"].includes(v)) return true;
    if (["false", "0", "f", "F", "FALSE", "False"].includes(v)) return false;
    throw badRequest(`strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`);
  }

  function validateOptions(kind: "CreateOptions" | "UpdateOptions" | "PatchOptions", fieldManager: string | undefined, apply: boolean, force: boolean | undefined): void {
    const errs: FieldError[] = [];
    if (kind === "PatchOptions" && !apply && force !== undefined) errs.push({ type: "Forbidden", field: "force", detail: "may not be specified for non-apply patch" });
    if (apply && (fieldManager === undefined || fieldManager === "")) errs.push({ type: "Required", field: "fieldManager", detail: "is required for apply patch" });
    if (fieldManager !== undefined && Buffer.byteLength(fieldManager) > FIELD_MANAGER_MAX) errs.push({ type: "TooLong", field: "fieldManager", detail: `may not be more than ${FIELD_MANAGER_MAX} bytes` });
    else if (fieldManager !== undefined && /\p{C}/u.test(fieldManager)) errs.push({ type: "Invalid", field: "fieldManager", value: fieldManager, detail: "must only contain printable characters" });
    if (errs.length > 0) throw invalid(kind, "meta.k8s.io", "", errs);
  }

  async function dispatch(req: IncomingMessage, url: URL, body: () => Promise<string>): Promise<Reply> {
    const method = req.method ?? "GET";
    const auth = req.headers.authorization ?? "";
    const who = auth.startsWith("Bearer ") ? tokens.get(auth.slice("Bearer ".length).trim()) : undefined;
    if (url.pathname === "/version") return { code: 200, body: { major: "1", minor: "33", gitVersion: "v1.33.0-kube-fake", platform: "linux/amd64" } };
    if (who === undefined) throw new StatusError(401, "Unauthorized", "Unauthorized");
    const disc = discovery(url.pathname);
    if (disc !== undefined) {
      if (method !== "GET") throw new StatusError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
      return disc;
    }
    const r = route(url.pathname);
    if (r === undefined) throw new StatusError(404, "NotFound", "the server could not find the requested resource");
    if (r === "namespaces") {
      if (who.namespaces !== "*") throw new StatusError(403, "Forbidden", `namespaces is forbidden: User ${JSON.stringify(who.user)} cannot ${method === "GET" ? "get" : "update"} resource "namespaces" in API group "" at the cluster scope`, { kind: "namespaces" });
      if (method !== "GET") throw new StatusError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
      const name = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(url.pathname)?.[1];
      if (name === undefined) return { code: 200, body: { kind: "NamespaceList", apiVersion: "v1", metadata: { resourceVersion: String(resourceVersion) }, items: [...namespaces.values()].map(clone) } };
      const ns = namespaces.get(decodeURIComponent(name));
      if (ns === undefined) throw new StatusError(404, "NotFound", `namespaces "${decodeURIComponent(name)}" not found`, { name: decodeURIComponent(name), kind: "namespaces" });
      return { code: 200, body: clone(ns) };
    }
    const watch = parseBool(url, "watch") === true;
    authorize(who, r, method, watch);
    if (watch) throw badRequest("watch is not supported by the Kubernetes fake");
    const fieldManagerParam = url.searchParams.get("fieldManager") ?? undefined;
    const force = parseBool(url, "force");
    const dryRun = url.searchParams.getAll("dryRun").includes("All");
    const manager = fieldManagerParam ?? DEFAULT_USER_AGENT_MANAGER(req.headers["user-agent"]);
    const contentType = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    const { res, namespace, name } = r;
    const readObject = async (): Promise<JsonObject> => {
      const text = await body();
      let parsed: unknown;
      try {
        parsed = contentType.includes("yaml") ? parseYaml(text) : JSON.parse(text);
      } catch (e) {
        throw badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`);
      }
      if (!isObject(parsed)) throw badRequest("couldn't get version/kind; json parse error: the body is not an object");
      const apiVersion = asString(parsed.apiVersion);
      const kind = asString(parsed.kind);
      if (apiVersion !== undefined && apiVersion !== "" && apiVersion !== res.apiVersion) {
        throw badRequest(`the API version in the data (${apiVersion}) does not match the expected API version (${res.apiVersion})`);
      }
      if (kind !== undefined && kind !== "" && kind !== res.kind) throw badRequest(`the kind in the data (${kind}) does not match the expected kind (${res.kind})`);
      const meta = asObject(parsed.metadata) ?? {};
      if (meta.namespace !== undefined && meta.namespace !== "" && meta.namespace !== namespace) {
        throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
      }
      return parsed;
    };

    if (name === undefined) {
      if (method === "GET") return list(r, url);
      if (method === "POST" && namespace !== undefined) {
        validateOptions("CreateOptions", fieldManagerParam, false, undefined);
        return create(r, namespace, await readObject(), { manager, dryRun });
      }
      throw new StatusError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
    }
    if (namespace === undefined) throw new StatusError(404, "NotFound", "the server could not find the requested resource");
    switch (method) {
      case "GET": {
        const o = store.get(storeKey(res, namespace, name));
        if (o === undefined) throw notFound(res, name);
        return { code: 200, body: clone(o) };
      }
      case "PUT": {
        validateOptions("UpdateOptions", fieldManagerParam, false, undefined);
        const o = await readObject();
        const bodyName = asString(asObject(o.metadata)?.name);
        if (bodyName !== name) throw badRequest(`the name of the object (${bodyName ?? ""}) does not match the name on the URL (${name})`);
        return replace(r, namespace, name, o, { manager, dryRun });
      }
      case "PATCH": {
        if (!PATCH_TYPES.includes(contentType)) {
          throw new StatusError(415, "UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(", ")}`);
        }
        validateOptions("PatchOptions", fieldManagerParam, contentType === APPLY, force);
        return patch(r, namespace, name, contentType, await body(), { manager, dryRun, force });
      }
      case "DELETE": {
        const text = await body();
        let opts: Json | undefined;
        try {
          opts = text.trim() === "" ? undefined : (JSON.parse(text) as Json);
        } catch {
          throw badRequest("couldn't decode DeleteOptions");
        }
        return destroy(r, namespace, name, opts, dryRun);
      }
      default:
        throw new StatusError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const contentType = req.headers["content-type"];
    const fieldManager = url.searchParams.get("fieldManager") ?? undefined;
    const forceParam = url.searchParams.get("force");
    const call: KubeCall = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: url.search.replace(/^\?/, ""),
      ...(contentType !== undefined ? { contentType } : {}),
      ...(fieldManager !== undefined ? { fieldManager } : {}),
      ...(forceParam !== null ? { force: forceParam === "true" } : {}),
      ...(url.searchParams.getAll("dryRun").includes("All") ? { dryRun: true } : {}),
    };
    calls.push(call);
    const send = (code: number, body: Json): void => {
      if (res.headersSent || res.destroyed) return;
      const text = JSON.stringify(body);
      call.status = code;
      res.writeHead(code, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), "cache-control": "no-cache, private" });
      res.end(text);
    };
    let bodyText: Promise<string> | undefined;
    const readBody = (): Promise<string> => {
      bodyText ??= (async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks).toString("utf8");
      })();
      return bodyText;
    };

    const rule = rules.find((r) => r.left > 0 && (r.method === undefined || r.method.toUpperCase() === call.method) && (r.pathIncludes === undefined || call.path.includes(r.pathIncludes)));
    if (rule !== undefined) {
      rule.left--;
      if (rule.hang === true) {
        hanging.add(res);
        res.on("close", () => hanging.delete(res));
        return;
      }
      const code = rule.status ?? 500;
      const reason = rule.reason ?? REASONS[code] ?? "";
      void readBody().then(() => send(code, statusBody(code, reason, rule.message ?? injectedMessage(code, reason))));
      return;
    }

    dispatch(req, url, readBody)
      .then((reply) => readBody().then(() => send(reply.code, reply.body)))
      .catch((e: unknown) => {
        if (e instanceof StatusError) send(e.code, e.body);
        else send(500, statusBody(500, "InternalError", `Internal error occurred: ${e instanceof Error ? e.message : String(e)}`));
      });
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const kubeConfigFor = (o: { token?: string; namespace?: string } = {}): KubeConfig => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "kube-fake", server: url, skipTLSVerify: true }],
      users: [{ name: "kube-fake-user", token: o.token ?? adminToken }],
      contexts: [{ name: "kube-fake", cluster: "kube-fake", user: "kube-fake-user", ...(o.namespace !== undefined ? { namespace: o.namespace } : {}) }],
      currentContext: "kube-fake",
    });
    return kc;
  };

  return {
    url,
    token: adminToken,
    kubeConfig: kubeConfigFor,
    kubeconfigYaml(o = {}) {
      return stringifyYaml({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "kube-fake", cluster: { server: url, "insecure-skip-tls-verify": true } }],
        users: [{ name: "kube-fake-user", user: { token: o.token ?? adminToken } }],
        contexts: [{ name: "kube-fake", context: { cluster: "kube-fake", user: "kube-fake-user", ...(o.namespace !== undefined ? { namespace: o.namespace } : {}) } }],
        "current-context": "kube-fake",
      });
    },
    put(input, o = {}) {
      const value = toJson(input);
      if (!isObject(value)) throw new Error("put(): not an object");
      const kind = value.kind === "Deployment" ? DEPLOYMENT : value.kind === "Secret" ? SECRET : undefined;
      if (kind === undefined) throw new Error(`put(): kind must be Secret or Deployment, not ${String(value.kind)}`);
      const meta = asObject(value.metadata) ?? {};
      const name = asString(meta.name);
      const ns = asString(meta.namespace);
      if (name === undefined || ns === undefined) throw new Error("put(): metadata.name and metadata.namespace are required");
      if (kind === SECRET) foldStringData(value);
      // the store only ever holds defaulted objects; an undefaulted seed would hand the defaults to the next writer
      defaultObject(kind, value);
      if (kind === DEPLOYMENT) value.status ??= {};
      value.apiVersion = kind.apiVersion;
      meta.uid ??= randomUUID();
      meta.creationTimestamp ??= timestamp();
      if (kind === DEPLOYMENT) meta.generation ??= 1;
      value.metadata = meta;
      if (o.fieldManager !== undefined) {
        const managers: Managers = new Map();
        trackUpdate(kind, managers, kind.empty(), liveView(value), o.fieldManager, timestamp());
        meta.managedFields = encodeManaged(managers);
      }
      meta.resourceVersion = nextVersion();
      const stored = canonical(kind, asObject(normalize(value)) ?? {});
      ensureNamespace(ns, meta.resourceVersion);
      store.set(storeKey(kind, ns, name), stored);
      return clone(stored);
    },
    get(namespace, kind, name) {
      const o = store.get(storeKey(RESOURCES[kind], namespace, name));
      return o === undefined ? undefined : clone(o);
    },
    owners(namespace, kind, name, fieldPath) {
      const o = store.get(storeKey(RESOURCES[kind], namespace, name));
      if (o === undefined) throw new Error(`owners(): ${kind} ${namespace}/${name} does not exist`);
      const path = parseUserPath(fieldPath);
      const names = [...decodeManaged(asObject(o.metadata)?.managedFields).values()].filter((e) => e.set.has(path)).map((e) => e.manager);
      return [...new Set(names)].sort();
    },
    calls: () => calls.map((c) => ({ ...c })),
    resetCalls() {
      calls.length = 0;
    },
    failNext(rule) {
      rules.push({ ...rule, left: rule.times ?? 1 });
    },
    async close() {
      for (const r of hanging) r.destroy();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

function injectedMessage(code: number, reason: string): string {
  switch (code) {
    case 409:
      return `Operation cannot be fulfilled: ${OPTIMISTIC_LOCK}`;
    case 429:
      return "Too many requests, please try again later.";
    case 500:
      return "Internal error occurred: injected failure";
    case 503:
      return "the server is currently unable to handle the request";
    case 504:
      return "the server was unable to return a response in the time allotted, but may still be processing the request";
    default:
      return `injected failure (${reason || code})`;
  }
}
