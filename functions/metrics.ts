// Prometheus metrics: calls, latency and results per function, and per SecretRotation gauges read from each
// call's XR and response. Label values are bounded: function names come from a fixed set, per-rotation series
// are capped and expire when Crossplane stops calling for that XR. No secret value is ever a label or a value.
import { createServer, type Server } from "node:http";
import { Severity, type RunFunctionRequest, type RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { handlers, inputKind } from "./router.ts";
import { REFUSAL_REASONS, type RefusalReason } from "./server.ts";
import { observeRotation, type RotationObservation } from "./secret-rotation/observe.ts";

export type Outcome = "ok" | "fatal" | "error";

/** Per-rotation series kept at most; the least recently refreshed goes first. */
export const MAX_ROTATION_SERIES = 10_000;
/** A series outlives the call that refreshed it by twice that call's TTL (at most an hour: Crossplane reconciles
 * every XR at least hourly) plus this margin, so a deleted SecretRotation's series go within about 2 h. */
const EXPIRY_MARGIN_S = 300;
const MAX_REFRESH_S = 3600;

interface RotationEntry extends RotationObservation {
  expiresAtMs: number;
}

const SEVERITY: Record<number, string> = {
  [Severity.SEVERITY_FATAL]: "fatal",
  [Severity.SEVERITY_WARNING]: "warning",
  [Severity.SEVERITY_NORMAL]: "normal",
};

const names = new Map<string, string>();
/** `DatabasePolicy` → `database`, `SecretRotationPolicy` → `secret-rotation`; any input we do not serve → `unknown`. */
export function functionName(req: RunFunctionRequest): string {
  const kind = inputKind(req) ?? "";
  let n = names.get(kind);
  if (n === undefined) {
    n = handlers.has(kind)
      ? kind
          .slice(kind.lastIndexOf("/") + 1)
          .replace(/Policy$/, "")
          .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
          .toLowerCase()
      : "unknown";
    if (names.size < 100) names.set(kind, n);
  }
  return n;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly rotationsByXr = new Map<string, RotationEntry>();
  private readonly calls: Counter<"function" | "outcome">;
  private readonly duration: Histogram<"function">;
  private readonly results: Counter<"function" | "severity">;
  private readonly rotations: Counter<"outcome">;
  private readonly refusals: Counter<"reason">;
  private readonly maxSeries: number;
  private readonly now: () => number;

  constructor(opts: { now?: () => number; processMetrics?: boolean; maxRotationSeries?: number } = {}) {
    this.now = opts.now ?? Date.now;
    const registers = [this.registry];
    this.calls = new Counter({ name: "azplatform_function_calls_total", help: "RunFunction calls by function and outcome (ok, fatal: a Fatal result, error: an unexpected exception).", labelNames: ["function", "outcome"], registers });
    this.duration = new Histogram({
      name: "azplatform_function_call_duration_seconds",
      help: "RunFunction latency by function.",
      labelNames: ["function"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.results = new Counter({ name: "azplatform_function_results_total", help: "Results returned to Crossplane, by function and severity.", labelNames: ["function", "severity"], registers });
    this.rotations = new Counter({ name: "azplatform_rotations_total", help: "Rotations this replica carried out (succeeded) or attempted and failed.", labelNames: ["outcome"], registers });
    this.refusals = new Counter({
      name: "azplatform_function_requests_refused_total",
      help: "Requests refused before any function ran, by reason: malformed (not a RunFunctionRequest), too_deep (nested deeper than the codec allows), too_large (larger than --max-recv-message-size).",
      labelNames: ["reason"],
      registers,
    });
    // Every reason at 0 from the start, so the first refusal is an increase.
    for (const reason of REFUSAL_REASONS) this.refusals.inc({ reason }, 0);
    this.maxSeries = opts.maxRotationSeries ?? MAX_ROTATION_SERIES;
    const perXr = (name: string, help: string, value: (e: RotationEntry) => number | undefined) => {
      const entries = () => this.liveRotations();
      new Gauge({
        name,
        help,
        labelNames: ["namespace", "name", "team"],
        registers,
        collect() {
          this.reset();
          for (const e of entries()) {
            const v = value(e);
            if (v !== undefined) this.set({ namespace: e.namespace, name: e.name, team: e.team }, v);
          }
        },
      });
    };
    perXr("azplatform_rotation_failing", "1 while the SecretRotation's last attempt failed and it waits to retry.", (e) => (e.failing ? 1 : 0));
    perXr("azplatform_rotation_seconds_since_last_success", "Seconds since the SecretRotation last rotated (absent before its first rotation).", (e) =>
      e.lastSuccessMs === undefined ? undefined : Math.max(0, (this.now() - e.lastSuccessMs) / 1000),
    );
    perXr("azplatform_rotation_max_age_seconds", "The longest gap between rotations the SecretRotation's schedule allows.", (e) => e.maxAgeSeconds);
    perXr("azplatform_rotation_next_due_timestamp_seconds", "When the SecretRotation's next rotation is due (unix seconds).", (e) => (e.nextDueMs === undefined ? undefined : e.nextDueMs / 1000));
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Records one call. `threw` is true when the handler raised instead of answering. */
  observe(req: RunFunctionRequest, rsp: RunFunctionResponse, seconds: number, threw: boolean): void {
    const fn = functionName(req);
    let fatal = false;
    for (const r of rsp.results) {
      const severity = SEVERITY[r.severity] ?? "normal";
      if (severity === "fatal") fatal = true;
      this.results.inc({ function: fn, severity });
    }
    this.calls.inc({ function: fn, outcome: threw ? "error" : fatal ? "fatal" : "ok" });
    this.duration.observe({ function: fn }, seconds);
    if (fn === "secret-rotation" && !threw) {
      const o = observeRotation(req, rsp, new Date(this.now()));
      if (o !== undefined) this.recordRotation(o);
    }
  }

  /** Records a request refused before any function ran (server.ts). */
  refused(reason: RefusalReason): void {
    this.refusals.inc({ reason });
  }

  private recordRotation(o: RotationObservation): void {
    if (o.attempt !== undefined) this.rotations.inc({ outcome: o.attempt });
    const key = `${o.namespace}/${o.name}`;
    // Delete first so the Map's order is least recently refreshed first.
    this.rotationsByXr.delete(key);
    this.rotationsByXr.set(key, { ...o, expiresAtMs: this.now() + (2 * Math.min(o.ttlSeconds, MAX_REFRESH_S) + EXPIRY_MARGIN_S) * 1000 });
    while (this.rotationsByXr.size > this.maxSeries) {
      const oldest = this.rotationsByXr.keys().next().value;
      if (oldest === undefined) break;
      this.rotationsByXr.delete(oldest);
    }
  }

  private liveRotations(): RotationEntry[] {
    const nowMs = this.now();
    for (const [k, e] of this.rotationsByXr) if (e.expiresAtMs <= nowMs) this.rotationsByXr.delete(k);
    return [...this.rotationsByXr.values()];
  }
}

/** Serves `GET /metrics` (and `/healthz`) on `address` (`host:port`); resolves with the bound port. */
export function serveMetrics(metrics: Metrics, address: string): Promise<{ port: number; server: Server }> {
  const i = address.lastIndexOf(":");
  const host = address.slice(0, i).replace(/^\[(.*)\]$/, "$1") || "0.0.0.0";
  const port = Number(address.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    return Promise.reject(new Error(`--metrics-address must be host:port, got "${address}"`));
  }
  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url?.split("?")[0] === "/metrics") {
      metrics.registry.metrics().then(
        (body) => {
          res.writeHead(200, { "content-type": metrics.registry.contentType });
          res.end(body);
        },
        (e: unknown) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(`cannot collect metrics: ${e instanceof Error ? e.message : String(e)}\n`);
        },
      );
      return;
    }
    res.writeHead(req.url === "/healthz" ? 200 : 404, { "content-type": "text/plain" });
    res.end(req.url === "/healthz" ? "ok\n" : "not found; metrics are at /metrics\n");
  });
  return new Promise((resolve, reject) => {
    server.once("error", (e) => reject(new Error(`cannot listen on ${address} for metrics: ${e.message}`)));
    server.listen(port, host, () => {
      const a = server.address();
      resolve({ port: typeof a === "object" && a !== null ? a.port : port, server });
    });
  });
}
