// Reading the YAML people hand the CLI: files or folders, every document with its index and line numbers; and
// printing documents as crossplane render does.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Alias, LineCounter, parseAllDocuments, visit, type Document, type DocumentOptions, type ParseOptions, type SchemaOptions, type Tags } from "yaml";
import { goYaml } from "./go-yaml.ts";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- YAML documents

export class InputError extends Error {
  /** Where in the file, when the file was read but a document is not valid YAML. */
  readonly at: { file: string; index: number; line: number; reason: string } | undefined;
  constructor(message: string, options?: ErrorOptions & { at?: { file: string; index: number; line: number; reason: string } }) {
    super(message, options);
    this.at = options?.at;
  }
}

/** Every non-empty document of a YAML file; throws InputError naming the file (and document) it cannot read. */
export function readDocs(file: string): Obj[] {
  return readDocsWithPositions(file).map((d) => d.doc);
}

export interface PositionedDoc {
  file: string;
  /** Position among the file's `---` sections, counting from 0. */
  index: number;
  doc: Obj;
  /** The document as parsed: `doc` itself, or the list or scalar that `doc` stands in for as an empty mapping. */
  value: unknown;
  /** 1-based line of the field at `path` (dotted, with [n] for list items), or of the document's start. */
  lineOf(path: string): number;
}

/** A document of a file that cannot be read as the cluster would read it. */
export interface DocProblem {
  file: string;
  index: number;
  line: number;
  reason: string;
}

/**
 * YAML as kubectl and ArgoCD read it (sigs.k8s.io/yaml, on go-yaml v2): YAML 1.1, so `yes`/`no`/`on`/`off` are
 * booleans, `0777` is octal and `<<: *base` merges. go-yaml v2 leaves timestamps and base-60 numbers (`22:22`) as
 * strings, so they are dropped from the 1.1 tags. The alias count is bounded (a nested "billion laughs" bomb).
 */
const AS_THE_CLUSTER_READS: ParseOptions & DocumentOptions & SchemaOptions = {
  version: "1.1",
  customTags: (tags: Tags) => tags.filter((t) => typeof t === "string" || (t.tag !== "tag:yaml.org,2002:timestamp" && (!("format" in t) || t.format !== "TIME"))),
};
const MAX_ALIAS_COUNT = 100;

/** Every document of a file, and each one that cannot be read: one broken document never hides the others. */
export function readYaml(file: string): { docs: PositionedDoc[]; problems: DocProblem[] } {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new InputError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
  const lines = new LineCounter();
  const parsed = parseAllDocuments(text, { ...AS_THE_CLUSTER_READS, lineCounter: lines });
  const docs: PositionedDoc[] = [];
  const problems: DocProblem[] = [];
  if (!Array.isArray(parsed)) return { docs, problems };
  parsed.forEach((d, index) => {
    const err = d.errors[0];
    if (err !== undefined) {
      const reason = `not valid YAML: ${(err.message.split("\n")[0] ?? "").replace(/:$/, "")}`;
      problems.push({ file, index, line: err.linePos?.[0]?.line ?? 1, reason });
      return;
    }
    let v: unknown;
    try {
      v = d.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (e) {
      problems.push({ file, index, ...aliasProblem(d, lines, e) });
      return;
    }
    if (v === null || v === undefined) return;
    // A list or a scalar (a JSON patch, say) is no Kubernetes object: kept as an empty mapping, which callers skip
    // (or refuse, from its value).
    const doc = typeof v !== "object" || Array.isArray(v) ? {} : (v as Obj);
    docs.push({ file, index, doc, value: v, lineOf: (path) => lineOf(d, lines, path) });
  });
  return { docs, problems };
}

/** Why aliases could not be resolved, at the first alias that names no anchor of its own document. */
function aliasProblem(d: Document, lines: LineCounter, e: unknown): { line: number; reason: string } {
  let unresolved: Alias | undefined;
  visit(d, {
    Alias(_, node) {
      if (node.resolve(d) !== undefined) return undefined;
      unresolved = node;
      return visit.BREAK;
    },
  });
  const at = (unresolved?.range ?? d.contents?.range)?.[0];
  const line = at === undefined ? 1 : lines.linePos(at).line;
  if (unresolved !== undefined) {
    return { line, reason: `not valid YAML: alias *${unresolved.source} names no anchor of this document (an anchor in another document does not count, as in kubectl)` };
  }
  const bomb = e instanceof Error && /alias count/i.test(e.message);
  return { line, reason: bomb ? `not valid YAML: more than ${MAX_ALIAS_COUNT} aliases expanded (nested aliases that multiply, as in a "billion laughs" bomb)` : `not valid YAML: ${String(e)}` };
}

/** Every document of a file; throws InputError at the first one that cannot be read. */
export function readDocsWithPositions(file: string): PositionedDoc[] {
  const { docs, problems } = readYaml(file);
  const first = problems[0];
  if (first !== undefined) throw new InputError(`${file}:${first.line}: document ${first.index} is ${first.reason}`, { at: first });
  return docs;
}

function lineOf(d: Document, lines: LineCounter, path: string): number {
  const segments = path === "" ? [] : [...path.matchAll(/([^.[\]]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[3] !== undefined ? (JSON.parse(`"${m[3]}"`) as string) : (m[1] ?? "")));
  // The deepest node that exists: a missing field is reported where its parent is.
  for (let n = segments.length; n >= 0; n--) {
    const node = d.getIn(segments.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node?.range !== undefined) return lines.linePos(node.range[0]).line;
  }
  return d.contents?.range ? lines.linePos(d.contents.range[0]).line : 1;
}

/** The YAML files named, folders searched recursively (hidden folders and node_modules skipped), in a stable order. */
export function yamlFiles(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string, named: boolean) => {
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      throw new InputError(`cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
    }
    if (st.isDirectory()) {
      for (const e of readdirSync(p).sort()) {
        if (e.startsWith(".") || e === "node_modules") continue;
        walk(join(p, e), false);
      }
    } else if (named || /\.ya?ml$/.test(p)) out.push(p);
  };
  for (const p of paths) walk(p, true);
  return out;
}

/** Documents as crossplane render prints them: each after a `---` line, in go-yaml's style (cli/go-yaml.ts). */
export function toYaml(docs: Obj[]): string {
  return docs.map((d) => `---\n${goYaml(d)}`).join("");
}
