// The shapes `render` relies on in what it is given (the XR, the Composition, the Functions, the observed resources,
// the required resources and the credential Secrets), checked up front where each input is read: bad input is
// refused with the file, the document and the field at fault, never halfway through with a TypeError. The CLI checks
// each document as it reads it (FILE:LINE: document N); render() checks what it is handed again, naming the option.
import { RESOURCE_NAME } from "./reconciler.ts";
import type { PositionedDoc } from "./yaml.ts";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- YAML documents

/** The inputs cannot be rendered (as crossplane render refuses them); the message says why. */
export class RenderError extends Error {}

/** Names a document in a message, given the field at fault (for its line). */
export type Where = (field: string) => string;

/** Checks one document of an input; throws RenderError naming it and the field. */
export type ShapeCheck = (doc: unknown, where: Where) => void;

const isMap = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);
const absent = (v: unknown): v is undefined | null => v === undefined || v === null;
const nonEmpty = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** " (Kind namespace/name)", or nothing for a document with neither kind nor name. */
function object(doc: unknown): string {
  if (!isMap(doc)) return "";
  const meta = isMap(doc.metadata) ? doc.metadata : {};
  const kind = nonEmpty(doc.kind);
  const name = nonEmpty(meta.name);
  const namespace = nonEmpty(meta.namespace);
  if (kind === undefined && name === undefined) return "";
  const who = name ?? "(no name)";
  return ` (${kind ?? "(no kind)"} ${namespace ? `${namespace}/${who}` : who})`;
}

/** A document of a file, at the line of the field: `FILE:LINE: document N (Kind namespace/name)`. */
export function inFile(p: PositionedDoc): Where {
  return (field) => `${p.file}:${p.lineOf(field)}: document ${p.index}${object(p.value)}`;
}

/** A document handed to render() directly, by the option it came in: `observed[1] (Kind namespace/name)`. */
export function given(label: string, doc: unknown): Where {
  return () => `${label}${object(doc)}`;
}

/** A field's path as the CLI's line lookup reads it: dotted, [n] for list items, ["key"] for keys with dots or slashes. */
function at(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  const k = /^[A-Za-z0-9_-]+$/.test(key) ? key : `[${JSON.stringify(key)}]`;
  return path === "" ? k : k.startsWith("[") ? `${path}${k}` : `${path}.${k}`;
}

function what(v: unknown): string {
  return Array.isArray(v) ? "a list" : v === null ? "null" : `a ${typeof v}`;
}

/** Go's base64.StdEncoding, as a Secret's data is decoded: padded, line breaks ignored. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

class Shape {
  private readonly where: Where;

  constructor(where: Where) {
    this.where = where;
  }

  fail(path: string, problem: string): never {
    throw new RenderError(`${this.where(path)}: ${path} ${problem}`);
  }

  /** The document itself: a mapping. */
  root(v: unknown): Obj {
    if (!isMap(v)) throw new RenderError(`${this.where("")}: must be a mapping (a Kubernetes object), not ${what(v)}`);
    return v;
  }

  map(v: unknown, path: string, required: true): Obj;
  map(v: unknown, path: string, required?: boolean): Obj | undefined;
  map(v: unknown, path: string, required = false): Obj | undefined {
    if (absent(v)) return required ? this.fail(path, "is required") : undefined;
    return isMap(v) ? v : this.fail(path, "must be a mapping");
  }

  list(v: unknown, path: string): unknown[] {
    if (absent(v)) return [];
    return Array.isArray(v) ? v : this.fail(path, "must be a list");
  }

  /** A list whose items are mappings, each with its path. */
  maps(v: unknown, path: string): Array<[Obj, string]> {
    return this.list(v, path).map((item, i) => [this.map(item, at(path, i), true), at(path, i)]);
  }

  string(v: unknown, path: string, required: true): string;
  string(v: unknown, path: string, required?: boolean): string | undefined;
  string(v: unknown, path: string, required = false): string | undefined {
    if (absent(v) || v === "") return required ? this.fail(path, "is required") : undefined;
    return typeof v === "string" ? v : this.fail(path, "must be a string");
  }

  /** A string that must be one of these. */
  oneOf(v: unknown, path: string, allowed: readonly string[], required = true): void {
    const s = this.string(v, path, required);
    if (s !== undefined && !allowed.includes(s)) this.fail(path, `must be ${allowed.join(" or ")}`);
  }

  boolean(v: unknown, path: string): void {
    if (!absent(v) && typeof v !== "boolean") this.fail(path, "must be true or false");
  }

  integer(v: unknown, path: string): void {
    if (!absent(v) && !Number.isInteger(v)) this.fail(path, "must be an integer");
  }

  /** A mapping of strings (labels, annotations, a Secret's stringData). */
  strings(v: unknown, path: string): Record<string, string> {
    const m = this.map(v, path) ?? {};
    for (const [k, s] of Object.entries(m)) if (typeof s !== "string") this.fail(at(path, k), "must be a string");
    return m as Record<string, string>;
  }
}

/** apiVersion, kind and the metadata fields render reads, as ObjectMeta types them. */
function kubernetesObject(v: unknown, where: Where, o: { typed: boolean; named: boolean }): { s: Shape; doc: Obj } {
  const s = new Shape(where);
  const doc = s.root(v);
  if (o.typed) {
    s.string(doc.apiVersion, "apiVersion", true);
    s.string(doc.kind, "kind", true);
  }
  const meta = s.map(doc.metadata, "metadata", o.named);
  if (meta !== undefined) {
    s.string(meta.name, "metadata.name", o.named);
    s.string(meta.namespace, "metadata.namespace");
    s.string(meta.uid, "metadata.uid");
    s.integer(meta.generation, "metadata.generation");
    s.strings(meta.labels, "metadata.labels");
    s.strings(meta.annotations, "metadata.annotations");
    for (const [ref, path] of s.maps(meta.ownerReferences, "metadata.ownerReferences")) {
      s.string(ref.uid, `${path}.uid`);
      s.boolean(ref.controller, `${path}.controller`);
    }
  }
  return { s, doc };
}

