// The real server process over real gRPC, with a client built from the upstream run_function.proto.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readDocs } from "../../cli/yaml.ts";
import { makeTestPki, type TestPki } from "../support/certs.ts";
import {
  PROTO_LOADER_OPTIONS,
  RUN_FUNCTION_PROTO,
  clientCredentials,
  connect,
  decodeResponse,
  encodeRequest,
  healthCheck,
  isServiceError,
  serviceConstructor,
  type JsonObject,
  type PlainRequest,
  type PlainResponse,
} from "../support/proto-client.ts";
import { runToExit, startServer, stopAllServers, type RunningServer } from "../support/server-process.ts";

const [example] = readDocs("examples/database/xr.yaml") as JsonObject[];
const [composition] = readDocs("compositions/database-postgres.yaml") as JsonObject[];
// The server and the wire are under test here: the example without the alerts, extensions and application role, whose
// resources functions/database/fn.test.ts, app-role.test.ts and test/e2e/render.test.ts check.
const { alerts: _alerts, extensions: _allowed, applicationRole: _role, ...input } = ((composition?.spec as JsonObject).pipeline as JsonObject[])[0]?.input as JsonObject;
const { extensions: _extensions, ...spec } = example?.spec as JsonObject;
const xr = { ...example, spec };

/** A new Database, as Crossplane's second call has it: the function looked its connection Secret up; none exists. */
function request(over: Partial<PlainRequest> = {}): PlainRequest {
  return { meta: { tag: "e2e" }, observed: { composite: { resource: xr as JsonObject } }, input, requiredResources: { "connection-secret": {} }, ...over };
}

const fatal = (reason: string, message: string): PlainResponse => ({
  meta: { tag: "e2e", ttl: { seconds: 60, nanos: 0 } },
  desired: {},
  results: [{ severity: "SEVERITY_FATAL", reason, message, target: "TARGET_COMPOSITE" }],
});

let pki: TestPki;
let server: RunningServer;

beforeAll(async () => {
  pki = await makeTestPki();
  server = await startServer({ pki });
});
afterAll(stopAllServers);

