// A local stand-in for `crossplane render` with Development-runtime functions: it runs a Composition's
// pipeline against running function servers over gRPC and prints what `crossplane render` prints.
// With --serve it starts this package's server itself, so nothing but Node is needed.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import {
  FunctionRunnerServiceService,
  Ready,
  RunFunctionRequest,
  Severity,
  type Resource,
  type RunFunctionResponse,
  type State,
} from "@crossplane-org/function-sdk-typescript";
import { pino } from "pino";
import { parseAllDocuments, stringify } from "yaml";
import { route } from "../functions/router.ts";
import { sortKeys } from "../functions/shared/sort-keys.ts";
import { startServer } from "../functions/server.ts";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- YAML documents

const RUNTIME = "render.crossplane.io/runtime";
const TARGET = "render.crossplane.io/runtime-development-target";
const RESOURCE_NAME = "crossplane.io/composition-resource-name";

export function readDocs(file: string): Obj[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
  const docs = parseAllDocuments(text);
  return docs.flatMap((d, i) => {
    if (d.errors.length > 0) throw new Error(`${file} document ${i}: ${d.errors[0]?.message}`);
    const v = d.toJS() as unknown;
    return v === null || v === undefined ? [] : [v as Obj];
  });
}

export interface RenderOptions {
  xr: Obj;
  composition: Obj;
  functions: Obj[];
  observed?: Obj[];
  annotations?: Record<string, string>;
  includeResults?: boolean;
}

function call(target: string, req: RunFunctionRequest): Promise<RunFunctionResponse> {
  const Client = grpc.makeGenericClientConstructor(FunctionRunnerServiceService, "FunctionRunnerService");
  const client = new Client(target, grpc.credentials.createInsecure()) as unknown as {
    runFunction(r: RunFunctionRequest, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: RunFunctionResponse) => void): void;
    close(): void;
  };
  return new Promise((resolve, reject) => {
    client.runFunction(req, { deadline: Date.now() + 60_000 }, (e, r) => {
      client.close();
      if (e) reject(new Error(`cannot call the function at ${target}: ${e.details || e.message}`));
      else resolve(r);
    });
  });
}

export async function render(o: RenderOptions): Promise<Obj[]> {
  const { xr, composition } = o;
  if (composition.kind !== "Composition") throw new Error(`expected a Composition, got ${composition.kind}`);
  if (composition.spec?.mode !== "Pipeline") throw new Error("only Compositions in mode Pipeline can be rendered");
  const ref = composition.spec.compositeTypeRef ?? {};
  if (ref.apiVersion !== xr.apiVersion || ref.kind !== xr.kind) {
    throw new Error(`the Composition composes ${ref.apiVersion} ${ref.kind}, not ${xr.apiVersion} ${xr.kind}`);
  }
  const observed: Record<string, Resource> = {};
  for (const r of o.observed ?? []) {
    const name = r.metadata?.annotations?.[RESOURCE_NAME];
    if (!name) throw new Error(`observed ${r.kind} ${r.metadata?.name ?? ""} has no ${RESOURCE_NAME} annotation`);
    observed[name] = { resource: r, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED };
  }
  let desired: State = { composite: { resource: { apiVersion: xr.apiVersion, kind: xr.kind, metadata: xr.metadata }, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }, resources: {} };
  let context: Obj | undefined;
  const results: Obj[] = [];
  const conditions: Obj[] = [];
  for (const step of composition.spec.pipeline as Obj[]) {
    const fn = o.functions.find((f) => f.metadata?.name === step.functionRef?.name);
    if (!fn) throw new Error(`step ${step.step} uses function ${step.functionRef?.name}, which is not in the functions file`);
    const annotations = { ...fn.metadata?.annotations, ...o.annotations };
    if (annotations[RUNTIME] !== "Development") {
      throw new Error(`step ${step.step}: function ${fn.metadata.name} must use ${RUNTIME}: Development (this tool does not run containers)`);
    }
    const target = annotations[TARGET] ?? "localhost:9443";
    const rsp = await call(
      target,
      RunFunctionRequest.fromPartial({
        meta: { tag: `render-${step.step}`, capabilities: [] },
        observed: { composite: { resource: xr, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }, resources: observed },
        desired,
        input: step.input,
        context,
      }),
    );
    for (const r of rsp.results) results.push({ step: step.step, severity: Severity[r.severity], reason: r.reason, message: r.message });
    for (const c of rsp.conditions) conditions.push(c);
    if (rsp.results.some((r) => r.severity === Severity.SEVERITY_FATAL)) {
      const fatal = rsp.results.find((r) => r.severity === Severity.SEVERITY_FATAL);
      throw Object.assign(new Error(`pipeline step "${step.step}" returned a fatal result: ${fatal?.message}`), { results });
    }
    desired = rsp.desired ?? desired;
    context = rsp.context;
  }

  const meta = xr.metadata ?? {};
  const status = { ...(desired.composite?.resource?.status ?? {}) };
  const out: Obj[] = [{ apiVersion: xr.apiVersion, kind: xr.kind, metadata: { name: meta.name, namespace: meta.namespace }, status: { ...status, conditions: conditionsFor(conditions) } }];
  for (const [name, r] of Object.entries(sortKeys(desired.resources))) {
    const res = (r.resource ?? {}) as Obj;
    const m = res.metadata ?? {};
    out.push({
      ...res,
      metadata: {
        ...m,
        ...(m.name ? {} : { generateName: `${meta.name}-` }),
        annotations: { ...m.annotations, [RESOURCE_NAME]: name },
        labels: { ...m.labels, "crossplane.io/composite": meta.name },
        ownerReferences: [{ apiVersion: xr.apiVersion, kind: xr.kind, name: meta.name, uid: meta.uid ?? "", controller: true, blockOwnerDeletion: true }],
      },
    });
  }
  if (o.includeResults) {
    for (const r of results) out.push({ apiVersion: "render.crossplane.io/v1beta1", kind: "Result", ...r });
  }
  return out;
}

