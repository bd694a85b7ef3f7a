// The ArgoCD settings in deploy/argocd/argocd-cm-health.yaml: the file is a valid argocd-cm merge patch with the
// keys docs/argocd.md describes, and both Lua health checks give the expected {status, message} for realistic live
// Database and SecretRotation objects. The checks run in a real Lua 5.1 interpreter (Debian's lua5.1, as ArgoCD's
// gopher-lua implements Lua 5.1), inside test/argocd/harness.lua, a sandbox with only the globals ArgoCD gives a
// custom health check. Objects reach Lua as table literals generated from JSON here, the shape ArgoCD hands over.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

type Json = null | boolean | number | string | Json[] | JsonObject;
interface JsonObject {
  [key: string]: Json;
}
interface Health {
  status: string;
  message: string;
}
type Kind = "Database" | "SecretRotation";

const repoRoot = join(import.meta.dirname, "../..");
const CONFIGMAP = join(repoRoot, "deploy/argocd/argocd-cm-health.yaml");
const HARNESS = join(import.meta.dirname, "harness.lua");
const HEALTH_KEY: Record<Kind, string> = {
  Database: "resource.customizations.health.azplatform.io_Database",
  SecretRotation: "resource.customizations.health.azplatform.io_SecretRotation",
};
/** The statuses ArgoCD accepts from a health script; anything else becomes Unknown with an error message. */
const STATUSES = new Set(["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"]);
/** What ArgoCD's Lua VM has besides the script's own locals: the base library, table, a safe os, package. */
const ARGOCD_GLOBALS = new Set([
  "obj", "assert", "collectgarbage", "error", "getfenv", "getmetatable", "ipairs", "load", "loadstring", "next", "pairs", "pcall", "print",
  "rawequal", "rawget", "rawset", "select", "setfenv", "setmetatable", "tonumber", "tostring", "type", "unpack", "xpcall", "_G", "_VERSION",
  "table", "os", "package", "require",
]);

// ---------------------------------------------------------------------------------------------------------------
// The ConfigMap

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function configMap(): Record<string, unknown> {
  const doc: unknown = parse(readFileSync(CONFIGMAP, "utf8"));
  if (!isRecord(doc)) throw new Error(`${CONFIGMAP} is not a YAML mapping`);
  return doc;
}

/** data of the ConfigMap; every value must be a string, as in any ConfigMap. */
function data(): Record<string, string> {
  const d = configMap().data;
  if (!isRecord(d)) throw new Error(`${CONFIGMAP} has no data mapping`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(d)) {
    if (typeof v !== "string") throw new Error(`data.${k} is a ${typeof v}, not a string`);
    out[k] = v;
  }
  return out;
}

function script(kind: Kind): string {
  const s = data()[HEALTH_KEY[kind]];
  if (s === undefined) throw new Error(`${CONFIGMAP} has no data key ${HEALTH_KEY[kind]}`);
  return s;
}

// ---------------------------------------------------------------------------------------------------------------
// JSON -> Lua 5.1 literals

/** A Lua 5.1 string literal: printable ASCII as is, every other byte (UTF-8 included) as a three-digit \ddd escape. */
function luaString(s: string): string {
  let out = '"';
  for (const byte of Buffer.from(s, "utf8")) {
    if (byte === 0x22) out += '\\"';
    else if (byte === 0x5c) out += "\\\\";
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    // Always three digits: "\0" followed by a digit would otherwise read as a different byte.
    else out += `\\${String(byte).padStart(3, "0")}`;
  }
  return `${out}"`;
}

/**
 * A Lua table constructor for a JSON value, as ArgoCD converts an object for its Lua VM (decodeValue in argo-cd's
 * util/lua): arrays become sequences, objects become tables keyed by string, null becomes nil, so an object key with
 * null is absent and a null array element is skipped (gopher-lua's LTable.Append drops nil). An empty object and an
 * empty array are both {}; Lua, and ArgoCD, cannot tell them apart either.
 */
