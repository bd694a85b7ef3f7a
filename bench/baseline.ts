// The floor the benchmark compares against: a minimal function on the official SDK's server that returns the
// request's desired state unchanged. Same flags and the same credentials (mutual TLS when not --insecure).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { FunctionRunner, fromCompose, getServer } from "@crossplane-org/function-sdk-typescript";
import { HealthImplementation } from "grpc-health-check";
import { pino } from "pino";

const { values } = parseArgs({ options: { address: { type: "string" }, insecure: { type: "boolean" }, "tls-server-certs-dir": { type: "string" } } });
const logger = pino({ level: "warn" });
const server = getServer(new FunctionRunner(fromCompose((_req, rsp) => rsp), logger), logger);
new HealthImplementation({ "": "SERVING" }).addToServer(server);
const dir = values["tls-server-certs-dir"] ?? "";
const creds = values.insecure
  ? grpc.ServerCredentials.createInsecure()
  : grpc.ServerCredentials.createSsl(readFileSync(join(dir, "ca.crt")), [{ private_key: readFileSync(join(dir, "tls.key")), cert_chain: readFileSync(join(dir, "tls.crt")) }], true);
server.bindAsync(values.address ?? "0.0.0.0:9443", creds, (err) => {
  if (err) {
    logger.fatal(err.message);
    process.exit(1);
  }
});
process.on("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
