// An independent RunFunction client for end-to-end tests.
//
// Built only from Crossplane's upstream run_function.proto (loaded at run time
// with @grpc/proto-loader), never from @crossplane-org/function-sdk-typescript:
// it checks the wire protocol the server speaks, not the SDK's idea of it.
//
// Callers work in plain JSON: google.protobuf.Struct fields are plain objects,
// bytes are Buffers, enums are their string names, Durations are
// {seconds, nanos}. Field names are proto-loader's camelCase
// (connection_details -> connectionDetails). Conversion is driven by the
// message descriptors proto-loader derives from the .proto, so every message
// in the file is handled and unknown request fields / enum names are rejected
// instead of being silently dropped by protobufjs.

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { TestPki } from "./certs.ts";

// ---------------------------------------------------------------------------
// Plain (JSON-shaped) types mirroring run_function.proto
// ---------------------------------------------------------------------------

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export type Capability =
  | "CAPABILITY_UNSPECIFIED"
  | "CAPABILITY_CAPABILITIES"
  | "CAPABILITY_REQUIRED_RESOURCES"
  | "CAPABILITY_CREDENTIALS"
  | "CAPABILITY_CONDITIONS"
  | "CAPABILITY_REQUIRED_SCHEMAS";
export type Ready = "READY_UNSPECIFIED" | "READY_TRUE" | "READY_FALSE";
export type Severity = "SEVERITY_UNSPECIFIED" | "SEVERITY_FATAL" | "SEVERITY_WARNING" | "SEVERITY_NORMAL";
export type Target = "TARGET_UNSPECIFIED" | "TARGET_COMPOSITE" | "TARGET_COMPOSITE_AND_CLAIM";
export type ConditionStatus =
  | "STATUS_CONDITION_UNSPECIFIED"
  | "STATUS_CONDITION_UNKNOWN"
  | "STATUS_CONDITION_TRUE"
  | "STATUS_CONDITION_FALSE";

export interface PlainResource {
  resource?: JsonObject;
  connectionDetails?: Record<string, Buffer>;
  ready?: Ready;
}

export interface PlainState {
  composite?: PlainResource;
  resources?: Record<string, PlainResource>;
}

export interface PlainRequestMeta {
  tag?: string;
  capabilities?: Capability[];
}

export interface PlainCredentials {
  credentialData?: { data?: Record<string, Buffer> };
}

export interface PlainResources {
  items?: PlainResource[];
}

export interface PlainSchema {
  openapiV3?: JsonObject;
}

export interface PlainRequest {
  meta?: PlainRequestMeta;
  observed?: PlainState;
  desired?: PlainState;
  input?: JsonObject;
  context?: JsonObject;
  /** Deprecated upstream in favour of requiredResources. */
  extraResources?: Record<string, PlainResources>;
  credentials?: Record<string, PlainCredentials>;
  requiredResources?: Record<string, PlainResources>;
  requiredSchemas?: Record<string, PlainSchema>;
}

export interface PlainDuration {
  seconds: number;
  nanos: number;
}

export interface PlainResponseMeta {
  tag?: string;
  ttl?: PlainDuration;
}

export interface PlainResult {
  severity?: Severity;
  message?: string;
  reason?: string;
  target?: Target;
}

export interface PlainCondition {
  type?: string;
  status?: ConditionStatus;
  reason?: string;
  message?: string;
  target?: Target;
}

export interface PlainResourceSelector {
  apiVersion?: string;
  kind?: string;
  matchName?: string;
  matchLabels?: { labels?: Record<string, string> };
  namespace?: string;
}

export interface PlainSchemaSelector {
  apiVersion?: string;
  kind?: string;
}

export interface PlainRequirements {
  /** Deprecated upstream in favour of resources. */
  extraResources?: Record<string, PlainResourceSelector>;
  resources?: Record<string, PlainResourceSelector>;
  schemas?: Record<string, PlainSchemaSelector>;
}

export interface PlainResponse {
  meta?: PlainResponseMeta;
  desired?: PlainState;
  results?: PlainResult[];
  context?: JsonObject;
  requirements?: PlainRequirements;
  conditions?: PlainCondition[];
  output?: JsonObject;
}

// ---------------------------------------------------------------------------
// Loading the protos
// ---------------------------------------------------------------------------

