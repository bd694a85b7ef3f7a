// Runs the rotation protocol against the ports: load the durable state, do the next step, save it with
// compare-and-swap, repeat. A crash or a lost reply anywhere resumes from the saved phase on the next call; a
// concurrent call for the same XR loses the compare-and-swap, reloads and continues with the winner's value.
import { rolloutAnnotation, rolloutValue } from "../shared/consumers.ts";
import { MANAGED_LABELS } from "../shared/rotation-contract.ts";
import { advanced, begun, failed, nextStep, pendingUserFor, promoted, rolled, type Clock } from "./protocol.ts";
import { AuthenticationError, ConflictError, type OwnerRef, type PostgresConnection, type Ports, type SecretView } from "./ports.ts";
import { A, STATE_LABEL, emptyState, fromSecret, stateSecretName, toSecret, type RotationState } from "./state.ts";
import type { Targets } from "./targets.ts";
import type { RotationSpec } from "./xr.ts";

export interface EngineInput {
  name: string;
  namespace: string;
  spec: RotationSpec;
  /** What the spec reaches, resolved within the namespace (targets.ts). */
  targets: Targets;
  clock: Clock;
  ports: Ports;
  /** From the step's credentials, when the policy names one; otherwise postgresRole.adminSecretRef is read. */
  postgresAdmin: PostgresConnection | undefined;
  generate: (avoid: string[]) => string;
  /** Owner of the state Secret (the XR), when its uid is known. */
  owner?: OwnerRef;
  /** Per-step deadline; STEP_TIMEOUT_MS unless a test shortens it. */
  stepTimeoutMs?: number;
}

export type Outcome =
  | { kind: "Idle"; state: RotationState; nextAt: Date; rotated: boolean; rolled: string[] }
  | { kind: "Waiting"; state: RotationState; message: string }
  | { kind: "Failed"; state: RotationState; message: string };

/** Raised when the rotation must wait for someone else (e.g. another field manager handing a key over). */
class WaitError extends Error {}

const MAX_STEPS = 12;
/**
 * No step may hang a call for ever: the Azure identity library does not pass abort signals to its token request,
 * so every step runs under its own deadline. A step cut off here is retried from its saved phase.
 */
export const STEP_TIMEOUT_MS = 90_000;

function withDeadline<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

export async function runRotation(input: EngineInput): Promise<Outcome> {
  const { spec, clock, ports } = input;
  const deadline = <T>(what: string, p: Promise<T>) => withDeadline(what, p, input.stepTimeoutMs ?? STEP_TIMEOUT_MS);
  const k8s = ports.kubernetes;
  const stateName = stateSecretName(input.name);
  const secrets = [input.postgresAdmin?.password];
  const redact = (m: string, s: RotationState) => redactSecrets(m, [...secrets, s.pending, s.current, s.previous]);

  const load = async (): Promise<RotationState> => {
    const view = await k8s.getSecret(stateName);
    return view === undefined ? emptyState() : fromSecret(view);
  };
  const save = async (next: RotationState): Promise<RotationState> => {
    const { data, annotations } = toSecret(next);
    const labels = { [STATE_LABEL]: input.name };
    const view =
      next.resourceVersion === undefined
        ? await k8s.createSecret(stateName, data, annotations, labels, input.owner)
        : await k8s.replaceSecret(stateName, next.resourceVersion, data, annotations, labels, input.owner);
    return fromSecret(view);
  };

  let state = await load();
  let rotated = false;
  let rolledNames: string[] = [];
  for (let i = 0; i < MAX_STEPS; i++) {
    const step = nextStep(state, clock);
    if (step.kind === "Wait") {
      if (step.why === "Backoff") return { kind: "Failed", state, message: state.lastError ?? "retrying after a failure" };
      return { kind: "Idle", state, nextAt: step.until, rotated, rolled: rolledNames };
    }
    try {
      let next: RotationState;
      switch (step.kind) {
        case "Begin": {
          // Reach Key Vault before anything changes: a wrong credential or vault fails here, with nothing to undo.
          const kv = input.targets.vault;
          if (kv !== undefined) await deadline(`reaching Key Vault ${kv.vaultName}`, ports.keyVault.latestTags(kv.vaultName, kv.secretName));
          const app = await adopt(input);
          const role = input.targets.role;
          // What apps read now is the truth about the current value, whatever the state remembers.
          const current = app?.data[spec.secretRef.key] ?? state.current;
          const currentUser = role?.strategy === "alternating" ? (app?.data.username ?? state.currentUser) : state.currentUser;
          const pendingUser = pendingUserFor(role?.name, role?.strategy ?? "single", currentUser);
          const pending = input.generate([pendingUser, currentUser, app?.data.username].filter((u): u is string => u !== undefined));
          // The value is durable (and marked pending) before any target changes.
          next = begun({ ...state, current, currentUser, ownedKeys: ownedKeys(spec, input.targets, app) }, step.rotationId, pending, pendingUser);
          break;
        }
        case "Set":
          await deadline("setting the new value on the targets", setTargets(input, state));
          next = advanced(state, "Set");
          break;
        case "Test":
          await deadline("testing the new value", testTargets(input, state));
          next = advanced(state, "Tested");
          break;
        case "Promote":
          await deadline("promoting the new value", promote(input, state));
          next = promoted(state, clock.now);
          rotated = true;
          break;
        case "Roll":
          rolledNames = await roll(input, state);
          next = rolled(state);
          break;
      }
      state = await save(next);
    } catch (e) {
      if (e instanceof ConflictError) {
        // Another call advanced the state first: continue from what it saved.
        state = await load();
        continue;
      }
      if (e instanceof WaitError) return { kind: "Waiting", state, message: e.message };
      const message = redact(`${step.kind === "Begin" ? "Pending" : step.kind} failed: ${e instanceof Error ? e.message : String(e)}`, state);
      try {
        state = await save(failed(state, message, clock.now));
      } catch (saveError) {
        // The step's own error matters more than the failure to record it: both go up, in the save error.
        if (saveError instanceof ConflictError) return { kind: "Failed", state, message };
        if (saveError instanceof Error) saveError.message = `${message}; the failure could not be recorded: ${saveError.message}`;
        throw saveError;
      }
      return { kind: "Failed", state, message };
    }
  }
  return { kind: "Waiting", state, message: "rotation is progressing" };
}

