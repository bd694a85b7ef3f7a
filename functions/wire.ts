// RunFunctionRequest decoding and RunFunctionResponse encoding (apiextensions.fn.proto.v1), by hand.
//
// The SDK's generated code decodes every google.protobuf.Value into a wrapper object and then unwraps it, and
// encodes each nested message into a chunk of its own: for a Database call that was 0.23 ms of CPU, more than the
// function itself. This codec reads and writes the same wire format straight from and to the SDK's TypeScript
// types, so handlers are unchanged. Its output is byte for byte what the SDK's encoder writes, and what it decodes
// deep-equals what the SDK's decoder returns, which the tests check on realistic and edge-case messages. It differs
// only where the SDK is wrong or lax: a Struct key "__proto__" is kept as a key (the SDK sets the object's prototype),
// an `undefined` in an array is written as null (the SDK writes a Value with no kind, which Go reads as null too),
// nesting is limited by depth of JSON (100 levels) instead of by depth of protobuf messages (about 33 levels of
// JSON), and on input no conforming encoder writes: a Value with two kinds set keeps the last (as protobuf says a
// oneof does; the SDK picks by kind), field number 0 or a stray end-group is refused (the SDK stops reading there),
// and a field that runs past the end of its message is refused (the SDK reads on, misaligned).
import type {
  Condition,
  Credentials,
  Requirements,
  Resource,
  Resources,
  ResourceSelector,
  Result,
  RunFunctionRequest,
  RunFunctionResponse,
  Schema,
  SchemaSelector,
  State,
} from "@crossplane-org/function-sdk-typescript";
import { Reader, Wire, WireError, Writer } from "./shared/protowire.ts";

type JsonObject = Record<string, unknown>;
type RequestMeta = NonNullable<RunFunctionRequest["meta"]>;
type ResponseMeta = NonNullable<RunFunctionResponse["meta"]>;

/** How deeply objects and arrays may nest in a google.protobuf.Struct (Kubernetes objects nest a dozen or so). */
export const MAX_JSON_DEPTH = 100;

const LEN = Wire.Bytes;
const key1 = (1 << 3) | LEN;
const value2 = (2 << 3) | LEN;

// ---- decoding -------------------------------------------------------------------------------------------------

/** Sets `obj[key]`, keeping a key named `__proto__` as a key instead of making it the object's prototype. */
function setKey(obj: JsonObject, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(obj, key, { value, enumerable: true, configurable: true, writable: true });
  else obj[key] = value;
}

function decodeStruct(r: Reader, end: number, depth: number): JsonObject {
  if (depth > MAX_JSON_DEPTH) throw new WireError(`malformed message: a google.protobuf.Struct nests deeper than ${MAX_JSON_DEPTH} levels`);
  const obj: JsonObject = {};
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag !== key1) {
      r.skip(tag, end);
      continue;
    }
    const entryEnd = r.end(end);
    let key = "";
    let value: unknown;
    while (r.pos < entryEnd) {
      const t = r.uint32();
      if (t === key1) key = r.key(r.end(entryEnd));
      else if (t === value2) value = decodeValue(r, r.end(entryEnd), depth);
      else r.skip(t, entryEnd);
    }
    r.close(entryEnd);
    if (value !== undefined) setKey(obj, key, value);
  }
  r.close(end);
  return obj;
}

/** A google.protobuf.Value as JSON; `undefined` when no kind is set (the SDK drops such a field). */
function decodeValue(r: Reader, end: number, depth: number): unknown {
  let v: unknown;
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 8: // null_value
        r.skip(tag, end);
        v = null;
        break;
      case 17: // number_value
        v = r.double(end);
        break;
      case 26: // string_value
        v = r.string(r.end(end));
        break;
      case 32: // bool_value
        v = r.bool();
        break;
      case 42: // struct_value
        v = decodeStruct(r, r.end(end), depth + 1);
        break;
      case 50: // list_value
        v = decodeList(r, r.end(end), depth + 1);
        break;
      default:
        r.skip(tag, end);
    }
  }
  r.close(end);
  return v;
}

function decodeList(r: Reader, end: number, depth: number): unknown[] {
  if (depth > MAX_JSON_DEPTH) throw new WireError(`malformed message: a google.protobuf.ListValue nests deeper than ${MAX_JSON_DEPTH} levels`);
  const out: unknown[] = [];
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === key1) out.push(decodeValue(r, r.end(end), depth));
    else r.skip(tag, end);
  }
  r.close(end);
  return out;
}

