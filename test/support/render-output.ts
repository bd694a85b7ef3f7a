// What a render prints, document by document, and the two edits that make two renders comparable: Crossplane
// records its "is not yet ready" events in Go map order (it varies from run to run), and a first render generates
// a new admin password every time.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { REPO_ROOT } from "./proto-client.ts";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- rendered YAML

export interface RenderedDoc {
  /** The document's text as printed, after its `---` line. */
  text: string;
  doc: Obj;
}

export function renderedDocs(stdout: string): RenderedDoc[] {
  return stdout
    .split(/^---\n/m)
    .slice(1)
    .map((text) => ({ text, doc: parse(text) as Obj }));
}

const UNREADY = /^Composed resource ".*" is not yet (ready|valid)$/;

/** The "is not yet ready" results in name order, where they stand among the others. */
export function unreadyInNameOrder(docs: RenderedDoc[]): RenderedDoc[] {
  const isUnready = (d: RenderedDoc) => d.doc.kind === "Result" && UNREADY.test(String(d.doc.message));
  const sorted = docs.filter(isUnready).sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
  let next = 0;
  return docs.map((d) => (isUnready(d) ? (sorted[next++] as RenderedDoc) : d));
}

export const GENERATED = "<generated>";

/** The Secret's generated admin password, and the uri that holds it, as GENERATED. */
export function passwordGenerated(docs: RenderedDoc[]): RenderedDoc[] {
  return docs.map((d) =>
    d.doc.kind === "Secret"
      ? { text: d.text.replace(/^( {2}(password|uri): ).*$/gm, `$1${GENERATED}`), doc: { ...d.doc, data: { ...d.doc.data, password: GENERATED, uri: GENERATED } } }
      : d,
  );
}

/** A render recorded from the real crossplane render, in test/e2e/crossplane-render (comments dropped). */
export function recorded(name: string): RenderedDoc[] {
  return renderedDocs(readFileSync(join(REPO_ROOT, "test/e2e/crossplane-render", `${name}.yaml`), "utf8"));
}
