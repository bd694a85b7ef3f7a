// Entry point: flags as Crossplane's function SDKs have them.
import { parseArgs } from "node:util";
import { DEFAULT_HEALTH_ADDRESS, Health, serveHealth } from "./health.ts";
import { createLogger } from "./log.ts";
import type { Observe, Refused } from "./server.ts";
import { route } from "./router.ts";
import { StartupError, startServer } from "./server.ts";

const usage = `Usage: function-azure-platform [--address 0.0.0.0:9443] [--insecure | --tls-server-certs-dir DIR] [--debug]

  --address                 where to listen (default 0.0.0.0:9443)
  --tls-server-certs-dir    tls.crt, tls.key and ca.crt for mutual TLS (default $TLS_SERVER_CERTS_DIR, else /tls/server)
  --insecure                serve plaintext gRPC; for local development and crossplane render only
  --max-recv-message-size   largest request in MB (default 4)
  --drain-seconds           how long SIGTERM waits for in-flight calls (default 25)
  --metrics-address         where to serve Prometheus metrics at /metrics (default $METRICS_ADDRESS, else
                            0.0.0.0:8080; "off" serves none)
  --health-address          where to serve grpc.health.v1 alone, in plaintext, for the kubelet's grpc probes
                            (default $HEALTH_ADDRESS, else ${DEFAULT_HEALTH_ADDRESS}; "off" serves none)
  --debug, -d               debug logging`;

function parse() {
  try {
    return parseArgs({
      options: {
        address: { type: "string", default: "0.0.0.0:9443" },
        "tls-server-certs-dir": { type: "string", default: process.env.TLS_SERVER_CERTS_DIR || "/tls/server" },
        insecure: { type: "boolean", default: false },
        "max-recv-message-size": { type: "string", default: "4" },
        "drain-seconds": { type: "string", default: "25" },
        "metrics-address": { type: "string", default: process.env.METRICS_ADDRESS || "0.0.0.0:8080" },
        "health-address": { type: "string", default: process.env.HEALTH_ADDRESS || DEFAULT_HEALTH_ADDRESS },
        debug: { type: "boolean", short: "d", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${usage}\n`);
    process.exit(2);
  }
}

const flags = parse();
if (flags.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const logger = createLogger({ debug: flags.debug });

const numberFlag = (name: string, value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    logger.fatal(`--${name} must be a positive number, got "${value}"`);
    process.exit(2);
  }
  return n;
};

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

try {
  // Metrics load beside the gRPC server, not before it: Crossplane's health probe must not wait for prom-client.
  // Calls answered before they are ready are recorded once they are.
  const metricsAddress = flags["metrics-address"];
  let observe: Observe | undefined;
  let refused: Refused | undefined;
  // Settles with the error, if any, so a failure before the gRPC server is up is not an unhandled rejection.
  let metricsFailed: Promise<Error | undefined> = Promise.resolve(undefined);
  if (metricsAddress !== "off") {
    const early: Parameters<Observe>[] = [];
    const earlyRefused: Parameters<Refused>[] = [];
    observe = (...call) => void early.push(call);
    refused = (...r) => void earlyRefused.push(r);
    metricsFailed = import("./metrics.ts")
      .then(async ({ Metrics, serveMetrics }) => {
        const metrics = new Metrics();
        const { port } = await serveMetrics(metrics, metricsAddress);
        for (const call of early.splice(0)) metrics.observe(...call);
        for (const r of earlyRefused.splice(0)) metrics.refused(...r);
        observe = (...call) => metrics.observe(...call);
        refused = (...r) => metrics.refused(...r);
        logger.info({ address: metricsAddress, port }, "serving metrics");
        return undefined;
      })
      .catch(asError);
  }
  // The kubelet's grpc probe speaks no TLS and the gRPC port demands a client certificate, so health is served
  // again, alone and in plaintext, on a port of its own. Both report the same statuses: NOT_SERVING until the gRPC
  // port listens, SERVING while it serves, NOT_SERVING again once SIGTERM drains it.
  const health = new Health({ "": "NOT_SERVING" });
  const healthAddress = flags["health-address"];
  let healthFailed: Promise<Error | undefined> = Promise.resolve(undefined);
  if (healthAddress !== "off") {
    healthFailed = serveHealth(health, healthAddress).then(({ port }) => {
      logger.info({ address: healthAddress, port }, "serving health");
      return undefined;
    }, asError);
  }
  const server = await startServer(
    {
      address: flags.address,
      insecure: flags.insecure,
      tlsServerCertsDir: flags["tls-server-certs-dir"],
      maxRecvMessageSizeMB: numberFlag("max-recv-message-size", flags["max-recv-message-size"]),
      health,
    },
    route,
    logger,
    observe && ((...call) => observe?.(...call)),
    refused && ((...r) => refused?.(...r)),
  );
  for (const failed of await Promise.all([metricsFailed, healthFailed])) {
    if (failed !== undefined) throw new StartupError(failed.message);
  }
  const drainMs = numberFlag("drain-seconds", flags["drain-seconds"]) * 1000;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "draining in-flight calls");
    void server.shutdown(drainMs).then(() => {
      logger.info("stopped");
      process.exit(0);
    });
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
} catch (e) {
  if (e instanceof StartupError) logger.fatal(e.message);
  else logger.fatal({ err: e }, "cannot start");
  process.exit(1);
}