/** The app Secret's keys the rotation owns: the key, keys whose value embeds it (a URI), and the username when alternating. */
function ownedKeys(spec: RotationSpec, targets: Targets, app: SecretView | undefined): string[] {
  const key = spec.secretRef.key;
  const value = app?.data[key];
  const derived =
    value === undefined ? [] : Object.entries(app?.data ?? {}).filter(([k, v]) => k !== key && (v.includes(value) || v.includes(encodeURIComponent(value)))).map(([k]) => k);
  const alternating = targets.role?.strategy === "alternating" ? ["username"] : [];
  return [...new Set([key, ...derived, ...alternating])].sort();
}

/**
 * Takes over the keys of the app Secret before any value changes: applies them unchanged as the rotation's field
 * manager and marks the Secret. Another field manager (e.g. the Database's Crossplane composition) that still
 * applies a key would write the old value back after a rotation, so the rotation waits until it has let go.
 */
async function adopt(input: EngineInput): Promise<SecretView | undefined> {
  const { spec, name } = input;
  const k8s = input.ports.kubernetes;
  const app = await k8s.getSecret(spec.secretRef.name);
  if (app === undefined) return undefined;
  const by = app.annotations[A.rotatedBy];
  if (by !== undefined && by !== name) {
    throw new Error(`Secret ${spec.secretRef.name} is already rotated by SecretRotation ${by}; a Secret can have only one rotation`);
  }
  const keys = ownedKeys(spec, input.targets, app);
  const contested = () => keys.flatMap((k) => (app.otherOwners[k] ?? []).map((m) => `${m} (data.${k})`));
  if (by === name && contested().length === 0) return app;
  const data = Object.fromEntries(keys.filter((k) => app.data[k] !== undefined).map((k) => [k, app.data[k] ?? ""]));
  // Server-side apply removes what this manager applied before and omits now, so the version mark and the
  // managed label (which the rollout WatchOperation selects on) are applied with every call.
  const version = app.annotations[A.version];
  const marks = { [A.rotatedBy]: name, [A.ownedKeys]: keys.join(","), ...(version !== undefined ? { [A.version]: version } : {}) };
  const after = await k8s.applySecret(spec.secretRef.name, data, marks, MANAGED_LABELS);
  const still = keys.flatMap((k) => (after.otherOwners[k] ?? []).map((m) => `${m} (data.${k})`));
  if (still.length > 0) {
    throw new WaitError(
      `waiting for ${[...new Set(still)].join(", ")} to stop writing Secret ${spec.secretRef.name}; a Database hands its keys over on its next reconcile, any other writer must stop applying them`,
    );
  }
  return after;
}

async function adminConnection(input: EngineInput): Promise<PostgresConnection> {
  if (input.postgresAdmin !== undefined) return input.postgresAdmin;
  const admin = input.targets.role?.admin;
  if (admin?.kind !== "secret") throw new Error("the policy's shared PostgreSQL admin (credentials.postgresAdmin) is not in the step's credentials");
  return connectionFrom(input, admin.secretName);
}

async function connectionFrom(input: EngineInput, secretName: string): Promise<PostgresConnection> {
  const s = await input.ports.kubernetes.getSecret(secretName);
  if (s === undefined) throw new Error(`Secret ${secretName} with the PostgreSQL connection does not exist in this namespace`);
  const missing = ["host", "username", "password"].filter((k) => !s.data[k]);
  if (missing.length > 0) throw new Error(`Secret ${secretName} has no ${missing.join(", ")}; it must hold host, port, username, password, database and sslmode`);
  return {
    host: s.data.host ?? "",
    port: Number(s.data.port ?? 5432),
    database: s.data.database || "postgres",
    user: s.data.username ?? "",
    password: s.data.password ?? "",
    sslmode: s.data.sslmode || "require",
  };
}

