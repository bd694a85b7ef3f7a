// Every manifest the repo ships must be something the API server would accept as written, with nothing silently
// pruned: Crossplane kinds against Crossplane's CRDs, our XRs against our XRDs, function inputs against our input
// CRDs, crossplane.yaml against the package metadata schema. One test per file and document.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { SchemaRegistry, azureValidator, coreValidator, crossplaneValidator, loadCrds, loadYamlDocuments, prefixProblems, referenceDir, repoRoot } from "../support/schema.ts";
import type { Problem } from "../support/schema.ts";

interface ManifestLayout {
  /** Case names are paths relative to this. */
  root: string;
  /** Folders walked recursively for *.yaml. */
  folders: string[];
  /** XR kinds are the kinds defined by the XRDs under this folder. */
  xrdFolder: string;
  /** The Function package metadata. */
  crossplaneYaml: string;
  /** Hand-written apiextensions.k8s.io/v1 CRDs of the function inputs (*.yaml). */
  inputCrds: string;
}

/** The manifests under test: the repo's own folders, or the same layout under $MANIFEST_ROOT (e.g. a fixture tree). */
function manifestLayout(root: string = process.env.MANIFEST_ROOT ?? repoRoot): ManifestLayout {
  return {
    root,
    folders: ["xrds", "compositions", "examples"].map((f) => path.join(root, f)),
    xrdFolder: path.join(root, "xrds"),
    crossplaneYaml: path.join(root, "crossplane.yaml"),
    inputCrds: path.join(root, "package/input"),
  };
}

const CROSSPLANE_GROUPS = new Set(["apiextensions.crossplane.io", "pkg.crossplane.io", "ops.crossplane.io"]);
/** Core kinds allowed beside Crossplane kinds; they get a light structural check. */
const CORE_KINDS = new Set(["v1 Secret", "v1 Namespace", "v1 ConfigMap", "rbac.authorization.k8s.io/v1 ClusterRole", "rbac.authorization.k8s.io/v1 ClusterRoleBinding", "rbac.authorization.k8s.io/v1 RoleBinding"]);

interface Manifest {
  rel: string;
  index: number;
  doc: unknown;
}

interface Folder {
  rel: string;
  exists: boolean;
  manifests: Manifest[];
  /** Files that are not valid YAML. */
  broken: { rel: string; error: string }[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function field(doc: unknown, ...keys: string[]): unknown {
  let cur: unknown = doc;
  for (const k of keys) cur = isRecord(cur) ? cur[k] : undefined;
  return cur;
}

function yamlFiles(dir: string, ext = /\.yaml$/): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => ext.test(f) && fs.statSync(path.join(dir, f)).isFile())
    .sort()
    .map((f) => path.join(dir, f));
}

function readFolder(root: string, dir: string): Folder {
  const folder: Folder = { rel: path.relative(root, dir), exists: fs.existsSync(dir), manifests: [], broken: [] };
  if (!folder.exists) return folder;
  for (const file of yamlFiles(dir)) {
    const rel = path.relative(root, file);
    try {
      for (const { doc, index } of loadYamlDocuments(file)) folder.manifests.push({ rel, index, doc });
    } catch (e) {
      folder.broken.push({ rel, error: e instanceof Error ? e.message : String(e) });
    }
  }
  return folder;
}

function caseName(m: Manifest): string {
  const kind = field(m.doc, "kind");
  const name = field(m.doc, "metadata", "name");
  return `${m.rel}#${m.index} ${typeof kind === "string" ? kind : "<no kind>"} ${typeof name === "string" ? name : "<no name>"}`;
}

// ---------------------------------------------------------------------------------------------------------------

const layout = manifestLayout();
const folders = layout.folders.map((dir) => readFolder(layout.root, dir));
const crossplane = crossplaneValidator();
const core = coreValidator();
// Examples of observed state (for `crossplane render -o`) hold the provider's managed resources.
const azure = azureValidator();
const functionMeta = loadCrds([path.join(referenceDir, "crossplane/meta/meta.pkg.crossplane.io_functions.yaml")]);

// XR kinds: every XRD under xrds/. An XRD that cannot be used reports it on its own case.
const xrs = new SchemaRegistry();
const xrdErrors = new Map<string, string>();
for (const m of folders.find((f) => path.join(layout.root, f.rel) === layout.xrdFolder)?.manifests ?? []) {
  if (field(m.doc, "kind") !== "CompositeResourceDefinition" || !String(field(m.doc, "apiVersion")).startsWith("apiextensions.crossplane.io/")) continue;
  try {
    xrs.add(m.doc, `${m.rel}#${m.index}`);
  } catch (e) {
    xrdErrors.set(`${m.rel}#${m.index}`, e instanceof Error ? e.message : String(e));
  }
}

