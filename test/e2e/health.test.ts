// The plaintext health port (--health-address) that the kubelet's grpc probes call: the real server process, a
// client built from grpc-health-check's health.proto, and the probes examples/install/function.yaml declares.
import { existsSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseAllDocuments } from "yaml";
import { DEFAULT_HEALTH_ADDRESS } from "../../functions/health.ts";
import { makeTestPki, type TestPki } from "../support/certs.ts";
import { HEALTH_SERVICE, REPO_ROOT, clientCredentials, healthCheck, isServiceError, loadHealthPackage, serviceConstructor } from "../support/proto-client.ts";
import { freePort, runToExit, startServer, stopAllServers, type RunningServer, type StartServerOptions } from "../support/server-process.ts";

const RUN_FUNCTION_V1 = "/apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction";
const RUN_FUNCTION_V1BETA1 = "/apiextensions.fn.proto.v1beta1.FunctionRunnerService/RunFunction";
/** Each client its own connection, so no test inherits another's (or a stopped server's) channel. */
const ISOLATED = { "grpc.use_local_subchannel_pool": 1 };
const RawClient = grpc.makeGenericClientConstructor({}, "Raw");
const HealthClient = serviceConstructor(loadHealthPackage(), HEALTH_SERVICE);
const bytes = (b: Buffer) => b;
const plaintext = () => grpc.credentials.createInsecure();

/** A plaintext client of grpc.health.v1.Health, as the kubelet's grpc probe is. */
const healthClient = (address: string) =>
  new HealthClient(address, plaintext(), ISOLATED) as unknown as grpc.Client & {
    list(r: object, cb: (e: grpc.ServiceError | null, r: unknown) => void): void;
    watch(r: object): grpc.ClientReadableStream<{ status?: string }>;
  };

const servingHealth = (s: RunningServer) =>
  vi.waitFor(() => expect(s.jsonLogs().some((l) => l.msg === "serving health")).toBe(true), { timeout: 5_000 });

/** Starts the server with health on a port of its own, and waits until that port listens too. */
async function startWithHealthPort(opts: StartServerOptions = {}): Promise<{ server: RunningServer; health: string }> {
  const health = `127.0.0.1:${await freePort()}`;
  const server = await startServer({ ...opts, args: [...(opts.args ?? []), "--health-address", health] });
  await servingHealth(server);
  return { server, health };
}

/** The status Check reports, or the name of the gRPC code the call failed with. */
const checkOutcome = (address: string, creds: grpc.ChannelCredentials) =>
  healthCheck(address, creds, "", { deadlineMs: 5_000 }).then(
    (status) => status,
    (e: unknown) => (isServiceError(e) ? grpc.status[e.code] : String(e)),
  );

/** The name of the gRPC code a unary call to `path` with an empty request ends with ("OK" when it is answered). */
function unaryOutcome(address: string, creds: grpc.ChannelCredentials, path: string): Promise<string> {
  const client = new RawClient(address, creds, ISOLATED);
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, bytes, bytes, Buffer.alloc(0), { deadline: Date.now() + 5_000 }, (e) => {
      client.close();
      resolve(grpc.status[e?.code ?? grpc.status.OK]);
    });
  });
}

/**
 * TCP ports the process listens on: its socket inodes matched against the kernel's LISTEN sockets (Linux /proc).
 * What shows that a server serves no health port, rather than only that it logs none.
 */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
      if (inode !== undefined) inodes.add(inode);
    } catch {
      // The descriptor closed between listing and reading it.
    }
  }
  const ports: number[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"].filter((t) => existsSync(t))) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      // sl local_address rem_address st ... inode: local_address is HEXIP:HEXPORT, st 0A is LISTEN.
      const [, local = "", , state, , , , , , inode = ""] = line.trim().split(/\s+/);
      if (state === "0A" && inodes.has(inode)) ports.push(parseInt(local.split(":")[1] ?? "", 16));
    }
  }
  return ports.sort((a, b) => a - b);
}

let pki: TestPki;
let server: RunningServer;
let health: string;

beforeAll(async () => {
  pki = await makeTestPki();
  ({ server, health } = await startWithHealthPort({ pki }));
});
afterAll(stopAllServers);

