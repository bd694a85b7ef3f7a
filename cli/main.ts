#!/usr/bin/env node
// The package's command line: `validate` for PR checks, `render` for a local preview of what a PR creates.
import { parseArgs } from "node:util";
import { join } from "node:path";
import { pino } from "pino";
import { startServer, type RunningServer } from "../functions/server.ts";
import { packageRoot, packageVersion } from "./package-root.ts";
import { FatalResultError, offlineRoute, render, RenderError, TARGET } from "./render.ts";
import { compositionShape, credentialShape, functionShape, inFile, observedShape, requiredShape, xrShape, type ShapeCheck } from "./render-inputs.ts";
import { SchemaRegistry } from "./schema.ts";
import { formatFindings, validate, XR_GROUP } from "./validate.ts";
import { InputError, readDocs, readDocsWithPositions, toYaml, yamlFiles, type PositionedDoc } from "./yaml.ts";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- YAML documents

const USAGE = `Usage: function-azure-platform <command> [options]

Commands:
  validate PATH...   check Database and SecretRotation XRs (files or folders) against the XRDs and the DBA
                     policy in the Compositions; exit 1 on any error
      --compositions PATH    Compositions to check against (default: this package's compositions/ and any in PATH)
      --xrds PATH            XRDs (default: this package's xrds/ and any in PATH)
      --crossplane-crds DIR  also check Compositions, XRDs, Functions and Operations against Crossplane's CRDs
      --format text|github   github prints workflow annotations on the PR's lines (default: text)
      --only-trusted-compositions
                             use only --compositions (or this package's) as the policy; a Composition in PATH is
                             an error (an application team's CI: a PR must not bring its own policy)
      --namespace NS         the namespace of XRs that name none (as ArgoCD's destination or kubectl -n gives it);
                             a kustomization.yaml above a file that sets namespace: wins, as kustomize does
  render XR [COMPOSITION [FUNCTIONS]]
                     run the Composition's pipeline for the XR and print what crossplane render (CLI 2.3 or
                     later) prints; COMPOSITION defaults to this package's Composition for the XR's kind
      -o, --observed-resources PATH   observed composed resources (YAML with crossplane.io/composition-resource-name)
      -e, --required-resources PATH   objects a step may require (repeatable)
      --function-credentials PATH     Secrets the steps' credentials name (default: placeholder values)
      -r, --include-function-results  print the reconcile's events as kind: Result documents
      -x, --include-full-xr           print the input XR with the rendered one merged over it
      -a, --function-annotations KEY=VALUE
                                      override a Function annotation, e.g. ${TARGET}=localhost:9443
      --serve                         start this package's gRPC server on loopback and call it over gRPC
  version            print the version

PATH is a YAML file or a folder of them. Steps of this package run in-process; function-auto-ready is emulated; a
Function with the Development runtime annotation is called over gRPC at its target; any other step is skipped with
a notice on stderr.`;

function fail(message: string, code = 2): never {
  process.stderr.write(`function-azure-platform: ${message}\n`);
  process.exit(code);
}

async function cmdValidate(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      compositions: { type: "string", multiple: true },
      xrds: { type: "string", multiple: true },
      "crossplane-crds": { type: "string", multiple: true },
      format: { type: "string", default: "text" },
      namespace: { type: "string" },
      "only-trusted-compositions": { type: "boolean", default: false },
    },
  });
  if (positionals.length === 0) fail(`validate needs files or folders to check\n\n${USAGE}`);
  if (values.format !== "text" && values.format !== "github") fail(`--format must be text or github, got "${values.format}"`);
  const report = await validate(positionals, {
    ...(values.compositions ? { compositions: values.compositions } : {}),
    ...(values.xrds ? { xrds: values.xrds } : {}),
    ...(values["crossplane-crds"] ? { crossplaneCrds: values["crossplane-crds"] } : {}),
    ...(values.namespace ? { namespace: values.namespace } : {}),
    onlyTrustedCompositions: values["only-trusted-compositions"],
  });
  process.stdout.write(formatFindings(report, values.format));
  return report.findings.some((f) => f.severity === "error") ? 1 : 0;
}

