// Runs the real function server (functions/main.ts) as a child process for
// end-to-end tests, and waits until its gRPC health service reports SERVING.
//
// Test files must call `stopAllServers()` in afterAll/afterEach so no child
// outlives its test; a process 'exit' hook SIGKILLs stragglers as a last resort.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import { type TestPki, writeServerTls } from "./certs.ts";
import { REPO_ROOT, clientCredentials, healthCheck } from "./proto-client.ts";

/**
 * Server entry point, relative to the repository root (the child's cwd): the TypeScript sources, or what
 * FUNCTION_SERVER_ENTRY names (the bundle the image ships, when vitest runs the "bundle" project).
 */
export const SERVER_ENTRY = process.env.FUNCTION_SERVER_ENTRY || "functions/main.ts";

const READY_TIMEOUT_MS = 15_000;
const POLL_INTERVAL_MS = 100;
const STOP_TIMEOUT_MS = 10_000;

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartServerOptions {
  /** Script to run instead of the function server (the benchmark's baseline). */
  entry?: string;
  /** Extra arguments appended after `--address` and the TLS flags, e.g. `["--debug"]`. */
  args?: string[];
  /** Passed as `--tls-server-certs-dir`. Needs `pki` or `credentials` so the health probe can connect. */
  certsDir?: string;
  /** The PKI behind `certsDir`. Without `certsDir`, its server layout is written to a fresh temp dir. */
  pki?: TestPki;
  /** Passes `--insecure`. */
  insecure?: boolean;
  /** Added to (and overriding) the inherited environment. */
  env?: Record<string, string>;
  /** Working directory of the server, which `entry` is relative to (default the repository root). */
  cwd?: string;
  /** Credentials for the readiness probe; default mTLS from `pki`, else plaintext. */
  credentials?: grpc.ChannelCredentials;
  /** Default 15 s. */
  readyTimeoutMs?: number;
}

export interface RunningServer {
  /** `127.0.0.1:<port>` */
  address: string;
  port: number;
  process: ChildProcess;
  /** The credentials the readiness probe used (pass them to `connect`). */
  credentials: grpc.ChannelCredentials;
  /** The TLS directory the server was given, if any. */
  certsDir?: string;
  /** stdout and stderr lines, in arrival order. */
  logs(): string[];
  stdout(): string[];
  stderr(): string[];
  /** stdout lines that parse as JSON objects (pino's output). */
  jsonLogs(): Record<string, unknown>[];
  /** Settles when the process has exited and its output is fully read. */
  exited: Promise<ExitStatus>;
  /**
   * Sends `signal` and waits for exit. After `timeoutMs` (default 10 s) sends
   * SIGKILL, so a server that does not drain shows up as `signal: "SIGKILL"`.
   */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitStatus>;
}

export interface ExitResult extends ExitStatus {
  stdout: string;
  stderr: string;
}

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();

process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** A port that was free a moment ago (bind to 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr !== null && typeof addr === "object") resolve(addr.port);
        else reject(new Error("could not determine a free port"));
      });
    });
  });
}

interface Spawned {
  child: ChildProcess;
  lines: { stream: "stdout" | "stderr"; line: string }[];
  exited: Promise<ExitStatus>;
  status(): ExitStatus | undefined;
}

