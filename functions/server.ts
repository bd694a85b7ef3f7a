// The gRPC server: mutual TLS or explicit --insecure, health service, v1 and v1beta1, drain on shutdown.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import {
  FunctionRunnerServiceService,
  Severity,
  type RunFunctionRequest,
  type RunFunctionResponse,
} from "@crossplane-org/function-sdk-typescript";
import type { Logger } from "pino";
import { Health } from "./health.ts";
import { capString } from "./log.ts";
import { fatalResponse } from "./shared/results.ts";
import { decodeRunFunctionRequest, encodeRunFunctionResponse } from "./wire.ts";

export interface ServerOptions {
  address: string;
  insecure: boolean;
  tlsServerCertsDir: string;
  maxRecvMessageSizeMB: number;
  /** The statuses this server reports and sets; pass one to report them on another port as well (serveHealth). */
  health?: Health;
}

export type Route = (req: RunFunctionRequest, signal?: AbortSignal) => Promise<RunFunctionResponse>;

export class StartupError extends Error {}

/** Crossplane mounts tls.crt, tls.key and ca.crt; a client must present a certificate signed by ca.crt. */
export function serverCredentials(opts: ServerOptions): grpc.ServerCredentials {
  if (opts.insecure) return grpc.ServerCredentials.createInsecure();
  const files = ["ca.crt", "tls.crt", "tls.key"] as const;
  const read = (f: string) => {
    try {
      return readFileSync(join(opts.tlsServerCertsDir, f));
    } catch (e) {
      throw new StartupError(
        `cannot read ${join(opts.tlsServerCertsDir, f)} (${(e as NodeJS.ErrnoException).code ?? String(e)}): ` +
          `mutual TLS needs ${files.join(", ")} in --tls-server-certs-dir; pass --insecure only for local development`,
      );
    }
  };
  const [ca, cert, key] = files.map(read) as [Buffer, Buffer, Buffer];
  return grpc.ServerCredentials.createSsl(ca, [{ private_key: key, cert_chain: cert }], true);
}

function withPath<T extends Record<string, { path: string }>>(definition: T, from: string, to: string): T {
  return Object.fromEntries(Object.entries(definition).map(([k, m]) => [k, { ...m, path: m.path.replace(from, to) }])) as T;
}

/**
 * Why a request was refused before any function ran: the `reason` label of azplatform_function_requests_refused_total.
 * `malformed`: the bytes are not a RunFunctionRequest; `too_deep`: it nests deeper than the codec allows (wire.ts,
 * MAX_JSON_DEPTH); `too_large`: it is larger than --max-recv-message-size.
 */
export const REFUSAL_REASONS = ["malformed", "too_deep", "too_large"] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** Told of every request refused before any function ran. */
export type Refused = (reason: RefusalReason) => void;

/** What the codec made of bytes it could not decode: the handler refuses the call with the reason. */
class Undecodable {
  readonly reason: RefusalReason;
  readonly error: string;
  readonly bytes: number;
  constructor(reason: RefusalReason, error: string, bytes: number) {
    this.reason = reason;
    this.error = error;
    this.bytes = bytes;
  }
}

/** Decodes a request; never throws, so the refusal is answered (and logged, and counted) by the handler. */
function decodeRequest(buf: Buffer): RunFunctionRequest | Undecodable {
  try {
    return decodeRunFunctionRequest(buf);
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    return new Undecodable(/nest[s]? deeper than/.test(error) ? "too_deep" : "malformed", error, buf.length);
  }
}

/** The SDK's service definition with this package's codec (functions/wire.ts) in place of the generated one. */
const FunctionRunnerService = {
  runFunction: { ...FunctionRunnerServiceService.runFunction, requestDeserialize: decodeRequest, responseSerialize: encodeRunFunctionResponse },
};

function counts(rsp: RunFunctionResponse) {
  const bySeverity = (s: Severity) => rsp.results.filter((r) => r.severity === s).length;
  return { fatal: bySeverity(Severity.SEVERITY_FATAL), warning: bySeverity(Severity.SEVERITY_WARNING) };
}

/** A call that takes this long is logged at info even when it went as expected. */
export const SLOW_CALL_MS = 1000;

/** Told of every call once it is answered: the request, the response, seconds taken, and whether the handler threw. */
export type Observe = (req: RunFunctionRequest, rsp: RunFunctionResponse, seconds: number, threw: boolean) => void;

