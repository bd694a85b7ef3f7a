// Child processes of the cluster tier (etcd, kube-apiserver, kube-controller-manager, Crossplane core): each
// writes its output to a log file in the run directory, so a failing test can show what the real system said.
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";

export interface Proc {
  name: string;
  logFile: string;
  child: ChildProcess;
  /** The exit code or signal once it has exited. */
  exit(): string | undefined;
  /** The last lines of its log. */
  tail(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

export function startProcess(name: string, binary: string, args: string[], logDir: string, env: Record<string, string> = {}): Proc {
  const logFile = join(logDir, `${name}.log`);
  const log = createWriteStream(logFile);
  const child = spawn(binary, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  let exit: string | undefined;
  const closed = new Promise<void>((resolve) => {
    child.once("close", (code, signal) => {
      live.delete(child);
      exit = signal ?? `exit code ${code}`;
      log.end(resolve);
    });
    child.once("error", (e) => {
      live.delete(child);
      exit = `cannot start ${binary}: ${e.message}`;
      log.end(resolve);
    });
  });
  return {
    name,
    logFile,
    child,
    exit: () => exit,
    tail: async (n = 30) => (await readFile(logFile, "utf8").catch(() => "")).trimEnd().split("\n").slice(-n).join("\n"),
    stop: async () => {
      if (exit !== undefined) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await closed;
      clearTimeout(timer);
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` until it returns a value other than undefined; fails naming `what` and the processes' last words.
 * With DEBUG_WAITS set, says how long each wait took (where the tier's time goes).
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, watch: Proc[] = []): Promise<T> {
  const started = Date.now();
  try {
    return await poll(what, probe, timeoutMs, watch);
  } finally {
    if (process.env.DEBUG_WAITS) process.stderr.write(`waited ${Date.now() - started} ms for ${what}\n`);
  }
}

async function poll<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, watch: Proc[]): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    for (const p of watch) {
      if (p.exit() !== undefined) throw new Error(`${p.name} exited (${p.exit()}) while waiting for ${what}:\n${await p.tail()}`);
    }
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const tails = await Promise.all(watch.map(async (p) => `--- ${p.name}\n${await p.tail(15)}`));
      const cause = last instanceof Error ? `: ${last.message}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}\n${tails.join("\n")}`);
    }
    await sleep(250);
  }
}