/** Repository root (the directory holding package.json). */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Crossplane's upstream proto; CI clones this repo beside `../shared`. */
export const RUN_FUNCTION_PROTO = resolve(REPO_ROOT, "../shared/reference/crossplane/proto/run_function.proto");

export const RUN_FUNCTION_SERVICE = "apiextensions.fn.proto.v1.FunctionRunnerService";
const REQUEST_TYPE = "apiextensions.fn.proto.v1.RunFunctionRequest";
const RESPONSE_TYPE = "apiextensions.fn.proto.v1.RunFunctionResponse";

const requireHere = createRequire(import.meta.url);

/** Directory holding grpc-health-check's `health/v1/health.proto`. */
export const HEALTH_PROTO_DIR = join(dirname(requireHere.resolve("grpc-health-check/package.json")), "proto");
export const HEALTH_SERVICE = "grpc.health.v1.Health";

/**
 * proto-loader options: string enums, plain numbers for int64 (Duration
 * seconds), no defaults (absent fields stay absent), oneof discriminators on
 * (stripped again by the converters). camelCase field names (keepCase off),
 * bytes as Buffers (protobufjs' default under Node).
 *
 * google/protobuf/struct.proto and duration.proto need no include dir:
 * protobufjs ships them as bundled "common" definitions and its loader looks
 * every `google/protobuf/*.proto` import up there before it consults the
 * include-path resolver.
 */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  enums: String,
  longs: Number,
  defaults: false,
  oneofs: true,
};

let runFunctionPackage: protoLoader.PackageDefinition | undefined;
let healthPackage: protoLoader.PackageDefinition | undefined;

/** The package definition of run_function.proto (loaded once). */
export function loadRunFunctionPackage(): protoLoader.PackageDefinition {
  if (runFunctionPackage === undefined) {
    if (!existsSync(RUN_FUNCTION_PROTO)) {
      throw new Error(
        `upstream proto not found at ${RUN_FUNCTION_PROTO}: the e2e tests expect the shared reference checkout beside this repository`,
      );
    }
    runFunctionPackage = protoLoader.loadSync(RUN_FUNCTION_PROTO, {
      ...PROTO_LOADER_OPTIONS,
      includeDirs: [dirname(RUN_FUNCTION_PROTO)],
    });
  }
  return runFunctionPackage;
}

/** The package definition of grpc.health.v1 as shipped by grpc-health-check (loaded once). */
export function loadHealthPackage(): protoLoader.PackageDefinition {
  healthPackage ??= protoLoader.loadSync("health/v1/health.proto", {
    ...PROTO_LOADER_OPTIONS,
    includeDirs: [HEALTH_PROTO_DIR],
  });
  return healthPackage;
}

const grpcObjects = new WeakMap<protoLoader.PackageDefinition, grpc.GrpcObject>();

/** The grpc-js client constructor (its `.service` is the server-side ServiceDefinition too) for a service of a loaded package. */
export function serviceConstructor(pkg: protoLoader.PackageDefinition, fullName: string): grpc.ServiceClientConstructor {
  let grpcObject = grpcObjects.get(pkg);
  if (grpcObject === undefined) grpcObjects.set(pkg, (grpcObject = grpc.loadPackageDefinition(pkg)));
  let node: unknown = grpcObject;
  for (const part of fullName.split(".")) {
    node = node !== null && typeof node === "object" ? (node as Record<string, unknown>)[part] : undefined;
    if (node === undefined) break;
  }
  if (typeof node !== "function" || !("service" in node)) {
    throw new Error(`service ${fullName} not found in the loaded proto package`);
  }
  return node as grpc.ServiceClientConstructor;
}

// ---------------------------------------------------------------------------
// Descriptor-driven conversion between plain JSON and proto-loader objects
// ---------------------------------------------------------------------------

interface FieldDescriptor {
  name: string;
  label: string;
  type: string;
  typeName: string;
}
interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType: MessageDescriptor[];
  enumType: EnumDescriptor[];
  oneofDecl: { name: string }[];
  options?: { mapEntry?: boolean } | null;
}
interface EnumDescriptor {
  name: string;
  value: { name: string; number: number }[];
}