// Function inputs: the hand-written CRDs under package/input/.
const inputs = new SchemaRegistry();
const inputCrdCases: { name: string; problems: () => Problem[] }[] = [];
if (fs.existsSync(layout.inputCrds)) {
  for (const file of yamlFiles(layout.inputCrds)) {
    const rel = path.relative(layout.root, file);
    let docs: { doc: unknown; index: number }[];
    try {
      docs = loadYamlDocuments(file);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      inputCrdCases.push({ name: `${rel} is valid YAML`, problems: () => [{ path: "", message }] });
      continue;
    }
    for (const { doc, index } of docs) {
      const m: Manifest = { rel, index, doc };
      let problems: Problem[] = [];
      if (field(doc, "apiVersion") !== "apiextensions.k8s.io/v1" || field(doc, "kind") !== "CustomResourceDefinition") {
        problems = [{ path: "", message: "must be an apiextensions.k8s.io/v1 CustomResourceDefinition" }];
      } else {
        try {
          for (const key of inputs.add(doc, `${rel}#${index}`)) {
            const [apiVersion = "", kind = ""] = key.split(" ");
            inputs.compile(apiVersion, kind);
          }
        } catch (e) {
          problems = [{ path: "", message: e instanceof Error ? e.message : String(e) }];
        }
      }
      inputCrdCases.push({ name: caseName(m), problems: () => problems });
    }
  }
}

/** The function pipelines of a Crossplane document, with the path of each. */
function pipelines(doc: Record<string, unknown>): { at: string; steps: unknown }[] {
  const av = String(doc["apiVersion"]);
  const kind = doc["kind"];
  if (av.startsWith("apiextensions.crossplane.io/") && kind === "Composition") return [{ at: "spec.pipeline", steps: field(doc, "spec", "pipeline") }];
  if (av.startsWith("ops.crossplane.io/") && kind === "Operation") return [{ at: "spec.pipeline", steps: field(doc, "spec", "pipeline") }];
  if (av.startsWith("ops.crossplane.io/") && (kind === "CronOperation" || kind === "WatchOperation")) {
    return [{ at: "spec.operationTemplate.spec.pipeline", steps: field(doc, "spec", "operationTemplate", "spec", "pipeline") }];
  }
  return [];
}

/** Each step's input must be a kind one of our input CRDs defines, and valid against it. */
function inputProblems(doc: Record<string, unknown>): Problem[] {
  const out: Problem[] = [];
  for (const { at, steps } of pipelines(doc)) {
    if (!Array.isArray(steps)) continue;
    steps.forEach((step: unknown, i) => {
      const input = field(step, "input");
      const apiVersion = field(input, "apiVersion");
      const kind = field(input, "kind");
      if (typeof apiVersion !== "string" || typeof kind !== "string") return; // absent, or flagged by the Composition schema
      const where = `${at}[${i}].input`;
      if (!inputs.has(apiVersion, kind)) {
        out.push({ path: where, message: `no input CRD under package/input/ defines ${apiVersion} ${kind}` });
        return;
      }
      out.push(...prefixProblems(where, inputs.validate(input)));
    });
  }
  return out;
}

function problemsOf(m: Manifest): Problem[] {
  const doc = m.doc;
  if (!isRecord(doc)) return [{ path: "", message: "must be a YAML mapping (a Kubernetes object)" }];
  const apiVersion = doc["apiVersion"];
  const kind = doc["kind"];
  if (typeof apiVersion !== "string" || typeof kind !== "string") return [{ path: "", message: "apiVersion and kind must be strings" }];
  const group = apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
  if (CROSSPLANE_GROUPS.has(group)) {
    const xrdError = xrdErrors.get(`${m.rel}#${m.index}`);
    return [...crossplane.validate(doc), ...inputProblems(doc), ...(xrdError === undefined ? [] : [{ path: "", message: xrdError }])];
  }
  if (xrs.has(apiVersion, kind)) return xrs.validate(doc);
  if (azure.has(apiVersion, kind)) return azure.validate(doc);
  if (CORE_KINDS.has(`${apiVersion} ${kind}`)) return core.validate(doc);
  return [
    {
      path: "",
      message: `no schema for ${apiVersion} ${kind}: expected a Crossplane kind, an XR kind defined under ${path.relative(layout.root, layout.xrdFolder)}/, or one of ${[...CORE_KINDS].join(", ")}`,
    },
  ];
}

// ---------------------------------------------------------------------------------------------------------------

for (const folder of folders) {
  describe(`${folder.rel}/`, () => {
    it("holds at least one manifest once the folder exists", () => {
      if (!folder.exists) return; // not written yet
      expect(folder.manifests.length, `${folder.rel}/ exists but holds no YAML document`).toBeGreaterThan(0);
    });
    for (const b of folder.broken) {
      it(`${b.rel} is valid YAML`, () => {
        expect.fail(b.error);
      });
    }
    for (const m of folder.manifests) {
      it(caseName(m), () => {
        expect(problemsOf(m)).toEqual([]);
      });
    }
  });
}

describe("crossplane.yaml", () => {
  it("exists", () => expect(fs.existsSync(layout.crossplaneYaml)).toBe(true));
  if (!fs.existsSync(layout.crossplaneYaml)) return;
  const rel = path.relative(layout.root, layout.crossplaneYaml);
  let manifests: Manifest[] = [];
  let error = "";
  try {
    manifests = loadYamlDocuments(layout.crossplaneYaml).map(({ doc, index }) => ({ rel, index, doc }));
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  it(`${rel} holds exactly one document`, () => {
    expect(error).toBe("");
    expect(manifests.length).toBe(1);
  });
  for (const m of manifests) {
    it(caseName(m), () => {
      expect(functionMeta.validate(m.doc)).toEqual([]);
    });
  }
});

describe("package/input/ CRDs", () => {
  it("holds at least one input CRD", () => expect(inputCrdCases.length).toBeGreaterThan(0));
  for (const c of inputCrdCases) {
    it(c.name, () => {
      expect(c.problems()).toEqual([]);
    });
  }
});