export function runFunctionHandler(route: Route, logger: Logger, observe?: Observe) {
  return async (req: RunFunctionRequest, signal?: AbortSignal): Promise<RunFunctionResponse> => {
    const started = process.hrtime.bigint();
    const xr = req.observed?.composite?.resource?.metadata as { name?: string; namespace?: string } | undefined;
    const input = req.input as { kind?: unknown } | undefined;
    const fields = { tag: req.meta?.tag ?? "", kind: input?.kind, xr: xr ? `${xr.namespace ?? ""}/${xr.name ?? ""}` : undefined };
    let rsp: RunFunctionResponse;
    let threw = false;
    try {
      rsp = await route(req, signal);
    } catch (e) {
      threw = true;
      // A bug must not take the server down or leak detail: the user gets a Fatal result, the log gets the stack.
      logger.error({ ...fields, err: e }, "RunFunction failed");
      rsp = fatalResponse(req, "InternalError", `internal error in the function: ${e instanceof Error ? e.message : String(e)}`);
    }
    // Never log the response: composed Secrets carry credentials. A call that went as expected is logged at debug
    // (the metrics count it); one with a Fatal or Warning result, or a slow one, at info. A line per call cost 11%
    // of the server's CPU time at load (a synchronous write per call), and thousands of XRs make a line each minute.
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const n = counts(rsp);
    const level = threw || n.fatal > 0 || n.warning > 0 || ms >= SLOW_CALL_MS ? "info" : "debug";
    if (logger.isLevelEnabled(level)) logger[level]({ ...fields, ...n, ms }, "RunFunction");
    if (observe !== undefined) {
      try {
        observe(req, rsp, ms / 1000, threw);
      } catch (e) {
        logger.warn({ err: e }, "cannot record metrics for the call");
      }
    }
    return rsp;
  };
}

export interface RunningServer {
  port: number;
  health: Health;
  shutdown(graceMs: number): Promise<void>;
}

/** Logs and counts a request refused before any function ran: one warning line, its fields capped (log.ts). */
function refusal(logger: Logger, refused: Refused | undefined) {
  return (reason: RefusalReason, fields: { method: string; peer: string; error: string; bytes?: number }) => {
    logger.warn({ reason, ...fields }, "RunFunction request refused");
    try {
      refused?.(reason);
    } catch (e) {
      logger.warn({ err: e }, "cannot record metrics for the refused request");
    }
  };
}

/**
 * grpc-js refuses a request larger than --max-recv-message-size itself, before the codec or any handler sees it: it
 * answers RESOURCE_EXHAUSTED through the sendStatus of its own call object, which no interceptor's responder is told
 * of. The first interceptor is handed that object, so its sendStatus is wrapped there (server.test.ts and
 * test/e2e/refused.test.ts send an oversized request: a grpc-js that changes this fails them).
 */
function seeOversized(refuse: ReturnType<typeof refusal>): grpc.ServerInterceptor {
  return (method, call) => {
    const send = call.sendStatus.bind(call);
    call.sendStatus = (status) => {
      if (status.code === grpc.status.RESOURCE_EXHAUSTED && status.details?.startsWith("Received message") === true) {
        refuse("too_large", { method: method.path, peer: call.getPeer(), error: status.details });
      }
      send(status);
    };
    return new grpc.ServerInterceptingCall(call);
  };
}

export async function startServer(opts: ServerOptions, route: Route, logger: Logger, observe?: Observe, refused?: Refused): Promise<RunningServer> {
  const credentials = serverCredentials(opts);
  const refuse = refusal(logger, refused);
  const server = new grpc.Server({ "grpc.max_receive_message_length": opts.maxRecvMessageSizeMB * 1024 * 1024, interceptors: [seeOversized(refuse)] });
  const handle = runFunctionHandler(route, logger, observe);
  const impl = (method: string) => ({
    runFunction: (call: grpc.ServerUnaryCall<RunFunctionRequest | Undecodable, RunFunctionResponse>, cb: grpc.sendUnaryData<RunFunctionResponse>) => {
      const req = call.request;
      if (req instanceof Undecodable) {
        refuse(req.reason, { method, peer: call.getPeer(), error: req.error, bytes: req.bytes });
        cb({ code: grpc.status.INVALID_ARGUMENT, details: capString(`cannot decode the RunFunctionRequest: ${req.error}`) });
        return;
      }
      // Crossplane's deadline passed or it went away: the work in flight stops instead of landing later.
      const cancelled = new AbortController();
      call.on("cancelled", () => cancelled.abort());
      handle(req, cancelled.signal).then((rsp) => cb(null, rsp), (e: unknown) => cb(e as grpc.ServiceError));
    },
  });
  const v1beta1 = withPath(FunctionRunnerService, "fn.proto.v1.", "fn.proto.v1beta1.");
  server.addService(FunctionRunnerService, impl(FunctionRunnerService.runFunction.path));
  // Crossplane before 1.17 only calls v1beta1; the messages are identical.
  server.addService(v1beta1, impl(v1beta1.runFunction.path));
  const health = opts.health ?? new Health({ "": "NOT_SERVING" });
  health.addToServer(server);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(opts.address, credentials, (err, p) => (err ? reject(new StartupError(`cannot listen on ${opts.address}: ${err.message}`)) : resolve(p)));
  });
  health.setStatus("", "SERVING");
  logger.info({ address: opts.address, port, tls: opts.insecure ? "off" : "mutual" }, "serving");

  return {
    port,
    health,
    shutdown: (graceMs) =>
      new Promise<void>((resolve) => {
        health.setStatus("", "NOT_SERVING");
        health.endWatches();
        const timer = setTimeout(() => {
          logger.warn({ graceMs }, "in-flight calls did not finish in time; closing");
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