type Shape =
  | { kind: "scalar" }
  | { kind: "bytes" }
  | { kind: "enum"; typeName: string; names: ReadonlySet<string> }
  | { kind: "message"; typeName: string };

interface FieldInfo {
  shape: Shape;
  cardinality: "single" | "repeated" | "map";
}

interface MessageInfo {
  fields: Map<string, FieldInfo>;
  /** Oneof names: proto-loader's `oneofs: true` discriminator keys (incl. proto3 `optional`'s `_x`). */
  oneofs: Set<string>;
}

const STRUCT = "google.protobuf.Struct";
const VALUE = "google.protobuf.Value";
const LIST_VALUE = "google.protobuf.ListValue";
const DURATION = "google.protobuf.Duration";

class Schema {
  readonly #messages = new Map<string, MessageDescriptor>();
  readonly #enums = new Map<string, EnumDescriptor>();
  readonly #infos = new Map<string, MessageInfo>();

  constructor(pkg: protoLoader.PackageDefinition) {
    for (const [fullName, def] of Object.entries(pkg)) {
      if (def.format === "Protocol Buffer 3 DescriptorProto") this.#addMessage(fullName, def.type as MessageDescriptor);
      else if (def.format === "Protocol Buffer 3 EnumDescriptorProto") this.#enums.set(fullName, def.type as EnumDescriptor);
    }
  }

  #addMessage(fullName: string, d: MessageDescriptor): void {
    this.#messages.set(fullName, d);
    for (const nested of d.nestedType) this.#addMessage(`${fullName}.${nested.name}`, nested);
    for (const e of d.enumType) this.#enums.set(`${fullName}.${e.name}`, e);
  }

  /**
   * Resolves a (possibly relative) type name the way protoc scopes it:
   * innermost scope first. Map entries are never candidates: protobufjs names
   * them after the field (`credentials` -> nested `Credentials`), which would
   * otherwise shadow the real top-level message of the same name.
   */
  #resolve(scope: string, name: string): string {
    if (name.startsWith(".")) return name.slice(1);
    const parts = scope.split(".");
    for (let i = parts.length; i >= 0; i--) {
      const candidate = [...parts.slice(0, i), name].join(".");
      const message = this.#messages.get(candidate);
      if ((message !== undefined && message.options?.mapEntry !== true) || this.#enums.has(candidate)) return candidate;
    }
    throw new Error(`cannot resolve type ${name} from ${scope}`);
  }

  #shape(scope: string, f: FieldDescriptor): Shape {
    switch (f.type) {
      case "TYPE_BYTES":
        return { kind: "bytes" };
      case "TYPE_ENUM": {
        const typeName = this.#resolve(scope, f.typeName);
        const e = this.#enums.get(typeName);
        if (e === undefined) throw new Error(`${typeName} is not an enum`);
        return { kind: "enum", typeName, names: new Set(e.value.map((v) => v.name)) };
      }
      case "TYPE_MESSAGE":
      case "TYPE_GROUP":
        return { kind: "message", typeName: this.#resolve(scope, f.typeName) };
      default:
        return { kind: "scalar" };
    }
  }

  message(fullName: string): MessageInfo {
    const cached = this.#infos.get(fullName);
    if (cached !== undefined) return cached;
    const d = this.#messages.get(fullName);
    if (d === undefined) throw new Error(`unknown message type ${fullName}`);
    const info: MessageInfo = { fields: new Map(), oneofs: new Set(d.oneofDecl.map((o) => o.name)) };
    for (const f of d.field) {
      // A map field is a repeated field of a nested map-entry message; its
      // value's type name is relative to this message's scope (protobufjs'
      // descriptor export shortens it from the message's parent).
      const entry =
        f.label === "LABEL_REPEATED" && f.type === "TYPE_MESSAGE"
          ? d.nestedType.find((n) => n.name === f.typeName && n.options?.mapEntry === true)
          : undefined;
      if (entry !== undefined) {
        const valueField = entry.field.find((x) => x.name === "value");
        if (valueField === undefined) throw new Error(`map entry ${fullName}.${entry.name} has no value field`);
        info.fields.set(f.name, { shape: this.#shape(fullName, valueField), cardinality: "map" });
      } else {
        const cardinality = f.label === "LABEL_REPEATED" ? "repeated" : "single";
        info.fields.set(f.name, { shape: this.#shape(fullName, f), cardinality });
      }
    }
    this.#infos.set(fullName, info);
    return info;
  }
}

let schema: Schema | undefined;
function runFunctionSchema(): Schema {
  schema ??= new Schema(loadRunFunctionPackage());
  return schema;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "object") return (v as object).constructor?.name ?? "object";
  return typeof v;
}

/** Plain JS value -> proto-loader `google.protobuf.Value` object. */
export function plainToValue(v: unknown, path = "$"): Record<string, unknown> {
  if (v === null) return { nullValue: "NULL_VALUE" };
  switch (typeof v) {
    case "boolean":
      return { boolValue: v };
    case "number":
      return { numberValue: v };
    case "string":
      return { stringValue: v };
    default:
  }
  if (Array.isArray(v)) {
    return {
      listValue: {
        values: v.map((item, i) => {
          if (item === undefined) throw new TypeError(`${path}[${i}]: undefined cannot be encoded as google.protobuf.Value`);
          return plainToValue(item, `${path}[${i}]`);
        }),
      },
    };
  }
  if (isPlainObject(v)) return { structValue: plainToStruct(v, path) };
  throw new TypeError(`${path}: ${describe(v)} cannot be encoded as google.protobuf.Value`);
}

/** Plain JS object -> proto-loader `google.protobuf.Struct` object. Keys whose value is `undefined` are skipped (as JSON.stringify does). */
export function plainToStruct(obj: unknown, path = "$"): { fields: Record<string, Record<string, unknown>> } {
  if (!isPlainObject(obj)) throw new TypeError(`${path}: expected a plain object for google.protobuf.Struct, got ${describe(obj)}`);
  const fields: Record<string, Record<string, unknown>> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v !== undefined) fields[k] = plainToValue(v, `${path}.${k}`);
  }
  return { fields };
}

