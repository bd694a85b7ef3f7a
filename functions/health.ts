// grpc.health.v1.Health (Check, Watch, List), as Kubernetes gRPC probes and grpc_health_probe call it.
//
// Written here rather than taken from grpc-health-check: that package parses health.proto with protobufjs when it
// is imported, which cost 53 ms of a 500 ms start-up budget and could not be bundled (it finds the .proto through
// __dirname). The messages are one string and one enum, so they are encoded by hand (functions/shared/protowire.ts);
// the tests drive this service with a client built from grpc-health-check's own health.proto.
import * as grpc from "@grpc/grpc-js";
import { Reader, Wire, Writer } from "./shared/protowire.ts";

export type ServingStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";
const STATUS_NUMBER: Record<ServingStatus, number> = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 };

// ---- wire format: HealthCheckRequest { string service = 1; }, HealthCheckResponse { ServingStatus status = 1; },
// HealthListRequest {}, HealthListResponse { map<string, HealthCheckResponse> statuses = 1; } ----

/** Reads field 1 (the service name) and skips any other field, as proto3 requires of unknown fields. */
export function decodeCheckRequest(buf: Buffer): { service: string } {
  const r = new Reader(buf);
  let service = "";
  while (r.pos < buf.length) {
    const tag = r.uint32();
    if (tag === 10) service = r.string(r.end(buf.length));
    else r.skip(tag, buf.length);
  }
  return { service };
}

function writeStatus(w: Writer, status: ServingStatus): void {
  const n = STATUS_NUMBER[status];
  if (n === 0) return;
  w.tag(1, Wire.Varint);
  w.uint(n);
}

export function encodeCheckResponse(rsp: { status: ServingStatus }): Buffer {
  const w = new Writer(16);
  writeStatus(w, rsp.status);
  return w.finish();
}

export function encodeListResponse(rsp: { statuses: Record<string, { status: ServingStatus }> }): Buffer {
  const w = new Writer(256);
  for (const [service, { status }] of Object.entries(rsp.statuses)) {
    w.tag(1, Wire.Bytes);
    const entry = w.fork();
    w.tag(1, Wire.Bytes);
    w.string(service);
    w.tag(2, Wire.Bytes);
    const value = w.fork();
    writeStatus(w, status);
    w.join(value);
    w.join(entry);
  }
  return w.finish();
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

/**
 * Watch streams open at once, across services. The plaintext health port is reachable by anything in the cluster,
 * and each stream (for any service name a caller makes up) holds memory until it hangs up; the kubelet only ever
 * calls Check. Past this many, Watch answers RESOURCE_EXHAUSTED.
 */
export const MAX_WATCHES = 64;

export class Health {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<Watcher>>();
  private watching = 0;

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
        if (this.watching >= MAX_WATCHES) {
          call.emit("error", { code: grpc.status.RESOURCE_EXHAUSTED, details: `more than ${MAX_WATCHES} health Watch streams are open; use Check` });
          return;
        }
        this.watching += 1;
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
          if (!set.delete(watcher)) return;
          this.watching -= 1;
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

/** Where health is served for the kubelet unless told otherwise: examples/install/function.yaml probes its port. */
export const DEFAULT_HEALTH_ADDRESS = "0.0.0.0:8081";

/**
 * Serves `health` alone, in plaintext, on a port of its own. The kubelet's grpc probe speaks no TLS, so it cannot
 * reach the mutual-TLS port; nothing else is registered here, so a RunFunction call on this port is UNIMPLEMENTED.
 */
export function serveHealth(health: Health, address: string): Promise<{ port: number; server: grpc.Server }> {
  if (!/:\d+$/.test(address)) return Promise.reject(new Error(`--health-address must be host:port, got "${address}"`));
  const server = new grpc.Server();
  health.addToServer(server);
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err === null) return resolve({ port, server });
      server.forceShutdown();
      reject(new Error(`cannot listen on ${address} for --health-address: ${err.message}`));
    });
  });
}
