// A Crossplane-like driver for one SecretRotation. Like core's reconciler it calls the function again and again, one
// call at a time, with the XR as it is now (its rotate-now annotation included) and, as the observed status, the
// desired status of the last response it received. It calls a random replica and honours the response's TTL loosely
// (it calls again within two seconds). Faults on its side: it gives up on a call while the server keeps working,
// ignores a reply, sends the same request to both replicas at once, or replays an older request later (stale status,
// old trigger) and ignores that reply.
//
// Triggers: once the current rotation is handled (the initial one, then each rotate-now value), it waits a while and
// sets a new rotate-now value. A new value comes only after the previous one was reported handled, so every trigger
// it issues must be handled, and each must make exactly one new value.
import { status as grpcStatus } from "@grpc/grpc-js";
import { ROTATE_NOW_ANNOTATION } from "../../functions/secret-rotation/xr.ts";
import { isServiceError, type JsonObject, type PlainCredentials, type PlainRequest, type PlainResponse } from "../support/proto-client.ts";
import type { FaultPlan } from "./plan.ts";
import type { Random } from "./random.ts";
import { seconds, type RunRecord } from "./record.ts";
import type { Replica, Replicas } from "./replicas.ts";

export interface DriverSetup {
  /** The XR as in the cluster: apiVersion, kind, metadata (name, namespace, uid), spec. */
  resource: JsonObject;
  input: JsonObject;
  credentials: Record<string, PlainCredentials>;
  replicas: Replicas;
  plan: FaultPlan;
  random: Random;
  record: RunRecord;
  triggerGapMs: [number, number];
  callDeadlineMs: number;
  /** Every response and every call error, as text: the leak check reads them. */
  transcript: string[];
}

const HISTORY = 50;
const JOURNAL = 5_000;

/** One call as the written report lists it: what was sent, to whom, and what came back (no values). */
export interface CallEntry {
  at: string;
  replica: string;
  how: "call" | "duplicate" | "replay";
  trigger: string;
  sent: string;
  reply: string;
}