/** proto-loader `google.protobuf.Value` object -> plain JS value. Exactly one kind must be set. */
export function valueToPlain(v: unknown, path = "$"): JsonValue {
  if (!isPlainObject(v)) throw new TypeError(`${path}: expected a google.protobuf.Value object, got ${describe(v)}`);
  const kinds = ["nullValue", "numberValue", "stringValue", "boolValue", "structValue", "listValue"].filter(
    (k) => v[k] !== undefined,
  );
  if (kinds.length !== 1) throw new TypeError(`${path}: google.protobuf.Value must have exactly one kind set, has [${kinds.join(", ")}]`);
  switch (kinds[0]) {
    case "nullValue":
      return null;
    case "numberValue":
      return v["numberValue"] as number;
    case "stringValue":
      return v["stringValue"] as string;
    case "boolValue":
      return v["boolValue"] as boolean;
    case "structValue":
      return structToPlain(v["structValue"], path);
    default: {
      const list = v["listValue"] as { values?: unknown[] };
      return (list.values ?? []).map((item, i) => valueToPlain(item, `${path}[${i}]`));
    }
  }
}

/** proto-loader `google.protobuf.Struct` object -> plain JS object. */
export function structToPlain(s: unknown, path = "$"): JsonObject {
  if (!isPlainObject(s)) throw new TypeError(`${path}: expected a google.protobuf.Struct object, got ${describe(s)}`);
  const fields = (s["fields"] ?? {}) as Record<string, unknown>;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(fields)) out[k] = valueToPlain(v, `${path}.${k}`);
  return out;
}

function encodeMessage(typeName: string, plain: unknown, path: string): unknown {
  switch (typeName) {
    case STRUCT:
      return plainToStruct(plain, path);
    case VALUE:
      return plainToValue(plain, path);
    case LIST_VALUE:
      if (!Array.isArray(plain)) throw new TypeError(`${path}: expected an array for google.protobuf.ListValue`);
      return plainToValue(plain, path)["listValue"];
    default:
  }
  if (!isPlainObject(plain)) throw new TypeError(`${path}: expected an object for ${typeName}, got ${describe(plain)}`);
  const info = runFunctionSchema().message(typeName);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(plain)) {
    if (value === undefined) continue;
    const field = info.fields.get(key);
    if (field === undefined) {
      throw new TypeError(`${path}.${key}: no such field in ${typeName} (fields: ${[...info.fields.keys()].join(", ")})`);
    }
    out[key] = mapField(field, value, `${path}.${key}`, encodeValue);
  }
  return out;
}