/**
 * A map entry. Its value, when absent, is `missing()` (bytes: empty), or the entry is dropped (messages), as the
 * SDK does.
 */
function mapEntry<T>(r: Reader, end: number, into: Record<string, T>, decode: (r: Reader, end: number) => T, missing?: () => T): void {
  let key = "";
  let value: T | undefined;
  while (r.pos < end) {
    const t = r.uint32();
    if (t === key1) key = r.key(r.end(end));
    else if (t === value2) value = decode(r, r.end(end));
    else r.skip(t, end);
  }
  r.close(end);
  value ??= missing?.();
  if (value !== undefined) setKey(into, key, value);
}

const readBytes = (r: Reader, end: number): Buffer => r.bytes(end);
const noBytes = (): Buffer => Buffer.alloc(0);

function decodeRequestMeta(r: Reader, end: number): RequestMeta {
  const meta: RequestMeta = { tag: "", capabilities: [] };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) meta.tag = r.string(r.end(end));
    else if (tag === 16) meta.capabilities.push(r.int32());
    else if (tag === 18) {
      const packedEnd = r.end(end);
      while (r.pos < packedEnd) meta.capabilities.push(r.int32());
      r.close(packedEnd);
    } else r.skip(tag, end);
  }
  r.close(end);
  return meta;
}

function decodeResource(r: Reader, end: number): Resource {
  const res: Resource = { resource: undefined, connectionDetails: {}, ready: 0 };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) res.resource = decodeStruct(r, r.end(end), 1);
    else if (tag === 18) mapEntry(r, r.end(end), res.connectionDetails, readBytes, noBytes);
    else if (tag === 24) res.ready = r.int32();
    else r.skip(tag, end);
  }
  r.close(end);
  return res;
}

function decodeState(r: Reader, end: number): State {
  const state: State = { composite: undefined, resources: {} };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) state.composite = decodeResource(r, r.end(end));
    else if (tag === 18) mapEntry(r, r.end(end), state.resources, decodeResource);
    else r.skip(tag, end);
  }
  r.close(end);
  return state;
}

function decodeResources(r: Reader, end: number): Resources {
  const out: Resources = { items: [] };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) out.items.push(decodeResource(r, r.end(end)));
    else r.skip(tag, end);
  }
  r.close(end);
  return out;
}

function decodeCredentials(r: Reader, end: number): Credentials {
  const out: Credentials = { credentialData: undefined };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) {
      const dataEnd = r.end(end);
      const data: Record<string, Buffer> = {};
      while (r.pos < dataEnd) {
        const t = r.uint32();
        if (t === 10) mapEntry(r, r.end(dataEnd), data, readBytes, noBytes);
        else r.skip(t, dataEnd);
      }
      r.close(dataEnd);
      out.credentialData = { data };
    } else r.skip(tag, end);
  }
  r.close(end);
  return out;
}

function decodeSchema(r: Reader, end: number): Schema {
  const out: Schema = { openapiV3: undefined };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) out.openapiV3 = decodeStruct(r, r.end(end), 1);
    else r.skip(tag, end);
  }
  r.close(end);
  return out;
}

const sourceKeys = new WeakMap<object, string>();

/**
 * The bytes a decoded request's input came from, as a string, for a cache of parsed inputs (shared/input-cache.ts):
 * equal bytes decode to equal inputs, and the bytes are at hand, where serializing the object again is not.
 */
export function inputSourceKey(input: object): string | undefined {
  return sourceKeys.get(input);
}