describe("plaintext health port", () => {
  const mtls = () => clientCredentials(pki).mtls;
  const healthPort = () => health;
  const grpcPort = () => server.address;

  const checks: Record<string, { address: () => string; creds: () => grpc.ChannelCredentials; want: string }> = {
    PlaintextOnHealthPortIsServing: { address: healthPort, creds: plaintext, want: "SERVING" },
    MutualTlsOnGrpcPortIsServing: { address: grpcPort, creds: mtls, want: "SERVING" },
    PlaintextOnGrpcPortIsRefused: { address: grpcPort, creds: plaintext, want: "UNAVAILABLE" },
    NoClientCertificateOnGrpcPortIsRefused: { address: grpcPort, creds: () => clientCredentials(pki).tlsWithoutClientCert, want: "UNAVAILABLE" },
  };
  for (const [name, { address, creds, want }] of Object.entries(checks)) {
    it(name, async () => {
      expect(await checkOutcome(address(), creds())).toBe(want);
    });
  }

  it("List answers the whole server's status", async () => {
    const client = healthClient(health);
    const rsp = await new Promise<unknown>((resolve, reject) => client.list({}, (e, r) => (e ? reject(e) : resolve(r))));
    client.close();
    expect(rsp).toEqual({ statuses: { "": { status: "SERVING" } } });
  });

  const calls: Record<string, { address: () => string; creds: () => grpc.ChannelCredentials; path: string; want: string }> = {
    RunFunctionOnHealthPortIsUnimplemented: { address: healthPort, creds: plaintext, path: RUN_FUNCTION_V1, want: "UNIMPLEMENTED" },
    RunFunctionV1beta1OnHealthPortIsUnimplemented: { address: healthPort, creds: plaintext, path: RUN_FUNCTION_V1BETA1, want: "UNIMPLEMENTED" },
    // The same empty request is answered on the gRPC port (with a Fatal result: it has no input).
    RunFunctionOnGrpcPortIsAnswered: { address: grpcPort, creds: mtls, path: RUN_FUNCTION_V1, want: "OK" },
  };
  for (const [name, { address, creds, path, want }] of Object.entries(calls)) {
    it(name, async () => {
      expect(await unaryOutcome(address(), creds(), path)).toBe(want);
    });
  }

  it("answers NOT_SERVING and ends Watch streams while SIGTERM drains a call, and closes when the process exits", async () => {
    const { server: s, health: h } = await startWithHealthPort({ pki, args: ["--drain-seconds", "20"] });
    const watcher = healthClient(h);
    const watched: string[] = [];
    const watch = watcher.watch({ service: "" });
    watch.on("data", (m: { status?: string }) => watched.push(m.status ?? "UNKNOWN"));
    watch.on("error", () => undefined);
    const watchEnded = new Promise<void>((resolve) => watch.on("end", resolve));
    await vi.waitFor(() => expect(watched).toEqual(["SERVING"]), { timeout: 5_000 });

    // A RunFunction call whose request never ends keeps the drain waiting. Streams on one connection reach the
    // server in order, so once a Check opened after it is answered, the server holds the call.
    const raw = new RawClient(s.address, mtls(), ISOLATED);
    const check = () =>
      new Promise<void>((resolve, reject) =>
        raw.makeUnaryRequest("/grpc.health.v1.Health/Check", bytes, bytes, Buffer.alloc(0), (e) => (e ? reject(e) : resolve())),
      );
    await check();
    const inFlight = raw.makeClientStreamRequest(RUN_FUNCTION_V1, bytes, bytes, () => undefined);
    await check();

    const stopped = s.stop("SIGTERM", 30_000);
    await watchEnded;
    watcher.close();
    const draining = { watched, check: await checkOutcome(h, plaintext()), exitCode: s.process.exitCode };
    inFlight.cancel();
    raw.close();
    const exit = await stopped;
    expect({ draining, exit, afterExit: await checkOutcome(h, plaintext()) }).toEqual({
      draining: { watched: ["SERVING", "NOT_SERVING"], check: "NOT_SERVING", exitCode: null },
      exit: { code: 0, signal: null },
      afterExit: "UNAVAILABLE",
    });
  });
});