function encodeValue(shape: Shape, v: unknown, path: string): unknown {
  switch (shape.kind) {
    case "message":
      return encodeMessage(shape.typeName, v, path);
    case "enum":
      if (typeof v === "string" && !shape.names.has(v)) {
        throw new TypeError(`${path}: ${JSON.stringify(v)} is not a value of ${shape.typeName} (${[...shape.names].join(", ")})`);
      }
      return v;
    case "bytes":
      if (!(v instanceof Uint8Array)) throw new TypeError(`${path}: bytes must be a Buffer/Uint8Array, got ${describe(v)}`);
      return v;
    default:
      return v;
  }
}

function decodeMessage(typeName: string, wire: unknown, path: string): unknown {
  switch (typeName) {
    case STRUCT:
      return structToPlain(wire, path);
    case VALUE:
      return valueToPlain(wire, path);
    case LIST_VALUE:
      return valueToPlain({ listValue: wire }, path);
    case DURATION: {
      const d = wire as { seconds?: number; nanos?: number };
      return { seconds: d.seconds ?? 0, nanos: d.nanos ?? 0 } satisfies PlainDuration;
    }
    default:
  }
  if (!isPlainObject(wire)) throw new TypeError(`${path}: expected a decoded ${typeName} object, got ${describe(wire)}`);
  const info = runFunctionSchema().message(typeName);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(wire)) {
    if (value === undefined) continue;
    const field = info.fields.get(key);
    if (field === undefined) {
      if (info.oneofs.has(key)) continue; // proto-loader's oneof discriminator, e.g. `_ttl: "ttl"`
      throw new TypeError(`${path}.${key}: unexpected key in decoded ${typeName}`);
    }
    out[key] = mapField(field, value, `${path}.${key}`, decodeValue);
  }
  return out;
}

function decodeValue(shape: Shape, v: unknown, path: string): unknown {
  switch (shape.kind) {
    case "message":
      return decodeMessage(shape.typeName, v, path);
    case "bytes":
      return Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array);
    default:
      return v;
  }
}

function mapField(
  field: FieldInfo,
  value: unknown,
  path: string,
  convert: (shape: Shape, v: unknown, path: string) => unknown,
): unknown {
  switch (field.cardinality) {
    case "repeated":
      if (!Array.isArray(value)) throw new TypeError(`${path}: expected an array, got ${describe(value)}`);
      return value.map((item, i) => convert(field.shape, item, `${path}[${i}]`));
    case "map": {
      if (!isPlainObject(value)) throw new TypeError(`${path}: expected an object (proto map), got ${describe(value)}`);
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = convert(field.shape, v, `${path}.${k}`);
      return out;
    }
    default:
      return convert(field.shape, value, path);
  }
}

/** Plain request -> the object proto-loader serializes. Throws on unknown fields and enum names. */
export function encodeRequest(req: PlainRequest): Record<string, unknown> {
  return encodeMessage(REQUEST_TYPE, req, "request") as Record<string, unknown>;
}

/** The object proto-loader deserialized -> plain response (oneof discriminators stripped). */
export function decodeResponse(wire: unknown): PlainResponse {
  return decodeMessage(RESPONSE_TYPE, wire, "response") as PlainResponse;
}