/** Decodes a RunFunctionRequest; throws a WireError naming what is wrong with a malformed one. */
export function decodeRunFunctionRequest(buf: Buffer): RunFunctionRequest {
  const r = new Reader(buf);
  const end = buf.length;
  const req: RunFunctionRequest = {
    meta: undefined,
    observed: undefined,
    desired: undefined,
    input: undefined,
    context: undefined,
    extraResources: {},
    credentials: {},
    requiredResources: {},
    requiredSchemas: {},
  };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 10:
        req.meta = decodeRequestMeta(r, r.end(end));
        break;
      case 18:
        req.observed = decodeState(r, r.end(end));
        break;
      case 26:
        req.desired = decodeState(r, r.end(end));
        break;
      case 34: {
        const inputEnd = r.end(end);
        const start = r.pos;
        req.input = decodeStruct(r, inputEnd, 1);
        sourceKeys.set(req.input, buf.toString("latin1", start, inputEnd));
        break;
      }
      case 42:
        req.context = decodeStruct(r, r.end(end), 1);
        break;
      case 50:
        mapEntry(r, r.end(end), req.extraResources, decodeResources);
        break;
      case 58:
        mapEntry(r, r.end(end), req.credentials, decodeCredentials);
        break;
      case 66:
        mapEntry(r, r.end(end), req.requiredResources, decodeResources);
        break;
      case 74:
        mapEntry(r, r.end(end), req.requiredSchemas, decodeSchema);
        break;
      default:
        r.skip(tag, end);
    }
  }
  return req;
}

// ---- encoding -------------------------------------------------------------------------------------------------
// Each function writes its field's tag and length, then the message; fields are written in field-number order and
// left out when they hold proto3's default, as the SDK's encoder does.

function encodeStruct(w: Writer, field: number, obj: JsonObject): void {
  w.tag(field, LEN);
  const at = w.fork();
  writeStructFields(w, obj);
  w.join(at);
}

function writeStructFields(w: Writer, obj: JsonObject): void {
  for (const key of Object.keys(obj)) {
    const v = obj[key];
    if (v === undefined) continue;
    w.tag(1, LEN);
    const at = w.fork();
    if (key !== "") {
      w.tag(1, LEN);
      w.string(key);
    }
    encodeValue(w, 2, v);
    w.join(at);
  }
}

function encodeValue(w: Writer, field: number, v: unknown): void {
  w.tag(field, LEN);
  const at = w.fork();
  switch (typeof v) {
    case "string":
      w.tag(3, LEN);
      w.string(v);
      break;
    case "number":
      w.tag(2, Wire.Fixed64);
      w.double(v);
      break;
    case "boolean":
      w.tag(4, Wire.Varint);
      w.bool(v);
      break;
    case "undefined": // only in an array: JSON's null
      w.tag(1, Wire.Varint);
      w.uint(0);
      break;
    case "object":
      if (v === null) {
        w.tag(1, Wire.Varint);
        w.uint(0);
      } else if (Array.isArray(v)) {
        w.tag(6, LEN);
        const list = w.fork();
        for (const item of v as unknown[]) encodeValue(w, 1, item);
        w.join(list);
      } else {
        encodeStruct(w, 5, v as JsonObject);
      }
      break;
    default:
      throw new WireError(`cannot encode a ${typeof v} as a google.protobuf.Value`);
  }
  w.join(at);
}

function encodeString(w: Writer, field: number, s: string): void {
  w.tag(field, LEN);
  w.string(s);
}

function encodeEnum(w: Writer, field: number, n: number): void {
  w.tag(field, Wire.Varint);
  w.int32(n);
}

function encodeResponseMeta(w: Writer, meta: ResponseMeta): void {
  w.tag(1, LEN);
  const at = w.fork();
  if (meta.tag !== "") encodeString(w, 1, meta.tag);
  if (meta.ttl !== undefined) {
    w.tag(2, LEN);
    const ttl = w.fork();
    if (meta.ttl.seconds !== 0) {
      w.tag(1, Wire.Varint);
      w.int64(meta.ttl.seconds);
    }
    if (meta.ttl.nanos !== 0) encodeEnum(w, 2, meta.ttl.nanos);
    w.join(ttl);
  }
  w.join(at);
}

/** A map field: an entry message per key (key = 1, then `value` writes field 2, or leaves it out for a default). */
function encodeMap<T>(w: Writer, field: number, map: Record<string, T>, value: (w: Writer, v: T) => void): void {
  for (const [k, v] of Object.entries(map)) {
    w.tag(field, LEN);
    const entry = w.fork();
    if (k !== "") encodeString(w, 1, k);
    value(w, v);
    w.join(entry);
  }
}

const bytesValue = (w: Writer, v: Uint8Array) => {
  if (v.length === 0) return;
  w.tag(2, LEN);
  w.bytes(v);
};
const stringValue = (w: Writer, v: string) => {
  if (v !== "") encodeString(w, 2, v);
};
const resourceValue = (w: Writer, v: Resource | undefined) => {
  if (v !== undefined) encodeResource(w, 2, v);
};