function spawnServer(args: string[], env: Record<string, string> = {}, entry = SERVER_ENTRY, cwd = REPO_ROOT): Spawned {
  const child = spawn(process.execPath, [entry, ...args], {
    cwd,
    // Many servers run at once in tests: each serves metrics and health on ports of its own unless a test picks one.
    env: { ...process.env, METRICS_ADDRESS: "127.0.0.1:0", HEALTH_ADDRESS: "127.0.0.1:0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  const lines: Spawned["lines"] = [];
  for (const stream of ["stdout", "stderr"] as const) {
    const readable = child[stream];
    if (readable === null) continue;
    createInterface({ input: readable, crlfDelay: Infinity }).on("line", (line) => lines.push({ stream, line }));
  }
  let status: ExitStatus | undefined;
  const exited = new Promise<ExitStatus>((resolve) => {
    // 'close' (not 'exit') fires after stdio is drained, so the output is complete.
    child.once("close", (code, signal) => {
      live.delete(child);
      status = { code, signal };
      resolve(status);
    });
    child.once("error", (err) => {
      // Spawn failure: 'close' may never come.
      live.delete(child);
      lines.push({ stream: "stderr", line: `spawn error: ${err.message}` });
      status ??= { code: null, signal: null };
      resolve(status);
    });
  });
  return { child, lines, exited, status: () => status };
}

function formatOutput(lines: Spawned["lines"]): string {
  if (lines.length === 0) return "(no output)";
  return lines.map((l) => `[${l.stream}] ${l.line}`).join("\n");
}

function describeError(e: unknown): string {
  // grpc-js ServiceError messages already read "14 UNAVAILABLE: ...".
  return e instanceof Error ? e.message : String(e);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function kill(s: Spawned, signal: NodeJS.Signals, timeoutMs: number): Promise<ExitStatus> {
  const done = s.status();
  if (done !== undefined) return done;
  s.child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const first = await Promise.race([s.exited, timedOut]);
  clearTimeout(timer);
  if (first !== "timeout") return first;
  s.child.kill("SIGKILL");
  return s.exited;
}

/**
 * Starts `node functions/main.ts --address 127.0.0.1:<free port> [--insecure]
 * [--tls-server-certs-dir <dir>] ...args` from the repo root and resolves once
 * grpc.health.v1.Health/Check("") reports SERVING. Rejects (with the exit
 * status and the captured output) when the process exits first or is not
 * ready within the timeout; in the latter case the process is killed.
 */
export async function startServer(opts: StartServerOptions = {}): Promise<RunningServer> {
  let certsDir = opts.certsDir;
  if (certsDir === undefined && opts.pki !== undefined) {
    certsDir = await mkdtemp(join(tmpdir(), "fn-e2e-tls-"));
    tempDirs.add(certsDir);
    await writeServerTls(opts.pki, certsDir);
  }
  const credentials =
    opts.credentials ??
    (opts.pki !== undefined ? clientCredentials(opts.pki).mtls : undefined) ??
    (certsDir === undefined ? grpc.credentials.createInsecure() : undefined);
  if (credentials === undefined) {
    throw new Error("startServer: certsDir given without pki or credentials; the readiness probe needs a client certificate");
  }

  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const args = ["--address", address];
  if (opts.insecure === true) args.push("--insecure");
  if (certsDir !== undefined) args.push("--tls-server-certs-dir", certsDir);
  args.push(...(opts.args ?? []));

  const s = spawnServer(args, opts.env, opts.entry, opts.cwd);
  const timeoutMs = opts.readyTimeoutMs ?? READY_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  let lastProbe = "no probe yet";
  const header = () => `${process.execPath} ${opts.entry ?? SERVER_ENTRY} ${args.join(" ")}`;

  for (;;) {
    const status = s.status();
    if (status !== undefined) {
      throw new Error(
        `${header()}\nexited (code ${status.code}, signal ${status.signal}) before reporting SERVING` +
          `; last health probe: ${lastProbe}\n--- output ---\n${formatOutput(s.lines)}`,
      );
    }
    if (Date.now() >= deadline) {
      const final = await kill(s, "SIGKILL", STOP_TIMEOUT_MS);
      throw new Error(
        `${header()}\ndid not report SERVING within ${timeoutMs} ms (killed: code ${final.code}, signal ${final.signal})` +
          `; last health probe: ${lastProbe}\n--- output ---\n${formatOutput(s.lines)}`,
      );
    }
    try {
      const health = await healthCheck(address, credentials, "", { deadlineMs: 1_000 });
      if (health === "SERVING") break;
      lastProbe = health;
    } catch (e) {
      lastProbe = describeError(e);
    }
    await Promise.race([sleep(POLL_INTERVAL_MS), s.exited]);
  }

  const server: RunningServer = {
    address,
    port,
    process: s.child,
    credentials,
    logs: () => s.lines.map((l) => l.line),
    stdout: () => s.lines.filter((l) => l.stream === "stdout").map((l) => l.line),
    stderr: () => s.lines.filter((l) => l.stream === "stderr").map((l) => l.line),
    jsonLogs: () =>
      s.lines.flatMap((l) => {
        if (l.stream !== "stdout") return [];
        try {
          const parsed: unknown = JSON.parse(l.line);
          return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? [parsed as Record<string, unknown>] : [];
        } catch {
          return [];
        }
      }),
    exited: s.exited,
    stop: (signal = "SIGTERM", stopTimeoutMs = STOP_TIMEOUT_MS) => kill(s, signal, stopTimeoutMs),
  };
  if (certsDir !== undefined) server.certsDir = certsDir;
  return server;
}

/**
 * Runs `node functions/main.ts ...args` (no arguments added) and resolves when
 * it exits, e.g. for "refuses to start" tests. Rejects, after SIGKILLing it,
 * when it is still running after `timeoutMs`.
 */
export async function runToExit(
  args: string[],
  timeoutMs = READY_TIMEOUT_MS,
  opts: { env?: Record<string, string> } = {},
): Promise<ExitResult> {
  const s = spawnServer(args, opts.env);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const first = await Promise.race([s.exited, timedOut]);
  clearTimeout(timer);
  const collect = (stream: "stdout" | "stderr") =>
    s.lines
      .filter((l) => l.stream === stream)
      .map((l) => `${l.line}\n`)
      .join("");
  if (first === "timeout") {
    await kill(s, "SIGKILL", STOP_TIMEOUT_MS);
    throw new Error(
      `${SERVER_ENTRY} ${args.join(" ")}\nwas still running after ${timeoutMs} ms (killed)\n--- output ---\n${formatOutput(s.lines)}`,
    );
  }
  return { ...first, stdout: collect("stdout"), stderr: collect("stderr") };
}

/**
 * Test teardown: SIGKILLs every server child still running and removes the
 * temp TLS dirs startServer created. Call from afterAll/afterEach.
 */
export async function stopAllServers(): Promise<void> {
  const children = [...live];
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) {
            live.delete(child);
            resolve();
            return;
          }
          child.once("close", () => resolve());
          child.kill("SIGKILL");
        }),
    ),
  );
  const dirs = [...tempDirs];
  tempDirs.clear();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}