function luaLiteral(value: Json): string {
  if (value === null) return "nil";
  if (typeof value === "boolean") return String(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`${value} has no JSON form`);
    return String(value);
  }
  if (typeof value === "string") return luaString(value);
  if (Array.isArray(value)) return `{${value.flatMap((v) => (v === null ? [] : [luaLiteral(v)])).join(", ")}}`;
  return `{${Object.entries(value)
    .map(([k, v]) => `[${luaString(k)}] = ${luaLiteral(v)}`)
    .join(", ")}}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Running Lua

function run(binary: "lua5.1" | "luac5.1", args: string[], input: string): string {
  const r = spawnSync(binary, args, { input, encoding: "utf8", timeout: 10_000 });
  if (r.error !== undefined) {
    if ((r.error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new Error(
        `${binary} is not installed. Install Debian's lua5.1 package (apt-get install lua5.1): these tests run the ArgoCD health checks in a real Lua 5.1 interpreter.`,
      );
    }
    throw r.error;
  }
  if (r.status !== 0) throw new Error(`${binary} ${args.join(" ")} exited with ${String(r.status)}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Runs the harness; returns the lines after its "ok", or throws what the script raised. */
function harness(mode: "check" | "run", kind: Kind, object: Json): string[] {
  const chunk = `return { script = ${luaString(script(kind))}, object = ${luaLiteral(object)} }`;
  const [tag, ...rest] = run("lua5.1", [HARNESS, mode], chunk).split("\n");
  if (tag !== "ok") throw new Error(`the ${kind} health check failed in Lua: ${rest.join("\n")}`);
  return rest;
}

function health(kind: Kind, object: Json): Health {
  const [status = "", ...message] = harness("run", kind, object);
  return { status, message: message.join("\n") };
}

/** Global names the script reads and writes, from the bytecode listing of luac5.1. */
function globals(kind: Kind): { read: Set<string>; written: Set<string> } {
  const listing = run("luac5.1", ["-p", "-l", "-"], script(kind));
  const read = new Set<string>();
  const written = new Set<string>();
  for (const m of listing.matchAll(/\t(GETGLOBAL|SETGLOBAL)\t.*; (\S+)$/gm)) (m[1] === "GETGLOBAL" ? read : written).add(m[2] ?? "");
  return { read, written };
}

// ---------------------------------------------------------------------------------------------------------------
// Live objects, as the API server returns them after Crossplane and the function wrote their status

const CREATED = "2026-03-02T09:14:07Z";
const CHANGED = "2026-03-02T09:31:42Z";
const GENERATION = 3;
const SERVER = "pg-payments-orders-prod-edfe87";
const FQDN = `${SERVER}.prod.private.postgres.database.azure.com`;

/** A status condition. Crossplane's own (Synced, Ready) carry observedGeneration; the function's do not. */
function cond(type: string, status: "True" | "False" | "Unknown", reason: string, message?: string): JsonObject {
  return {
    type,
    status,
    reason,
    lastTransitionTime: CHANGED,
    ...(message !== undefined ? { message } : {}),
    ...(type === "Synced" || type === "Ready" ? { observedGeneration: GENERATION } : {}),
  };
}

const SYNCED = cond("Synced", "True", "ReconcileSuccess");
const AVAILABLE = cond("Ready", "True", "Available");
const PAUSED = cond("Synced", "False", "ReconcilePaused", "Reconciliation (including deletion) is paused via the pause annotation");
const DELETING = cond("Ready", "False", "Deleting");
/** Conditions the function set before a Fatal result, which Crossplane marks Unknown. */
const fatalUnknown = (type: string) => cond(type, "Unknown", "FatalError", "A fatal error occurred before the status of this condition could be determined.");

function metadata(kind: Kind, name: string, extra: JsonObject): JsonObject {
  return {
    name,
    namespace: "team-payments",
    uid: kind === "Database" ? "5b0f1c9e-7d4a-4f0e-9a51-2c8e6f3d1a77" : "c41e2f70-93b8-4d1a-b6f2-0e7a9d35c812",
    generation: GENERATION,
    resourceVersion: "918273",
    creationTimestamp: CREATED,
    labels: { "azplatform.io/cost-center": "cc-4711", "crossplane.io/composite": name },
    annotations: { "argocd.argoproj.io/tracking-id": `payments-${name}:azplatform.io/${kind}:team-payments/${name}` },
    finalizers: ["composite.apiextensions.crossplane.io"],
    ...extra,
  };
}

function database(status: Json | undefined, meta: JsonObject = {}): JsonObject {
  return {
    apiVersion: "azplatform.io/v1alpha1",
    kind: "Database",
    metadata: metadata("Database", "orders", meta),
    spec: {
      team: "payments",
      size: "medium",
      version: "16",
      storageGB: 128,
      highAvailability: false,
      databases: ["orders", "orders_audit"],
      connectionSecretName: "orders-db",
      crossplane: {
        compositionRef: { name: "database-postgres" },
        compositionRevisionRef: { name: "database-postgres-6f1c2a9" },
        compositionUpdatePolicy: "Automatic",
        resourceRefs: [
          { apiVersion: "dbforpostgresql.azure.m.upbound.io/v1beta1", kind: "FlexibleServer", name: SERVER },
          { apiVersion: "dbforpostgresql.azure.m.upbound.io/v1beta1", kind: "FlexibleServerDatabase", name: `${SERVER}-orders` },
          { apiVersion: "v1", kind: "Secret", name: "orders-db" },
        ],
      },
    },
    ...(status !== undefined ? { status } : {}),
  };
}

/** A Database status as the function writes it, with the given conditions. */
function dbStatus(conditions: JsonObject[], withFqdn = true): JsonObject {
  return { conditions, serverName: SERVER, ...(withFqdn ? { fqdn: FQDN } : {}), connectionSecretName: "orders-db", version: "16", storageGB: 128 };
}

const DB_READY = cond("DatabaseReady", "True", "Available", `server ${SERVER} and 2 database(s) are ready; connect with Secret orders-db`);
const APPLIED = cond("ChangesApplied", "True", "Applied", "the Database spec and the DBA policy are applied");
const WAITING_SERVER = `waiting for FlexibleServer ${SERVER}: Creating; FlexibleServerDatabase orders: not created yet; FlexibleServerDatabase orders_audit: not created yet`;
const DOWNGRADE = 'spec.version: "15" would downgrade the server from "16"; PostgreSQL cannot be downgraded in place, so it stays on "16"';
const QUOTA = `waiting for FlexibleServer ${SERVER}: not synced: ReconcileError (cannot create: quota exceeded for Standard_D4ds_v5 in westeurope)`;
const DB_FATAL =
  'cannot compose resources: pipeline step "provision-postgres" returned a fatal result: spec.size "xlarge" is not allowed; choose one of small, medium, large';

function secretRotation(status: JsonObject | undefined, meta: JsonObject = {}): JsonObject {
  return {
    apiVersion: "azplatform.io/v1alpha1",
    kind: "SecretRotation",
    metadata: metadata("SecretRotation", "orders-app-password", meta),
    spec: {
      team: "payments",
      secretRef: { name: "orders-app-db", key: "password" },
      schedule: "0 3 * * 1",
      generator: { length: 40, symbols: false },
      targets: { postgresRole: { name: "orders_app", strategy: "alternating", adminSecretRef: { name: "orders-db" } } },
      consumers: { selector: { matchLabels: { "app.kubernetes.io/part-of": "orders" } } },
      crossplane: { compositionRef: { name: "secret-rotation" }, compositionRevisionRef: { name: "secret-rotation-2b7d0e4" }, compositionUpdatePolicy: "Automatic" },
    },
    ...(status !== undefined ? { status } : {}),
  };
}

const NEXT = "2026-03-09T03:00:00.000Z";
const ROTATED_AT = "2026-03-02T03:00:04.117Z";
const RETRY_AT = "2026-03-02T09:32:12.000Z";
const ROTATED = cond("RotationSucceeded", "True", "Rotated", `version 3, rotated at ${ROTATED_AT}; next rotation at ${NEXT}`);
const NOT_ROTATED = cond("RotationSucceeded", "True", "NotRotatedYet", `next rotation at ${NEXT}`);
const CREATING = cond("Ready", "False", "Creating");
const FAILURE = `Set failed: cannot connect to PostgreSQL at ${FQDN}:5432 to set the password of role "orders_app_clone": ECONNREFUSED; the apps keep version 3, retrying at ${RETRY_AT} (attempt 2)`;
const HANDOVER =
  "waiting for apiextensions.crossplane.io/composed/3f2a9c (data.password) to stop writing Secret orders-app-db; a Database hands its keys over on its next reconcile, any other writer must stop applying them";
const SR_FATAL =
  'cannot compose resources: pipeline step "rotate" returned a fatal result: spec.targets.postgresRole.name "postgres" is not allowed by the policy; allowed: *_app (never azure_* or pg_*)';

const idle = { phase: "Idle", currentVersion: 3, lastRotatedAt: ROTATED_AT, nextRotationAt: NEXT, schedule: "0 3 * * 1", handledTrigger: "1772441000" };
const failed = { ...idle, phase: "Failed", retryAt: RETRY_AT, lastError: FAILURE, nextRotationAt: null };
const waiting = { ...idle, phase: "Waiting", nextRotationAt: null };

// ---------------------------------------------------------------------------------------------------------------

describe("deploy/argocd/argocd-cm-health.yaml", () => {
  it("is a merge patch for argocd-cm in namespace argocd, labelled part of ArgoCD", () => {
    const cm = configMap();
    expect({ apiVersion: cm.apiVersion, kind: cm.kind, metadata: cm.metadata }).toEqual({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "argocd-cm", namespace: "argocd", labels: { "app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd" } },
    });
  });

  it("has exactly the keys docs/argocd.md describes, with annotation tracking", () => {
    const d = data();
    expect(Object.keys(d).sort()).toEqual([
      "application.resourceTrackingMethod",
      "resource.customizations.health.azplatform.io_Database",
      "resource.customizations.health.azplatform.io_SecretRotation",
      "resource.customizations.ignoreDifferences.azplatform.io_Database",
      "resource.customizations.ignoreDifferences.azplatform.io_SecretRotation",
    ]);
    expect(d["application.resourceTrackingMethod"]).toBe("annotation");
  });

  it.each(["Database", "SecretRotation"])("ignores only spec.crossplane.resourceRefs in %s diffs", (kind) => {
    expect(parse(data()[`resource.customizations.ignoreDifferences.azplatform.io_${kind}`] ?? "")).toEqual({ jsonPointers: ["/spec/crossplane/resourceRefs"] });
  });

  it.each(["Database", "SecretRotation"] as const)("the %s health check is valid Lua 5.1", (kind) => {
    expect(harness("check", kind, null)).toEqual(["compiled", ""]);
  });

  it.each(["Database", "SecretRotation"] as const)("the %s health check uses only globals ArgoCD provides and sets none", (kind) => {
    const { read, written } = globals(kind);
    expect([...read].filter((g) => !ARGOCD_GLOBALS.has(g))).toEqual([]);
    expect([...written]).toEqual([]);
    expect(read.has("obj")).toBe(true);
  });

  it("both health checks share the same helpers", () => {
    const helpers = (kind: Kind) => /-- BEGIN shared helpers[\s\S]*-- END shared helpers/.exec(script(kind))?.[0];
    expect(helpers("Database")).toBeDefined();
    expect(helpers("Database")).toBe(helpers("SecretRotation"));
  });
});

interface Case {
  name: string;
  object: Json;
  want: Health;
}

const databaseCases: Case[] = [
  {
    name: "just created: no status at all",
    object: database(undefined),
    want: { status: "Progressing", message: "waiting for Crossplane to report the Database's status" },
  },
  {
    name: "status without conditions",
    object: database({ serverName: SERVER, connectionSecretName: "orders-db" }),
    want: { status: "Progressing", message: "waiting for Crossplane to report the Database's status" },
  },
  {
    name: "status with an empty conditions list",
    object: database({ conditions: [] }),
    want: { status: "Progressing", message: "waiting for Crossplane to report the Database's status" },
  },
  {
    name: "creating, before the function reported: Crossplane's Ready=False/Creating",
    object: database({ conditions: [SYNCED, cond("Ready", "False", "Creating", "Unready resources: flexible-server")] }),
    want: { status: "Progressing", message: "Unready resources: flexible-server" },
  },
  {
    name: "creating: Ready=False/Creating, DatabaseReady says what it waits for",
    object: database(
      dbStatus([SYNCED, cond("Ready", "False", "Creating", "Unready resources: database-orders, database-orders-audit, flexible-server"), cond("DatabaseReady", "False", "Creating", WAITING_SERVER), APPLIED], false),
    ),
    want: { status: "Progressing", message: WAITING_SERVER },
  },
  {
    name: "looking up the connection Secret (DatabaseReady=False/ConnectionSecretMissing)",
    object: database(dbStatus([SYNCED, CREATING, cond("DatabaseReady", "False", "ConnectionSecretMissing", "looking up connection Secret orders-db"), APPLIED])),
    want: { status: "Progressing", message: "looking up connection Secret orders-db" },
  },
  {
    name: "Ready=True while the function still waits for the connection Secret",
    object: database(dbStatus([SYNCED, AVAILABLE, cond("DatabaseReady", "False", "Creating", "waiting for Secret orders-db: not created yet"), APPLIED])),
    want: { status: "Progressing", message: "waiting for Secret orders-db: not created yet" },
  },
  {
    name: "ready",
    object: database(dbStatus([SYNCED, AVAILABLE, DB_READY, APPLIED])),
    want: { status: "Healthy", message: `server ${SERVER} and 2 database(s) are ready; connect with Secret orders-db` },
  },
  {
    name: "ready, before the function's conditions exist",
    object: database({ conditions: [SYNCED, AVAILABLE] }),
    want: { status: "Healthy", message: "the Database is ready" },
  },
  {
    name: "a function step returned a Fatal result: Synced=False/ReconcileError, Ready still True from before",
    object: database(dbStatus([cond("Synced", "False", "ReconcileError", DB_FATAL), AVAILABLE, fatalUnknown("DatabaseReady"), fatalUnknown("ChangesApplied")])),
    want: { status: "Degraded", message: DB_FATAL },
  },
  {
    name: "a composed resource is not synced: Crossplane names it, DatabaseReady says why",
    object: database(
      dbStatus([cond("Synced", "False", "ReconcileError", "Unsynced resources: flexible-server"), cond("Ready", "False", "Creating", "Unready resources: flexible-server"), cond("DatabaseReady", "False", "Creating", QUOTA), APPLIED], false),
    ),
    want: { status: "Degraded", message: `Unsynced resources: flexible-server; ${QUOTA}` },
  },
  {
    name: "Synced=False without a message",
    object: database({ conditions: [cond("Synced", "False", "ReconcileError"), CREATING] }),
    want: { status: "Degraded", message: "Crossplane cannot reconcile the Database" },
  },
  {
    name: "ChangesApplied=False while serving: Degraded, and says the database still serves",
    object: database(dbStatus([SYNCED, AVAILABLE, DB_READY, cond("ChangesApplied", "False", "ChangeRefused", DOWNGRADE)])),
    want: { status: "Degraded", message: `the database keeps serving, but a change was refused: ${DOWNGRADE}` },
  },
  {
    name: "ChangesApplied=False while not ready",
    object: database(
      dbStatus([SYNCED, CREATING, cond("DatabaseReady", "False", "Creating", "waiting for FlexibleServer pg-payments-orders-prod-edfe87: Updating"), cond("ChangesApplied", "False", "ChangeRefused", DOWNGRADE)]),
    ),
    want: { status: "Degraded", message: `a change was refused: ${DOWNGRADE}` },
  },
  {
    name: "Ready=False/Unavailable after having been available",
    object: database(dbStatus([SYNCED, cond("Ready", "False", "Unavailable", "Unready resources: flexible-server"), DB_READY, APPLIED])),
    want: { status: "Degraded", message: "Unready resources: flexible-server" },
  },
  {
    name: "the spec changed and Crossplane has not reconciled it yet",
    object: database(dbStatus([SYNCED, AVAILABLE, DB_READY, APPLIED]), { generation: 4 }),
    want: { status: "Progressing", message: "waiting for Crossplane to reconcile generation 4 (the status describes generation 3)" },
  },
  {
    name: "paused",
    object: database(dbStatus([PAUSED, AVAILABLE, DB_READY, APPLIED]), {
      annotations: { "argocd.argoproj.io/tracking-id": "payments-orders:azplatform.io/Database:team-payments/orders", "crossplane.io/paused": "true" },
    }),
    want: { status: "Suspended", message: "Crossplane reconciliation is paused (annotation crossplane.io/paused)" },
  },
  {
    name: "unpaused, before Crossplane's next reconcile clears ReconcilePaused",
    object: database(dbStatus([PAUSED, AVAILABLE, DB_READY, APPLIED])),
    want: { status: "Suspended", message: "Crossplane reconciliation is paused (annotation crossplane.io/paused)" },
  },
  {
    name: "paused while being deleted",
    object: database(dbStatus([PAUSED, AVAILABLE, DB_READY, APPLIED]), {
      annotations: { "crossplane.io/paused": "true" },
      deletionTimestamp: "2026-03-02T10:02:55Z",
      deletionGracePeriodSeconds: 0,
    }),
    want: { status: "Suspended", message: "Crossplane reconciliation is paused (annotation crossplane.io/paused); the deletion waits until it is removed" },
  },
  {
    name: "being deleted",
    object: database(dbStatus([SYNCED, DELETING, DB_READY, APPLIED]), {
      deletionTimestamp: "2026-03-02T10:02:55Z",
      deletionGracePeriodSeconds: 0,
      finalizers: ["foregroundDeletion", "composite.apiextensions.crossplane.io"],
    }),
    want: {
      status: "Progressing",
      message: "Database is being deleted since 2026-03-02T10:02:55Z; waiting for finalizers foregroundDeletion, composite.apiextensions.crossplane.io",
    },
  },
  {
    name: "messages reach ArgoCD byte for byte (quotes, backslashes, newlines, UTF-8, Lua brackets)",
    object: database(dbStatus([SYNCED, AVAILABLE, cond("DatabaseReady", "True", "Available", 'say "hi" \\ [[x]] ]==] \\009\n\ttab\r\nnull\u0000 größe ✓ 🐘'), APPLIED])),
    want: { status: "Healthy", message: 'say "hi" \\ [[x]] ]==] \\009\n\ttab\r\nnull\u0000 größe ✓ 🐘' },
  },
];

const secretRotationCases: Case[] = [
  {
    name: "just created: no status at all",
    object: secretRotation(undefined),
    want: { status: "Progressing", message: "waiting for Crossplane to report the SecretRotation's status" },
  },
  {
    name: "status without conditions",
    object: secretRotation({ phase: "Idle" }),
    want: { status: "Progressing", message: "waiting for Crossplane to report the SecretRotation's status" },
  },
  {
    name: "first reconcile under way: Ready=False/Creating, no RotationSucceeded yet",
    object: secretRotation({ conditions: [SYNCED, CREATING] }),
    want: { status: "Progressing", message: "waiting for the SecretRotation to become ready" },
  },
  {
    name: "idle after a rotation",
    object: secretRotation({ conditions: [SYNCED, AVAILABLE, ROTATED], ...idle }),
    want: { status: "Healthy", message: `version 3, rotated at ${ROTATED_AT}; next rotation at ${NEXT}` },
  },
  {
    name: "idle, not rotated yet",
    object: secretRotation({ conditions: [SYNCED, AVAILABLE, NOT_ROTATED], ...idle, currentVersion: 0, lastRotatedAt: null }),
    want: { status: "Healthy", message: `next rotation at ${NEXT}` },
  },
  {
    name: "waiting for a hand-over: phase Waiting, RotationSucceeded=False/Waiting",
    object: secretRotation({ conditions: [SYNCED, CREATING, cond("RotationSucceeded", "False", "Waiting", HANDOVER)], ...waiting }),
    want: { status: "Progressing", message: HANDOVER },
  },
  {
    name: "phase Waiting without the condition",
    object: secretRotation({ conditions: [SYNCED, CREATING], ...waiting }),
    want: { status: "Progressing", message: "waiting for the Secret's other writers to let go of its keys" },
  },
  {
    name: "rotation failed (RotationSucceeded=False/RotationFailed); the previous value still works, still Degraded",
    object: secretRotation({ conditions: [SYNCED, CREATING, cond("RotationSucceeded", "False", "RotationFailed", FAILURE)], ...failed }),
    want: { status: "Degraded", message: `rotation failed: ${FAILURE}` },
  },
  {
    name: "phase Failed: the message is lastError",
    object: secretRotation({ conditions: [SYNCED, CREATING], ...failed }),
    want: { status: "Degraded", message: `rotation failed: ${FAILURE}` },
  },
  {
    name: "phase Failed without lastError",
    object: secretRotation({ conditions: [SYNCED, CREATING], phase: "Failed" }),
    want: { status: "Degraded", message: "rotation failed: the last attempt failed" },
  },
  {
    name: "a function step returned a Fatal result: Synced=False/ReconcileError",
    object: secretRotation({ conditions: [cond("Synced", "False", "ReconcileError", SR_FATAL), AVAILABLE, fatalUnknown("RotationSucceeded")], ...idle }),
    want: { status: "Degraded", message: SR_FATAL },
  },
  {
    name: "the spec changed and Crossplane has not reconciled it yet",
    object: secretRotation({ conditions: [SYNCED, AVAILABLE, ROTATED], ...idle }, { generation: 5 }),
    want: { status: "Progressing", message: "waiting for Crossplane to reconcile generation 5 (the status describes generation 3)" },
  },
  {
    name: "paused",
    object: secretRotation({ conditions: [PAUSED, AVAILABLE, ROTATED], ...idle }, { annotations: { "crossplane.io/paused": "true", "azplatform.io/rotate-now": "1772441000" } }),
    want: { status: "Suspended", message: "Crossplane reconciliation is paused (annotation crossplane.io/paused)" },
  },
  {
    name: "crossplane.io/paused: \"false\" is not paused",
    object: secretRotation({ conditions: [SYNCED, AVAILABLE, ROTATED], ...idle }, { annotations: { "crossplane.io/paused": "false" } }),
    want: { status: "Healthy", message: `version 3, rotated at ${ROTATED_AT}; next rotation at ${NEXT}` },
  },
  {
    name: "being deleted",
    object: secretRotation({ conditions: [SYNCED, DELETING, ROTATED], ...idle }, { deletionTimestamp: "2026-03-02T10:02:55Z", deletionGracePeriodSeconds: 0 }),
    want: { status: "Progressing", message: "SecretRotation is being deleted since 2026-03-02T10:02:55Z; waiting for finalizers composite.apiextensions.crossplane.io" },
  },
];

/** Objects no API server would return; the scripts must still answer, since a Lua error shows up as an error in ArgoCD. */
const strangeCases: (Case & { kind: Kind })[] = [
  { kind: "Database", name: "obj without metadata, spec or status", object: { kind: "Database" }, want: { status: "Progressing", message: "waiting for Crossplane to report the Database's status" } },
  { kind: "Database", name: "status is a string", object: database("Ready"), want: { status: "Progressing", message: "waiting for Crossplane to report the Database's status" } },
  { kind: "Database", name: "conditions is a string", object: database({ conditions: "Ready=True" }), want: { status: "Progressing", message: "waiting for Crossplane to report the Database's status" } },
  {
    kind: "Database",
    name: "conditions is a map, not a list",
    object: database({ conditions: { Ready: { status: "True" } } }),
    want: { status: "Progressing", message: "waiting for the Database to become ready" },
  },
  {
    kind: "Database",
    name: "conditions with a number, a string, null, one without type and one with a boolean status",
    object: database({ conditions: [42, "Ready", null, { status: "True", reason: "Available" }, { type: "Ready", status: true }, { type: "Synced", status: "False", message: { text: "x" } }] }),
    want: { status: "Degraded", message: "Crossplane cannot reconcile the Database" },
  },
  {
    kind: "Database",
    name: "metadata, annotations and finalizers of the wrong types",
    object: { ...database({ conditions: [SYNCED, AVAILABLE] }), metadata: { annotations: ["crossplane.io/paused"], finalizers: "x", deletionTimestamp: 1772445775, generation: "4" } },
    want: { status: "Progressing", message: "Database is being deleted" },
  },
  {
    kind: "Database",
    name: "metadata is a string; Ready is True",
    object: { ...database({ conditions: [AVAILABLE] }), metadata: "orders" },
    want: { status: "Healthy", message: "the Database is ready" },
  },
  {
    kind: "Database",
    name: "paused annotation is a boolean, not the string \"true\"",
    object: database({ conditions: [SYNCED, AVAILABLE] }, { annotations: { "crossplane.io/paused": true } }),
    want: { status: "Healthy", message: "the Database is ready" },
  },
  {
    kind: "Database",
    name: "observedGeneration is a string",
    object: database({ conditions: [{ ...SYNCED, observedGeneration: "2" }, AVAILABLE] }),
    want: { status: "Healthy", message: "the Database is ready" },
  },
  { kind: "SecretRotation", name: "obj without metadata, spec or status", object: {}, want: { status: "Progressing", message: "waiting for Crossplane to report the SecretRotation's status" } },
  {
    kind: "SecretRotation",
    name: "phase, lastError and messages of the wrong types",
    object: secretRotation({ conditions: [SYNCED, { type: "RotationSucceeded", status: "False", reason: "RotationFailed", message: 7 }], phase: ["Failed"], lastError: { why: "x" } }),
    want: { status: "Degraded", message: "rotation failed: the last attempt failed" },
  },
  {
    kind: "SecretRotation",
    name: "conditions with entries missing type",
    object: secretRotation({ conditions: [{ status: "False", reason: "RotationFailed" }, { reason: "Waiting" }, AVAILABLE] }),
    want: { status: "Healthy", message: "the SecretRotation is ready" },
  },
];

describe("Database health", () => {
  it.each(databaseCases)("$name", ({ object, want }) => {
    expect(health("Database", object)).toEqual(want);
  });
});

describe("SecretRotation health", () => {
  it.each(secretRotationCases)("$name", ({ object, want }) => {
    expect(health("SecretRotation", object)).toEqual(want);
  });
});

describe("health checks on malformed objects answer instead of raising a Lua error", () => {
  it.each(strangeCases)("$kind: $name", ({ kind, object, want }) => {
    const got = health(kind, object);
    expect(STATUSES.has(got.status)).toBe(true);
    expect(got).toEqual(want);
  });
});
