// grpc.health.v1.Health (Check, Watch, List), as Kubernetes gRPC probes and grpc_health_probe call it.
//
// Written here rather than taken from grpc-health-check: that package parses health.proto with protobufjs when it
// is imported, which cost 53 ms of a 500 ms start-up budget and could not be bundled (it finds the .proto through
// __dirname). The messages are one string and one enum, so they are encoded by hand; the tests drive this service
// with a client built from grpc-health-check's own health.proto.
import * as grpc from "@grpc/grpc-js";

export type ServingStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";
const STATUS_NUMBER: Record<ServingStatus, number> = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 };

// ---- wire format: HealthCheckRequest { string service = 1; }, HealthCheckResponse { ServingStatus status = 1; },
// HealthListRequest {}, HealthListResponse { map<string, HealthCheckResponse> statuses = 1; } ----

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

function readVarint(buf: Buffer, pos: number): [number, number] {
  let n = 0;
  // Up to 10 bytes: an unknown int64 field may be that long (only tags and lengths are used, and they are small).
  for (let shift = 0; shift < 70; shift += 7) {
    const b = buf[pos++];
    if (b === undefined) throw new Error("truncated varint");
    n += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [n, pos];
  }
  throw new Error("varint too long");
}

/** Reads field 1 (the service name) and skips any other field, as proto3 requires of unknown fields. */
export function decodeCheckRequest(buf: Buffer): { service: string } {
  let service = "";
  let pos = 0;
  while (pos < buf.length) {
    let tag: number;
    [tag, pos] = readVarint(buf, pos);
    const wire = tag & 7;
    if (wire === 0) {
      [, pos] = readVarint(buf, pos);
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else if (wire === 2) {
      let len: number;
      [len, pos] = readVarint(buf, pos);
      if (pos + len > buf.length) throw new Error("truncated field");
      if (tag >>> 3 === 1) service = buf.toString("utf8", pos, pos + len);
      pos += len;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
  if (pos > buf.length) throw new Error("truncated field");
  return { service };
}

function checkResponseBytes(status: ServingStatus): number[] {
  const n = STATUS_NUMBER[status];
  return n === 0 ? [] : [0x08, ...varint(n)];
}

export function encodeCheckResponse(rsp: { status: ServingStatus }): Buffer {
  return Buffer.from(checkResponseBytes(rsp.status));
}

export function encodeListResponse(rsp: { statuses: Record<string, { status: ServingStatus }> }): Buffer {
  const parts: number[] = [];
  for (const [service, { status }] of Object.entries(rsp.statuses)) {
    const key = [...Buffer.from(service, "utf8")];
    const value = checkResponseBytes(status);
    const entry = [0x0a, ...varint(key.length), ...key, 0x12, ...varint(value.length), ...value];
    parts.push(0x0a, ...varint(entry.length), ...entry);
  }
  return Buffer.from(parts);
}

const method = <Req, Rsp>(name: string, responseStream: boolean, deserialize: (b: Buffer) => Req, serialize: (r: Rsp) => Buffer) => ({
  path: `/grpc.health.v1.Health/${name}`,
  requestStream: false,
  responseStream,
  requestSerialize: () => Buffer.alloc(0),
  requestDeserialize: deserialize,
  responseSerialize: serialize,
  responseDeserialize: () => ({}) as Rsp,
});

export const healthService = {
  check: method("Check", false, decodeCheckRequest, encodeCheckResponse),
  watch: method("Watch", true, decodeCheckRequest, encodeCheckResponse),
  list: method("List", false, () => ({}), encodeListResponse),
} satisfies grpc.ServiceDefinition;

/** Statuses by service name ("" is the whole server). Check answers NOT_FOUND for a name it does not know. */
interface Watcher {
  notify(status: ServingStatus): void;
  end(): void;
}

export class Health {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<Watcher>>();

  constructor(initial: Record<string, ServingStatus>) {
    for (const [service, status] of Object.entries(initial)) this.statuses.set(service, status);
  }

  status(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  setStatus(service: string, status: ServingStatus): void {
    this.statuses.set(service, status);
    for (const w of this.watchers.get(service) ?? []) w.notify(status);
  }

  addToServer(server: grpc.Server): void {
    server.addService(healthService, {
      check: (call: grpc.ServerUnaryCall<{ service: string }, { status: ServingStatus }>, cb: grpc.sendUnaryData<{ status: ServingStatus }>) => {
        const status = this.statuses.get(call.request.service);
        if (status === undefined) cb({ code: grpc.status.NOT_FOUND, details: `no health status for service "${call.request.service}"` });
        else cb(null, { status });
      },
      watch: (call: grpc.ServerWritableStream<{ service: string }, { status: ServingStatus }>) => {
        const service = call.request.service;
        let last: ServingStatus | undefined;
        let set = this.watchers.get(service);
        if (set === undefined) this.watchers.set(service, (set = new Set()));
        const watcher: Watcher = {
          notify: (status) => {
            if (status === last) return;
            last = status;
            call.write({ status });
          },
          end: () => {
            forget();
            call.end();
          },
        };
        set.add(watcher);
        const forget = () => {
          set.delete(watcher);
          if (set.size === 0 && this.watchers.get(service) === set) this.watchers.delete(service);
        };
        call.on("cancelled", forget);
        call.on("close", forget);
        // The spec: send the current status at once (SERVICE_UNKNOWN for a name not known yet), then each change.
        watcher.notify(this.statuses.get(service) ?? "SERVICE_UNKNOWN");
      },
      list: (_call: grpc.ServerUnaryCall<object, unknown>, cb: grpc.sendUnaryData<{ statuses: Record<string, { status: ServingStatus }> }>) => {
        cb(null, { statuses: Object.fromEntries([...this.statuses].map(([s, status]) => [s, { status }])) });
      },
    });
  }

  /** Ends every Watch stream, so the server can shut down without waiting for probes that never hang up. */
  endWatches(): void {
    for (const set of this.watchers.values()) for (const w of [...set]) w.end();
  }
}