function defaultComposition(xr: Obj): Obj {
  const all = yamlFiles([join(packageRoot(), "compositions")]).flatMap((f) => readDocs(f));
  const c = all.find((d) => d.spec?.compositeTypeRef?.apiVersion === xr.apiVersion && d.spec?.compositeTypeRef?.kind === xr.kind);
  if (c === undefined) throw new InputError(`this package has no Composition for ${xr.apiVersion} ${xr.kind}; pass one`);
  return c;
}

const ourKinds = ["Database", "SecretRotation"];
const isOurs = (d: Obj) => typeof d.apiVersion === "string" && d.apiVersion.split("/")[0] === XR_GROUP && ourKinds.includes(d.kind);
const named = (d: Obj) => `${d.kind ?? "a document without kind"}${d.metadata?.name ? ` ${d.metadata.namespace ? `${d.metadata.namespace}/` : ""}${d.metadata.name}` : ""}`;

/**
 * The XR to render: the file's one document, or its one Database or SecretRotation among others (an app's file
 * with its Deployment, say). Without a Composition only ours can be rendered, and a file without one says so.
 */
function pickXr(file: string, docs: PositionedDoc[], compositionGiven: boolean): PositionedDoc {
  const ours = docs.filter((d) => isOurs(d.doc));
  if (docs.length === 0) throw new InputError(`${file} holds no document`);
  if (ours.length === 1 && docs.length > 1) {
    const [d] = ours as [PositionedDoc];
    process.stderr.write(`render: ${file}: rendering document ${d.index} (${named(d.doc)}); ${docs.length - 1} other document(s) left out\n`);
    return d;
  }
  if (ours.length > 1) throw new InputError(`${file} holds ${ours.length} XRs (${ours.map((d) => named(d.doc)).join(", ")}); render takes one: give it a file of its own`);
  const [only] = docs as [PositionedDoc];
  if (docs.length > 1) throw new InputError(`${file} holds ${docs.length} documents and no Database or SecretRotation (${docs.map((d) => named(d.doc)).join(", ")}); render takes one XR`);
  if (!isOurs(only.doc) && !compositionGiven) {
    throw new InputError(`${file} holds ${named(only.doc)}, not a Database or SecretRotation; render takes an XR (for another kind, pass the Composition that composes it)`);
  }
  return only;
}

/** What our XR's XRD does not accept: a field it does not know (a typo such as `verison`), a value it refuses. */
function unknownToTheXrd(d: PositionedDoc): string[] {
  if (!isOurs(d.doc)) return [];
  const registry = new SchemaRegistry();
  for (const x of yamlFiles([join(packageRoot(), "xrds")]).flatMap((f) => readDocs(f))) registry.add(x, `XRD ${x.metadata?.name ?? ""}`);
  return registry.validate(d.doc).map((p) => {
    const why = p.message.startsWith("unknown field") ? `not in the ${d.doc.kind} XRD: the API server drops it, so the function never sees it` : `the ${d.doc.kind} XRD refuses it: the API server would not accept this XR`;
    return `${d.file}:${d.lineOf(p.path)}: ${p.path === "" ? "" : `${p.path}: `}${p.message} (${why})`;
  });
}

/** A document checked for the shape render relies on: a RenderError names the file, the document and the field. */
function checked(p: PositionedDoc, check: ShapeCheck): Obj {
  check(p.value, inFile(p));
  return p.doc;
}

/** Every document of the files named, folders searched for YAML files, each checked. */
function readAll(paths: string[], check: ShapeCheck): Obj[] {
  return yamlFiles(paths)
    .flatMap((f) => readDocsWithPositions(f))
    .map((p) => checked(p, check));
}