describe("function server with mutual TLS", () => {
  it("answers RunFunction for the example Database with the whole desired state", async () => {
    const client = connect(server.address, clientCredentials(pki).mtls);
    const rsp = await client.runFunction(request());
    client.close();

    const secret = rsp.desired?.resources?.["connection-secret"]?.resource as { data: Record<string, string> };
    const password = Buffer.from(secret.data.password ?? "", "base64").toString();
    expect(password).toMatch(/^[A-Za-z0-9\-_.~!*+=^]{32}$/);
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    const host = "pg-payments-orders-prod-edfe87.postgres.database.azure.com";
    const labels = { "azplatform.io/team": "payments" };
    const envelope = { managementPolicies: ["Observe", "Create", "Update"], providerConfigRef: { kind: "ClusterProviderConfig", name: "default" } };
    const child = (externalName: string | undefined, forProvider: JsonObject, kind: string) => ({
      resource: {
        apiVersion: "dbforpostgresql.azure.m.upbound.io/v1beta1",
        kind,
        metadata: { namespace: "team-payments", labels, ...(externalName ? { annotations: { "crossplane.io/external-name": externalName } } : {}) },
        spec: { ...envelope, forProvider: { ...forProvider, serverIdSelector: { matchControllerRef: true } } },
      },
      ready: "READY_FALSE",
    });
    const waiting = [
      "FlexibleServer pg-payments-orders-prod-edfe87",
      "FlexibleServerDatabase orders",
      "FlexibleServerDatabase orders_audit",
      "FlexibleServerConfiguration log_min_duration_statement",
      "FlexibleServerConfiguration require_secure_transport",
      "Secret orders-db",
    ];
    expect(rsp).toEqual({
      meta: { tag: "e2e", ttl: { seconds: 60, nanos: 0 } },
      desired: {
        composite: { resource: { status: { serverName: "pg-payments-orders-prod-edfe87", resourceGroupName: "rg-data-prod", connectionSecretName: "orders-db", version: "16", storageGB: 128, passwordAuthEnabled: true } } },
        resources: {
          server: {
            resource: {
              apiVersion: "dbforpostgresql.azure.m.upbound.io/v1beta1",
              kind: "FlexibleServer",
              metadata: { namespace: "team-payments", labels, annotations: { "crossplane.io/external-name": "pg-payments-orders-prod-edfe87" } },
              spec: {
                ...envelope,
                initProvider: { zone: "1" },
                forProvider: {
                  administratorLogin: "pgadmin",
                  administratorPasswordSecretRef: { name: "orders-db", key: "password" },
                  authentication: { activeDirectoryAuthEnabled: false, passwordAuthEnabled: true },
                  autoGrowEnabled: true,
                  backupRetentionDays: 14,
                  delegatedSubnetId: (input.network as JsonObject).delegatedSubnetId,
                  geoRedundantBackupEnabled: false,
                  location: "westeurope",
                  maintenanceWindow: { dayOfWeek: 0, startHour: 2, startMinute: 0 },
                  privateDnsZoneId: (input.network as JsonObject).privateDnsZoneId,
                  publicNetworkAccessEnabled: false,
                  resourceGroupName: "rg-data-prod",
                  skuName: "GP_Standard_D2ds_v5",
                  storageMb: 131072,
                  storageTier: "P10",
                  tags: { "azplatform-namespace": "team-payments", "cost-center": "cc-4711", environment: "prod", "managed-by": "crossplane", team: "payments" },
                  version: "16",
                },
              },
            },
            ready: "READY_FALSE",
          },
          "database-orders": child("orders", { charset: "UTF8", collation: "en_US.utf8" }, "FlexibleServerDatabase"),
          "database-orders_audit": child("orders_audit", { charset: "UTF8", collation: "en_US.utf8" }, "FlexibleServerDatabase"),
          "parameter-log_min_duration_statement": child(undefined, { name: "log_min_duration_statement", value: "2000" }, "FlexibleServerConfiguration"),
          "parameter-require_secure_transport": child(undefined, { name: "require_secure_transport", value: "on" }, "FlexibleServerConfiguration"),
          "connection-secret": {
            resource: {
              apiVersion: "v1",
              kind: "Secret",
              metadata: { name: "orders-db", namespace: "team-payments", labels },
              type: "Opaque",
              data: {
                database: b64("orders"),
                host: b64(host),
                password: b64(password),
                port: b64("5432"),
                sslmode: b64("require"),
                uri: b64(`postgresql://pgadmin:${encodeURIComponent(password)}@${host}:5432/orders?sslmode=require`),
                username: b64("pgadmin"),
              },
            },
            ready: "READY_FALSE",
          },
        },
      },
      conditions: [
        {
          type: "DatabaseReady",
          status: "STATUS_CONDITION_FALSE",
          reason: "Creating",
          message: `waiting for ${waiting.map((w) => `${w}: not created yet`).join("; ")}`,
          target: "TARGET_COMPOSITE",
        },
        { type: "ChangesApplied", status: "STATUS_CONDITION_TRUE", reason: "Applied", message: "the Database spec and the DBA policy are applied", target: "TARGET_COMPOSITE" },
      ],
      // The same lookup again, as long as the Secret is not observed: that is what ends Crossplane's loop.
      requirements: { resources: { "connection-secret": { apiVersion: "v1", kind: "Secret", matchName: "orders-db", namespace: "team-payments" } } },
    });
    expect(server.logs().join("\n")).not.toContain(password);
  });

  it("reports SERVING on the standard health service", async () => {
    expect(await healthCheck(server.address, clientCredentials(pki).mtls)).toBe("SERVING");
  });

  const refused: Record<string, () => grpc.ChannelCredentials> = {
    ClientWithoutCertificate: () => clientCredentials(pki).tlsWithoutClientCert,
    ClientWithCertificateFromAnotherCA: () => clientCredentials(pki).rogueMtls,
    PlaintextClient: () => grpc.credentials.createInsecure(),
  };
  for (const [name, creds] of Object.entries(refused)) {
    it(`refuses ${name}`, async () => {
      const client = connect(server.address, creds());
      const err = await client.runFunction(request(), { deadlineMs: 5000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      client.close();
      expect(isServiceError(err) && err.code).toBe(grpc.status.UNAVAILABLE);
    });
  }

  it("answers bad input with a Fatal result naming the field, and stays up", async () => {
    const client = connect(server.address, clientCredentials(pki).mtls);
    const bad = await client.runFunction(request({ observed: { composite: { resource: { ...(xr as JsonObject), spec: { team: "payments", size: "huge" } } } } }));
    const missing = await client.runFunction(request({ input: undefined }));
    client.close();
    expect(bad).toEqual(fatal("InvalidSpec", 'the Database is invalid: spec.size: Invalid option: expected one of "small"|"medium"|"large"'));
    expect(missing).toEqual(fatal("MissingInput", "the pipeline step has no input; set input to one of: DatabasePolicy (fn.azplatform.io/v1alpha1), SecretRotationPolicy (fn.azplatform.io/v1alpha1), RolloutPolicy (fn.azplatform.io/v1alpha1), DueRotationsPolicy (fn.azplatform.io/v1alpha1)"));
    expect(await healthCheck(server.address, clientCredentials(pki).mtls)).toBe("SERVING");
  });

  it("logs a call at info only when it has a Fatal or Warning result; --debug logs every call", async () => {
    const lines: Record<string, unknown[]> = {};
    for (const args of [[], ["--debug"]]) {
      const s = await startServer({ insecure: true, args });
      const client = connect(s.address);
      await client.runFunction(request({ meta: { tag: "good" } }));
      await client.runFunction(request({ meta: { tag: "bad" }, input: undefined }));
      client.close();
      await s.stop("SIGTERM");
      lines[args.join("") || "default"] = s
        .jsonLogs()
        .filter((l) => l.msg === "RunFunction")
        .map(({ level, tag, kind, xr, fatal, warning }) => ({ level, tag, kind, xr, fatal, warning }));
    }
    const good = { tag: "good", kind: "DatabasePolicy", xr: "team-payments/orders", fatal: 0, warning: 0 };
    const bad = { tag: "bad", kind: undefined, xr: "team-payments/orders", fatal: 1, warning: 0 };
    expect(lines).toEqual({ default: [{ level: 30, ...bad }], "--debug": [{ level: 20, ...good }, { level: 30, ...bad }] });
  });

  it("answers bytes that are not a RunFunctionRequest with a gRPC error, and stays up", async () => {
    const Client = grpc.makeGenericClientConstructor({}, "Raw");
    const raw = new Client(server.address, clientCredentials(pki).mtls, { "grpc.use_local_subchannel_pool": 1 });
    const err = await new Promise<grpc.ServiceError | null>((resolve) => {
      raw.makeUnaryRequest(
        "/apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction",
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        (e) => resolve(e),
      );
    });
    raw.close();
    expect([err?.code, err?.details]).toEqual([grpc.status.INVALID_ARGUMENT, "cannot decode the RunFunctionRequest: truncated message: a field runs past the end of its message"]);
    expect(await healthCheck(server.address, clientCredentials(pki).mtls)).toBe("SERVING");
  });

  it("serves the v1beta1 service that Crossplane before 1.17 calls", async () => {
    const dir = mkdtempSync(join(tmpdir(), "v1beta1-"));
    const proto = join(dir, "run_function.proto");
    writeFileSync(proto, readFileSync(RUN_FUNCTION_PROTO, "utf8").replace("package apiextensions.fn.proto.v1;", "package apiextensions.fn.proto.v1beta1;"));
    const Ctor = serviceConstructor(protoLoader.loadSync(proto, PROTO_LOADER_OPTIONS), "apiextensions.fn.proto.v1beta1.FunctionRunnerService");
    const client = new Ctor(server.address, clientCredentials(pki).mtls, { "grpc.use_local_subchannel_pool": 1 });
    const wire = await new Promise<unknown>((resolve, reject) => {
      (client as unknown as { RunFunction: (r: unknown, cb: (e: Error | null, r: unknown) => void) => void }).RunFunction(encodeRequest(request({ input: undefined })), (e, r) => (e ? reject(e) : resolve(r)));
    });
    client.close();
    expect(decodeResponse(wire)).toEqual(fatal("MissingInput", "the pipeline step has no input; set input to one of: DatabasePolicy (fn.azplatform.io/v1alpha1), SecretRotationPolicy (fn.azplatform.io/v1alpha1), RolloutPolicy (fn.azplatform.io/v1alpha1), DueRotationsPolicy (fn.azplatform.io/v1alpha1)"));
  });
});

describe("function server start-up and shutdown", () => {
  it("refuses to start without certificates unless --insecure, and says why", async () => {
    const empty = mkdtempSync(join(tmpdir(), "no-certs-"));
    const r = await runToExit(["--address", "127.0.0.1:0", "--tls-server-certs-dir", empty]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`cannot read ${join(empty, "ca.crt")} (ENOENT): mutual TLS needs ca.crt, tls.crt, tls.key in --tls-server-certs-dir; pass --insecure only for local development`);
  });

  it("takes the certificate directory from TLS_SERVER_CERTS_DIR", async () => {
    const empty = mkdtempSync(join(tmpdir(), "env-certs-"));
    const r = await runToExit(["--address", "127.0.0.1:0"], 15000, { env: { TLS_SERVER_CERTS_DIR: empty } });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`cannot read ${join(empty, "ca.crt")}`);
  });

  it("exits non-zero when the port is already in use", async () => {
    const r = await runToExit(["--address", server.address, "--insecure"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`cannot listen on ${server.address}`);
    expect(r.stdout).toContain("EADDRINUSE");
  });

  it("rejects unknown flags with usage", async () => {
    const r = await runToExit(["--adress", "x"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Usage: function-azure-platform");
  });

  it("drains in-flight calls on SIGTERM, then exits 0", async () => {
    const s = await startServer({ insecure: true, args: ["--debug"] });
    const client = connect(s.address);
    // Large observed state keeps the single-threaded server busy, so calls are still in flight at SIGTERM.
    const filler = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`cm-${i}`, { resource: { apiVersion: "v1", kind: "ConfigMap", data: { blob: "x".repeat(4000) } } }]));
    const calls = Array.from({ length: 12 }, () => client.runFunction(request({ observed: { composite: { resource: xr as JsonObject }, resources: filler } }), { deadlineMs: 20000 }));
    await calls[0];
    const stopped = s.stop("SIGTERM");
    const outcomes = await Promise.allSettled(calls);
    client.close();
    expect(outcomes.map((o) => o.status)).toEqual(Array(12).fill("fulfilled"));
    expect(await stopped).toEqual({ code: 0, signal: null });
    const messages = s.jsonLogs().map((l) => l.msg);
    expect(messages.filter((m) => m === "RunFunction")).toHaveLength(12);
    // Calls finished after the server began to drain: SIGTERM did not cut them off.
    expect(messages.lastIndexOf("RunFunction")).toBeGreaterThan(messages.indexOf("draining in-flight calls"));
    expect(messages.at(-1)).toBe("stopped");
  });
});