function encodeResource(w: Writer, field: number, res: Resource): void {
  w.tag(field, LEN);
  const at = w.fork();
  if (res.resource !== undefined) encodeStruct(w, 1, res.resource);
  encodeMap(w, 2, res.connectionDetails, bytesValue);
  if (res.ready !== 0) encodeEnum(w, 3, res.ready);
  w.join(at);
}

function encodeState(w: Writer, field: number, state: State): void {
  w.tag(field, LEN);
  const at = w.fork();
  if (state.composite !== undefined) encodeResource(w, 1, state.composite);
  encodeMap(w, 2, state.resources, resourceValue);
  w.join(at);
}

function encodeResult(w: Writer, r: Result): void {
  w.tag(3, LEN);
  const at = w.fork();
  if (r.severity !== 0) encodeEnum(w, 1, r.severity);
  if (r.message !== "") encodeString(w, 2, r.message);
  if (r.reason !== undefined) encodeString(w, 3, r.reason);
  if (r.target !== undefined) encodeEnum(w, 4, r.target);
  w.join(at);
}

function encodeCondition(w: Writer, c: Condition): void {
  w.tag(6, LEN);
  const at = w.fork();
  if (c.type !== "") encodeString(w, 1, c.type);
  if (c.status !== 0) encodeEnum(w, 2, c.status);
  if (c.reason !== "") encodeString(w, 3, c.reason);
  if (c.message !== undefined) encodeString(w, 4, c.message);
  if (c.target !== undefined) encodeEnum(w, 5, c.target);
  w.join(at);
}

function encodeResourceSelector(w: Writer, s: ResourceSelector): void {
  if (s.apiVersion !== "") encodeString(w, 1, s.apiVersion);
  if (s.kind !== "") encodeString(w, 2, s.kind);
  if (s.matchName !== undefined) encodeString(w, 3, s.matchName);
  if (s.matchLabels !== undefined) {
    w.tag(4, LEN);
    const labels = w.fork();
    encodeMap(w, 1, s.matchLabels.labels, stringValue);
    w.join(labels);
  }
  if (s.namespace !== undefined) encodeString(w, 5, s.namespace);
}

function encodeSchemaSelector(w: Writer, s: SchemaSelector): void {
  if (s.apiVersion !== "") encodeString(w, 1, s.apiVersion);
  if (s.kind !== "") encodeString(w, 2, s.kind);
}

/** A selector map's value: the selector message, when there is one. */
function selector<T>(encode: (w: Writer, v: T) => void) {
  return (w: Writer, v: T | undefined) => {
    if (v === undefined) return;
    w.tag(2, LEN);
    const value = w.fork();
    encode(w, v);
    w.join(value);
  };
}
const resourceSelectorValue = selector(encodeResourceSelector);
const schemaSelectorValue = selector(encodeSchemaSelector);

function encodeRequirements(w: Writer, req: Requirements): void {
  w.tag(5, LEN);
  const at = w.fork();
  encodeMap(w, 1, req.extraResources, resourceSelectorValue);
  encodeMap(w, 2, req.resources, resourceSelectorValue);
  encodeMap(w, 3, req.schemas, schemaSelectorValue);
  w.join(at);
}

const writer = new Writer();

/**
 * Encodes a RunFunctionResponse; throws a WireError when a Struct holds what JSON cannot (a function, a bigint) or
 * an enum or TTL is not a whole number in range. The shared writer is zeroed afterwards, whatever happened.
 */
export function encodeRunFunctionResponse(rsp: RunFunctionResponse): Buffer {
  const w = writer;
  try {
    if (rsp.meta !== undefined) encodeResponseMeta(w, rsp.meta);
    if (rsp.desired !== undefined) encodeState(w, 2, rsp.desired);
    for (const r of rsp.results) encodeResult(w, r);
    if (rsp.context !== undefined) encodeStruct(w, 4, rsp.context);
    if (rsp.requirements !== undefined) encodeRequirements(w, rsp.requirements);
    for (const c of rsp.conditions) encodeCondition(w, c);
    if (rsp.output !== undefined) encodeStruct(w, 7, rsp.output);
    return w.finish();
  } finally {
    w.clear();
  }
}

/** The shared writer's buffer, for the test that checks nothing of a response is left in it. */
export const responseWriterForTest = writer;