/** Same conversions for any message of run_function.proto, by fully qualified name. */
export function encodeMessageOf(typeName: string, plain: unknown): unknown {
  return encodeMessage(typeName, plain, typeName);
}
export function decodeMessageOf(typeName: string, wire: unknown): unknown {
  return decodeMessage(typeName, wire, typeName);
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

export interface RunFunctionCallOptions {
  /** Per-call deadline; default 10 s so a hung server fails the test instead of timing it out. */
  deadlineMs?: number;
  metadata?: Record<string, string>;
}

export interface RunFunctionClient {
  /** Rejects with the grpc-js `ServiceError` (`code`, `details`, `metadata`) when the call fails. */
  runFunction(req: PlainRequest, opts?: RunFunctionCallOptions): Promise<PlainResponse>;
  close(): void;
}

const DEFAULT_DEADLINE_MS = 10_000;

/**
 * Each client gets its own subchannel pool, so tests never share (or inherit
 * reconnect backoff from) another client's connection.
 */
const ISOLATED_CHANNEL: grpc.ChannelOptions = { "grpc.use_local_subchannel_pool": 1 };

export function connect(
  address: string,
  creds: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  channelOptions: grpc.ChannelOptions = {},
): RunFunctionClient {
  const Ctor = serviceConstructor(loadRunFunctionPackage(), RUN_FUNCTION_SERVICE);
  const method = Ctor.service["RunFunction"];
  if (method === undefined) throw new Error(`${RUN_FUNCTION_SERVICE} has no RunFunction method`);
  const client = new Ctor(address, creds, { ...ISOLATED_CHANNEL, ...channelOptions });
  return {
    runFunction(req, opts = {}) {
      return new Promise<PlainResponse>((resolvePromise, reject) => {
        // A throw here (unknown field, bad enum name, non-JSON value) rejects the promise.
        const wire = encodeRequest(req);
        const metadata = new grpc.Metadata();
        for (const [k, v] of Object.entries(opts.metadata ?? {})) metadata.set(k, v);
        client.makeUnaryRequest<object, object>(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          wire,
          metadata,
          { deadline: Date.now() + (opts.deadlineMs ?? DEFAULT_DEADLINE_MS) },
          (err, res) => {
            if (err !== null) reject(err);
            else {
              try {
                resolvePromise(decodeResponse(res));
              } catch (e) {
                reject(e instanceof Error ? e : new Error(String(e)));
              }
            }
          },
        );
      });
    },
    close() {
      client.close();
    },
  };
}

export type HealthStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

/**
 * Calls grpc.health.v1.Health/Check. Resolves the reported status; rejects with
 * the grpc-js ServiceError when the call fails (e.g. UNAVAILABLE while the
 * server is not listening, NOT_FOUND for an unknown service name).
 */
export function healthCheck(
  address: string,
  creds: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  service = "",
  opts: { deadlineMs?: number } = {},
): Promise<HealthStatus> {
  const Ctor = serviceConstructor(loadHealthPackage(), HEALTH_SERVICE);
  const method = Ctor.service["Check"];
  if (method === undefined) throw new Error(`${HEALTH_SERVICE} has no Check method`);
  const client = new Ctor(address, creds, ISOLATED_CHANNEL);
  return new Promise<HealthStatus>((resolvePromise, reject) => {
    client.makeUnaryRequest<object, { status?: HealthStatus }>(
      method.path,
      method.requestSerialize,
      method.responseDeserialize as (b: Buffer) => { status?: HealthStatus },
      { service },
      new grpc.Metadata(),
      { deadline: Date.now() + (opts.deadlineMs ?? 2_000) },
      (err, res) => {
        client.close();
        if (err !== null) reject(err);
        else resolvePromise(res?.status ?? "UNKNOWN"); // UNKNOWN is 0, absent with defaults: false
      },
    );
  });
}

// ---------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------

export interface ClientCredentialSet {
  /** Trusts the test CA and presents the legitimate client certificate: must be accepted. */
  mtls: grpc.ChannelCredentials;
  /** Trusts the test CA but presents no client certificate: must be refused. */
  tlsWithoutClientCert: grpc.ChannelCredentials;
  /** Trusts the test CA and presents a client certificate from the rogue CA: must be refused. */
  rogueMtls: grpc.ChannelCredentials;
  /** Plaintext. */
  insecure: grpc.ChannelCredentials;
}

export function clientCredentials(pki: TestPki): ClientCredentialSet {
  return {
    mtls: grpc.credentials.createSsl(pki.ca.cert, pki.client.key, pki.client.cert),
    tlsWithoutClientCert: grpc.credentials.createSsl(pki.ca.cert),
    rogueMtls: grpc.credentials.createSsl(pki.ca.cert, pki.rogueClient.key, pki.rogueClient.cert),
    insecure: grpc.credentials.createInsecure(),
  };
}

/** Type guard for the errors runFunction/healthCheck reject with. */
export function isServiceError(e: unknown): e is grpc.ServiceError {
  return e instanceof Error && typeof (e as Partial<grpc.ServiceError>).code === "number";
}