/** status.conditions: a list of conditions, each with its type. */
function conditions(s: Shape, doc: Obj): void {
  const status = s.map(doc.status, "status");
  for (const [c, path] of s.maps(status?.conditions, "status.conditions")) s.string(c.type, `${path}.type`, true);
}

/** A Secret's data as Kubernetes decodes it (base64 strings) and its stringData (strings). */
function secretData(s: Shape, doc: Obj): void {
  for (const [k, v] of Object.entries(s.map(doc.data, "data") ?? {})) {
    if (absent(v)) continue;
    if (typeof v !== "string") s.fail(at("data", k), "must be a base64 string");
    if (!BASE64.test(v.replace(/[\r\n]/g, ""))) s.fail(at("data", k), "is not valid base64");
  }
  s.strings(doc.stringData, "stringData");
}

const isSecret = (doc: Obj) => doc.apiVersion === "v1" && doc.kind === "Secret";

/** The XR: its type, name and the fields render merges into the XR the functions see. */
export const xrShape: ShapeCheck = (v, where) => {
  const { s, doc } = kubernetesObject(v, where, { typed: true, named: true });
  const spec = s.map(doc.spec, "spec");
  const crossplane = s.map(spec?.crossplane, "spec.crossplane");
  s.map(crossplane?.compositionRef, "spec.crossplane.compositionRef");
  conditions(s, doc);
};

/** One step's credentials, as the Composition's API types them (source None or Secret; a Secret's namespace and name). */
function credentials(s: Shape, step: Obj, path: string): void {
  for (const [c, p] of s.maps(step.credentials, `${path}.credentials`)) {
    s.string(c.name, `${p}.name`, true);
    s.oneOf(c.source, `${p}.source`, ["None", "Secret"]);
    const ref = s.map(c.secretRef, `${p}.secretRef`);
    if (ref !== undefined) {
      s.string(ref.namespace, `${p}.secretRef.namespace`, true);
      s.string(ref.name, `${p}.secretRef.name`, true);
    }
  }
}

/** The Composition: an apiextensions.crossplane.io/v1 Composition in mode Pipeline, and the steps render runs. */
export const compositionShape: ShapeCheck = (v, where) => {
  const { s, doc } = kubernetesObject(v, where, { typed: false, named: false });
  s.oneOf(doc.kind, "kind", ["Composition"]);
  s.oneOf(doc.apiVersion, "apiVersion", ["apiextensions.crossplane.io/v1"]);
  const spec = s.map(doc.spec, "spec", true);
  const ref = s.map(spec.compositeTypeRef, "spec.compositeTypeRef", true);
  s.string(ref.apiVersion, "spec.compositeTypeRef.apiVersion", true);
  s.string(ref.kind, "spec.compositeTypeRef.kind", true);
  s.oneOf(spec.mode, "spec.mode", ["Pipeline"], false);
  for (const [step, path] of s.maps(spec.pipeline, "spec.pipeline")) {
    s.string(step.step, `${path}.step`, true);
    const fn = s.map(step.functionRef, `${path}.functionRef`, true);
    s.string(fn.name, `${path}.functionRef.name`, true);
    s.map(step.input, `${path}.input`);
    credentials(s, step, path);
  }
};

/** A Function, as crossplane render loads them: pkg.crossplane.io v1 or v1beta1, named, with string annotations. */
export const functionShape: ShapeCheck = (v, where) => {
  const { s, doc } = kubernetesObject(v, where, { typed: false, named: true });
  s.oneOf(doc.kind, "kind", ["Function"]);
  s.oneOf(doc.apiVersion, "apiVersion", ["pkg.crossplane.io/v1", "pkg.crossplane.io/v1beta1"]);
  s.string(s.map(doc.spec, "spec")?.package, "spec.package");
};

/** An observed composed resource (-o): named, typed, with the composition resource name render keys it by. */
export const observedShape: ShapeCheck = (v, where) => {
  const { s, doc } = kubernetesObject(v, where, { typed: true, named: true });
  s.string(doc.metadata.annotations?.[RESOURCE_NAME], at("metadata.annotations", RESOURCE_NAME), true);
  conditions(s, doc);
  if (isSecret(doc)) secretData(s, doc);
};

/** An object a step may require (-e): typed and named, as a lookup by name or by labels finds it. */
export const requiredShape: ShapeCheck = (v, where) => {
  const { s, doc } = kubernetesObject(v, where, { typed: true, named: true });
  if (isSecret(doc)) secretData(s, doc);
};

/** A credential Secret (--function-credentials): a v1 Secret, or a document without kind (which is one). */
export const credentialShape: ShapeCheck = (v, where) => {
  const { s, doc } = kubernetesObject(v, where, { typed: false, named: true });
  if (!absent(doc.kind) && doc.kind !== "") {
    s.oneOf(doc.kind, "kind", ["Secret"]);
    s.oneOf(doc.apiVersion, "apiVersion", ["v1"]);
  }
  s.string(doc.type, "type");
  secretData(s, doc);
};

/** A credential without kind is a v1 Secret, as core's render makes it (apiVersion included). */
export function asSecret(doc: Obj): Obj {
  return nonEmpty(doc.kind) !== undefined ? doc : { ...doc, apiVersion: "v1", kind: "Secret" };
}
