// Self-test of the e2e support code against a throwaway in-process gRPC server
// built from the same upstream proto, so the harness is proven independently
// of the real function server.

import { X509Certificate, createPrivateKey } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type TestPki, makeTestPki } from "./certs.ts";
import {
  type ClientCredentialSet,
  type JsonObject,
  type PlainRequest,
  type PlainResponse,
  type RunFunctionClient,
  RUN_FUNCTION_SERVICE,
  clientCredentials,
  connect,
  healthCheck,
  isServiceError,
  loadRunFunctionPackage,
  serviceConstructor,
} from "./proto-client.ts";
import { freePort } from "./server-process.ts";

// ---------------------------------------------------------------------------
// Throwaway echo server. Works on proto-loader's raw objects (Struct as
// {fields: {...}}), never on the client's converters, so a bug in the
// client's conversions cannot be mirrored here.
// ---------------------------------------------------------------------------

type Raw = Record<string, unknown>;

interface EchoServer {
  server: grpc.Server;
  tlsAddress: string;
  insecureAddress: string;
  /** Raw (proto-loader-decoded) requests, newest last. */
  received: Raw[];
}

/** Every byte value, to prove bytes are not text-mangled. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

/** A response Struct built by hand in proto-loader's shape. */
const RAW_OUTPUT = {
  fields: {
    count: { numberValue: 3 },
    ok: { boolValue: true },
    nothing: { nullValue: "NULL_VALUE" },
    name: { stringValue: "db" },
    empty: { structValue: {} },
    list: { listValue: { values: [{ numberValue: -1.5 }, { stringValue: "" }, { listValue: {} }] } },
  },
};

function echo(req: Raw): Raw {
  const input = (req["input"] ?? { fields: {} }) as { fields: Record<string, Raw> };
  const desired = (req["desired"] ?? {}) as Raw;
  const composite = (desired["composite"] ?? {}) as Raw;
  return {
    meta: { tag: (req["meta"] as Raw | undefined)?.["tag"], ttl: { seconds: 60 } },
    desired: {
      ...desired,
      composite: {
        ...composite,
        connectionDetails: { ...(composite["connectionDetails"] as Raw | undefined), binary: ALL_BYTES },
      },
    },
    results: [
      { severity: "SEVERITY_NORMAL", message: "echoed" },
      { severity: "SEVERITY_FATAL", message: "boom", reason: "Broken", target: "TARGET_COMPOSITE_AND_CLAIM" },
    ],
    conditions: [{ type: "Echoed", status: "STATUS_CONDITION_FALSE", reason: "Testing", target: "TARGET_COMPOSITE" }],
    context: req["context"],
    requirements: {
      resources: {
        byName: { apiVersion: "v1", kind: "Secret", matchName: "creds", namespace: "team-a" },
        byLabels: { apiVersion: "v1", kind: "ConfigMap", matchLabels: { labels: { app: "db" } } },
      },
      schemas: { xr: { apiVersion: "example.org/v1", kind: "XDatabase" } },
    },
    output: input.fields["wantOutput"] ? RAW_OUTPUT : undefined,
  };
}

async function startEchoServer(pki: TestPki): Promise<EchoServer> {
  const received: Raw[] = [];
  const server = new grpc.Server();
  const { service } = serviceConstructor(loadRunFunctionPackage(), RUN_FUNCTION_SERVICE);
  const runFunction: grpc.handleUnaryCall<Raw, Raw> = (call, callback) => {
    received.push(call.request);
    const input = ((call.request["input"] ?? { fields: {} }) as { fields: Record<string, Raw> }).fields;
    const failWith = input["failWith"]?.["stringValue"];
    const delayMs = input["delayMs"]?.["numberValue"];
    if (typeof failWith === "string") {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: failWith });
      return;
    }
    setTimeout(() => callback(null, echo(call.request)), typeof delayMs === "number" ? delayMs : 0);
  };
  server.addService(service, { RunFunction: runFunction });
  new HealthImplementation({ "": "SERVING", "not.serving": "NOT_SERVING" }).addToServer(server);

  const bind = (creds: grpc.ServerCredentials) =>
    new Promise<number>((resolve, reject) => {
      server.bindAsync("127.0.0.1:0", creds, (err, port) => (err ? reject(err) : resolve(port)));
    });
  const tlsPort = await bind(
    grpc.ServerCredentials.createSsl(pki.ca.cert, [{ private_key: pki.server.key, cert_chain: pki.server.cert }], true),
  );
  const insecurePort = await bind(grpc.ServerCredentials.createInsecure());
  return { server, tlsAddress: `127.0.0.1:${tlsPort}`, insecureAddress: `127.0.0.1:${insecurePort}`, received };
}