async function cmdRender(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      "observed-resources": { type: "string", short: "o" },
      "required-resources": { type: "string", short: "e", multiple: true },
      "function-credentials": { type: "string" },
      "function-annotations": { type: "string", short: "a", multiple: true },
      "include-function-results": { type: "boolean", short: "r" },
      "include-full-xr": { type: "boolean", short: "x" },
      serve: { type: "boolean" },
    },
  });
  if (positionals.length < 1 || positionals.length > 3) fail(`render needs an XR file, and optionally a Composition and a functions file\n\n${USAGE}`);
  const [xrFile, compositionFile, functionsFile] = positionals as [string, string | undefined, string | undefined];
  const annotations: Record<string, string> = {};
  for (const a of values["function-annotations"] ?? []) {
    const i = a.indexOf("=");
    if (i < 1) fail(`--function-annotations ${a}: want KEY=VALUE`);
    annotations[a.slice(0, i)] = a.slice(i + 1);
  }
  // Every input is read, and checked, before anything runs.
  const xrDoc = pickXr(xrFile, readDocsWithPositions(xrFile), compositionFile !== undefined);
  const xr = checked(xrDoc, xrShape);
  for (const w of unknownToTheXrd(xrDoc)) process.stderr.write(`render: warning: ${w}\n`);
  let composition: Obj;
  if (compositionFile !== undefined) {
    // Its first document, as crossplane render reads it.
    const [c] = readDocsWithPositions(compositionFile);
    if (c === undefined) throw new InputError(`${compositionFile} holds no document`);
    composition = checked(c, compositionShape);
  } else composition = defaultComposition(xr);
  const inputs = {
    functions: functionsFile !== undefined ? readAll([functionsFile], functionShape) : [],
    ...(values["observed-resources"] ? { observed: readAll([values["observed-resources"]], observedShape) } : {}),
    ...(values["required-resources"] ? { required: readAll(values["required-resources"], requiredShape) } : {}),
    ...(values["function-credentials"] ? { credentials: readAll([values["function-credentials"]], credentialShape) } : {}),
  };
  let server: RunningServer | undefined;
  try {
    if (values.serve) {
      // The offline route: a due SecretRotation must never reach the cluster your kubeconfig points at.
      server = await startServer({ address: "127.0.0.1:0", insecure: true, tlsServerCertsDir: "", maxRecvMessageSizeMB: 4 }, offlineRoute, pino({ level: "warn" }, pino.destination(2)));
      process.stderr.write(`render: serving function-azure-platform on 127.0.0.1:${server.port} for this render\n`);
    }
    const docs = await render({
      ...(server ? { ourTarget: `127.0.0.1:${server.port}` } : {}),
      xr,
      composition,
      ...inputs,
      annotations,
      includeResults: values["include-function-results"] ?? false,
      includeFullXr: values["include-full-xr"] ?? false,
      notice: (m) => process.stderr.write(`render: ${m}\n`),
    });
    process.stdout.write(toYaml(docs));
    return 0;
  } catch (e) {
    if (e instanceof FatalResultError) {
      process.stderr.write(`render: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    await server?.shutdown(1000);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "validate":
        return await cmdValidate(rest);
      case "render":
        return await cmdRender(rest);
      case "version":
      case "--version":
        process.stdout.write(`${packageVersion()}\n`);
        return 0;
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      default:
        fail(`unknown command "${command}"\n\n${USAGE}`);
    }
  } catch (e) {
    if (e instanceof InputError || (e instanceof TypeError && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS"))) fail(e.message);
    if (e instanceof RenderError) fail(e.message, 1);
    throw e;
  }
}

// This file is the bin: always run (older Node has no import.meta.main, and must get an error, not silence).
const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) fail(`needs Node 22.18 or later (24 recommended); this is Node ${process.versions.node}`);
process.exitCode = await main(process.argv.slice(2));
