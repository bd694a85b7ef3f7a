// The function's replicas: server processes of this project, as a Deployment with two replicas runs them. A replica
// can be paused (SIGSTOP, then SIGCONT: a stalled node, a long GC), or killed and started again (a new process on a
// new port, as a new pod gets a new IP). Every process's output is kept, for the leak check.
import { connect, type PlainRequest, type PlainResponse, type RunFunctionClient } from "../support/proto-client.ts";
import { startServer, type RunningServer } from "../support/server-process.ts";
import type { RunRecord } from "./record.ts";

export interface Replica {
  readonly name: string;
  state: "up" | "paused" | "down";
  server?: RunningServer;
  client?: RunFunctionClient;
}

export class Replicas {
  readonly all: Replica[];
  /** Every process any replica ran, with the incarnation's name (`a#2`), for the leak check. */
  private readonly processes: { name: string; server: RunningServer }[] = [];
  private readonly resumes = new Set<NodeJS.Timeout>();
  private stopping = false;
  private readonly env: Record<string, string>;
  private readonly record: RunRecord;
  /** Called when a process exits without the harness killing it. */
  private readonly onCrash: (replica: string, how: string) => void;

  constructor(names: string[], env: Record<string, string>, record: RunRecord, onCrash: (replica: string, how: string) => void) {
    this.all = names.map((name) => ({ name, state: "down" }));
    this.env = env;
    this.record = record;
    this.onCrash = onCrash;
  }

  async start(): Promise<void> {
    await Promise.all(this.all.map((r) => this.launch(r)));
  }

  /** Replicas a call can be sent to: running or paused (a paused process still accepts connections; calls hang). */
  reachable(): Replica[] {
    return this.all.filter((r) => r.client !== undefined);
  }

  async call(replica: Replica, req: PlainRequest, deadlineMs: number): Promise<PlainResponse> {
    if (replica.client === undefined) throw new Error(`replica ${replica.name} is down`);
    return replica.client.runFunction(req, { deadlineMs });
  }

  pause(replica: Replica, ms: number): void {
    if (replica.state !== "up" || replica.server === undefined) return;
    replica.server.process.kill("SIGSTOP");
    replica.state = "paused";
    this.record.event("pauseReplica", `${replica.name} for ${ms} ms`);
    const timer = setTimeout(() => {
      this.resumes.delete(timer);
      this.resume(replica);
    }, ms);
    this.resumes.add(timer);
  }

  private resume(replica: Replica): void {
    if (replica.state !== "paused") return;
    replica.server?.process.kill("SIGCONT");
    replica.state = "up";
  }

  /** SIGKILL, then a new process for the replica. */
  async kill(replica: Replica): Promise<void> {
    if (replica.state !== "up" || replica.server === undefined) return;
    this.record.event("killReplica", replica.name);
    this.down(replica);
    await replica.server.stop("SIGKILL");
    await this.launch(replica);
  }

  private down(replica: Replica): void {
    replica.state = "down";
    replica.client?.close();
    replica.client = undefined;
  }

  private async launch(replica: Replica): Promise<void> {
    if (this.stopping) return;
    const server = await startServer({ insecure: true, env: this.env, readyTimeoutMs: 60_000 });
    const incarnation = `${replica.name}#${this.processes.filter((p) => p.name.startsWith(`${replica.name}#`)).length + 1}`;
    this.processes.push({ name: incarnation, server });
    replica.server = server;
    replica.client = connect(server.address);
    replica.state = "up";
    void server.exited.then((status) => {
      if (replica.server !== server || replica.state === "down" || this.stopping) return;
      this.onCrash(incarnation, status.signal ?? `exit code ${status.code}`);
      this.down(replica);
      void this.launch(replica);
    });
  }

  /** Each process's output, by incarnation. */
  logs(): { name: string; lines: string[] }[] {
    return this.processes.map((p) => ({ name: p.name, lines: p.server.logs() }));
  }

  /** Resumes paused processes (a stopped process would ignore SIGTERM) and stops them all. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const timer of this.resumes) clearTimeout(timer);
    this.resumes.clear();
    for (const r of this.all) this.resume(r);
    for (const r of this.all) r.client?.close();
    await Promise.all(this.processes.map((p) => p.server.stop()));
  }

  /** Ends the faults: paused replicas are resumed now instead of at their time. */
  resumeAll(): void {
    for (const timer of this.resumes) clearTimeout(timer);
    this.resumes.clear();
    for (const r of this.all) this.resume(r);
  }
}