// ---------------------------------------------------------------------------

let pki: TestPki;
let creds: ClientCredentialSet;
let echoServer: EchoServer;
const clients: RunFunctionClient[] = [];

function client(credentials: grpc.ChannelCredentials = creds.mtls, address = echoServer.tlsAddress): RunFunctionClient {
  const c = connect(address, credentials);
  clients.push(c);
  return c;
}

function lastReceived(): Raw {
  const r = echoServer.received.at(-1);
  if (r === undefined) throw new Error("echo server received nothing");
  return r;
}

async function callError(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (e) {
    if (isServiceError(e)) return e;
    throw e;
  }
  throw new Error("expected the call to fail");
}

beforeAll(async () => {
  pki = await makeTestPki();
  creds = clientCredentials(pki);
  echoServer = await startEchoServer(pki);
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

afterAll(() => {
  echoServer.server.forceShutdown();
});

describe("makeTestPki", () => {
  it("issues server and client certificates that chain to the CA, and rogue ones that do not", () => {
    const ca = new X509Certificate(pki.ca.cert);
    const rogueCa = new X509Certificate(pki.rogueCa.cert);
    const server = new X509Certificate(pki.server.cert);
    const client = new X509Certificate(pki.client.cert);
    const rogueClient = new X509Certificate(pki.rogueClient.cert);

    expect({
      caIsCa: ca.ca,
      serverSan: server.subjectAltName,
      serverSignedByCa: server.verify(ca.publicKey),
      clientSubject: client.subject,
      clientSignedByCa: client.verify(ca.publicKey),
      rogueClientSignedByCa: rogueClient.verify(ca.publicKey),
      rogueClientSignedByRogueCa: rogueClient.verify(rogueCa.publicKey),
      serverKeyMatches: server.checkPrivateKey(createPrivateKey(pki.server.key)),
      clientKeyMatches: client.checkPrivateKey(createPrivateKey(pki.client.key)),
      keyPemHeader: pki.server.keyPem.split("\n")[0],
    }).toEqual({
      caIsCa: true,
      serverSan: "DNS:localhost, IP Address:127.0.0.1",
      serverSignedByCa: true,
      clientSubject: "CN=crossplane",
      clientSignedByCa: true,
      rogueClientSignedByCa: false,
      rogueClientSignedByRogueCa: true,
      serverKeyMatches: true,
      clientKeyMatches: true,
      keyPemHeader: "-----BEGIN PRIVATE KEY-----",
    });
    const hour = 60 * 60 * 1000;
    expect(Date.parse(server.validFrom)).toBeLessThanOrEqual(Date.now() - hour + 60_000);
    expect(Date.parse(server.validTo)).toBeGreaterThan(Date.now() + 23 * hour);
    expect(Date.parse(server.validTo)).toBeLessThanOrEqual(Date.now() + 24 * hour + 60_000);
  });

  it("writes Crossplane's server layout when given a directory", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fn-pki-test-"));
    try {
      const written = await makeTestPki(join(dir, "tls"));
      const read = async (name: string) => readFile(join(dir, "tls", name), "utf8");
      expect({
        dir: written.dir,
        "tls.crt": await read("tls.crt"),
        "tls.key": await read("tls.key"),
        "ca.crt": await read("ca.crt"),
        keyMode: (await stat(join(dir, "tls", "tls.key"))).mode & 0o777,
      }).toEqual({
        dir: join(dir, "tls"),
        "tls.crt": written.server.certPem,
        "tls.key": written.server.keyPem,
        "ca.crt": written.ca.certPem,
        keyMode: 0o600,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("Struct <-> plain JSON", () => {
  const cases: { name: string; value: JsonObject }[] = [
    { name: "empty object", value: {} },
    {
      name: "nested objects",
      value: { apiVersion: "example.org/v1", metadata: { name: "db", labels: { a: "b" }, annotations: {} }, spec: { deep: { deeper: { deepest: "x" } } } },
    },
    { name: "arrays", value: { empty: [], mixed: [1, "two", true, null, { three: 3 }, [4, [5]]], ofObjects: [{}, { a: [] }] } },
    { name: "numbers", value: { zero: 0, negative: -42, fraction: 0.1, big: 1e300, maxSafe: Number.MAX_SAFE_INTEGER, tiny: 5e-324 } },
    { name: "booleans", value: { yes: true, no: false } },
    { name: "null", value: { nothing: null, inList: [null], nested: { alsoNothing: null } } },
    { name: "empty objects and strings", value: { a: {}, b: { c: {} }, "": "", "key.with/odd chars": "ünïcødé ✓" } },
  ];

  it.each(cases)("round-trips $name through the wire", async ({ value }) => {
    const res = await client().runFunction({
      desired: { composite: { resource: value }, resources: { r: { resource: value } } },
      context: value,
    });
    expect({ composite: res.desired?.composite?.resource, resource: res.desired?.resources?.["r"]?.resource, context: res.context }).toEqual({
      composite: value,
      resource: value,
      context: value,
    });
  });

  it("puts proto-loader-shaped Structs on the wire", async () => {
    await client().runFunction({ input: { s: "x", n: 1.5, b: false, z: null, o: { k: [] }, l: [{}] } });
    expect(lastReceived()["input"]).toEqual({
      fields: {
        s: { stringValue: "x", kind: "stringValue" },
        n: { numberValue: 1.5, kind: "numberValue" },
        b: { boolValue: false, kind: "boolValue" },
        z: { nullValue: "NULL_VALUE", kind: "nullValue" },
        o: { structValue: { fields: { k: { listValue: {}, kind: "listValue" } } }, kind: "structValue" },
        l: { listValue: { values: [{ structValue: {}, kind: "structValue" }] }, kind: "listValue" },
      },
    });
  });

  it("decodes a hand-built response Struct", async () => {
    const res = await client().runFunction({ input: { wantOutput: true } });
    expect(res.output).toEqual({ count: 3, ok: true, nothing: null, name: "db", empty: {}, list: [-1.5, "", []] });
  });

  it("skips undefined object members and refuses values JSON cannot carry", async () => {
    await client().runFunction({ input: { keep: 1, drop: undefined } as unknown as JsonObject });
    expect(lastReceived()["input"]).toEqual({ fields: { keep: { numberValue: 1, kind: "numberValue" } } });
    for (const bad of [{ d: new Date(0) }, { b: Buffer.from("x") }, { l: [undefined] }, { n: 1n }]) {
      await expect(client().runFunction({ input: bad as unknown as JsonObject })).rejects.toThrow(TypeError);
    }
  });
});

describe("whole request/response over mTLS", () => {
  const request: PlainRequest = {
    meta: { tag: "tag-1", capabilities: ["CAPABILITY_CAPABILITIES", "CAPABILITY_CONDITIONS"] },
    observed: { composite: { resource: { kind: "XDatabase" }, connectionDetails: { host: Buffer.from("db.local") } } },
    desired: {
      composite: { resource: { status: { ready: false } }, ready: "READY_FALSE" },
      resources: { server: { resource: { kind: "FlexibleServer" }, ready: "READY_TRUE", connectionDetails: { key: Buffer.from([0, 1, 2]) } } },
    },
    input: { apiVersion: "fn.example.org/v1", kind: "Input" },
    context: { "apiextensions.crossplane.io/environment": { region: "westeurope" } },
    credentials: { azure: { credentialData: { data: { "credentials.json": ALL_BYTES } } } },
    requiredResources: { secret: { items: [{ resource: { kind: "Secret", data: { a: "Yg==" } } }] } },
    requiredSchemas: { xr: { openapiV3: { type: "object" } } },
  };

  it("returns the expected response, with string enums, Buffers and a normalised Duration", async () => {
    const res = await client().runFunction(request);
    const expected: PlainResponse = {
      meta: { tag: "tag-1", ttl: { seconds: 60, nanos: 0 } },
      desired: {
        composite: {
          resource: { status: { ready: false } },
          ready: "READY_FALSE",
          connectionDetails: { binary: ALL_BYTES },
        },
        resources: { server: { resource: { kind: "FlexibleServer" }, ready: "READY_TRUE", connectionDetails: { key: Buffer.from([0, 1, 2]) } } },
      },
      results: [
        { severity: "SEVERITY_NORMAL", message: "echoed" },
        { severity: "SEVERITY_FATAL", message: "boom", reason: "Broken", target: "TARGET_COMPOSITE_AND_CLAIM" },
      ],
      conditions: [{ type: "Echoed", status: "STATUS_CONDITION_FALSE", reason: "Testing", target: "TARGET_COMPOSITE" }],
      context: { "apiextensions.crossplane.io/environment": { region: "westeurope" } },
      requirements: {
        resources: {
          byName: { apiVersion: "v1", kind: "Secret", matchName: "creds", namespace: "team-a" },
          byLabels: { apiVersion: "v1", kind: "ConfigMap", matchLabels: { labels: { app: "db" } } },
        },
        schemas: { xr: { apiVersion: "example.org/v1", kind: "XDatabase" } },
      },
    };
    expect(res).toEqual(expected);
    expect(Buffer.isBuffer(res.desired?.composite?.connectionDetails?.["binary"])).toBe(true);
  });

  it("sends bytes, enums and maps as the proto defines them", async () => {
    await client().runFunction(request);
    const raw = lastReceived();
    expect({
      meta: raw["meta"],
      credentials: raw["credentials"],
      observedDetails: (raw["observed"] as { composite: Raw }).composite["connectionDetails"],
      requiredSchemas: raw["requiredSchemas"],
    }).toEqual({
      meta: { tag: "tag-1", capabilities: ["CAPABILITY_CAPABILITIES", "CAPABILITY_CONDITIONS"] },
      // proto-loader's `oneofs: true` marks proto3 `optional` fields with a synthetic `_name` key.
      requiredSchemas: { xr: { openapiV3: { fields: { type: { stringValue: "object", kind: "stringValue" } } }, _openapiV3: "openapiV3" } },
      credentials: { azure: { credentialData: { data: { "credentials.json": ALL_BYTES } }, source: "credentialData" } },
      observedDetails: { host: Buffer.from("db.local") },
    });
  });

  it("rejects unknown fields, bad enum names and non-Buffer bytes before sending", async () => {
    const bad: unknown[] = [
      { desried: {} },
      { desired: { composite: { ready: "READY_MAYBE" } } },
      { observed: { composite: { connectionDetails: { k: "not a buffer" } } } },
      { meta: { capabilities: ["CAPABILITY_TELEPATHY"] } },
    ];
    const before = echoServer.received.length;
    for (const req of bad) {
      await expect(client().runFunction(req as PlainRequest)).rejects.toThrow(TypeError);
    }
    expect(echoServer.received.length).toBe(before);
  });

  it("surfaces server errors and deadlines as grpc ServiceErrors", async () => {
    const failed = await callError(client().runFunction({ input: { failWith: "bad input" } }));
    const late = await callError(client().runFunction({ input: { delayMs: 500 } }, { deadlineMs: 50 }));
    expect([
      { code: failed.code, details: failed.details },
      { code: late.code },
    ]).toEqual([{ code: grpc.status.INVALID_ARGUMENT, details: "bad input" }, { code: grpc.status.DEADLINE_EXCEEDED }]);
  });
});

describe("transport security", () => {
  it("accepts a client certificate signed by the CA", async () => {
    const res = await client(creds.mtls).runFunction({ meta: { tag: "mtls" } });
    expect(res.meta?.tag).toBe("mtls");
  });

  it.each([
    { name: "TLS without a client certificate", pick: (c: ClientCredentialSet) => c.tlsWithoutClientCert },
    { name: "a client certificate from a rogue CA", pick: (c: ClientCredentialSet) => c.rogueMtls },
    { name: "plaintext to the TLS port", pick: (c: ClientCredentialSet) => c.insecure },
  ])("refuses $name with UNAVAILABLE", async ({ pick }) => {
    const before = echoServer.received.length;
    const err = await callError(client(pick(creds)).runFunction({ meta: { tag: "refused" } }, { deadlineMs: 5_000 }));
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(echoServer.received.length).toBe(before);
  });

  it("refuses a server whose certificate does not chain to the trusted CA", async () => {
    const trustsRogue = grpc.credentials.createSsl(pki.rogueCa.cert, pki.client.key, pki.client.cert);
    const err = await callError(client(trustsRogue).runFunction({}, { deadlineMs: 5_000 }));
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
  });
});

describe("healthCheck", () => {
  it.each([
    { name: "plaintext, overall", address: () => echoServer.insecureAddress, c: () => creds.insecure, service: "", want: "SERVING" },
    { name: "mTLS, overall", address: () => echoServer.tlsAddress, c: () => creds.mtls, service: "", want: "SERVING" },
    { name: "named service", address: () => echoServer.insecureAddress, c: () => creds.insecure, service: "not.serving", want: "NOT_SERVING" },
  ])("reports $want ($name)", async ({ address, c, service, want }) => {
    expect(await healthCheck(address(), c(), service)).toBe(want);
  });

  it("rejects for an unknown service and when nothing listens", async () => {
    const unknown = await callError(healthCheck(echoServer.insecureAddress, creds.insecure, "no.such.service"));
    const nobody = await callError(healthCheck(`127.0.0.1:${await freePort()}`));
    expect([unknown.code, nobody.code]).toEqual([grpc.status.NOT_FOUND, grpc.status.UNAVAILABLE]);
  });
});