const statusOf = (rsp: PlainResponse) => (rsp.desired?.composite?.resource as JsonObject | undefined)?.status as JsonObject | undefined;
const triggerOf = (req: PlainRequest) => String((((req.observed?.composite?.resource as JsonObject).metadata as JsonObject).annotations as JsonObject)[ROTATE_NOW_ANNOTATION] ?? "none");
const summary = (status: JsonObject | undefined) =>
  status === undefined ? "no status" : `${String(status.phase ?? "-")} v${String(status.currentVersion ?? 0)} handled ${String(status.handledTrigger ?? "-")}`;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class RotationDriver {
  readonly name: string;
  private readonly s: DriverSetup;
  private readonly triggers: string[] = [];
  private handled = 0;
  private initialDone = false;
  private nextTriggerAt: number | undefined;
  private issuing = true;
  private stopped = false;
  private status: JsonObject | undefined;
  private readonly history: PlainRequest[] = [];
  private readonly background = new Set<Promise<unknown>>();
  private loop: Promise<void> | undefined;
  /** The first Fatal result, if the function refused the scenario (a policy or XR shape it does not accept). */
  fatal: string | undefined;
  readonly journal: CallEntry[] = [];

  constructor(setup: DriverSetup) {
    this.s = setup;
    this.name = String((setup.resource.metadata as JsonObject).name);
  }

  /** What must each make one new value: the initial rotation, then every trigger issued. */
  causesIssued(): string[] {
    return ["initial", ...this.triggers];
  }

  causesHandled(): string[] {
    return this.initialDone ? ["initial", ...this.triggers.slice(0, this.handled)] : [];
  }

  lastStatus(): JsonObject | undefined {
    return this.status;
  }

  /** Idle, with the initial rotation and every trigger handled, as the last received status says. */
  atRest(): boolean {
    return this.status?.phase === "Idle" && this.initialDone && this.handled === this.triggers.length;
  }

  start(): void {
    this.loop = this.run();
  }

  /** No more triggers (the settle phase): the driver keeps calling until every one issued is handled. */
  settle(): void {
    this.issuing = false;
  }

  /** Stands in for time passing while settling: a back-off the last status waits for is over now. */
  skipBackoff(): void {
    if (this.status !== undefined && typeof this.status.retryAt === "string" && new Date(this.status.retryAt) > new Date()) {
      this.status = { ...this.status, retryAt: new Date().toISOString() };
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await Promise.all(this.background);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.maybeTrigger();
      const req = this.request();
      const faults = this.s.plan.forCall();
      if (faults.replay) this.replay();
      const deadline = faults.giveUpAfterMs ?? this.s.callDeadlineMs;
      const rsp = faults.duplicate ? await this.duplicate(req, deadline) : await this.once(req, deadline);
      if (rsp !== undefined && faults.dropReply) this.s.record.event("dropReply", this.name);
      if (rsp !== undefined && !faults.dropReply) this.observe(rsp);
      const ttlMs = (rsp?.meta?.ttl?.seconds ?? 1) * 1000;
      await sleep(Math.min(ttlMs, this.s.random.between([200, 2_000])));
    }
  }

  private maybeTrigger(): void {
    if (!this.issuing || this.nextTriggerAt === undefined || Date.now() < this.nextTriggerAt) return;
    this.nextTriggerAt = undefined;
    this.triggers.push(`t${this.triggers.length + 1}`);
    this.s.record.event("trigger", `${this.name} ${this.triggers.at(-1)}`);
  }

  private request(): PlainRequest {
    const trigger = this.triggers.at(-1);
    const annotations: JsonObject = trigger === undefined ? {} : { [ROTATE_NOW_ANNOTATION]: trigger };
    const resource: JsonObject = { ...this.s.resource, metadata: { ...(this.s.resource.metadata as JsonObject), annotations } };
    if (this.status !== undefined) resource.status = this.status;
    const req: PlainRequest = { meta: { tag: `${this.name}-${this.s.record.now()}` }, observed: { composite: { resource } }, input: this.s.input, credentials: this.s.credentials };
    this.history.push(req);
    if (this.history.length > HISTORY) this.history.shift();
    return req;
  }

  private observe(rsp: PlainResponse): void {
    const fatal = rsp.results?.find((r) => r.severity === "SEVERITY_FATAL");
    if (fatal !== undefined) this.fatal ??= fatal.message ?? fatal.reason ?? "Fatal";
    const status = statusOf(rsp);
    if (status === undefined) return;
    this.status = status;
    const wasDone = this.initialDone && this.handled === this.triggers.length;
    if (typeof status.lastRotatedAt === "string") this.initialDone = true;
    if (this.triggers.length > this.handled && status.handledTrigger === this.triggers.at(-1)) this.handled = this.triggers.length;
    const done = this.initialDone && this.handled === this.triggers.length;
    if (done && !wasDone) this.nextTriggerAt = Date.now() + this.s.random.between(this.s.triggerGapMs);
  }

  private async send(replica: Replica, req: PlainRequest, deadlineMs: number, how: CallEntry["how"]): Promise<PlainResponse | undefined> {
    this.s.record.count("calls");
    const sent = (req.observed?.composite?.resource as JsonObject).status as JsonObject | undefined;
    const entry: CallEntry = { at: seconds(this.s.record.now()), replica: replica.name, how, trigger: triggerOf(req), sent: summary(sent), reply: "" };
    if (this.journal.length < JOURNAL) this.journal.push(entry);
    try {
      const rsp = await this.s.replicas.call(replica, req, deadlineMs);
      this.s.transcript.push(JSON.stringify(rsp));
      const reasons = [...(rsp.results ?? []).map((r) => r.reason), ...(rsp.conditions ?? []).map((c) => c.reason)].join(",");
      entry.reply = `${summary(statusOf(rsp))} [${reasons}] at ${seconds(this.s.record.now())}`;
      return rsp;
    } catch (e) {
      const code = isServiceError(e) ? e.code : undefined;
      const gaveUp = code === grpcStatus.DEADLINE_EXCEEDED && deadlineMs < this.s.callDeadlineMs;
      if (gaveUp) this.s.record.event("giveUp", `${this.name} after ${deadlineMs} ms`);
      else this.s.record.count(code === grpcStatus.DEADLINE_EXCEEDED ? "calls past their deadline" : "calls failed");
      this.s.transcript.push(e instanceof Error ? e.message : String(e));
      entry.reply = `error ${code === undefined ? "" : grpcStatus[code]} at ${seconds(this.s.record.now())}`;
      return undefined;
    }
  }

  private async once(req: PlainRequest, deadlineMs: number): Promise<PlainResponse | undefined> {
    const replica = this.s.random.pick(this.s.replicas.reachable());
    if (replica === undefined) {
      this.s.record.count("calls with no replica up");
      return undefined;
    }
    return this.send(replica, req, deadlineMs, "call");
  }

  /** The same request to both replicas at once; the first reply counts, the other call runs on. */
  private async duplicate(req: PlainRequest, deadlineMs: number): Promise<PlainResponse | undefined> {
    const targets = this.s.replicas.reachable();
    if (targets.length < 2) return this.once(req, deadlineMs);
    this.s.record.event("duplicateCall", this.name);
    const calls = targets.map((r) => this.track(this.send(r, req, deadlineMs, "duplicate")));
    return new Promise((resolve) => {
      let left = calls.length;
      for (const call of calls) {
        void call.then((rsp) => {
          left -= 1;
          if (rsp !== undefined || left === 0) resolve(rsp);
        });
      }
    });
  }

  /** An older request again, from a core that lags behind; what it answers is dropped. */
  private replay(): void {
    const old = this.s.random.pick(this.history.slice(0, -2));
    const replica = this.s.random.pick(this.s.replicas.reachable());
    if (old === undefined || replica === undefined) return;
    this.s.record.event("replayOldCall", `${this.name} with trigger ${triggerOf(old)}`);
    this.track(this.send(replica, old, this.s.callDeadlineMs, "replay"));
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
    return p;
  }
}