function conditionsFor(conditions: Obj[]): Obj[] {
  const status = ["Unspecified", "Unknown", "True", "False"];
  return conditions.map((c) => ({ type: c.type, status: status[c.status] ?? "Unknown", reason: c.reason, ...(c.message ? { message: c.message } : {}) }));
}

export function toYaml(docs: Obj[]): string {
  return docs.map((d) => `---\n${stringify(d, { lineWidth: 0 })}`).join("");
}

const usage = `Usage: node scripts/render.ts <xr.yaml> <composition.yaml> <functions.yaml> [options]

  -o, --observed-resources FILE     observed composed resources (YAML with crossplane.io/composition-resource-name)
  -a, --annotation KEY=VALUE        override a Function annotation, e.g. ${TARGET}=localhost:9444
  -r, --include-function-results    print results as kind: Result documents
      --serve                       start this package's function server in-process and render against it`;

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      "observed-resources": { type: "string", short: "o" },
      annotation: { type: "string", short: "a", multiple: true },
      "include-function-results": { type: "boolean", short: "r" },
      serve: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || positionals.length !== 3) {
    process.stderr.write(`${usage}\n`);
    process.exit(values.help ? 0 : 2);
  }
  const [xrFile, compositionFile, functionsFile] = positionals as [string, string, string];
  const annotations: Record<string, string> = {};
  for (const a of values.annotation ?? []) {
    const i = a.indexOf("=");
    if (i < 1) throw new Error(`--annotation ${a}: want KEY=VALUE`);
    annotations[a.slice(0, i)] = a.slice(i + 1);
  }
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    if (values.serve) {
      server = await startServer({ address: "127.0.0.1:0", insecure: true, tlsServerCertsDir: "", maxRecvMessageSizeMB: 4 }, route, pino({ level: "warn" }, pino.destination(2)));
      annotations[TARGET] = `127.0.0.1:${server.port}`;
      process.stderr.write(`serving function-azure-platform on 127.0.0.1:${server.port} for this render\n`);
    }
    const [xr] = readDocs(xrFile);
    const [composition] = readDocs(compositionFile);
    if (!xr || !composition) throw new Error("the XR and Composition files must each hold a document");
    const docs = await render({
      xr,
      composition,
      functions: readDocs(functionsFile),
      ...(values["observed-resources"] ? { observed: readDocs(values["observed-resources"]) } : {}),
      annotations,
      includeResults: values["include-function-results"] ?? false,
    });
    process.stdout.write(toYaml(docs));
  } catch (e) {
    process.stderr.write(`crossplane render (local): ${(e as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    await server?.shutdown(1000);
  }
}