describe("--health-address", () => {
  const listening: Record<string, { opts: (address: string) => StartServerOptions; serves: boolean }> = {
    FlagServesHealthOnItsPort: { opts: (address) => ({ args: ["--health-address", address] }), serves: true },
    EnvironmentServesHealthOnItsPort: { opts: (address) => ({ env: { HEALTH_ADDRESS: address } }), serves: true },
    OffServesNone: { opts: () => ({ args: ["--health-address", "off"] }), serves: false },
  };
  for (const [name, { opts, serves }] of Object.entries(listening)) {
    it(name, async () => {
      const port = await freePort();
      const o = opts(`127.0.0.1:${port}`);
      // Metrics off, so the process listens on the gRPC port and, if it serves health, the health port: no other.
      const s = await startServer({ insecure: true, ...o, args: ["--metrics-address", "off", ...(o.args ?? [])] });
      if (serves) await servingHealth(s);
      const seen = { ports: listeningPorts(s.process.pid ?? 0), check: await checkOutcome(`127.0.0.1:${port}`, plaintext()) };
      await s.stop("SIGTERM");
      expect(seen).toEqual(
        serves ? { ports: [s.port, port].sort((a, b) => a - b), check: "SERVING" } : { ports: [s.port], check: "UNAVAILABLE" },
      );
    });
  }

  it("exits non-zero naming --health-address when its port is taken or it is not host:port", async () => {
    const taken = createServer();
    const port = await new Promise<number>((resolve) => taken.listen(0, "127.0.0.1", () => resolve((taken.address() as { port: number }).port)));
    const grpcArgs = ["--insecure", "--address", `127.0.0.1:${await freePort()}`, "--metrics-address", "off"];
    const cases: Record<string, { args: string[]; env?: Record<string, string> }> = {
      TakenByFlag: { args: ["--health-address", `127.0.0.1:${port}`] },
      TakenByEnvironment: { args: [], env: { HEALTH_ADDRESS: `127.0.0.1:${port}` } },
      NotHostPort: { args: ["--health-address", "8081"] },
    };
    const seen: Record<string, { code: number | null; fatal: string | undefined }> = {};
    for (const [name, { args, env = {} }] of Object.entries(cases)) {
      const r = await runToExit([...grpcArgs, ...args], 15_000, { env });
      const logs = r.stdout.split("\n").flatMap((l) => (l.startsWith("{") ? [JSON.parse(l) as { level: number; msg: string }] : []));
      // grpc-js words the bind error its own way; what matters is that it is the address in use.
      const fatal = logs.find((l) => l.level === 60)?.msg.replace(/: No address added .*EADDRINUSE.*$/, ": EADDRINUSE");
      seen[name] = { code: r.code, fatal };
    }
    taken.close();
    expect(seen).toEqual({
      TakenByFlag: { code: 1, fatal: `cannot listen on 127.0.0.1:${port} for --health-address: EADDRINUSE` },
      TakenByEnvironment: { code: 1, fatal: `cannot listen on 127.0.0.1:${port} for --health-address: EADDRINUSE` },
      NotHostPort: { code: 1, fatal: '--health-address must be host:port, got "8081"' },
    });
  });
});

describe("examples/install/function.yaml", () => {
  it("declares a health port and grpc probes on the port of the server's default --health-address", () => {
    const defaultPort = Number(DEFAULT_HEALTH_ADDRESS.split(":").at(-1));
    const text = readFileSync(join(REPO_ROOT, "examples/install/function.yaml"), "utf8");
    const docs = parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown>);
    const runtime = docs.find((d) => d.kind === "DeploymentRuntimeConfig") as {
      spec: { deploymentTemplate: { spec: { template: { spec: { containers: Record<string, unknown>[] } } } } };
    };
    const container = runtime.spec.deploymentTemplate.spec.template.spec.containers.find((c) => c.name === "package-runtime") ?? {};
    const probes = ["startupProbe", "readinessProbe", "livenessProbe"] as const;
    expect({
      port: (container.ports as { name: string }[]).find((p) => p.name === "health"),
      probes: Object.fromEntries(probes.map((p) => [p, (container[p] as { grpc?: unknown } | undefined)?.grpc])),
    }).toEqual({
      port: { name: "health", containerPort: defaultPort, protocol: "TCP" },
      probes: Object.fromEntries(probes.map((p) => [p, { port: defaultPort }])),
    });
  });
});
