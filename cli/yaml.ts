// Reading the YAML people hand the CLI: files or folders, every document with its index and line numbers; and
// printing documents as crossplane render does.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { LineCounter, parseAllDocuments, type Document } from "yaml";
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

export function readDocsWithPositions(file: string): PositionedDoc[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new InputError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines });
  if (!Array.isArray(docs)) return [];
  const out: PositionedDoc[] = [];
  docs.forEach((d, index) => {
    const err = d.errors[0];
    if (err !== undefined) {
      const line = err.linePos?.[0]?.line ?? 1;
      const reason = `not valid YAML: ${(err.message.split("\n")[0] ?? "").replace(/:$/, "")}`;
      throw new InputError(`${file}:${line}: document ${index} is ${reason}`, { at: { file, index, line, reason } });
    }
    const v = d.toJS() as unknown;
    if (v === null || v === undefined) return;
    // A list or a scalar (a JSON patch, say) is no Kubernetes object: kept as an empty mapping, which callers skip
    // (or refuse, from its value).
    const doc = typeof v !== "object" || Array.isArray(v) ? {} : (v as Obj);
    out.push({ file, index, doc, value: v, lineOf: (path) => lineOf(d, lines, path) });
  });
  return out;
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