async function setTargets(input: EngineInput, s: RotationState): Promise<void> {
  const { targets } = input;
  const pending = s.pending ?? "";
  if (targets.role !== undefined) {
    const role = targets.role;
    const admin = await adminConnection(input);
    const user = s.pendingUser ?? role.name;
    const memberOf = user === role.name ? undefined : role.name;
    try {
      await input.ports.postgres.setPassword(admin, user, pending, s.version + 1, memberOf);
    } catch (e) {
      // The admin rotating its own password, resumed after the set: only the pending value logs in now.
      if (!(e instanceof AuthenticationError) || admin.user !== user) throw e;
      await input.ports.postgres.setPassword({ ...admin, password: pending }, user, pending, s.version + 1, memberOf);
    }
  }
  if (targets.server !== undefined) {
    const t = targets.server;
    await input.ports.flexibleServer.setAdminPassword(t.resourceGroupName, t.serverName, pending);
  }
}

async function testTargets(input: EngineInput, s: RotationState): Promise<void> {
  const { targets } = input;
  const pending = s.pending ?? "";
  if (targets.role !== undefined) {
    const admin = await adminConnection(input);
    await input.ports.postgres.testLogin({ ...admin, user: s.pendingUser ?? targets.role.name, password: pending });
  }
  if (targets.server !== undefined) {
    const conn = await connectionFrom(input, targets.server.connectionSecretName);
    await input.ports.postgres.testLogin({ ...conn, password: pending });
  }
}

async function promote(input: EngineInput, s: RotationState): Promise<void> {
  const { spec, name } = input;
  const k8s = input.ports.kubernetes;
  const pending = s.pending ?? "";
  const app = await k8s.getSecret(spec.secretRef.name);
  const data: Record<string, string> = { [spec.secretRef.key]: pending };
  if (input.targets.role?.strategy === "alternating" && s.pendingUser !== undefined) data.username = s.pendingUser;
  for (const k of s.ownedKeys) {
    const v = app?.data[k];
    if (k === spec.secretRef.key || k === "username" || v === undefined) continue;
    data[k] = replaceCredential(v, s, pending);
  }
  // Key Vault first: if it fails, apps have not switched yet; if the Secret then fails, the retry finds the
  // version already tagged with this rotation and does not write a second one.
  const kv = input.targets.vault;
  if (kv !== undefined) {
    const tags = { "rotation-id": s.rotationId ?? "", "rotation-version": String(s.version + 1), "managed-by": "azplatform.io" };
    const latest = await input.ports.keyVault.latestTags(kv.vaultName, kv.secretName);
    if (latest?.["rotation-id"] !== tags["rotation-id"] || latest["rotation-version"] !== tags["rotation-version"]) {
      await input.ports.keyVault.setSecret(kv.vaultName, kv.secretName, pending, tags);
    }
  }
  await k8s.applySecret(
    spec.secretRef.name,
    data,
    {
      [A.rotatedBy]: name,
      [A.ownedKeys]: s.ownedKeys.join(","),
      [A.version]: String(s.version + 1),
    },
    MANAGED_LABELS,
  );
}

/** Rewrites a value that embeds the credential (a connection URI) for the new one; already-new values stay. */
function replaceCredential(v: string, s: RotationState, pending: string): string {
  // In a URI the credential is percent-encoded; elsewhere (a DSN, a JDBC property string) it is verbatim.
  const uri = /^[a-z][a-z0-9+.-]*:\/\//i.test(v);
  const enc = (x: string) => (uri ? encodeURIComponent(x) : x);
  let out = v;
  if (s.current !== undefined && s.current !== "") out = out.split(enc(s.current)).join(enc(pending));
  if (uri && s.currentUser !== undefined && s.pendingUser !== undefined && s.currentUser !== s.pendingUser) {
    out = out.replace(`//${enc(s.currentUser)}:`, `//${enc(s.pendingUser)}:`);
  }
  return out;
}

async function roll(input: EngineInput, s: RotationState): Promise<string[]> {
  const { consumers, secretRef } = input.spec;
  if (consumers === "none") return [];
  const k8s = input.ports.kubernetes;
  const deployments =
    consumers === "auto" ? (await k8s.listDeployments()).filter((d) => d.secrets.includes(secretRef.name)) : await k8s.listDeployments(consumers.selector.matchLabels);
  const key = rolloutAnnotation(secretRef.name);
  // Derived from the version, so applying it again is a no-op (as kubectl rollout restart and Reloader do).
  const value = rolloutValue(s.version);
  for (const d of deployments) {
    if (d.podTemplateAnnotations[key] !== value) await k8s.setPodTemplateAnnotation(d.name, key, value);
  }
  return deployments.map((d) => d.name).sort();
}

/** Error texts from drivers and SDKs must never carry a value: replace any occurrence with a marker. */
export function redactSecrets(message: string, values: ReadonlyArray<string | undefined>): string {
  let out = message;
  for (const v of values) {
    if (v === undefined || v.length < 4) continue;
    out = out.split(v).join("[REDACTED]").split(encodeURIComponent(v)).join("[REDACTED]");
  }
  return out;
}
